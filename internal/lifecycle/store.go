package lifecycle

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/acmectl/acmectl/internal/store"
)

// The writers of settings.yaml and state.json outside an order: a
// certificate adopted from another client (import), moved to a new name
// (reconfigure --new-name) or pointed at another server (account
// migrate). Each caller holds the certificate's lock.

// Adopt stores a certificate issued elsewhere under name: its version
// installed, its settings and a state that records the install, issued by
// the settings' server and account.
func Adopt(st *store.Dir, name string, files store.Files, s *store.Settings) error {
	inst, err := st.Install(name, files, store.InstallOptions{KeyGroup: s.KeyGroup})
	var ierr *store.InstallError
	if errors.As(err, &ierr) {
		inst, err = ierr.Installed, nil
	}
	if err != nil {
		return err
	}
	if err := st.SaveSettings(name, s); err != nil {
		return err
	}
	state := &store.State{}
	state.RecordInstall(inst)
	state.IssuedBy, state.IssuedAccount = s.Server, s.Account
	return st.SaveState(name, state)
}

// Rename installs the current version, settings s and the state of from
// under to, then deletes from. A crash in between leaves both (never
// neither); an order in flight stays with the old name.
func Rename(st *store.Dir, from, to string, s *store.Settings) error {
	state, err := st.LoadState(from)
	if err != nil {
		return err
	}
	state.PendingOrder = nil
	files, _, err := st.Current(from)
	switch {
	case err == nil:
		inst, err := st.Install(to, *files, store.InstallOptions{KeyGroup: s.KeyGroup})
		var ierr *store.InstallError
		if errors.As(err, &ierr) {
			inst = ierr.Installed
		} else if err != nil {
			return fmt.Errorf("rename %s to %s: %w", from, to, err)
		}
		state.RecordInstall(inst)
	case errors.Is(err, store.ErrNotFound):
	default:
		return err
	}
	if err := st.SaveState(to, state); err != nil {
		return err
	}
	if err := st.SaveSettings(to, s); err != nil {
		return err
	}
	if err := st.Delete(from); err != nil {
		return fmt.Errorf("rename %s to %s: %s is installed but removing %s failed: %w", from, to, to, from, err)
	}
	return nil
}

// Repoint moves certificate name from server from to the settings g gives
// (server, ca-bundle, acme-version), under its lock, through Merge. A
// certificate whose server changed meanwhile is left alone.
func Repoint(ctx context.Context, st *store.Dir, name, from string, g Given, lockWait time.Duration) error {
	unlock, err := st.LockCert(ctx, name, lockWait)
	if err != nil {
		return err
	}
	defer unlock()
	// Re-read under the lock: a renewal or an edit may have come first.
	s, err := st.LoadSettings(name)
	if err != nil {
		return err
	}
	if s.Server != from {
		return fmt.Errorf("its server changed meanwhile to %s; left alone", s.Server)
	}
	merged, _ := Merge(s, g)
	return st.SaveSettings(name, merged)
}

// MarkRevoked records in certificate name's state that it was revoked:
// the next renewal replaces it (with a fresh key) whatever its dates, and
// the ARI window of the revoked certificate is dropped.
func MarkRevoked(st *store.Dir, name string) error {
	state, err := st.LoadState(name)
	if err != nil {
		return err
	}
	state.Revoked = true
	state.ARI = nil
	return st.SaveState(name, state)
}

// FindStored returns the stored certificate whose current leaf is leaf,
// "" when none is.
func FindStored(st *store.Dir, leaf *x509.Certificate) (string, error) {
	names, err := st.List()
	if err != nil {
		return "", err
	}
	serial := fmt.Sprintf("%x", leaf.SerialNumber)
	for _, n := range names {
		if state, err := st.LoadState(n); err != nil || (state.Serial != "" && state.Serial != serial) {
			continue
		}
		files, _, err := st.Current(n)
		if err != nil {
			continue
		}
		if c, err := LeafOf(files.Cert); err == nil && bytes.Equal(c.Raw, leaf.Raw) {
			return n, nil
		}
	}
	return "", nil
}
