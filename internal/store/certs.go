package store

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/keys"
)

const (
	stateFile      = "state.json"
	pendingKeyFile = "pending-key.pem"
)

// State is certificates/<name>/state.json: acmectl's own bookkeeping. It also
// caches facts about the current version so that listing many certificates
// needs no x509 parsing (see RecordInstall). Unknown JSON fields are ignored,
// so an older acmectl can read a newer file.
type State struct {
	ARI           *ARIState     `json:"ari,omitempty"`
	RetryAfter    time.Time     `json:"retry_after,omitzero"` // the CA's Retry-After
	Backoff       *Backoff      `json:"backoff,omitempty"`
	PendingOrder  *PendingOrder `json:"pending_order,omitempty"`
	DeployPending bool          `json:"deploy_pending,omitempty"`
	LastError     *LastError    `json:"last_error,omitempty"`
	Revoked       bool          `json:"revoked,omitempty"`
	LastSuccess   time.Time     `json:"last_success,omitzero"`
	LastAttempt   time.Time     `json:"last_attempt,omitzero"`

	// Cached facts of the current version.
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	Serial    string    `json:"serial,omitempty"` // lowercase hex
	Issuer    string    `json:"issuer,omitempty"` // issuer common name (or full DN if it has none)
	Version   int       `json:"version,omitempty"`
	KeyType   string    `json:"key_type,omitempty"`
	// IssuedBy and IssuedAccount are the directory URL and account label
	// the current version came from (ARI "replaces" is sent only to them).
	IssuedBy      string `json:"issued_by,omitempty"`
	IssuedAccount string `json:"issued_account,omitempty"`
	// IssuedAccountURL is the URL of the account that obtained the current
	// version: "replaces" is sent only when the account in use has this
	// very URL (a CA refuses it for a certificate of another account, and
	// a new account under the same label has a new URL).
	IssuedAccountURL string `json:"issued_account_url,omitempty"`
}

// ARIState is the renewal window the CA suggested (RFC 9773), the point in
// it acmectl drew and when to fetch it again; renew's policy reads and
// updates it (the zero value: never fetched).
type ARIState struct {
	WindowStart time.Time `json:"window_start,omitzero"`
	WindowEnd   time.Time `json:"window_end,omitzero"`
	ChosenTime  time.Time `json:"chosen_time,omitzero"`
	NextFetch   time.Time `json:"next_fetch,omitzero"`
	// FetchedAt is when renewalInfo was last fetched, successfully or
	// not (zero in files written before it was kept: see renew.Policy).
	FetchedAt      time.Time `json:"fetched_at,omitzero"`
	ExplanationURL string    `json:"explanation_url,omitempty"`
}

// Backoff is acmectl's own retry schedule after failures.
type Backoff struct {
	Failures    int       `json:"failures"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// PendingOrder is an order to resume after a crash or SIGTERM.
type PendingOrder struct {
	URL          string `json:"url"`
	DirectoryURL string `json:"directory_url"`
	Account      string `json:"account"`
	// AccountURL is the account that created the order: only that account
	// can resume it (a label may name a new account since).
	AccountURL string       `json:"account_url,omitempty"`
	Names      client.Names `json:"names"`
	Replaces   string       `json:"replaces,omitempty"`
	// Profile is the profile the order was created with: an order is
	// resumed only for the same plan.
	Profile string    `json:"profile,omitempty"`
	Created time.Time `json:"created,omitzero"`
}

// LastError is the last failure, as shown by list/show and --json.
type LastError struct {
	Class      string    `json:"class"`
	Message    string    `json:"message"`
	Time       time.Time `json:"time,omitzero"`
	RetryAfter time.Time `json:"retry_after,omitzero"`
}

// RecordInstall copies the facts of a freshly installed version (leaf
// validity, serial, issuer, version number, key type) into the cached fields.
func (s *State) RecordInstall(in *Installed) {
	if in == nil || in.Leaf == nil {
		return
	}
	s.NotBefore, s.NotAfter = in.Leaf.NotBefore.UTC(), in.Leaf.NotAfter.UTC()
	s.Serial = fmt.Sprintf("%x", in.Leaf.SerialNumber)
	s.Issuer = in.Leaf.Issuer.CommonName
	if s.Issuer == "" {
		s.Issuer = in.Leaf.Issuer.String()
	}
	s.Version = in.Version
	s.KeyType = keys.KeyTypeOf(in.Leaf.PublicKey)
}

// LoadState reads certificates/<name>/state.json. A missing file gives a
// zero State and no error; a damaged one is an error naming the file.
func (d *Dir) LoadState(name string) (*State, error) {
	dir, err := d.certDir(name)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, stateFile)
	data, err := readTrusted(path, maxJSONSize)
	if errors.Is(err, ErrNotFound) {
		return &State{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load state of %s: %w", name, err)
	}
	s, dropped, err := DecodeState(data)
	if err != nil {
		return nil, fmt.Errorf("load state of %s: %s: %w", name, path, err)
	}
	if dropped != nil {
		d.log.Warn("pending order dropped: its names do not parse; a new order will be made", "cert_name", name, "err", dropped)
	}
	return s, nil
}

// DecodeState parses a state.json document. A pending order whose names
// client.ParseIdentifier refuses (one an older release recorded for
// names it took as they were) is dropped and its error returned as
// dropped: it serves only to resume an order, and the next issuance makes
// a new one, where failing the whole state would stop the certificate.
func DecodeState(data []byte) (s *State, dropped, err error) {
	s = &State{}
	err = json.Unmarshal(data, s)
	var ne *client.NameError
	if !errors.As(err, &ne) {
		return s, nil, err
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(data, &raw) != nil {
		return nil, nil, err
	}
	delete(raw, "pending_order")
	rest, merr := json.Marshal(raw)
	if merr != nil {
		return nil, nil, err
	}
	s = &State{}
	if err2 := json.Unmarshal(rest, s); err2 != nil {
		return nil, nil, err2
	}
	return s, err, nil
}

// SaveState writes certificates/<name>/state.json atomically (0600), creating
// the certificate directory if needed.
func (d *Dir) SaveState(name string, s *State) error {
	if s == nil {
		return errors.New("save state: nil state")
	}
	dir, err := d.certDir(name)
	if err != nil {
		return err
	}
	js, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("save state of %s: %w", name, err)
	}
	js = append(js, '\n')
	if err := ensureDir(dir); err != nil {
		return fmt.Errorf("save state of %s: %w", name, err)
	}
	// A renewal pass saves the state the engine just saved (nothing
	// changed when no deploy hook failed).
	if unchanged(filepath.Join(dir, stateFile), js, filePerm, maxJSONSize) {
		return nil
	}
	if err := writeFileAtomic(dir, stateFile, js, filePerm, -1); err != nil {
		return fmt.Errorf("save state of %s: %w", name, err)
	}
	return nil
}

// List returns the names of the stored certificates, sorted: the
// certificates directory (one ReadDir) and one Lstat of settings.yaml per
// entry, skipping entries that are not directories, not valid names or
// have no settings.
func (d *Dir) List() ([]string, error) {
	ents, err := os.ReadDir(d.certsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list certificates: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if !e.IsDir() || ValidCertName(e.Name()) != nil {
			continue
		}
		// A certificate exists once it has been issued and its settings
		// stored: what a killed first order left (state.json with its
		// pending order, the pending key) is not one; only rerunning
		// that obtain resumes it.
		if _, err := os.Lstat(filepath.Join(d.certsDir(), e.Name(), settingsFile)); err != nil {
			continue
		}
		names = append(names, e.Name()) // ReadDir sorts by name
	}
	return names, nil
}

// Exists reports whether a certificate directory exists for a valid name.
func (d *Dir) Exists(name string) bool {
	dir, err := d.certDir(name)
	if err != nil {
		return false
	}
	st, err := os.Stat(dir)
	return err == nil && st.IsDir()
}

// Delete removes a certificate's directory (settings, state, versions and
// stable links) by renaming it away first, so a crash never leaves half a
// certificate listed. Its lock file is kept. ErrNotFound (wrapped) if absent.
// The caller should hold the certificate's lock.
func (d *Dir) Delete(name string) error {
	dir, err := d.certDir(name)
	if err != nil {
		return err
	}
	return d.removeDirAtomic(dir, "delete certificate "+name)
}

// SavePendingKey writes certificates/<name>/pending-key.pem (0600): the key of
// an order in flight, so that a resumed order finalizes with the same key.
// The certificate directory is created if missing. The file is fsynced,
// its directory entry is not: the key is only ever used with the pending
// order recorded next in state.json, in the same directory, whose
// directory fsync makes both names durable; after a crash before that, no
// recorded order names the key (the engine then makes a new one).
func (d *Dir) SavePendingKey(name string, key crypto.Signer) error {
	dir, err := d.certDir(name)
	if err != nil {
		return err
	}
	if err := ensureDir(dir); err != nil {
		return fmt.Errorf("save pending key of %s: %w", name, err)
	}
	if err := writeKey(dir, pendingKeyFile, key); err != nil {
		return fmt.Errorf("save pending key of %s: %w", name, err)
	}
	return nil
}

// LoadPendingKey reads pending-key.pem; an error wrapping ErrNotFound if none.
func (d *Dir) LoadPendingKey(name string) (crypto.Signer, error) {
	dir, err := d.certDir(name)
	if err != nil {
		return nil, err
	}
	k, err := d.readKey(filepath.Join(dir, pendingKeyFile))
	if err != nil {
		return nil, fmt.Errorf("load pending key of %s: %w", name, err)
	}
	return k, nil
}

// ClearPendingKey removes pending-key.pem; absent is not an error. The
// removal is not fsynced: a pending key is only ever used together with
// the pending order recorded in state.json, which the caller cleared (and
// fsynced) first, and the next order saves its own key before recording
// its order, so a key that comes back after a crash is never used.
func (d *Dir) ClearPendingKey(name string) error {
	dir, err := d.certDir(name)
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, pendingKeyFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("clear pending key of %s: %w", name, err)
	}
	return nil
}
