package cli

import "github.com/spf13/cobra"

func newAccountCmd(a *app) *cobra.Command { return notImplemented("account", "Manage ACME accounts") }
