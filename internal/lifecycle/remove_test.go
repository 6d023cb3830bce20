package lifecycle

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

// TestDelete: delete takes the certificate's lock (a held lock leaves the
// certificate), a failed revocation deletes nothing, and the revocation
// runs under the lock; an absent certificate is store.ErrNotFound.
func TestDelete(t *testing.T) {
	st := adopted(t, "del", &store.Settings{Names: client.MustNames("del.example.test"), Server: "https://ca.test/dir"})
	ctx := context.Background()

	unlock, err := st.LockCert(ctx, "del", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := Delete(ctx, st, "del", 20*time.Millisecond, nil); !errors.Is(err, store.ErrLocked) {
		t.Errorf("Delete while locked = %v; want ErrLocked", err)
	}
	unlock()
	if !st.Exists("del") {
		t.Fatal("deleted while another process held the lock")
	}

	refused := errors.New("CA said no")
	err = Delete(ctx, st, "del", time.Second, func(context.Context) error { return refused })
	var nd *NotDeletedError
	if !errors.As(err, &nd) || !errors.Is(err, refused) || nd.Name != "del" {
		t.Errorf("Delete with a failed revocation = %v; want a NotDeletedError wrapping it", err)
	}
	if !st.Exists("del") {
		t.Fatal("deleted although the revocation failed")
	}

	revoked := false
	err = Delete(ctx, st, "del", time.Second, func(ctx context.Context) error {
		// Under the lock: another taker times out.
		if _, err := st.LockCert(ctx, "del", 10*time.Millisecond); !errors.Is(err, store.ErrLocked) {
			t.Errorf("the revocation ran without the certificate's lock (LockCert: %v)", err)
		}
		revoked = true
		return nil
	})
	if err != nil || !revoked {
		t.Fatalf("Delete = %v (revoked %v)", err, revoked)
	}
	if st.Exists("del") {
		t.Error("certificate still there after Delete")
	}
	if names, _ := st.List(); len(names) != 0 {
		t.Errorf("List after Delete: %v", names)
	}
	if err := Delete(ctx, st, "del", time.Second, nil); !errors.Is(err, store.ErrNotFound) || errors.As(err, &nd) {
		t.Errorf("Delete of an absent certificate = %v; want ErrNotFound", err)
	}
}

// TestRecordRevoked: after a revocation the certificate is marked revoked
// (the next renewal replaces it) or, with del, removed.
func TestRecordRevoked(t *testing.T) {
	st := adopted(t, "rv", &store.Settings{Names: client.MustNames("rv.example.test"), Server: "https://ca.test/dir"})
	if err := RecordRevoked(st, "rv", false); err != nil {
		t.Fatal(err)
	}
	if state, err := st.LoadState("rv"); err != nil || !state.Revoked {
		t.Errorf("state after RecordRevoked: %+v, %v; want revoked", state, err)
	}
	if err := RecordRevoked(st, "rv", true); err != nil {
		t.Fatal(err)
	}
	if st.Exists("rv") {
		t.Error("RecordRevoked with del left the certificate")
	}
	if err := RecordRevoked(st, "rv", true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RecordRevoked of an absent certificate = %v; want ErrNotFound", err)
	}
}

// TestRevoke: the revocation runs under the certificate's lock; a failed
// one records nothing; a successful one marks the certificate revoked, or
// removes it with del.
func TestRevoke(t *testing.T) {
	st := adopted(t, "rv", &store.Settings{Names: client.MustNames("rv.example.test"), Server: "https://ca.test/dir"})
	ctx := context.Background()
	refused := errors.New("CA said no")
	if err := Revoke(ctx, st, "rv", time.Second, true, func(context.Context) error { return refused }); !errors.Is(err, refused) {
		t.Errorf("Revoke with a failed request = %v; want it", err)
	}
	if state, err := st.LoadState("rv"); err != nil || state.Revoked {
		t.Fatalf("a failed revocation changed the state: %+v, %v", state, err)
	}
	underLock := func(ctx context.Context) error {
		if _, err := st.LockCert(ctx, "rv", 10*time.Millisecond); !errors.Is(err, store.ErrLocked) {
			t.Errorf("the revocation ran without the certificate's lock (LockCert: %v)", err)
		}
		return nil
	}
	if err := Revoke(ctx, st, "rv", time.Second, false, underLock); err != nil {
		t.Fatal(err)
	}
	if state, err := st.LoadState("rv"); err != nil || !state.Revoked {
		t.Errorf("state after Revoke: %+v, %v; want revoked", state, err)
	}
	if err := Revoke(ctx, st, "rv", time.Second, true, underLock); err != nil {
		t.Fatal(err)
	}
	if st.Exists("rv") {
		t.Error("Revoke with del left the certificate")
	}
}
