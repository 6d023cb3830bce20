package issue

import (
	"context"
	"crypto"
	"time"

	"github.com/acmectl/acmectl/internal/store"
)

// Store is where the engine keeps what an issuance reads and writes:
// accounts, a certificate's state and pending key, and its installed
// versions. Two implementations exist: the local state dir (*store.Dir, the
// default) and fleet mode's etcd-backed store (internal/fleet), which is
// bound to one certificate's fleet lock and publishes a version to every
// host instead of installing it locally.
//
// The engine calls Install right before the SaveState that records the new
// version; a store may commit both together (the etcd store does, in one
// transaction).
type Store interface {
	// LoadAccount returns the account of directoryURL and label;
	// store.ErrNotFound (wrapped) when there is none.
	LoadAccount(directoryURL, label string) (*store.AccountRecord, crypto.Signer, error)
	// SaveAccount writes an account; the engine calls it holding LockState.
	SaveAccount(directoryURL, label string, rec *store.AccountRecord, key crypto.Signer) error
	// Pending account keys are left by an interrupted key rollover.
	LoadPendingAccountKey(directoryURL, label string) (crypto.Signer, error)
	CommitPendingAccountKey(directoryURL, label string) error
	DiscardPendingAccountKey(directoryURL, label string) error
	// LockState serializes account registration.
	LockState(ctx context.Context, wait time.Duration) (unlock func(), err error)

	SaveState(name string, st *store.State) error
	SavePendingKey(name string, key crypto.Signer) error
	LoadPendingKey(name string) (crypto.Signer, error)
	ClearPendingKey(name string) error
	// Current is the live version's files (for --reuse-key).
	Current(name string) (*store.Files, int, error)
	// CurrentPaths locates the live version; an error when there is none
	// (or the store has no local files).
	CurrentPaths(name string) (*store.Installed, error)
	Install(name string, v store.Files, opts ...store.InstallOptions) (*store.Installed, error)
}

var _ Store = (*store.Dir)(nil)
