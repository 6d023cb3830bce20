package cli

import "github.com/spf13/cobra"

func newConfigCmd(a *app) *cobra.Command { return notImplemented("config", "Show the effective configuration") }
