package kv_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/fleet/kv"
	"github.com/acmectl/acmectl/internal/testenv"
)

var helper string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	bin, err := testenv.BuildAcmectl("acmectl-kv-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	helper = filepath.Join(filepath.Dir(bin), kv.HelperName)
	code := m.Run()
	os.RemoveAll(filepath.Dir(bin))
	os.Exit(code)
}

func start(t *testing.T, e *testenv.Etcd) *kv.Client {
	t.Helper()
	c, err := kv.Start(t.Context(), helper, kv.DialConfig{Endpoints: []string{e.Endpoint}}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestHelperRoundTrip: reads, lock-conditioned and create-if-absent
// transactions, lease-attached puts and watches keep etcd's semantics
// across the process boundary.
func TestHelperRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("needs etcd")
	}
	e := testenv.StartEtcd(t)
	a, b := start(t, e), start(t, e)
	ctx := testenv.Context(t, time.Minute)

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	events := a.Watch(wctx, "/t/")
	// The first response says the watch is in place: every later write is
	// reported (a cache reads etcd after it and then follows the events).
	select {
	case r := <-events:
		if r.Err != nil || !r.Created || len(r.Events) != 0 {
			t.Fatalf("first watch response = %+v; want Created", r)
		}
	case <-ctx.Done():
		t.Fatal("no Created response from the watch")
	}

	ok, err := a.CreateIfAbsent(ctx, "/t/acct", kv.Put("/t/acct", []byte("one")))
	if err != nil || !ok {
		t.Fatalf("first CreateIfAbsent = %v, %v", ok, err)
	}
	if ok, err := b.CreateIfAbsent(ctx, "/t/acct", kv.Put("/t/acct", []byte("two"))); err != nil || ok {
		t.Fatalf("second CreateIfAbsent = %v, %v; want false", ok, err)
	}
	if v, found, err := b.Get(ctx, "/t/acct"); err != nil || !found || string(v) != "one" {
		t.Fatalf("Get = %q, %v, %v", v, found, err)
	}
	if _, found, err := b.Get(ctx, "/t/none"); err != nil || found {
		t.Fatalf("Get of a missing key = %v, %v", found, err)
	}

	m, err := a.Lock(ctx, "/t/lock", 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(ctx, "/t/lock", 2, 0); !errors.Is(err, kv.ErrLocked) {
		t.Fatalf("second Lock: %v; want ErrLocked", err)
	}
	if ok, err := m.Txn(ctx, kv.PutWithLockLease("/t/answer", []byte("x")), kv.Put("/t/state", []byte("s"))); err != nil || !ok {
		t.Fatalf("Txn = %v, %v", ok, err)
	}
	if keys, err := b.Keys(ctx, "/t/"); err != nil || len(keys) < 3 {
		t.Fatalf("Keys = %v, %v", keys, err)
	}

	// The lease is lost (as when the holder is killed): Done closes, the
	// lease-attached answer vanishes, writes under the lock are refused,
	// and another session takes the lock.
	m.Orphan()
	select {
	case <-m.Done():
	case <-ctx.Done():
		t.Fatal("Done not closed after Orphan")
	}
	m2, err := b.Lock(ctx, "/t/lock", 2, 30*time.Second)
	if err != nil {
		t.Fatalf("Lock after the first holder's lease expired: %v", err)
	}
	if _, found, _ := b.Get(ctx, "/t/answer"); found {
		t.Error("a put attached to the lost lease survived it")
	}
	if ok, err := m.Txn(ctx, kv.Put("/t/state", []byte("stale"))); err != nil || ok {
		t.Errorf("Txn under a lost lock = %v, %v; want refused", ok, err)
	}
	if err := m2.Unlock(ctx); err != nil {
		t.Fatal(err)
	}

	seen := map[string]bool{}
	testenv.WaitFor(t, "watch events", 10*time.Second, func() error {
		for {
			select {
			case r := <-events:
				if r.Err != nil {
					return r.Err
				}
				for _, ev := range r.Events {
					seen[fmt.Sprintf("%s %v %s", ev.Key, ev.Deleted, ev.Value)] = true
				}
				continue
			default:
			}
			break
		}
		// Events carry the new value (none for a deletion).
		for _, want := range []string{"/t/acct false one", "/t/state false s", "/t/answer false x", "/t/answer true "} {
			if !seen[want] {
				return fmt.Errorf("no event %s in %v", want, seen)
			}
		}
		return nil
	})
}

// TestHelperGone: when the helper dies, calls fail as storage unavailable
// and held locks report their loss (an order under them stops before
// finalize). When its stdin ends it exits without revoking its leases:
// they expire as a killed acmectl's would.
func TestHelperGone(t *testing.T) {
	if testing.Short() {
		t.Skip("needs etcd")
	}
	e := testenv.StartEtcd(t)
	ctx := testenv.Context(t, time.Minute)
	a, b := start(t, e), start(t, e)
	m, err := a.Lock(ctx, "/g/lock", 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.Done():
	case <-ctx.Done():
		t.Fatal("lock not reported lost when the helper exited")
	}
	if _, _, err := a.Get(ctx, "/g/x"); !kv.IsUnavailable(err) {
		t.Errorf("Get after the helper exited: %v; want unavailable", err)
	}
	// Not released: still held right after, taken once the lease expired.
	if _, err := b.Lock(ctx, "/g/lock", 3, 0); !errors.Is(err, kv.ErrLocked) {
		t.Errorf("lock of an exited helper: %v; want still held until its lease expires", err)
	}
	t0 := time.Now()
	if _, err := b.Lock(ctx, "/g/lock", 3, 30*time.Second); err != nil {
		t.Fatalf("lock after the lease expired: %v", err)
	}
	if d := time.Since(t0); d < time.Second {
		t.Errorf("lock taken after %v; the exited helper's lease was revoked, not left to expire", d)
	}
}
