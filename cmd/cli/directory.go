package cli

import "github.com/spf13/cobra"

func newDirectoryCmd(a *app) *cobra.Command { return notImplemented("directory", "Show what the ACME server offers") }
