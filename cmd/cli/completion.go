package cli

import "github.com/spf13/cobra"

func newCompletionCmd(a *app) *cobra.Command { return notImplemented("completion", "Shell completion scripts") }
