package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/acmectl/acmectl/internal/importer"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/store"
)

type importOptions struct {
	kind        string // certbot or lego
	from        string
	yes         bool
	symlinkLive bool
	// renewalFlags are the renewal flags given (lego's settings; certbot
	// refuses them), order their values.
	renewalFlags []string
	order        *orderOptions
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
settings.yaml. One certbot account is one account here, however many certificates use it.
certbot hooks are shell commands; one that needs a shell (pipes, $VARS, ;) is not
imported: the warning, "acmectl show" and "acmectl doctor --cert-name" say so until you
put it in a script and add it with "acmectl reconfigure --cert-name NAME --deploy-hook".
The certbot settings are taken as they are: change them afterwards with reconfigure.

lego (--from, default ./.lego): the accounts of --server under accounts/<host>/ and the
certificates under certificates/. lego stores no renewal settings, so give the solver
flags (--http-01, --webroot, --dns-01 ...), and the key and hook flags if needed, to use
for its certificates (the key type defaults to that of lego's certificate).

--ca-bundle given to import is stored with each certificate, so renewals trust the same
CA (a private CA, Pebble, step-ca) without it.

Servers still read the other client's files (certbot's /etc/letsencrypt/live/NAME/,
lego's certificates/NAME.crt), which are no longer renewed once you stop that client:
import prints each old path with acmectl's stable path to use instead. With
--symlink-live, certbot's live/NAME/ links are pointed at acmectl's stable paths
(atomically; "ln -sfn" with the old target printed undoes it), so servers follow
acmectl's renewals without a configuration change; certbot then no longer renews
those certificates. Nothing else of the other client is changed or removed; disable
its renewal timer yourself. Without --yes, import only shows what it would do.`,
		Example: `  acmectl import certbot --from /etc/letsencrypt          # show the plan
  acmectl import certbot --from /etc/letsencrypt --yes --symlink-live
  acmectl import lego --from /root/.lego --server letsencrypt --webroot /var/www/html --yes`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"certbot", "lego"},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.kind, opts.renewalFlags, opts.order = args[0], legoOnlyFlags(cmd), a.order()
			return run(cmd.Context(), a, opts, a.runImportKind)
		},
	}
	cmd.Flags().StringVar(&opts.from, "from", "", "the other client's directory (certbot: /etc/letsencrypt; lego: ./.lego)")
	cmd.Flags().BoolVar(&opts.yes, "yes", false, "apply (without it, only show the plan)")
	cmd.Flags().BoolVar(&opts.symlinkLive, "symlink-live", false, "certbot: point live/NAME/*.pem at acmectl's stable paths (with --yes)")
	// lego stores no renewal settings: these give them (certbot's come
	// from its renewal configuration and refuse them).
	addRenewalFlags(cmd)
	return cmd
}

func (a *app) runImportKind(ctx context.Context, opts *importOptions) error {
	switch opts.kind {
	case "certbot":
		if opts.from == "" {
			opts.from = "/etc/letsencrypt"
		}
		if given := opts.renewalFlags; len(given) > 0 {
			return usagef("import certbot takes the settings from certbot's renewal configuration, not %s: change them after the import with acmectl reconfigure --cert-name NAME",
				strings.Join(given, ", "))
		}
		return a.runImport(ctx, opts, func(dir string) (*importer.Plan, error) {
			return importer.Certbot(dir, serverAliases()["letsencrypt"])
		})
	case "lego":
		if opts.from == "" {
			opts.from = ".lego"
		}
		if opts.symlinkLive {
			return usagef("--symlink-live: lego keeps no live links; point your servers at the paths import lego prints")
		}
		return a.runImport(ctx, opts, func(dir string) (*importer.Plan, error) {
			if _, err := url.Parse(a.g.server); err != nil {
				return nil, usagef("--server %q: %v", a.g.server, err)
			}
			template := &store.Settings{}
			if err := a.applyOrderFlags(template, true); err != nil {
				return nil, err
			}
			if opts.order.keyType.src == sourceDefault {
				template.KeyType = "" // that of lego's certificate
			}
			return importer.Lego(dir, a.g.server, template)
		})
	}
	return usagef("import %q: want certbot or lego", opts.kind)
}

// legoOnlyFlags are the renewal flags given on the command line (import
// certbot refuses them).
func legoOnlyFlags(cmd *cobra.Command) []string {
	var out []string
	tmp := &cobra.Command{}
	addRenewalFlags(tmp)
	tmp.Flags().VisitAll(func(fl *pflag.Flag) {
		if f := cmd.Flags().Lookup(fl.Name); f != nil && f.Changed {
			out = append(out, "--"+fl.Name)
		}
	})
	return out
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
	if a.g.caBundle != "" {
		// Renewals run from cron or a timer, elsewhere and without the
		// flag: they trust the CA through the stored bundle.
		abs, err := filepath.Abs(a.g.caBundle)
		if err != nil {
			return usagef("--ca-bundle: %v", err)
		}
		if _, err := issue.RootPool(abs); err != nil {
			return usagef("%v", err)
		}
		plan.SetCABundle(abs)
	}
	var applied []string
	var relinked []importer.Link
	if opts.yes {
		if applied, err = plan.Apply(ctx, st, a.lockWait(), a.env.Now()); err != nil {
			return err
		}
		if opts.symlinkLive {
			if relinked, err = plan.RelinkLive(st); err != nil {
				a.reportImport(st, plan, opts, applied, relinked)
				return err
			}
		}
	}
	return a.reportImport(st, plan, opts, applied, relinked)
}

// reportImport prints the plan or what was done: the accounts and
// certificates, the warnings, and for each certificate the other client's
// paths with acmectl's stable paths to use instead (or the links
// --symlink-live made).
func (a *app) reportImport(st *store.Dir, plan *importer.Plan, opts *importOptions, done []string, relinked []importer.Link) error {
	applied := opts.yes
	isDone := func(what string) bool { return !applied || slices.Contains(done, what) }
	var paths []importer.Link
	for _, c := range plan.Certs {
		links, err := c.Links(st.Root())
		if err != nil {
			return err
		}
		paths = append(paths, links...)
	}
	if a.g.json {
		accts, certs, moves, relinks := []map[string]any{}, []map[string]any{}, []map[string]any{}, []map[string]any{}
		for _, acc := range plan.Accounts {
			if isDone("account " + acc.Label + " on " + acc.Server) {
				accts = append(accts, map[string]any{"server": acc.Server, "label": acc.Label, "url": acc.URL, "from": acc.Origin})
			}
		}
		for _, c := range plan.Certs {
			if isDone("certificate " + c.Name) {
				certs = append(certs, map[string]any{"cert_name": c.Name, "names": c.Settings.Names, "server": c.Settings.Server, "account": c.Settings.Account,
					"from": c.Origin, "warnings": nonNil(c.Warnings)})
			}
		}
		for _, l := range paths {
			moves = append(moves, map[string]any{"kind": l.Kind, "old": l.Old, "new": l.New})
		}
		for _, l := range relinked {
			relinks = append(relinks, map[string]any{"path": l.Old, "target": l.New, "was": l.Was})
		}
		return a.writeJSON(map[string]any{"applied": applied, "accounts": accts, "certificates": certs, "skipped": nonNil(plan.Skipped), "done": nonNil(done),
			"paths": moves, "relinked": relinks})
	}
	w := a.env.Stdout
	verb := "Would import"
	if applied {
		verb = "Imported"
	}
	for _, acc := range plan.Accounts {
		if isDone("account " + acc.Label + " on " + acc.Server) {
			fmt.Fprintf(w, "%s account %s on %s (%s)\n", verb, acc.Label, acc.Server, acc.Origin)
		}
	}
	for _, c := range plan.Certs {
		if !isDone("certificate " + c.Name) {
			continue
		}
		fmt.Fprintf(w, "%s certificate %s: %s (%s)\n", verb, c.Name, strings.Join(c.Settings.Names.Strings(), ", "), c.Origin)
		for _, warn := range c.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", warn)
		}
	}
	for _, s := range plan.Skipped {
		fmt.Fprintf(w, "Skipped %s\n", s)
	}
	if len(relinked) > 0 {
		fmt.Fprintln(w, "Relinked (servers reading these paths now get acmectl's certificates; undo with ln -sfn WAS PATH):")
		for _, l := range relinked {
			fmt.Fprintf(w, "  %s -> %s (was %s)\n", l.Old, l.New, l.Was)
		}
	} else if len(paths) > 0 {
		fmt.Fprintln(w, "Point your servers at acmectl's stable paths (the old files are no longer renewed once the other client stops):")
		for _, l := range paths {
			fmt.Fprintf(w, "  %s -> %s\n", l.Old, l.New)
		}
		if !opts.symlinkLive && slices.ContainsFunc(paths, func(l importer.Link) bool { return strings.Contains(l.Old, "/live/") }) {
			fmt.Fprintln(w, "  (or run import again with --symlink-live to point certbot's live/ links there)")
		}
	}
	if !applied {
		fmt.Fprintln(w, "Nothing changed: run again with --yes to import.")
	}
	return nil
}
