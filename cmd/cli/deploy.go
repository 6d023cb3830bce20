package cli

import "github.com/spf13/cobra"

func newDeployCmd(a *app) *cobra.Command { return notImplemented("deploy", "Run the deploy hooks again for the current version") }
