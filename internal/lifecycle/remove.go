package lifecycle

import (
	"context"
	"fmt"
	"time"

	"github.com/acmectl/acmectl/internal/store"
)

// NotDeletedError is Delete's error when the revocation it was to run
// first failed: nothing was deleted.
type NotDeletedError struct {
	Name string
	Err  error
}

func (e *NotDeletedError) Error() string {
	return fmt.Sprintf("revoke %s (nothing deleted): %v", e.Name, e.Err)
}
func (e *NotDeletedError) Unwrap() error { return e.Err }

// Delete removes certificate name from the state directory (acmectl
// delete) under its lock: settings, state, every version and the stable
// paths. revoke, if set, runs first under the same lock; when it fails
// nothing is deleted (a *NotDeletedError). A certificate that is not
// there is an error wrapping store.ErrNotFound.
func Delete(ctx context.Context, st *store.Dir, name string, lockWait time.Duration, revoke func(context.Context) error) error {
	unlock, err := st.LockCert(ctx, name, lockWait)
	if err != nil {
		return err
	}
	defer unlock()
	if revoke != nil {
		if err := revoke(ctx); err != nil {
			return &NotDeletedError{Name: name, Err: err}
		}
	}
	return st.Delete(name)
}

// Revoke revokes stored certificate name (acmectl revoke) under its lock:
// revoke sends the request; once the CA revoked it, RecordRevoked records
// it (removed when del, else marked revoked). A failed revocation changes
// nothing.
func Revoke(ctx context.Context, st *store.Dir, name string, lockWait time.Duration, del bool, revoke func(context.Context) error) error {
	unlock, err := st.LockCert(ctx, name, lockWait)
	if err != nil {
		return err
	}
	defer unlock()
	if err := revoke(ctx); err != nil {
		return err
	}
	return RecordRevoked(st, name, del)
}

// RecordRevoked records that the CA revoked certificate name's current
// version (the caller holds its lock): the certificate is removed when
// del, else marked revoked (MarkRevoked).
func RecordRevoked(st *store.Dir, name string, del bool) error {
	if del {
		if err := st.Delete(name); err != nil {
			return fmt.Errorf("revoked, but deleting %s failed: %w", name, err)
		}
		return nil
	}
	if err := MarkRevoked(st, name); err != nil {
		return fmt.Errorf("revoked, but recording it failed: %w", err)
	}
	return nil
}
