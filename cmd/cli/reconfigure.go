package cli

import "github.com/spf13/cobra"

func newReconfigureCmd(a *app) *cobra.Command { return notImplemented("reconfigure", "Change a certificate's stored settings") }
