package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
)

type deleteOptions struct {
	certName, reason string
	revoke, yes      bool
}

func newDeleteCmd(a *app) *cobra.Command {
	opts := &deleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete --cert-name N [--revoke [--reason R]] [--yes]",
		Short: "Delete a stored certificate (optionally revoking it first)",
		Long: `Remove a certificate from the state directory: settings, state, every version and the
stable paths, so renew no longer renews it. Servers still pointing at its files break:
reconfigure them first. With --revoke the certificate is revoked at the CA first (signed
with its account, or its own key if the account is gone) and nothing is deleted if that
fails. Accounts are not touched. Asks on a terminal; needs --yes off one.`,
		Example: `  acmectl delete --cert-name old.example.com --yes
  acmectl delete --cert-name old.example.com --revoke --reason cessationOfOperation --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), a, opts, a.runDelete) },
	}
	f := cmd.Flags()
	f.StringVar(&opts.certName, "cert-name", "", "the stored certificate to delete")
	f.BoolVar(&opts.revoke, "revoke", false, "revoke the certificate at the CA first")
	f.StringVar(&opts.reason, "reason", "", "revocation reason (with --revoke): RFC 5280 name or code")
	f.BoolVar(&opts.yes, "yes", false, "do not ask for confirmation")
	return cmd
}

func (a *app) runDelete(ctx context.Context, o *deleteOptions) error {
	name, doRevoke, reasonFlag, yes := o.certName, o.revoke, o.reason, o.yes
	if name == "" {
		return usagef("delete: give --cert-name N")
	}
	if err := store.ValidCertName(name); err != nil {
		return usagef("--cert-name %q: must match ^[a-z0-9][a-z0-9._-]{0,127}$", name)
	}
	if reasonFlag != "" && !doRevoke {
		return usagef("delete: --reason needs --revoke")
	}
	reason, _, err := parseReason(reasonFlag)
	if err != nil {
		return err
	}
	st, err := a.openStore()
	if err != nil {
		return err
	}
	if !st.Exists(name) {
		return usagef("no certificate named %q in %s", name, st.Root())
	}
	var t *revokeTarget
	if doRevoke {
		s, err := st.LoadSettings(name)
		if err != nil {
			return err
		}
		files, _, err := st.Current(name)
		if err != nil {
			return usagef("certificate %q has no installed version to revoke: %v", name, err)
		}
		leaf, err := leafOf(files.Cert)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		t = &revokeTarget{name: name, settings: s, leaf: leaf}
	}
	q := fmt.Sprintf("Delete certificate %s and all its versions from %s?", name, st.Root())
	if doRevoke {
		q = fmt.Sprintf("Revoke certificate %s (serial %x) and delete it with all its versions?", name, t.leaf.SerialNumber)
	}
	if err := a.confirmIrreversible(yes, "delete", q); err != nil {
		return err
	}
	var revoke func(context.Context) error
	if doRevoke {
		revoke = func(ctx context.Context) error { _, err := a.revoke(ctx, st, t, reason); return err }
	}
	err = lifecycle.Delete(ctx, st, name, a.lockWait(), revoke)
	if nd := (*lifecycle.NotDeletedError)(nil); !errors.As(err, &nd) && errors.Is(err, store.ErrNotFound) {
		return usagef("no certificate named %q in %s", name, st.Root())
	} else if err != nil {
		return err
	}
	revoked := doRevoke
	if a.g.json {
		return a.writeJSON(map[string]any{"cert_name": name, "outcome": "deleted", "revoked": revoked})
	}
	if !a.g.quiet {
		if revoked {
			fmt.Fprintf(a.env.Stdout, "Revoked and deleted %s.\n", name)
		} else {
			fmt.Fprintf(a.env.Stdout, "Deleted %s.\n", name)
		}
	}
	return nil
}
