package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// notImplemented is a placeholder command for work in progress; each is
// replaced by its own file.
func notImplemented(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:    use,
		Short:  short,
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return fmt.Errorf("%s: not implemented yet", use)
		},
	}
}
