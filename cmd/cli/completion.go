package cli

import (
	"context"
	"io"

	"github.com/spf13/cobra"
)

type completionOptions struct{ shell string }

func newCompletionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use: "completion bash|zsh|fish",
		Example: `  acmectl completion bash | sudo tee /etc/bash_completion.d/acmectl
  acmectl completion zsh > "${fpath[1]}/_acmectl"
  acmectl completion fish > ~/.config/fish/completions/acmectl.fish`,
		Short: "Print a shell completion script",
		Long: `Print the completion script for a shell on stdout.

Packages install these files for you. By hand:

  bash:  acmectl completion bash > /etc/bash_completion.d/acmectl
         (or, for yourself: acmectl completion bash > ~/.local/share/bash-completion/completions/acmectl)
  zsh:   acmectl completion zsh > "${fpath[1]}/_acmectl"
         (then start a new shell; "compinit" must be enabled)
  fish:  acmectl completion fish > ~/.config/fish/completions/acmectl.fish`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"bash", "zsh", "fish"},
		// The root's PersistentPreRunE reads config; a completion script
		// needs none of it and must work with a broken config file.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd.Context(), a, &completionOptions{shell: args[0]}, func(_ context.Context, o *completionOptions) error {
				return writeCompletion(cmd.Root(), o.shell, a.env.Stdout)
			})
		},
	}
}

// writeCompletion writes root's completion script for shell to w.
func writeCompletion(root *cobra.Command, shell string, w io.Writer) error {
	switch shell {
	case "bash":
		return root.GenBashCompletionV2(w, true)
	case "zsh":
		return root.GenZshCompletion(w)
	case "fish":
		return root.GenFishCompletion(w, true)
	}
	return usagef("completion: unknown shell %q (want bash, zsh or fish)", shell)
}
