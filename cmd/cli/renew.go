package cli

import "github.com/spf13/cobra"

func newRenewCmd(a *app) *cobra.Command { return notImplemented("renew", "Renew certificates that are due (cron-safe)") }
