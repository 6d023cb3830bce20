package cli

import "github.com/spf13/cobra"

func newDNSPersistCmd(a *app) *cobra.Command { return notImplemented("dns-persist", "dns-persist-01 records") }
