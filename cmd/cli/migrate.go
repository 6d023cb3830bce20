package cli

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
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
			o.from, _ = cmd.Flags().GetString("from")
			o.to, _ = cmd.Flags().GetString("to")
			o.yes, _ = cmd.Flags().GetBool("yes")
			return a.runAccountMigrate(cmd.Context(), o)
		},
	}
	cmd.Flags().String("from", "", "directory URL or alias the accounts and certificates use now")
	cmd.Flags().String("to", "", "directory URL or alias to move them to")
	cmd.Flags().Bool("yes", false, "apply the changes (without it: dry run, or a question on a terminal)")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// Account actions of a migration.
const (
	migrateFound    = "found"            // the new CA knows the key
	migrateRegister = "register"         // the key is registered at the new CA
	migrateDone     = "already-migrated" // stored under --to with the same key
)

type migrateAccount struct {
	label    string
	key      crypto.Signer
	contacts []string
	action   string
	acct     *client.Account // found at the new CA
}

type migrateCert struct {
	name     string
	settings *store.Settings // as read for the plan
	changes  [][3]string     // key, old, new
}

type migratePlan struct {
	from, to string
	dir      *client.Directory
	accounts []*migrateAccount
	certs    []*migrateCert
	skipped  [][2]string // name, reason
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
	plan, err := a.planMigration(ctx, st, c, from, to)
	if err != nil {
		return err
	}
	var register []*migrateAccount
	for _, m := range plan.accounts {
		if m.action == migrateRegister {
			register = append(register, m)
		}
	}
	terms := plan.dir.Meta.TermsOfService
	termsNeeded := len(register) > 0 && terms != "" && !a.g.acceptTOS
	interactive := a.env.StdinTerminal && a.env.StderrTerminal && !a.g.json

	if !a.g.json {
		a.printMigrationPlan(a.env.Stdout, plan, termsNeeded)
	}
	pending := len(plan.certs)
	for _, m := range plan.accounts {
		if m.action != migrateDone {
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
	if err := a.applyMigration(ctx, st, c, plan); err != nil {
		return err
	}
	if a.g.json {
		return a.writeJSON(migrationJSON(plan, true))
	}
	fmt.Fprintf(a.env.Stdout, "Migrated to %s: %d account(s), %d certificate(s); their next renewal orders from there.\n",
		to, pending-len(plan.certs), len(plan.certs))
	return nil
}

// planMigration reads the state directory and asks the new CA (read-only)
// what it knows. Nothing is written.
func (a *app) planMigration(ctx context.Context, st *store.Dir, c *client.Client, from, to string) (*migratePlan, error) {
	plan := &migratePlan{from: from, to: to}
	onlyLabel := ""
	if a.cfg.source("account") != sourceDefault {
		onlyLabel = a.g.account
	}
	fromID, err := store.ServerID(from)
	if err != nil {
		return nil, usagef("--from: %v", err)
	}
	refs, err := st.ListAccounts()
	if err != nil {
		return nil, err
	}
	for _, ref := range refs {
		if ref.ServerID != fromID || (onlyLabel != "" && ref.Label != onlyLabel) {
			continue
		}
		rec, key, err := st.LoadAccount(from, ref.Label)
		if err != nil {
			return nil, fmt.Errorf("account %s of %s: %w", ref.Label, from, err)
		}
		contacts := rec.Contacts
		if len(contacts) == 0 {
			for _, e := range a.g.email {
				contacts = append(contacts, "mailto:"+e)
			}
		}
		plan.accounts = append(plan.accounts, &migrateAccount{label: ref.Label, key: key, contacts: contacts})
	}
	names, err := st.List()
	if err != nil {
		return nil, err
	}
	bundle := a.g.caBundle
	if bundle != "" {
		if abs, err := filepath.Abs(bundle); err == nil {
			bundle = abs
		}
	}
	for _, name := range names {
		s, err := st.LoadSettings(name)
		if err != nil {
			plan.skipped = append(plan.skipped, [2]string{name, oneLine(err.Error())})
			continue
		}
		if s.Server != from || (onlyLabel != "" && labelOr(s.Account) != onlyLabel) {
			continue
		}
		plan.certs = append(plan.certs, &migrateCert{name: name, settings: s})
	}
	if len(plan.accounts) == 0 && len(plan.certs) == 0 {
		return nil, usagef("nothing to migrate: no account or certificate in %s is stored for %s", st.Root(), from)
	}

	dir, err := c.Directory(ctx)
	if err != nil {
		return nil, err
	}
	plan.dir = dir
	for _, mc := range plan.certs {
		mc.changes = settingsChanges(mc.settings, to, bundle, dir.Version)
	}
	needRegister := false
	for _, m := range plan.accounts {
		rec, key, err := st.LoadAccount(to, m.label)
		switch {
		case err == nil && rec.URL != "":
			if !sameKey(key, m.key) {
				return nil, usagef("account %q is already stored for %s with a different key (%s): pass --account for another label, or remove it first",
					m.label, to, client.Sanitize(rec.URL, 300))
			}
			m.action = migrateDone
			m.acct = &client.Account{URL: rec.URL, Key: key, Contact: rec.Contacts, Status: rec.Status}
			continue
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
		acct, err := c.LookupAccount(ctx, m.key)
		switch {
		case err == nil:
			if acct.Status != client.StatusValid {
				return nil, fmt.Errorf("account %q: %s has this key as account %s, which is %s", m.label, to, client.Sanitize(acct.URL, 300), client.Sanitize(acct.Status, 40))
			}
			m.action, m.acct = migrateFound, acct
		case errors.Is(err, client.ErrAccountNotFound):
			m.action = migrateRegister
			needRegister = true
		default:
			return nil, fmt.Errorf("look up account %q at %s: %w", m.label, to, err)
		}
	}
	if needRegister {
		// What registering needs, checked before anything is written.
		if a.g.eabKID != "" && !dir.Supports.ExternalAccountBinding {
			return nil, &client.UnsupportedError{Feature: "external account binding (EAB)", Dialect: dir.Dialect}
		}
		if dir.Meta.ExternalAccountRequired && a.g.eabKID == "" {
			return nil, usagef("%s requires external account binding to register: pass --eab-kid and --eab-hmac-key-file (or ACMECTL_EAB_HMAC_KEY)", to)
		}
	}
	return plan, nil
}

func labelOr(l string) string {
	if l == "" {
		return "default"
	}
	return l
}

func sameKey(a, b crypto.Signer) bool {
	pa, ok := a.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pa.Equal(b.Public())
}

// settingsChanges lists what migration changes in a certificate's
// settings: the server, the CA bundle (it belongs to the server) and a
// forced protocol version that the new server does not speak.
func settingsChanges(s *store.Settings, to, bundle, want string) [][3]string {
	ch := [][3]string{{"server", s.Server, to}}
	if s.CABundle != bundle {
		ch = append(ch, [3]string{"ca-bundle", s.CABundle, bundle})
	}
	if (s.ACMEVersion == "1" || s.ACMEVersion == "2") && want != "" && s.ACMEVersion != want {
		ch = append(ch, [3]string{"acme-version", s.ACMEVersion, "auto"})
	}
	return ch
}

// applyMigration stores the accounts under the new server (registering
// where needed) and then rewrites each certificate's settings under its
// lock. Certificates that cannot be locked are reported and left as they
// were; the error then says which.
func (a *app) applyMigration(ctx context.Context, st *store.Dir, c *client.Client, plan *migratePlan) error {
	lockWait := a.lockWait()
	opts, err := a.accountOptions()
	if err != nil {
		return err
	}
	dialect := plan.dir.DialectID
	if err := func() error {
		unlock, err := st.LockState(ctx, lockWait)
		if err != nil {
			return err
		}
		defer unlock()
		for _, m := range plan.accounts {
			switch m.action {
			case migrateDone:
				continue
			case migrateRegister:
				// Keep the key under the new server first, so that a crash
				// during registration cannot lose the account (a later run
				// finds it with onlyReturnExisting).
				if err := st.SaveAccount(plan.to, m.label, &store.AccountRecord{DirectoryURL: plan.to, Contacts: m.contacts}, m.key); err != nil {
					return err
				}
				acct, err := c.Register(ctx, m.key, client.RegisterOptions{
					Contact: m.contacts, AgreeTerms: true, EABKeyID: opts.EABKeyID, EABHMACKey: opts.EABHMACKey,
				})
				if err != nil {
					return fmt.Errorf("register account %q at %s: %w", m.label, plan.to, err)
				}
				m.acct = acct
				a.log.Info("account registered with the migrated key", "account", m.label, "account_url", acct.URL, "server", plan.to)
			}
			rec := &store.AccountRecord{URL: m.acct.URL, Contacts: m.acct.Contact, DirectoryURL: plan.to,
				Created: a.env.Now(), Status: m.acct.Status, Dialect: dialect}
			if err := st.SaveAccount(plan.to, m.label, rec, m.key); err != nil {
				return err
			}
		}
		return nil
	}(); err != nil {
		return err
	}
	var errs []error
	for _, mc := range plan.certs {
		if err := migrateCertSettings(ctx, st, mc, plan, lockWait); err != nil {
			errs = append(errs, fmt.Errorf("certificate %s: %w", mc.name, err))
			fmt.Fprintf(a.env.Stderr, "acmectl: certificate %s not migrated: %v\n", mc.name, oneLine(err.Error()))
		}
	}
	return errors.Join(errs...)
}

// migrateCertSettings points one certificate at the new server through
// the lifecycle owner's settings writer.
func migrateCertSettings(ctx context.Context, st *store.Dir, mc *migrateCert, plan *migratePlan, lockWait time.Duration) error {
	var g lifecycle.Given
	for _, c := range mc.changes {
		switch c[0] {
		case "server":
			g.Server = ptr(c[2])
		case "ca-bundle":
			g.CABundle = ptr(c[2])
		case "acme-version":
			g.ACMEVersion = ptr(c[2])
		}
	}
	return lifecycle.Repoint(ctx, st, mc.name, plan.from, g, lockWait)
}

func (a *app) printMigrationPlan(w io.Writer, plan *migratePlan, termsNeeded bool) {
	fmt.Fprintf(w, "Migration from %s to %s (%s):\n", plan.from, plan.to, plan.dir.Dialect)
	if len(plan.accounts) == 0 {
		fmt.Fprintf(w, "  no stored account for %s (renewals will register one at the new server)\n", plan.from)
	}
	for _, m := range plan.accounts {
		switch m.action {
		case migrateDone:
			fmt.Fprintf(w, "  account %s: already stored for the new server (%s)\n", m.label, client.Sanitize(m.acct.URL, 300))
		case migrateFound:
			fmt.Fprintf(w, "  account %s: the new CA knows this key as %s; store it for the new server\n", m.label, client.Sanitize(m.acct.URL, 300))
		case migrateRegister:
			contacts := "no contacts"
			if len(m.contacts) > 0 {
				contacts = "contacts " + strings.Join(m.contacts, ", ")
			}
			fmt.Fprintf(w, "  account %s: register the same key at the new CA (%s)\n", m.label, contacts)
		}
	}
	if termsNeeded {
		fmt.Fprintf(w, "  registering needs the terms of service of the new CA accepted: %s (--accept-tos)\n", client.Sanitize(plan.dir.Meta.TermsOfService, 300))
	}
	for _, mc := range plan.certs {
		var parts []string
		for _, c := range mc.changes {
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
		fmt.Fprintf(w, "  certificate %s: %s\n", mc.name, strings.Join(parts, "; "))
	}
	for _, s := range plan.skipped {
		fmt.Fprintf(w, "  skipped %s: %s\n", s[0], s[1])
	}
}

func migrationJSON(plan *migratePlan, applied bool) map[string]any {
	accts := []map[string]any{}
	for _, m := range plan.accounts {
		d := map[string]any{"label": m.label, "action": m.action, "contacts": m.contacts}
		if m.acct != nil {
			d["account_url"] = m.acct.URL
		}
		accts = append(accts, d)
	}
	certs := []map[string]any{}
	for _, mc := range plan.certs {
		ch := map[string]map[string]string{}
		for _, c := range mc.changes {
			ch[c[0]] = map[string]string{"old": c[1], "new": c[2]}
		}
		certs = append(certs, map[string]any{"cert_name": mc.name, "changes": ch})
	}
	skipped := []map[string]string{}
	for _, s := range plan.skipped {
		skipped = append(skipped, map[string]string{"cert_name": s[0], "reason": s[1]})
	}
	return map[string]any{
		"from": plan.from, "to": plan.to, "dialect": plan.dir.DialectID, "applied": applied,
		"terms_of_service": plan.dir.Meta.TermsOfService,
		"accounts":         accts, "certificates": certs, "skipped": skipped,
	}
}
