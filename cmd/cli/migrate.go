package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/account"
)

type migrateOptions struct {
	from, to string
	yes      bool
}

// newAccountMigrateCmd is `acmectl account migrate` (wired under `account`).
func newAccountMigrateCmd(a *app) *cobra.Command {
	o := &migrateOptions{}
	cmd := &cobra.Command{
		Use:   "migrate --from URL|alias --to URL|alias [--yes]",
		Short: "Move stored accounts and certificates from one ACME endpoint to another",
		Long: `Carry the stored account keys of --from (typically the retired legacy v1 endpoint) over
to --to, and point every stored certificate whose server is --from at --to, so that the
next "acmectl renew" orders from the new endpoint.

For each account stored for --from (only --account LABEL when given), the new CA is asked
whether it knows the key (onlyReturnExisting, which never creates an account); if it does
not, the same key is registered there with the same contacts, which needs the terms of
service accepted (--accept-tos, or a yes on a terminal) and, where the CA requires it,
--eab-kid/--eab-hmac-key-file. The account is then stored under --to; the old one stays.

Each certificate's settings.yaml gets server: --to (and ca-bundle: --ca-bundle, and
acme-version: auto when it forced the other protocol), under that certificate's lock.
Certificates, keys and state are not touched.

Without --yes this is a dry run that shows what would change (on a terminal it then asks
whether to apply). --ca-bundle and --acme-version apply to --to; --from is never contacted.`,
		Example: `  acmectl account migrate --from letsencrypt-v1 --to letsencrypt
  acmectl account migrate --from letsencrypt-v1 --to letsencrypt --accept-tos --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), a, o, a.runAccountMigrate)
		},
	}
	cmd.Flags().StringVar(&o.from, "from", "", "directory URL or alias the accounts and certificates use now")
	cmd.Flags().StringVar(&o.to, "to", "", "directory URL or alias to move them to")
	cmd.Flags().BoolVar(&o.yes, "yes", false, "apply the changes (without it: dry run, or a question on a terminal)")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func (a *app) runAccountMigrate(ctx context.Context, o *migrateOptions) error {
	from, err := resolveServer(o.from)
	if err != nil {
		return usagef("--from: %v", err)
	}
	to, err := resolveServer(o.to)
	if err != nil {
		return usagef("--to: %v", err)
	}
	if from == to {
		return usagef("--from and --to are the same server (%s)", from)
	}
	st, err := a.openStore()
	if err != nil {
		return err
	}
	c, err := a.newServerClient(to)
	if err != nil {
		return err
	}
	mo := account.MigrateOptions{From: from, To: to, Email: a.g.email, CABundle: a.g.caBundle, EABKeyID: a.g.eabKID}
	if a.cfg.source("account") != sourceDefault {
		mo.OnlyLabel = a.g.account
	}
	plan, err := account.PlanMigration(ctx, st, c, mo)
	if err != nil {
		return err
	}
	var register []*account.MigrateAccount
	for _, m := range plan.Accounts {
		if m.Action == account.ActionRegister {
			register = append(register, m)
		}
	}
	terms := plan.Dir.Meta.TermsOfService
	termsNeeded := len(register) > 0 && terms != "" && !a.g.acceptTOS
	interactive := a.env.StdinTerminal && a.env.StderrTerminal && !a.g.json

	if !a.g.json {
		a.printMigrationPlan(a.env.Stdout, plan, termsNeeded)
	}
	pending := len(plan.Certs)
	for _, m := range plan.Accounts {
		if m.Action != account.ActionDone {
			pending++
		}
	}
	if pending == 0 {
		if a.g.json {
			return a.writeJSON(migrationJSON(plan, false))
		}
		fmt.Fprintln(a.env.Stdout, "Nothing to change: everything stored for the old server is migrated already.")
		return nil
	}
	apply := o.yes
	if !apply && interactive {
		ok, err := a.confirm("Apply these changes?")
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintln(a.env.Stderr, "acmectl: nothing changed")
			return nil
		}
		apply = true
	}
	if !apply {
		if a.g.json {
			return a.writeJSON(migrationJSON(plan, false))
		}
		fmt.Fprintln(a.env.Stdout, "Dry run: nothing changed. Run again with --yes to apply.")
		return nil
	}
	if termsNeeded {
		if !interactive {
			return usagef("registering at %s needs its terms of service accepted (%s): pass --accept-tos", to, client.Sanitize(terms, 300))
		}
		ok, err := a.confirm(fmt.Sprintf("Do you agree to the CA's terms of service at %s?", client.Sanitize(terms, 300)))
		if err != nil {
			return err
		}
		if !ok {
			return usagef("the terms of service of %s were not accepted: nothing changed", to)
		}
	}
	opts, err := a.accountOptions()
	if err != nil {
		return err
	}
	if err := plan.Apply(ctx, st, c, account.ApplyOptions{EABKeyID: opts.EABKeyID, EABHMACKey: opts.EABHMACKey,
		LockWait: a.lockWait(), Now: a.env.Now, Logger: a.log, CertFailed: func(name string, err error) {
			fmt.Fprintf(a.env.Stderr, "acmectl: certificate %s not migrated: %v\n", name, oneLine(err.Error()))
		}}); err != nil {
		return err
	}
	if a.g.json {
		return a.writeJSON(migrationJSON(plan, true))
	}
	fmt.Fprintf(a.env.Stdout, "Migrated to %s: %d account(s), %d certificate(s); their next renewal orders from there.\n",
		to, pending-len(plan.Certs), len(plan.Certs))
	return nil
}

func (a *app) printMigrationPlan(w io.Writer, plan *account.Migration, termsNeeded bool) {
	fmt.Fprintf(w, "Migration from %s to %s (%s):\n", plan.From, plan.To, plan.Dir.Dialect)
	if len(plan.Accounts) == 0 {
		fmt.Fprintf(w, "  no stored account for %s (renewals will register one at the new server)\n", plan.From)
	}
	for _, m := range plan.Accounts {
		switch m.Action {
		case account.ActionDone:
			fmt.Fprintf(w, "  account %s: already stored for the new server (%s)\n", m.Label, client.Sanitize(m.Acct.URL, 300))
		case account.ActionFound:
			fmt.Fprintf(w, "  account %s: the new CA knows this key as %s; store it for the new server\n", m.Label, client.Sanitize(m.Acct.URL, 300))
		case account.ActionRegister:
			contacts := "no contacts"
			if len(m.Contacts) > 0 {
				contacts = "contacts " + strings.Join(m.Contacts, ", ")
			}
			fmt.Fprintf(w, "  account %s: register the same key at the new CA (%s)\n", m.Label, contacts)
		}
	}
	if termsNeeded {
		fmt.Fprintf(w, "  registering needs the terms of service of the new CA accepted: %s (--accept-tos)\n", client.Sanitize(plan.Dir.Meta.TermsOfService, 300))
	}
	for _, mc := range plan.Certs {
		var parts []string
		for _, c := range mc.Changes {
			old := c[1]
			if old == "" {
				old = "(none)"
			}
			nw := c[2]
			if nw == "" {
				nw = "(none)"
			}
			parts = append(parts, fmt.Sprintf("%s %s → %s", c[0], old, nw))
		}
		fmt.Fprintf(w, "  certificate %s: %s\n", mc.Name, strings.Join(parts, "; "))
	}
	for _, s := range plan.Skipped {
		fmt.Fprintf(w, "  skipped %s: %s\n", s[0], s[1])
	}
}

func migrationJSON(plan *account.Migration, applied bool) map[string]any {
	accts := []map[string]any{}
	for _, m := range plan.Accounts {
		d := map[string]any{"label": m.Label, "action": m.Action, "contacts": m.Contacts}
		if m.Acct != nil {
			d["account_url"] = m.Acct.URL
		}
		accts = append(accts, d)
	}
	certs := []map[string]any{}
	for _, mc := range plan.Certs {
		ch := map[string]map[string]string{}
		for _, c := range mc.Changes {
			ch[c[0]] = map[string]string{"old": c[1], "new": c[2]}
		}
		certs = append(certs, map[string]any{"cert_name": mc.Name, "changes": ch})
	}
	skipped := []map[string]string{}
	for _, s := range plan.Skipped {
		skipped = append(skipped, map[string]string{"cert_name": s[0], "reason": s[1]})
	}
	return map[string]any{
		"from": plan.From, "to": plan.To, "dialect": plan.Dir.DialectID, "applied": applied,
		"terms_of_service": plan.Dir.Meta.TermsOfService,
		"accounts":         accts, "certificates": certs, "skipped": skipped,
	}
}
