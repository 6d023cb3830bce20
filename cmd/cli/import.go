package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/internal/importer"
	"github.com/acmectl/acmectl/internal/store"
)

type importOptions struct {
	from string
	yes  bool
}

func newImportCmd(a *app) *cobra.Command {
	opts := &importOptions{}
	cmd := &cobra.Command{
		Use:   "import certbot|lego [--from DIR]",
		Short: "Adopt accounts, certificates and renewal settings of certbot or lego",
		Long: `Adopt what another ACME client manages, so acmectl renews it from now on.

certbot (--from, default /etc/letsencrypt): every account under accounts/ (key and URL,
so no new account is created), every certificate with a renewal/<name>.conf: the live
files become version 1 under <state-dir>/certificates/<name>/, and the renewal settings
(server, account, authenticator standalone → --http-01, webroot → --webroot, the dns-*
plugins (dns-cloudflare, dns-digitalocean, dns-linode, dns-route53, dns-google, ...) → the
DNS provider of that name reading the same credentials file, key type, hooks) become
settings.yaml. certbot hooks are shell commands; one that needs a shell
(pipes, $VARS, ;) is skipped with a warning: put it in a script and add it with
"acmectl reconfigure --deploy-hook".

lego (--from, default ./.lego): the accounts of --server under accounts/<host>/ and the
certificates under certificates/. lego stores no renewal settings, so give the solver
flags (--http-01, --webroot, --dns-01 ...) to use for its certificates.

Nothing of the other client is changed or removed; disable its renewal timer yourself.
Without --yes, import only shows what it would do.`,
		Example: `  acmectl import certbot --from /etc/letsencrypt          # show the plan
  acmectl import certbot --from /etc/letsencrypt --yes
  acmectl import lego --from /root/.lego --server letsencrypt --webroot /var/www/html --yes`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"certbot", "lego"},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.from, _ = cmd.Flags().GetString("from")
			opts.yes, _ = cmd.Flags().GetBool("yes")
			switch args[0] {
			case "certbot":
				if opts.from == "" {
					opts.from = "/etc/letsencrypt"
				}
				return a.runImport(cmd.Context(), opts, func(dir string) (*importer.Plan, error) {
					return importer.Certbot(dir, serverAliases()["letsencrypt"])
				})
			case "lego":
				if opts.from == "" {
					opts.from = ".lego"
				}
				return a.runImport(cmd.Context(), opts, func(dir string) (*importer.Plan, error) {
					if _, err := url.Parse(a.g.server); err != nil {
						return nil, usagef("--server %q: %v", a.g.server, err)
					}
					template := &store.Settings{}
					if err := a.applyOrderFlags(template, true); err != nil {
						return nil, err
					}
					return importer.Lego(dir, a.g.server, template)
				})
			}
			return usagef("import %q: want certbot or lego", args[0])
		},
	}
	cmd.Flags().String("from", "", "the other client's directory (certbot: /etc/letsencrypt; lego: ./.lego)")
	cmd.Flags().Bool("yes", false, "apply (without it, only show the plan)")
	addOrderFlags(cmd)
	return cmd
}

func (a *app) runImport(ctx context.Context, opts *importOptions, planner func(string) (*importer.Plan, error)) error {
	st, err := a.openStore()
	if err != nil {
		return err
	}
	if st2, err := os.Stat(opts.from); err != nil || !st2.IsDir() {
		return usagef("import: --from %s is not a directory", opts.from)
	}
	plan, err := planner(opts.from)
	if err != nil {
		return err
	}
	var applied []string
	if opts.yes {
		if applied, err = plan.Apply(ctx, st, a.lockWait(), a.env.Now()); err != nil {
			return err
		}
	}
	return a.reportImport(plan, opts.yes, applied)
}

func (a *app) reportImport(plan *importer.Plan, applied bool, done []string) error {
	if a.g.json {
		var accts, certs []map[string]any
		for _, acc := range plan.Accounts {
			accts = append(accts, map[string]any{"server": acc.Server, "label": acc.Label, "url": acc.URL, "from": acc.Origin})
		}
		for _, c := range plan.Certs {
			certs = append(certs, map[string]any{"cert_name": c.Name, "names": c.Settings.Names, "server": c.Settings.Server, "from": c.Origin, "warnings": c.Warnings})
		}
		return a.writeJSON(map[string]any{"applied": applied, "accounts": accts, "certificates": certs, "skipped": plan.Skipped, "done": done})
	}
	w := a.env.Stdout
	verb := "Would import"
	if applied {
		verb = "Imported"
	}
	for _, acc := range plan.Accounts {
		fmt.Fprintf(w, "%s account %s on %s (%s)\n", verb, acc.Label, acc.Server, acc.Origin)
	}
	for _, c := range plan.Certs {
		fmt.Fprintf(w, "%s certificate %s: %s (%s)\n", verb, c.Name, strings.Join(c.Settings.Names, ", "), c.Origin)
		for _, warn := range c.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", warn)
		}
	}
	for _, s := range plan.Skipped {
		fmt.Fprintf(w, "Skipped %s\n", s)
	}
	if !applied {
		fmt.Fprintln(w, "Nothing changed: run again with --yes to import.")
	}
	return nil
}
