package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
)

type deployOptions struct{ certName string }

func newDeployCmd(a *app) *cobra.Command {
	opts := &deployOptions{}
	cmd := &cobra.Command{
		Use: "deploy --cert-name N",
		Example: `  acmectl deploy --cert-name example.com
  acmectl deploy --cert-name example.com --json`,
		Short: "Run the deploy hooks again for the current version",
		Long: `Run a certificate's stored deploy hooks for its live version, as renew does after
issuing it. On success deploy_pending is cleared; on failure it stays set (exit 1)
and later renew runs try again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), a, opts, a.runDeploy)
		},
	}
	cmd.Flags().StringVar(&opts.certName, "cert-name", "", "the certificate whose deploy hooks to run")
	return cmd
}

func (a *app) runDeploy(ctx context.Context, o *deployOptions) error {
	name := o.certName
	if name == "" {
		return usagef("deploy: give --cert-name N")
	}
	if err := store.ValidCertName(name); err != nil {
		return usagef("--cert-name %q: must match ^[a-z0-9][a-z0-9._-]{0,127}$", name)
	}
	st, err := a.openStore()
	if err != nil {
		return err
	}
	if !st.Exists(name) {
		return usagef("--cert-name %s: no such certificate in %s (see acmectl list)", name, st.Root())
	}
	d, err := lifecycle.Redeploy(ctx, st, a.hookManager(), name, a.fillSettings, a.lockWait())
	if err != nil {
		return err
	}
	return a.deployDone(name, d.Hooks, d.HookErr)
}

func (a *app) deployDone(name string, n int, derr error) error {
	if a.g.json {
		doc := map[string]any{"cert_name": name, "hooks": n, "outcome": "deployed", "deploy_pending": derr != nil}
		if derr != nil {
			doc["outcome"] = "deploy_failed"
			doc["error"] = map[string]any{"class": classDeployHook, "message": oneLine(derr.Error())}
		}
		if err := a.writeJSON(doc); err != nil {
			return err
		}
		if derr != nil {
			return &exitError{code: ExitFailed, silent: true}
		}
		return nil
	}
	if derr != nil {
		return &exitError{code: ExitFailed, err: fmt.Errorf("%s: deploy hooks failed (deploy_pending stays set): %w", name, derr)}
	}
	if !a.g.quiet {
		if n == 0 {
			fmt.Fprintf(a.env.Stdout, "%s has no deploy hooks (add them with acmectl reconfigure --cert-name %s --deploy-hook ...)\n", name, name)
		} else {
			fmt.Fprintf(a.env.Stdout, "%s: %d deploy hook(s) succeeded\n", name, n)
		}
	}
	return nil
}
