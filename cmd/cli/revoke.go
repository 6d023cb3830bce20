package cli

import "github.com/spf13/cobra"

func newRevokeCmd(a *app) *cobra.Command { return notImplemented("revoke", "Revoke a certificate") }
