package cli

import "github.com/spf13/cobra"

// NewRootCommand builds acmectl's command tree for env without running it.
// Generators (the command reference, man pages, shell completions) walk
// the returned tree; running it is Run's job.
func NewRootCommand(env *Env) *cobra.Command {
	return newRootCmd(&app{env: env})
}
