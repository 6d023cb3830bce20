// Package account owns an ACME account's life in the state directory
// beyond the first registration (internal/issue registers and loads): the
// account commands' logic and writes of its record and key (Stored: Load,
// Register and Release for --replace, Refresh, UpdateContacts, Recover,
// Deactivate, and the crash-safe key Rollover), and moving accounts and
// certificates to another server (Migration).
package account

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
)

// Account actions of a migration.
const (
	ActionFound    = "found"            // the new CA knows the key
	ActionRegister = "register"         // the key is registered at the new CA
	ActionDone     = "already-migrated" // stored under To with the same key
)

// MigrateOptions say what to migrate.
type MigrateOptions struct {
	// From and To are directory URLs.
	From, To string
	// OnlyLabel limits the migration to one account label ("" all).
	OnlyLabel string
	// Email are contacts for accounts stored without any.
	Email []string
	// CABundle is the bundle certificates get with To ("" none).
	CABundle string
	// EABKeyID is the external account binding key ID registering will
	// use ("" none).
	EABKeyID string
}

// ApplyOptions say how to apply a migration.
type ApplyOptions struct {
	// EABKeyID and EABHMACKey bind registrations at the new CA.
	EABKeyID   string
	EABHMACKey []byte
	LockWait   time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
	// CertFailed, if set, hears of each certificate left as it was.
	CertFailed func(name string, err error)
}

func (o ApplyOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o ApplyOptions) log() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// MigrateAccount is one stored account of From.
type MigrateAccount struct {
	Label    string
	Key      crypto.Signer
	Contacts []string
	Action   string
	Acct     *client.Account // found at (or registered with) the new CA
}

// MigrateCert is one certificate of From.
type MigrateCert struct {
	Name     string
	Settings *store.Settings // as read for the plan
	Changes  [][3]string     // key, old, new
}

// Migration is a planned move from one server to another.
type Migration struct {
	From, To string
	Dir      *client.Directory
	Accounts []*MigrateAccount
	Certs    []*MigrateCert
	Skipped  [][2]string // name, reason
}

func planErrorf(format string, args ...any) error {
	return &lifecycle.PlanError{Err: fmt.Errorf(format, args...)}
}

// PlanMigration reads the state directory and asks the new CA through c
// (read-only) what it knows. Nothing is written. Input that cannot work
// (nothing to migrate, a label taken by another key, EAB needed) is a
// *lifecycle.PlanError.
func PlanMigration(ctx context.Context, st *store.Dir, c *client.Client, o MigrateOptions) (*Migration, error) {
	from, to, onlyLabel := o.From, o.To, o.OnlyLabel
	plan := &Migration{From: from, To: to}
	fromID, err := store.ServerID(from)
	if err != nil {
		return nil, planErrorf("--from: %v", err)
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
			for _, e := range o.Email {
				contacts = append(contacts, "mailto:"+e)
			}
		}
		plan.Accounts = append(plan.Accounts, &MigrateAccount{Label: ref.Label, Key: key, Contacts: contacts})
	}
	names, err := st.List()
	if err != nil {
		return nil, err
	}
	bundle := o.CABundle
	if bundle != "" {
		if abs, err := filepath.Abs(bundle); err == nil {
			bundle = abs
		}
	}
	for _, name := range names {
		s, err := st.LoadSettings(name)
		if err != nil {
			plan.Skipped = append(plan.Skipped, [2]string{name, strings.ReplaceAll(strings.ReplaceAll(err.Error(), "\n", " "), "\r", " ")})
			continue
		}
		if s.Server != from || (onlyLabel != "" && labelOr(s.Account) != onlyLabel) {
			continue
		}
		plan.Certs = append(plan.Certs, &MigrateCert{Name: name, Settings: s})
	}
	if len(plan.Accounts) == 0 && len(plan.Certs) == 0 {
		return nil, planErrorf("nothing to migrate: no account or certificate in %s is stored for %s", st.Root(), from)
	}

	dir, err := c.Directory(ctx)
	if err != nil {
		return nil, err
	}
	plan.Dir = dir
	for _, mc := range plan.Certs {
		mc.Changes = settingsChanges(mc.Settings, to, bundle, dir.Version)
	}
	needRegister := false
	for _, m := range plan.Accounts {
		rec, key, err := st.LoadAccount(to, m.Label)
		switch {
		case err == nil && rec.URL != "":
			if !sameKey(key, m.Key) {
				return nil, planErrorf("account %q is already stored for %s with a different key (%s): pass --account for another label, or remove it first",
					m.Label, to, client.Sanitize(rec.URL, 300))
			}
			m.Action = ActionDone
			m.Acct = &client.Account{URL: rec.URL, Key: key, Contact: rec.Contacts, Status: rec.Status}
			continue
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
		acct, err := c.LookupAccount(ctx, m.Key)
		switch {
		case err == nil:
			if acct.Status != client.StatusValid {
				return nil, fmt.Errorf("account %q: %s has this key as account %s, which is %s", m.Label, to, client.Sanitize(acct.URL, 300), client.Sanitize(acct.Status, 40))
			}
			m.Action, m.Acct = ActionFound, acct
		case errors.Is(err, client.ErrAccountNotFound):
			m.Action = ActionRegister
			needRegister = true
		default:
			return nil, fmt.Errorf("look up account %q at %s: %w", m.Label, to, err)
		}
	}
	if needRegister {
		// What registering needs, checked before anything is written.
		if o.EABKeyID != "" && !dir.Supports.ExternalAccountBinding {
			return nil, &client.UnsupportedError{Feature: "external account binding (EAB)", Dialect: dir.Dialect}
		}
		if dir.Meta.ExternalAccountRequired && o.EABKeyID == "" {
			return nil, planErrorf("%s requires external account binding to register: pass --eab-kid and --eab-hmac-key-file (or ACMECTL_EAB_HMAC_KEY)", to)
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

// Apply stores the accounts under the new server (registering
// where needed) and then rewrites each certificate's settings under its
// lock. Certificates that cannot be locked are reported and left as they
// were; the error then says which.
func (plan *Migration) Apply(ctx context.Context, st *store.Dir, c *client.Client, o ApplyOptions) error {
	lockWait := o.LockWait
	dialect := plan.Dir.DialectID
	if err := func() error {
		unlock, err := st.LockState(ctx, lockWait)
		if err != nil {
			return err
		}
		defer unlock()
		for _, m := range plan.Accounts {
			switch m.Action {
			case ActionDone:
				continue
			case ActionRegister:
				// Keep the key under the new server first, so that a crash
				// during registration cannot lose the account (a later run
				// finds it with onlyReturnExisting).
				if err := st.SaveAccount(plan.To, m.Label, &store.AccountRecord{DirectoryURL: plan.To, Contacts: m.Contacts}, m.Key); err != nil {
					return err
				}
				acct, err := c.Register(ctx, m.Key, client.RegisterOptions{
					Contact: m.Contacts, AgreeTerms: true, EABKeyID: o.EABKeyID, EABHMACKey: o.EABHMACKey,
				})
				if err != nil {
					return fmt.Errorf("register account %q at %s: %w", m.Label, plan.To, err)
				}
				m.Acct = acct
				o.log().Info("account registered with the migrated key", "account", m.Label, "account_url", acct.URL, "server", plan.To)
			}
			rec := &store.AccountRecord{URL: m.Acct.URL, Contacts: m.Acct.Contact, DirectoryURL: plan.To,
				Created: o.now(), Status: m.Acct.Status, Dialect: dialect}
			if err := st.SaveAccount(plan.To, m.Label, rec, m.Key); err != nil {
				return err
			}
		}
		return nil
	}(); err != nil {
		return err
	}
	var errs []error
	for _, mc := range plan.Certs {
		if err := migrateCertSettings(ctx, st, mc, plan, lockWait); err != nil {
			errs = append(errs, fmt.Errorf("certificate %s: %w", mc.Name, err))
			if o.CertFailed != nil {
				o.CertFailed(mc.Name, err)
			}
		}
	}
	return errors.Join(errs...)
}

// migrateCertSettings points one certificate at the new server through
// the lifecycle owner's settings writer.
func migrateCertSettings(ctx context.Context, st *store.Dir, mc *MigrateCert, plan *Migration, lockWait time.Duration) error {
	var g lifecycle.Given
	for _, c := range mc.Changes {
		switch c[0] {
		case "server":
			g.Server = &c[2]
		case "ca-bundle":
			g.CABundle = &c[2]
		case "acme-version":
			g.ACMEVersion = &c[2]
		}
	}
	return lifecycle.Repoint(ctx, st, mc.Name, plan.From, g, lockWait)
}
