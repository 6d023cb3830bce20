package cli

import "github.com/spf13/cobra"

func newShowCmd(a *app) *cobra.Command { return notImplemented("show NAME", "Show one stored certificate") }
