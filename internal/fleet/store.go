package fleet

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/acmectl/acmectl/internal/fleet/kv"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/store"
)

// certStore is the issuance engine's store in fleet mode (issue.Store):
// the etcd data of one certificate, bound to its lock for one issuance.
// Every write of the certificate's data is conditioned on holding the
// lock; account writes on holding the fleet-wide account lock.
//
// Install does not write at once: it stages the new version, and the
// SaveState that the engine calls next publishes the version, the state
// and the removal of the pending key in one transaction, so no host can
// see a published version whose order still looks pending.
type certStore struct {
	f    *Fleet
	lk   *Lock
	ctx  context.Context // the issuance's (reads, writes before the order completes)
	host string

	alk    *Lock    // account lock while held (LockState)
	staged *Version // set by Install, published by the next SaveState
	latest *Version // newest published version when the issuance began
	now    func() time.Time
}

var _ issue.Store = (*certStore)(nil)

func (s *certStore) check(name string) error {
	if name != s.lk.name {
		return fmt.Errorf("fleet store of %s asked for %s", s.lk.name, name)
	}
	return nil
}

// ---- accounts ----

func (s *certStore) LoadAccount(directoryURL, label string) (*store.AccountRecord, crypto.Signer, error) {
	return s.f.LoadAccount(s.ctx, directoryURL, label)
}

// SaveAccount overwrites the shared account; it needs the account lock
// (the engine holds LockState for every account write).
func (s *certStore) SaveAccount(directoryURL, label string, rec *store.AccountRecord, key crypto.Signer) error {
	if s.alk == nil {
		return errors.New("fleet: account written without the account lock")
	}
	ops, err := s.f.accountOps(directoryURL, label, rec, key)
	if err != nil {
		return err
	}
	if err := s.alk.Txn(context.WithoutCancel(s.ctx), ops...); err != nil {
		return fmt.Errorf("save account %s in etcd: %w", label, err)
	}
	return nil
}

// Key rollover is not done in fleet mode: there is never a pending
// account key.
func (s *certStore) LoadPendingAccountKey(directoryURL, label string) (crypto.Signer, error) {
	return nil, fmt.Errorf("pending account key: %w", store.ErrNotFound)
}
func (s *certStore) CommitPendingAccountKey(string, string) error  { return nil }
func (s *certStore) DiscardPendingAccountKey(string, string) error { return nil }

// LockState takes the fleet-wide account lock.
func (s *certStore) LockState(ctx context.Context, wait time.Duration) (func(), error) {
	alk, err := s.f.lock(ctx, s.f.key("locks", "accounts"), "", wait)
	if err != nil {
		return nil, err
	}
	s.alk = alk
	return func() { s.alk = nil; alk.Unlock() }, nil
}

// ---- the certificate ----

func (s *certStore) SaveState(name string, st *store.State) error {
	if err := s.check(name); err != nil {
		return err
	}
	js, err := encodeState(st)
	if err != nil {
		return err
	}
	ops := []kv.Op{kv.Put(s.f.certKey(name, "state"), js)}
	ctx := s.ctx
	if v := s.staged; v != nil {
		vjs, err := json.Marshal(v)
		if err != nil {
			return err
		}
		ops = append(ops, kv.Put(s.f.certKey(name, "latest"), vjs), kv.Delete(s.f.certKey(name, "pending-key")))
		// The order is complete: publish even if the issuance is being
		// cancelled (the lock condition still holds).
		ctx = context.WithoutCancel(ctx)
	}
	if err := s.lk.Txn(ctx, ops...); err != nil {
		if s.staged != nil {
			return fmt.Errorf("publish certificate of %s (the order stays recorded for the next holder): %w", name, err)
		}
		return err
	}
	s.staged = nil
	return nil
}

func (s *certStore) SavePendingKey(name string, key crypto.Signer) error {
	if err := s.check(name); err != nil {
		return err
	}
	op, err := s.f.pendingKeyOp(name, key)
	if err != nil {
		return err
	}
	if err := s.lk.Txn(s.ctx, op); err != nil {
		return fmt.Errorf("save pending key: %w", err)
	}
	return nil
}

func (s *certStore) LoadPendingKey(name string) (crypto.Signer, error) {
	if err := s.check(name); err != nil {
		return nil, err
	}
	return s.f.PendingKey(s.ctx, name)
}

func (s *certStore) ClearPendingKey(name string) error {
	if err := s.check(name); err != nil {
		return err
	}
	return s.lk.Txn(context.WithoutCancel(s.ctx), kv.Delete(s.f.certKey(name, "pending-key")))
}

// Current is the newest published version (--reuse-key takes its key).
func (s *certStore) Current(name string) (*store.Files, int, error) {
	if err := s.check(name); err != nil {
		return nil, 0, err
	}
	v, files, err := s.f.Latest(s.ctx, name)
	if err != nil {
		return nil, 0, err
	}
	return files, v.Generation, nil
}

// CurrentPaths: the fleet store has no local files.
func (s *certStore) CurrentPaths(name string) (*store.Installed, error) {
	return nil, fmt.Errorf("%s: no local files in the fleet store: %w", name, store.ErrNotFound)
}

// Install stages files as the next generation (private key sealed); the
// following SaveState publishes it.
func (s *certStore) Install(name string, files store.Files, _ ...store.InstallOptions) (*store.Installed, error) {
	if err := s.check(name); err != nil {
		return nil, err
	}
	leaf, err := leafOf(files.Cert)
	if err != nil {
		return nil, fmt.Errorf("issued certificate: %w", err)
	}
	v := &Version{
		Generation: 1, Cert: files.Cert, Chain: files.Chain, Fullchain: files.Fullchain,
		IssuedBy: s.host, Published: s.now().UTC(),
	}
	if s.latest != nil {
		v.Generation = s.latest.Generation + 1
	}
	if v.Names, err = leafNames(leaf); err != nil {
		return nil, fmt.Errorf("issued certificate: %w", err)
	}
	if files.PrivKey != nil {
		if v.PrivKey, err = s.f.sealer.Seal(s.f.certKey(name, "latest")+"#privkey", files.PrivKey); err != nil {
			return nil, err
		}
	}
	v.MAC = s.f.sealer.recordMAC(s.f.certKey(name, "latest"), v)
	s.staged = v
	return &store.Installed{Version: v.Generation, Leaf: leaf}, nil
}

// accountOps are the writes of an account record and its (sealed) key.
func (f *Fleet) accountOps(directoryURL, label string, rec *store.AccountRecord, key crypto.Signer) ([]kv.Op, error) {
	rk, err := f.accountKey(directoryURL, label, "record")
	if err != nil {
		return nil, err
	}
	kk, _ := f.accountKey(directoryURL, label, "key")
	pemKey, err := keys.MarshalPrivateKeyPEM(key)
	if err != nil {
		return nil, err
	}
	sealed, err := f.sealer.Seal(kk, pemKey)
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	return []kv.Op{kv.Put(kk, sealed), kv.Put(rk, js)}, nil
}
