package cli

import "github.com/spf13/cobra"

func newDoctorCmd(a *app) *cobra.Command { return notImplemented("doctor", "Check that ordering can work") }
