package account

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/store"
)

// Failpoints of Rollover (crash tests): before the keyChange request (the
// new key is saved as pending) and after the CA accepted it, before the
// new key is committed in the store.
const (
	FailpointBeforeKeyChange = "before-key-change"
	FailpointAfterKeyChange  = "after-key-change"
)

// defaultLockWait bounds the wait for the state lock.
const defaultLockWait = 2 * time.Minute

// Stored is one account of the state directory, --account Label at
// --server Server, with the client for that server: the writer of its
// record and key for the account commands (register --replace, show,
// update, rollover, deactivate, recover).
type Stored struct {
	Store  *store.Dir
	Client *client.Client
	// Server is the directory URL; Label the account's label.
	Server, Label string
	// Locked says the caller holds the state lock already.
	Locked   bool
	LockWait time.Duration // 0: 2 minutes
	Now      func() time.Time
	Logger   *slog.Logger
	// Failpoint, if set, is called at Rollover's failpoints (tests only).
	Failpoint func(ctx context.Context, name string)
}

func (s *Stored) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Stored) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Stored) failpoint(ctx context.Context, name string) {
	if s.Failpoint != nil {
		s.Failpoint(ctx, name)
	}
}

// Lock takes the state lock for a sequence of steps (Locked is true until
// unlock).
func (s *Stored) Lock(ctx context.Context) (unlock func(), err error) {
	if s.Locked {
		return func() {}, nil
	}
	release, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	s.Locked = true
	return func() { s.Locked = false; release() }, nil
}

// lock takes the state lock unless the caller holds it.
func (s *Stored) lock(ctx context.Context) (func(), error) {
	if s.Locked {
		return func() {}, nil
	}
	wait := s.LockWait
	if wait == 0 {
		wait = defaultLockWait
	}
	return s.Store.LockState(ctx, wait)
}

// NotStoredError: no usable account is stored under the label: none at
// all, or one whose registration was interrupted and whose key the CA
// does not know (Interrupted).
type NotStoredError struct {
	Label, Server string
	Interrupted   bool
}

func (e *NotStoredError) Error() string {
	if e.Interrupted {
		return fmt.Sprintf("account %q for %s was never registered (an earlier registration was interrupted): run acmectl account register", e.Label, e.Server)
	}
	return fmt.Sprintf("no account %q for %s in the state directory: run acmectl account register (or account recover --key FILE)", e.Label, e.Server)
}

// Load returns the stored account and its record. It settles what an
// interruption left: a registration (the CA is asked for the stored key's
// account, which is saved) or a key rollover (eng asks the CA which key it
// has). It never registers; opts.Label is the account's label.
func (s *Stored) Load(ctx context.Context, eng *issue.Engine, opts issue.AccountOptions) (*client.Account, *store.AccountRecord, error) {
	rec, key, err := s.Store.LoadAccount(s.Server, s.Label)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, &NotStoredError{Label: s.Label, Server: s.Server}
	}
	if err != nil {
		return nil, nil, err
	}
	if rec.URL == "" {
		// Registration was interrupted: the key is kept; find its account.
		acct, err := s.Client.LookupAccount(ctx, key)
		if errors.Is(err, client.ErrAccountNotFound) {
			return nil, nil, &NotStoredError{Label: s.Label, Server: s.Server, Interrupted: true}
		}
		if err != nil {
			return nil, nil, err
		}
		if rec, err = s.Save(ctx, acct, rec); err != nil {
			return nil, nil, err
		}
		return acct, rec, nil
	}
	return s.viaEngine(ctx, eng, opts)
}

// Save stores acct as the account's record and key (under the state
// lock), keeping the creation time of prev (nil: now) and recording the
// server's dialect.
func (s *Stored) Save(ctx context.Context, acct *client.Account, prev *store.AccountRecord) (*store.AccountRecord, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rec := &store.AccountRecord{URL: acct.URL, Contacts: acct.Contact, DirectoryURL: s.Server, Status: acct.Status, Created: s.now().UTC()}
	if prev != nil && !prev.Created.IsZero() {
		rec.Created = prev.Created
	}
	if dir, err := s.Client.Directory(ctx); err == nil {
		rec.Dialect = dir.DialectID
	}
	if err := s.Store.SaveAccount(s.Server, s.Label, rec, acct.Key); err != nil {
		return nil, err
	}
	return rec, nil
}

// ActiveError: register --replace was asked for an account the CA still
// has (neither lost nor deactivated).
type ActiveError struct {
	Label, Server, URL, Status string
}

func (e *ActiveError) Error() string {
	return fmt.Sprintf("account %q for %s (%s) is %s at the CA: --replace replaces only an account the CA lost or deactivated",
		e.Label, e.Server, e.URL, client.Sanitize(e.Status, 20))
}

// Release prepares register --replace for the stored account rec: it
// asks the CA about the stored key and, only when the CA lost the account
// or it is deactivated or revoked, clears the label so that a new account
// is registered under it: with the same key when the CA merely lost it
// (the record keeps the key and contacts, without URL), with a new key
// otherwise (the account is removed). It returns the status at the CA
// ("" when lost); an account the CA still has is an *ActiveError.
func (s *Stored) Release(ctx context.Context, rec *store.AccountRecord) (string, error) {
	_, key, err := s.Store.LoadAccount(s.Server, s.Label)
	if err != nil {
		return "", err
	}
	found, err := s.Client.LookupAccount(ctx, key)
	var ag *client.AccountGoneError
	status := ""
	switch {
	case errors.Is(err, client.ErrAccountNotFound):
	case errors.As(err, &ag):
		status = ag.Status
	case err != nil:
		return "", fmt.Errorf("asking %s about account %q: %w", s.Server, s.Label, err)
	case found.Status == client.StatusDeactivated || found.Status == client.StatusRevoked:
		status = found.Status
	default:
		return "", &ActiveError{Label: s.Label, Server: s.Server, URL: found.URL, Status: found.Status}
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return status, err
	}
	defer unlock()
	if status == "" {
		// Same key, no URL: the engine registers it again.
		err = s.Store.SaveAccount(s.Server, s.Label, &store.AccountRecord{DirectoryURL: s.Server, Contacts: rec.Contacts, Created: s.now().UTC()}, key)
		s.log().Warn("the CA no longer knows the stored account; registering its key again", "account_url", rec.URL, "label", s.Label)
	} else {
		// A deactivated key can never register again: a new key.
		err = s.Store.DeleteAccount(s.Server, s.Label)
		s.log().Warn("the stored account is "+status+" at the CA; registering a new account with a new key", "account_url", rec.URL, "label", s.Label)
	}
	return status, err
}

// Remove deletes the account's key and record (under the state lock),
// after the CA deactivated it.
func (s *Stored) Remove(ctx context.Context) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return s.Store.DeleteAccount(s.Server, s.Label)
}

// Rollover replaces the key of acct, the account stored as rec (nil: no
// record to date), with newKey through the CA's keyChange (RFC 8555
// §7.3.5), so that an interruption at any moment never strands the
// account. The caller holds the state lock and loaded acct through
// issue.Engine.Account, which settles an earlier interrupted rollover the
// same way the next command settles this one:
//
//   - newKey is stored as pending (key.pem.next) before the request;
//   - a definitive refusal by the CA discards it: the old key stays;
//   - an answer that leaves the outcome unknown (a 5xx, a lost answer)
//     asks the CA which key the account has now: the new one is committed,
//     the old one stays (pending discarded), or, when the CA cannot say,
//     both stay for the next command;
//   - once the CA accepted it, newKey replaces key.pem (an atomic rename);
//     a crash before that leaves it pending, and the next command finds
//     the account under it and commits it.
func (s *Stored) Rollover(ctx context.Context, acct *client.Account, rec *store.AccountRecord, newKey crypto.Signer) error {
	if err := s.Store.SavePendingAccountKey(s.Server, s.Label, newKey); err != nil {
		return err
	}
	s.failpoint(ctx, FailpointBeforeKeyChange)
	if err := s.Client.ChangeKey(ctx, acct, newKey); err != nil {
		if rolloverRefused(err) {
			// The CA said no for good: the old key stays.
			_ = s.Store.DiscardPendingAccountKey(s.Server, s.Label)
			return err
		}
		// The outcome is unknown (Boulder can answer 500 after it
		// committed the new key): ask the CA which key it has now; if it
		// cannot say, both keys stay for the next command.
		settled, serr := s.settleRollover(ctx, acct, newKey)
		if serr != nil {
			return fmt.Errorf("%w (the new key is kept in key.pem.next until the CA says which key it has; any later account command asks again)", err)
		}
		if !settled {
			return fmt.Errorf("%w (the CA kept the old key, which stays in use)", err)
		}
		s.log().Warn("key change answer was an error, but the CA has the new key", "err", err)
	}
	s.failpoint(ctx, FailpointAfterKeyChange)
	if err := s.Store.CommitPendingAccountKey(s.Server, s.Label); err != nil {
		return fmt.Errorf("the CA has the new key but storing it failed (it stays in key.pem.next and is picked up by the next command): %w", err)
	}
	if rec != nil {
		rec.KeyChanged = s.now()
		if err := s.Store.SaveAccount(s.Server, s.Label, rec, newKey); err != nil {
			s.log().Warn("recording the rollover time failed", "err", err)
		}
	}
	return nil
}

// rolloverRefused reports a definitive refusal of a key change: a 4xx
// problem (not a rate limit, a badNonce run or a 5xx, whose outcome is
// unknown) or a feature the server lacks.
func rolloverRefused(err error) bool {
	var ue *client.UnsupportedError
	var te *client.TemporaryError
	var p *client.Problem
	if errors.As(err, &ue) {
		return true
	}
	return errors.As(err, &p) && !errors.As(err, &te) && p.Status >= 400 && p.Status < 500
}

// settleRollover asks the CA which key the account has after a key change
// whose answer was lost or an error: true when the new key is the
// account's, false when the old one still is (the pending key is
// discarded); an error when the CA cannot say now.
func (s *Stored) settleRollover(ctx context.Context, acct *client.Account, newKey crypto.Signer) (bool, error) {
	a, err := s.Client.LookupAccount(ctx, newKey)
	if err == nil && a.URL == acct.URL {
		return true, nil
	}
	if err != nil && !errors.Is(err, client.ErrAccountNotFound) {
		return false, err
	}
	if old, err := s.Client.LookupAccount(ctx, acct.Key); err == nil && old.URL == acct.URL {
		_ = s.Store.DiscardPendingAccountKey(s.Server, s.Label)
		return false, nil
	} else if err != nil {
		return false, err
	}
	return false, errors.New("neither key is the account's key at the CA")
}

// ExistsError: the label holds an account already (register without
// --replace, or recover with another key).
type ExistsError struct {
	Label, Server, URL string
	// OtherKey: recover was given another key than the stored one.
	OtherKey bool
}

func (e *ExistsError) Error() string {
	if e.OtherKey {
		return fmt.Sprintf("account %q for %s already exists (%s) with another key: pick another --account LABEL", e.Label, e.Server, e.URL)
	}
	return fmt.Sprintf("account %q for %s already exists (%s): pick another --account LABEL (or --replace if the CA no longer has it)", e.Label, e.Server, e.URL)
}

// Register registers a new account under the label through eng (account
// register). A label holding an account is an *ExistsError unless
// replace: then the CA is asked first (Release; an account it still has
// is an *ActiveError) and the stored contacts carry over unless opts has
// emails.
func (s *Stored) Register(ctx context.Context, eng *issue.Engine, opts issue.AccountOptions, replace bool) (*client.Account, *store.AccountRecord, error) {
	opts.Label = s.Label
	rec, _, err := s.Store.LoadAccount(s.Server, s.Label)
	switch {
	case err == nil && rec.URL != "":
		if !replace {
			return nil, nil, &ExistsError{Label: s.Label, Server: s.Server, URL: rec.URL}
		}
		if _, err := s.Release(ctx, rec); err != nil {
			return nil, nil, err
		}
		if len(opts.Email) == 0 {
			opts.Email = Emails(rec.Contacts)
		}
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, nil, err
	}
	return s.viaEngine(ctx, eng, opts)
}

// viaEngine loads (or registers) the account through eng and returns it
// with the record eng stored.
func (s *Stored) viaEngine(ctx context.Context, eng *issue.Engine, opts issue.AccountOptions) (*client.Account, *store.AccountRecord, error) {
	opts.Label = s.Label
	acct, err := eng.Account(ctx, s.Client, &store.Settings{Server: s.Server}, opts)
	if err != nil {
		return nil, nil, err
	}
	rec, _, err := s.Store.LoadAccount(s.Server, s.Label)
	if err != nil {
		return nil, nil, err
	}
	return acct, rec, nil
}

// Emails are the addresses of the mailto: contacts.
func Emails(contacts []string) []string {
	var out []string
	for _, c := range contacts {
		if m, ok := strings.CutPrefix(c, "mailto:"); ok {
			out = append(out, m)
		}
	}
	return out
}

// Refresh asks the CA about acct, stored as rec (account show): through
// newAccount with onlyReturnExisting, one POST with the same answer as a
// POST-as-GET of the account URL. A changed status or contact list is
// saved; contacts the CA no longer returns (Let's Encrypt) are kept from
// rec. It returns the account as the CA has it, its record, and the
// contacts the CA returned. An account the CA lost or deactivated is an
// error naming the way out (a deactivated one's status is saved first).
func (s *Stored) Refresh(ctx context.Context, acct *client.Account, rec *store.AccountRecord) (*client.Account, *store.AccountRecord, []string, error) {
	fresh, err := s.Client.LookupAccount(ctx, acct.Key)
	var ag *client.AccountGoneError
	switch {
	case errors.Is(err, client.ErrAccountNotFound):
		return nil, nil, nil, fmt.Errorf("%s no longer knows the key of account %q (%s): register a new one under the same label with: %s",
			s.Server, s.Label, acct.URL, issue.ReplaceAccountCommand(s.Server, s.Label))
	case errors.As(err, &ag):
		// Boulder (and Pebble) answer a deactivated account's key with
		// 403 unauthorized: its status, recorded; the account is
		// unusable, so show fails naming the way out.
		acct.Status = ag.Status
		if _, err := s.Save(ctx, acct, rec); err != nil {
			return nil, nil, nil, err
		}
		return nil, nil, nil, fmt.Errorf("account %q (%s) is %s at %s: register a new one under the same label with: %s",
			s.Label, acct.URL, ag.Status, s.Server, issue.ReplaceAccountCommand(s.Server, s.Label))
	case err != nil:
		return nil, nil, nil, err
	}
	if fresh.URL != acct.URL {
		return nil, nil, nil, fmt.Errorf("%s answers with account %s for the key of account %q, stored as %s", s.Server, fresh.URL, s.Label, acct.URL)
	}
	caContacts := fresh.Contact
	if len(fresh.Contact) == 0 {
		// Let's Encrypt no longer returns (or keeps) contacts: the local
		// list stays.
		fresh.Contact = rec.Contacts
	}
	if fresh.Status != rec.Status || strings.Join(fresh.Contact, ",") != strings.Join(rec.Contacts, ",") {
		if rec, err = s.Save(ctx, fresh, rec); err != nil {
			return nil, nil, nil, err
		}
	}
	return fresh, rec, caContacts, nil
}

// Updated is what UpdateContacts did.
type Updated struct {
	Record *store.AccountRecord
	// CAContacts are the contacts the CA returned.
	CAContacts []string
	// LocalOnly: the CA returned no contacts for the ones asked (Boulder
	// ignores contacts in updates since 2025); they are recorded locally
	// only.
	LocalOnly bool
}

// UpdateContacts replaces acct's contacts with want at the CA (account
// update) and saves the account, stored as rec. Contacts the CA did not
// keep are recorded locally (Updated.LocalOnly).
func (s *Stored) UpdateContacts(ctx context.Context, acct *client.Account, rec *store.AccountRecord, want []string) (Updated, error) {
	if err := s.Client.UpdateAccount(ctx, acct, want); err != nil {
		return Updated{}, err
	}
	u := Updated{CAContacts: acct.Contact}
	if len(want) > 0 && len(u.CAContacts) == 0 {
		acct.Contact, u.LocalOnly = want, true
	}
	var err error
	if u.Record, err = s.Save(ctx, acct, rec); err != nil {
		return Updated{}, err
	}
	return u, nil
}

// Recover finds the account key has at the CA, without creating one, and
// stores it under the label (account recover). A label holding another
// key's account is an *ExistsError; a key without an account is
// client.ErrAccountNotFound, one whose account is gone an
// *client.AccountGoneError.
func (s *Stored) Recover(ctx context.Context, key crypto.Signer) (*client.Account, *store.AccountRecord, error) {
	rec, old, err := s.Store.LoadAccount(s.Server, s.Label)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	if err == nil && rec.URL != "" {
		oldTP, _ := client.Thumbprint(old)
		newTP, _ := client.Thumbprint(key)
		if oldTP != newTP {
			return nil, nil, &ExistsError{Label: s.Label, Server: s.Server, URL: rec.URL, OtherKey: true}
		}
	}
	acct, err := s.Client.LookupAccount(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	if rec, err = s.Save(ctx, acct, rec); err != nil {
		return nil, nil, err
	}
	return acct, rec, nil
}

// Deactivate deactivates acct at the CA for good and then removes it from
// the state directory (account deactivate).
func (s *Stored) Deactivate(ctx context.Context, acct *client.Account) error {
	if err := s.Client.DeactivateAccount(ctx, acct); err != nil {
		return err
	}
	if err := s.Remove(ctx); err != nil {
		return fmt.Errorf("account deactivated at the CA, but removing it locally failed: %w", err)
	}
	return nil
}
