package cli

import "github.com/spf13/cobra"

func newListCmd(a *app) *cobra.Command { return notImplemented("list", "List stored certificates") }
