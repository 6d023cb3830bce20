package cli

import "github.com/spf13/cobra"

func newDeleteCmd(a *app) *cobra.Command { return notImplemented("delete", "Delete a stored certificate") }
