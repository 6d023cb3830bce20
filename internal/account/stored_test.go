package account

import (
	"context"
	"crypto"
	"errors"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/internal/testenv"
)

// pebbleAccount starts Pebble and registers account label "default" in a
// fresh state directory through the engine, as obtain does.
func pebbleAccount(t *testing.T) (*testenv.Pebble, *store.Dir, *client.Client, *client.Account) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Pebble")
	}
	p := testenv.StartPebble(t, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	st, err := store.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	c := testenv.PebbleClient(t, p, nil)
	acct, err := (&issue.Engine{Store: st}).Account(testenv.Context(t, time.Minute), c, &store.Settings{Server: p.DirURL}, issue.AccountOptions{AcceptTOS: true})
	if err != nil {
		t.Fatal(err)
	}
	return p, st, c, acct
}

func thumbprint(t *testing.T, k crypto.Signer) string {
	t.Helper()
	tp, err := client.Thumbprint(k)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

// crashed is a fresh Pebble account whose rollover to newKey was stopped
// dead at a failpoint.
type crashed struct {
	p      *testenv.Pebble
	st     *store.Dir
	c      *client.Client
	acct   *client.Account
	oldTP  string
	newKey crypto.Signer
	ctx    context.Context
}

// crashAt registers an account at a fresh Pebble and runs its Rollover to
// a new key under the state lock, stopping it dead at failpoint name
// (runtime.Goexit: nothing after the failpoint runs, as when the process
// is killed there; the state lock is released as the kernel releases a
// dead process's flock).
func crashAt(t *testing.T, name string) crashed {
	t.Helper()
	p, st, c, acct := pebbleAccount(t)
	x := crashed{p: p, st: st, c: c, acct: acct, oldTP: thumbprint(t, acct.Key), ctx: testenv.Context(t, time.Minute)}
	var err error
	if x.newKey, err = keys.Generate(keys.EC256); err != nil {
		t.Fatal(err)
	}
	s := &Stored{Store: st, Client: c, Server: p.DirURL, Label: "default", Failpoint: func(_ context.Context, at string) {
		if at == name {
			runtime.Goexit()
		}
	}}
	returned := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		unlock, err := s.Lock(x.ctx)
		if err != nil {
			t.Error(err)
			return
		}
		defer unlock()
		rec, _, err := st.LoadAccount(p.DirURL, "default")
		if err != nil {
			t.Error(err)
			return
		}
		_ = s.Rollover(x.ctx, acct, rec, x.newKey)
		returned = true
	}()
	<-done
	if returned {
		t.Fatalf("Rollover went past the %s failpoint", name)
	}
	return x
}

// TestRolloverCrashAfterKeyChange: a crash between the CA's acceptance of
// the new key and the local commit leaves the new key pending beside the
// old one; the next command (the engine loading the account) asks the CA,
// which has the new key, commits it, and signs with it.
func TestRolloverCrashAfterKeyChange(t *testing.T) {
	x := crashAt(t, FailpointAfterKeyChange)
	p, st, c, acct, oldTP, newKey, ctx := x.p, x.st, x.c, x.acct, x.oldTP, x.newKey, x.ctx
	if got := p.Count("POST /rollover-account-key 200"); got != 1 {
		t.Fatalf("key changes accepted by Pebble = %d; want 1", got)
	}
	// On disk: the old key in key.pem, the new one pending.
	if _, key, err := st.LoadAccount(p.DirURL, "default"); err != nil || thumbprint(t, key) != oldTP {
		t.Fatalf("key.pem after the crash: %v; want the old key", err)
	}
	pending, err := st.LoadPendingAccountKey(p.DirURL, "default")
	if err != nil || thumbprint(t, pending) != thumbprint(t, newKey) {
		t.Fatalf("pending key after the crash: %v; want the new key", err)
	}

	// The next command settles it: the CA has the new key.
	got, err := (&issue.Engine{Store: st}).Account(ctx, c, &store.Settings{Server: p.DirURL}, issue.AccountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.URL != acct.URL || thumbprint(t, got.Key) != thumbprint(t, newKey) {
		t.Fatalf("account after the crash: %s with key %s; want %s with the new key", got.URL, thumbprint(t, got.Key), acct.URL)
	}
	if _, key, err := st.LoadAccount(p.DirURL, "default"); err != nil || thumbprint(t, key) != thumbprint(t, newKey) {
		t.Errorf("key.pem after the next command: %v; want the new key", err)
	}
	if _, err := st.LoadPendingAccountKey(p.DirURL, "default"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pending key after the next command: %v; want none", err)
	}
	// The committed key signs for the account at the CA.
	if err := c.UpdateAccount(ctx, got, []string{"mailto:after@example.test"}); err != nil {
		t.Errorf("a request signed with the committed key: %v", err)
	}
}

// TestRolloverCrashBeforeKeyChange: a crash after the new key was saved
// as pending but before the request: the CA never heard of it, and the
// next command keeps the old key and drops the pending one.
func TestRolloverCrashBeforeKeyChange(t *testing.T) {
	x := crashAt(t, FailpointBeforeKeyChange)
	p, st, c, oldTP, ctx := x.p, x.st, x.c, x.oldTP, x.ctx
	if got := p.Count("POST /rollover-account-key"); got != 0 {
		t.Fatalf("key change requests = %d; want 0", got)
	}
	if _, err := st.LoadPendingAccountKey(p.DirURL, "default"); err != nil {
		t.Fatalf("no pending key after the crash: %v", err)
	}
	got, err := (&issue.Engine{Store: st}).Account(ctx, c, &store.Settings{Server: p.DirURL}, issue.AccountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if thumbprint(t, got.Key) != oldTP {
		t.Errorf("account key after the next command is not the old key")
	}
	if _, err := st.LoadPendingAccountKey(p.DirURL, "default"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pending key after the next command: %v; want none", err)
	}
}

// TestRolloverDoneAndRefused: a rollover commits the new key and records
// when; a key change the CA refuses for good (the account is deactivated:
// 403) discards the pending key and keeps the one stored.
func TestRolloverDoneAndRefused(t *testing.T) {
	p, st, c, acct := pebbleAccount(t)
	ctx := testenv.Context(t, time.Minute)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	s := &Stored{Store: st, Client: c, Server: p.DirURL, Label: "default", Now: func() time.Time { return now }}
	rec, _, err := st.LoadAccount(p.DirURL, "default")
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := keys.Generate(keys.EC256)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Rollover(ctx, acct, rec, newKey); err != nil {
		t.Fatal(err)
	}
	rec, key, err := st.LoadAccount(p.DirURL, "default")
	if err != nil || thumbprint(t, key) != thumbprint(t, newKey) || !rec.KeyChanged.Equal(now) {
		t.Errorf("after the rollover: key changed %v (want %v), %v", rec.KeyChanged, now, err)
	}
	if _, err := st.LoadPendingAccountKey(p.DirURL, "default"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pending key after the rollover: %v; want none", err)
	}

	if err := c.DeactivateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	third, err := keys.Generate(keys.EC256)
	if err != nil {
		t.Fatal(err)
	}
	var prob *client.Problem
	if err := s.Rollover(ctx, acct, rec, third); !errors.As(err, &prob) || prob.Status/100 != 4 {
		t.Fatalf("rollover of a deactivated account = %v; want the CA's 4xx", err)
	}
	if _, key, err := st.LoadAccount(p.DirURL, "default"); err != nil || thumbprint(t, key) != thumbprint(t, newKey) {
		t.Errorf("key.pem after a refused rollover: %v; want the key stored before", err)
	}
	if _, err := st.LoadPendingAccountKey(p.DirURL, "default"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pending key after a refused rollover: %v; want none", err)
	}
	if got := p.Count("POST /rollover-account-key 200"); got != 1 {
		t.Errorf("key changes accepted = %d; want 1", got)
	}
}

// TestRelease: register --replace of an account the CA still has is an
// *ActiveError and changes nothing; of a deactivated one removes it, so
// that a new account (with a new key) is registered under the label.
func TestRelease(t *testing.T) {
	p, st, c, acct := pebbleAccount(t)
	ctx := testenv.Context(t, time.Minute)
	s := &Stored{Store: st, Client: c, Server: p.DirURL, Label: "default"}
	rec, _, err := st.LoadAccount(p.DirURL, "default")
	if err != nil {
		t.Fatal(err)
	}
	var ae *ActiveError
	if _, err := s.Release(ctx, rec); !errors.As(err, &ae) || ae.URL != acct.URL {
		t.Fatalf("Release of a valid account = %v; want an ActiveError naming %s", err, acct.URL)
	}
	if got, _, err := st.LoadAccount(p.DirURL, "default"); err != nil || got.URL != acct.URL {
		t.Fatalf("the valid account was changed: %+v, %v", got, err)
	}
	if err := c.DeactivateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	status, err := s.Release(ctx, rec)
	if err != nil || status != client.StatusDeactivated {
		t.Fatalf("Release of a deactivated account = %q, %v", status, err)
	}
	if _, _, err := st.LoadAccount(p.DirURL, "default"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the deactivated account is still stored: %v", err)
	}
}

// TestSaveKeepsCreated: Save records the account as the CA returned it,
// with the server's dialect, and keeps the creation time of the record
// it replaces.
func TestSaveKeepsCreated(t *testing.T) {
	p, st, c, acct := pebbleAccount(t)
	ctx := testenv.Context(t, time.Minute)
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &Stored{Store: st, Client: c, Server: p.DirURL, Label: "default", Now: func() time.Time { return created.Add(time.Hour) }}
	acct.Contact = []string{"mailto:new@example.test"}
	rec, err := s.Save(ctx, acct, &store.AccountRecord{Created: created})
	if err != nil {
		t.Fatal(err)
	}
	got, key, err := st.LoadAccount(p.DirURL, "default")
	if err != nil || !got.Created.Equal(created) || got.URL != acct.URL || len(got.Contacts) != 1 || got.Dialect == "" || thumbprint(t, key) != thumbprint(t, acct.Key) {
		t.Errorf("stored %+v (returned %+v), %v", got, rec, err)
	}
	if rec, err = s.Save(ctx, acct, nil); err != nil || !rec.Created.Equal(created.Add(time.Hour)) {
		t.Errorf("Save without a previous record: created %v, %v; want now", rec.Created, err)
	}
}

// TestLoad: no account is a *NotStoredError; a registration interrupted
// after the CA created the account (the record has no URL yet) is
// completed from the CA's answer for the stored key; one the CA never saw
// is a *NotStoredError saying so. Load never registers.
func TestLoad(t *testing.T) {
	p, st, c, acct := pebbleAccount(t)
	ctx := testenv.Context(t, time.Minute)
	eng := &issue.Engine{Store: st}
	var ns *NotStoredError
	if _, _, err := (&Stored{Store: st, Client: c, Server: p.DirURL, Label: "none"}).Load(ctx, eng, issue.AccountOptions{AcceptTOS: true}); !errors.As(err, &ns) || ns.Interrupted {
		t.Errorf("Load of no account = %v; want a NotStoredError", err)
	}
	// The CA has the account; the record lost its URL (a crash right after
	// newAccount).
	if err := st.SaveAccount(p.DirURL, "default", &store.AccountRecord{DirectoryURL: p.DirURL}, acct.Key); err != nil {
		t.Fatal(err)
	}
	got, rec, err := (&Stored{Store: st, Client: c, Server: p.DirURL, Label: "default"}).Load(ctx, eng, issue.AccountOptions{})
	if err != nil || got.URL != acct.URL || rec.URL != acct.URL {
		t.Fatalf("Load after an interrupted registration: %+v, %+v, %v; want %s", got, rec, err, acct.URL)
	}
	if stored, _, err := st.LoadAccount(p.DirURL, "default"); err != nil || stored.URL != acct.URL {
		t.Errorf("stored after Load: %+v, %v", stored, err)
	}
	// A key the CA never saw.
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveAccount(p.DirURL, "fresh", &store.AccountRecord{DirectoryURL: p.DirURL}, key); err != nil {
		t.Fatal(err)
	}
	if _, _, err := (&Stored{Store: st, Client: c, Server: p.DirURL, Label: "fresh"}).Load(ctx, eng, issue.AccountOptions{AcceptTOS: true}); !errors.As(err, &ns) || !ns.Interrupted {
		t.Errorf("Load of a never registered key = %v; want a NotStoredError (interrupted)", err)
	}
	if got := p.Count("POST /sign-me-up 201"); got != 1 {
		t.Errorf("registrations = %d; want 1 (Load never registers)", got)
	}
}

// TestAccountCommands: the writes behind register, update, show, recover,
// deactivate and register --replace, in the order a user meets them.
func TestAccountCommands(t *testing.T) {
	p, st, c, acct := pebbleAccount(t)
	ctx := testenv.Context(t, time.Minute)
	eng := &issue.Engine{Store: st}
	def := &Stored{Store: st, Client: c, Server: p.DirURL, Label: "default"}
	var exists *ExistsError
	if _, _, err := def.Register(ctx, eng, issue.AccountOptions{AcceptTOS: true}, false); !errors.As(err, &exists) || exists.URL != acct.URL {
		t.Fatalf("Register over a stored account = %v; want an ExistsError", err)
	}
	var active *ActiveError
	if _, _, err := def.Register(ctx, eng, issue.AccountOptions{AcceptTOS: true}, true); !errors.As(err, &active) {
		t.Fatalf("Register --replace of a valid account = %v; want an ActiveError", err)
	}

	want := []string{"mailto:ops@example.test"}
	rec, _, err := st.LoadAccount(p.DirURL, "default")
	if err != nil {
		t.Fatal(err)
	}
	u, err := def.UpdateContacts(ctx, acct, rec, want)
	if err != nil || u.LocalOnly || len(u.Record.Contacts) != 1 || u.Record.Contacts[0] != want[0] {
		t.Fatalf("UpdateContacts: %+v, %v", u, err)
	}
	fresh, rec, caContacts, err := def.Refresh(ctx, acct, u.Record)
	if err != nil || fresh.URL != acct.URL || len(caContacts) != 1 || rec.Status != client.StatusValid {
		t.Fatalf("Refresh: %+v, %+v, %v, %v", fresh, rec, caContacts, err)
	}

	// recover: the same key under another label; another key under a
	// label that holds an account; a key the CA does not know.
	cp := &Stored{Store: st, Client: c, Server: p.DirURL, Label: "copy"}
	if got, rec, err := cp.Recover(ctx, acct.Key); err != nil || got.URL != acct.URL || rec.URL != acct.URL {
		t.Fatalf("Recover: %+v, %+v, %v", got, rec, err)
	}
	other, err := keys.Generate(keys.EC256)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := def.Recover(ctx, other); !errors.As(err, &exists) || !exists.OtherKey {
		t.Errorf("Recover of another key over an account = %v; want an ExistsError (other key)", err)
	}
	if _, _, err := (&Stored{Store: st, Client: c, Server: p.DirURL, Label: "unknown"}).Recover(ctx, other); !errors.Is(err, client.ErrAccountNotFound) {
		t.Errorf("Recover of an unknown key = %v; want ErrAccountNotFound", err)
	}
	if _, _, err := st.LoadAccount(p.DirURL, "unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Recover of an unknown key stored something: %v", err)
	}

	// deactivate: gone locally; the copy's show records the status and
	// fails; register --replace then makes a new account with a new key,
	// keeping the contacts.
	if err := def.Deactivate(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.LoadAccount(p.DirURL, "default"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deactivated account still stored: %v", err)
	}
	cpRec, _, err := st.LoadAccount(p.DirURL, "copy")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := cp.Refresh(ctx, acct, cpRec); err == nil {
		t.Error("Refresh of a deactivated account succeeded")
	}
	if rec, _, _ := st.LoadAccount(p.DirURL, "copy"); rec.Status != client.StatusDeactivated {
		t.Errorf("status recorded by Refresh: %q; want deactivated", rec.Status)
	}
	got, rec, err := cp.Register(ctx, eng, issue.AccountOptions{AcceptTOS: true}, true)
	if err != nil || got.URL == acct.URL || thumbprint(t, got.Key) == thumbprint(t, acct.Key) {
		t.Fatalf("Register --replace of a deactivated account: %+v, %v; want a new account with a new key", got, err)
	}
	if len(rec.Contacts) != 1 || rec.Contacts[0] != want[0] {
		t.Errorf("contacts after --replace: %v; want %v carried over", rec.Contacts, want)
	}
}
