package store

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/acmectl/acmectl/internal/keys"
)

// Account file names.
const (
	accountKeyFile     = "key.pem"
	accountPendingFile = "key.pem.next"
	accountRecordFile  = "account.json"
)

// AccountRecord is account.json: what acmectl knows about an ACME account
// besides its key.
type AccountRecord struct {
	URL          string    `json:"url"`           // account URL (RFC 8555 §7.3); empty before registration finished
	Contacts     []string  `json:"contacts"`      // e.g. "mailto:ops@example.com"
	DirectoryURL string    `json:"directory_url"` // the server's directory
	Created      time.Time `json:"created,omitzero"`
	Status       string    `json:"status,omitempty"`  // valid, deactivated, revoked
	Dialect      string    `json:"dialect,omitempty"` // "rfc8555" or "v1"
	// KeyChanged is when the CA last accepted a new key (rollover):
	// Boulder's account cache may refuse the new key's signatures for
	// seconds after.
	KeyChanged time.Time `json:"key_changed,omitzero"`
}

// AccountRef names a stored account, as ListAccounts returns it.
type AccountRef struct {
	ServerID     string
	Label        string
	DirectoryURL string // from account.json
	URL          string // from account.json
}

// accountDir validates the label and returns accounts/<server-id>/<label>.
func (d *Dir) accountDir(directoryURL, label string) (string, error) {
	if err := ValidCertName(label); err != nil {
		return "", fmt.Errorf("account label: %w", err)
	}
	id, err := ServerID(directoryURL)
	if err != nil {
		return "", err
	}
	return filepath.Join(d.accountsDir(), id, label), nil
}

// LoadAccount reads the account stored for directoryURL under label. It
// returns an error wrapping ErrNotFound when account.json is absent, and
// another error if account.json is present but the key is missing or bad.
func (d *Dir) LoadAccount(directoryURL, label string) (*AccountRecord, crypto.Signer, error) {
	dir, err := d.accountDir(directoryURL, label)
	if err != nil {
		return nil, nil, err
	}
	data, err := readFileLimit(filepath.Join(dir, accountRecordFile), maxJSONSize)
	if err != nil {
		return nil, nil, fmt.Errorf("load account %s: %w", label, err)
	}
	var rec AccountRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, nil, fmt.Errorf("load account %s: %s: %w", label, filepath.Join(dir, accountRecordFile), err)
	}
	key, err := d.readKey(filepath.Join(dir, accountKeyFile))
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			// A record without its key is damage, not absence.
			return nil, nil, fmt.Errorf("load account %s: account.json present but key missing: %v", label, err)
		}
		return nil, nil, fmt.Errorf("load account %s: %w", label, err)
	}
	return &rec, key, nil
}

// SaveAccount writes the account's key.pem (0600) and then account.json
// (0600), each atomically. Callers may save with an empty rec.URL before
// registering so that the key survives a crash during registration. The
// caller should hold LockState.
func (d *Dir) SaveAccount(directoryURL, label string, rec *AccountRecord, key crypto.Signer) error {
	if rec == nil || key == nil {
		return errors.New("save account: nil record or key")
	}
	dir, err := d.accountDir(directoryURL, label)
	if err != nil {
		return err
	}
	keyPEM, err := keys.MarshalPrivateKeyPEM(key)
	if err != nil {
		return fmt.Errorf("save account %s: %w", label, err)
	}
	js, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("save account %s: %w", label, err)
	}
	js = append(js, '\n')
	if err := ensureDir(dir); err != nil {
		return fmt.Errorf("save account %s: %w", label, err)
	}
	if err := writeFileAtomic(dir, accountKeyFile, keyPEM, keyPerm, -1); err != nil {
		return fmt.Errorf("save account %s key: %w", label, err)
	}
	if err := writeFileAtomic(dir, accountRecordFile, js, filePerm, -1); err != nil {
		return fmt.Errorf("save account %s record: %w", label, err)
	}
	return nil
}

// ListAccounts lists the stored accounts (those with an account.json),
// sorted by server ID and label. Entries whose names are not valid are
// skipped; an unreadable account.json leaves DirectoryURL and URL empty.
func (d *Dir) ListAccounts() ([]AccountRef, error) {
	servers, err := os.ReadDir(d.accountsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	var refs []AccountRef
	for _, s := range servers {
		if !s.IsDir() || s.Name()[0] == '.' {
			continue
		}
		labels, err := os.ReadDir(filepath.Join(d.accountsDir(), s.Name()))
		if err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		for _, l := range labels {
			if !l.IsDir() || ValidCertName(l.Name()) != nil {
				continue
			}
			data, err := readFileLimit(filepath.Join(d.accountsDir(), s.Name(), l.Name(), accountRecordFile), maxJSONSize)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			ref := AccountRef{ServerID: s.Name(), Label: l.Name()}
			var rec AccountRecord
			if err == nil && json.Unmarshal(data, &rec) == nil {
				ref.DirectoryURL, ref.URL = rec.DirectoryURL, rec.URL
			}
			refs = append(refs, ref)
		}
	}
	return refs, nil
}

// DeleteAccount removes an account's directory (key, pending key and
// record). It returns an error wrapping ErrNotFound if there is none.
func (d *Dir) DeleteAccount(directoryURL, label string) error {
	dir, err := d.accountDir(directoryURL, label)
	if err != nil {
		return err
	}
	return d.removeDirAtomic(dir, "delete account "+label)
}

// removeDirAtomic renames dir to a hidden name in its parent, syncs, then
// removes it, so a crash never leaves a half-deleted entry visible.
func (d *Dir) removeDirAtomic(dir, step string) error {
	if _, err := os.Lstat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: %w", step, ErrNotFound)
		}
		return fmt.Errorf("%s: %w", step, err)
	}
	parent := filepath.Dir(dir)
	tmp, err := os.MkdirTemp(parent, ".deleted-"+filepath.Base(dir)+"-*")
	if err != nil {
		return fmt.Errorf("%s: %w", step, err)
	}
	gone := filepath.Join(tmp, "x")
	if err := os.Rename(dir, gone); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", step, err)
	}
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("%s: %w", step, err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("%s: %w", step, err)
	}
	return nil
}

// SavePendingAccountKey writes key.pem.next (0600) for a key rollover
// (RFC 8555 §7.3.5) before the request is sent, so that a crash after the
// CA switched keys does not lose the new key.
func (d *Dir) SavePendingAccountKey(directoryURL, label string, key crypto.Signer) error {
	dir, err := d.accountDir(directoryURL, label)
	if err != nil {
		return err
	}
	keyPEM, err := keys.MarshalPrivateKeyPEM(key)
	if err != nil {
		return fmt.Errorf("save pending account key %s: %w", label, err)
	}
	if err := ensureDir(dir); err != nil {
		return fmt.Errorf("save pending account key %s: %w", label, err)
	}
	if err := writeFileAtomic(dir, accountPendingFile, keyPEM, keyPerm, -1); err != nil {
		return fmt.Errorf("save pending account key %s: %w", label, err)
	}
	return nil
}

// LoadPendingAccountKey reads key.pem.next; an error wrapping ErrNotFound
// means no rollover is in progress.
func (d *Dir) LoadPendingAccountKey(directoryURL, label string) (crypto.Signer, error) {
	dir, err := d.accountDir(directoryURL, label)
	if err != nil {
		return nil, err
	}
	k, err := d.readKey(filepath.Join(dir, accountPendingFile))
	if err != nil {
		return nil, fmt.Errorf("load pending account key %s: %w", label, err)
	}
	return k, nil
}

// CommitPendingAccountKey renames key.pem.next over key.pem atomically and
// syncs the directory. ErrNotFound (wrapped) if there is no pending key.
func (d *Dir) CommitPendingAccountKey(directoryURL, label string) error {
	dir, err := d.accountDir(directoryURL, label)
	if err != nil {
		return err
	}
	// Refuse to install something that does not parse as a key.
	if _, err := d.readKey(filepath.Join(dir, accountPendingFile)); err != nil {
		return fmt.Errorf("commit pending account key %s: %w", label, err)
	}
	if err := os.Rename(filepath.Join(dir, accountPendingFile), filepath.Join(dir, accountKeyFile)); err != nil {
		return fmt.Errorf("commit pending account key %s: %w", label, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("commit pending account key %s: %w", label, err)
	}
	return nil
}

// DiscardPendingAccountKey removes key.pem.next; absent is not an error.
func (d *Dir) DiscardPendingAccountKey(directoryURL, label string) error {
	dir, err := d.accountDir(directoryURL, label)
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, accountPendingFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("discard pending account key %s: %w", label, err)
	}
	return syncDirIfExists(dir)
}

func syncDirIfExists(dir string) error {
	if err := syncDir(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// readKey reads and parses a private key file (ErrNotFound if missing).
func (d *Dir) readKey(path string) (crypto.Signer, error) {
	data, err := readFileLimit(path, maxKeySize)
	if err != nil {
		return nil, err
	}
	k, err := keys.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// writeKey writes a private key atomically with mode 0600; the directory
// is not fsynced (see SavePendingKey).
func writeKey(dir, base string, key crypto.Signer) error {
	keyPEM, err := keys.MarshalPrivateKeyPEM(key)
	if err != nil {
		return err
	}
	return writeFileRenamed(dir, base, keyPEM, keyPerm, -1)
}
