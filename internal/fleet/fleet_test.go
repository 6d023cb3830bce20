package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/internal/testenv"
)

// testHost is one fleet host in the test process: its own etcd client,
// state dir and deploy-hook counter.
type testHost struct {
	name    string
	h       *Host
	deploys atomic.Int32
	addr    string // local http-01 address in its settings
}

func newTestHost(t *testing.T, e *testenv.Etcd, name, httpAddr string, keyFile string, fp func(ctx context.Context, name string)) *testHost {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})).With("host", name)
	f, err := Open(Config{URL: "etcd://" + e.Endpoint + "/fleet-test", StorageKeyFile: keyFile, LeaseTTL: 2 * time.Second, HostID: name, Logger: log, Helper: helperBin})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	dir, err := store.Open(filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	th := &testHost{name: name, addr: httpAddr}
	th.h = &Host{
		Fleet: f, Local: dir, Logger: log,
		Engine:  &issue.Engine{Store: dir, Logger: log, Failpoint: fp, Getenv: func(string) string { return "" }},
		Account: issue.AccountOptions{AcceptTOS: true},
		Deploy: func(ctx context.Context, n string, s *store.Settings, inst *store.Installed) error {
			th.deploys.Add(1)
			return nil
		},
	}
	return th
}

// pebbleDefaults gives hosts without their own settings.yaml the server
// and ca-bundle (Pebble's HTTPS and issuing roots) from "their config":
// host-local settings never come from etcd.
func pebbleDefaults(p *testenv.Pebble, hosts ...*testHost) {
	for _, h := range hosts {
		h.h.Defaults = &store.Settings{Server: p.DirURL, CABundle: p.CABundle}
	}
}

func writeKeyFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "storage.key")
	if err := os.WriteFile(p, bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func settingsFor(p *testenv.Pebble, addr, profile string) *store.Settings {
	return &store.Settings{
		Names: client.MustNames("fleet.example.com"), Server: p.DirURL, CABundle: p.CABundle,
		HTTP01Addrs: []string{addr}, Profile: profile, Email: []string{"ops@example.com"},
	}
}

func fullchain(t *testing.T, th *testHost) []byte {
	t.Helper()
	files, _, err := th.h.Local.Current("fleet")
	if err != nil {
		return nil
	}
	return files.Fullchain
}

// TestFleetIssueThroughOtherHostsResponder: host B orders; only host A
// listens on Pebble's http-01 port, so validation passes only if B's
// answer travelled through etcd. Every host then installs the same
// certificate and runs its deploy hook once.
func TestFleetIssueThroughOtherHostsResponder(t *testing.T) {
	if testing.Short() {
		t.Skip("needs etcd and Pebble")
	}
	e := testenv.StartEtcd(t)
	p := testenv.StartPebble(t, testenv.PebbleOptions{})
	key := writeKeyFile(t)
	a := newTestHost(t, e, "a", "127.0.0.1:"+strconv.Itoa(p.HTTPPort), key, nil)
	b := newTestHost(t, e, "b", "127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)), key, nil)
	c := newTestHost(t, e, "c", "127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)), key, nil)
	ctx := testenv.Context(t, 2*time.Minute)
	pebbleDefaults(p, a, b, c)

	resp := &Responder{Fleet: a.h.Fleet, HTTPAddrs: []string{a.addr}}
	if err := resp.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(resp.Close)

	lk, err := b.h.Fleet.LockCert(ctx, "fleet", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.h.Publish(ctx, lk, settingsFor(p, b.addr, "")); err != nil {
		t.Fatal(err)
	}
	iss, err := b.h.Issue(ctx, lk, IssueOptions{})
	if err != nil {
		t.Fatalf("Issue on b: %v", err)
	}
	lk.Unlock()
	if iss.Generation != 1 {
		t.Errorf("generation = %d; want 1", iss.Generation)
	}
	if got := p.Count("POST /order-plz 201"); got != 1 {
		t.Errorf("orders = %d; want 1", got)
	}
	for _, h := range []*testHost{a, b, c} {
		res, err := h.h.Sync(ctx, "fleet")
		if err != nil {
			t.Fatalf("Sync on %s: %v", h.name, err)
		}
		if res.Installed == nil || !res.Deployed {
			t.Errorf("Sync on %s = %+v; want installed and deployed", h.name, res)
		}
		// A second sync installs nothing and runs no hook.
		if res, err := h.h.Sync(ctx, "fleet"); err != nil || res.Installed != nil || res.Deployed {
			t.Errorf("second Sync on %s = %+v, %v; want nothing", h.name, res, err)
		}
		if n := h.deploys.Load(); n != 1 {
			t.Errorf("deploy hooks on %s = %d; want 1", h.name, n)
		}
	}
	if fa, fb, fc := fullchain(t, a), fullchain(t, b), fullchain(t, c); fa == nil || !bytes.Equal(fa, fb) || !bytes.Equal(fa, fc) {
		t.Errorf("fullchain differs between hosts")
	}
	// Hooks never come from etcd: a's local settings keep its own.
	if s, err := a.h.Settings(ctx, "fleet"); err != nil || len(s.Hooks.Deploy) != 0 || s.HTTP01Addrs[0] == b.addr {
		t.Errorf("a's merged settings = %+v, %v", s, err)
	}
	// The private key is sealed in etcd.
	raw, _, err := a.h.Fleet.get(ctx, a.h.Fleet.certKey("fleet", "latest"))
	if err != nil || bytes.Contains(raw, []byte("PRIVATE KEY")) {
		t.Errorf("latest in etcd holds a plaintext key (err %v)", err)
	}
}

// TestFleetDaemonsRenewOnceAndTakeOver runs three daemons: a certificate
// falling due is ordered exactly once and lands on all three; a host that
// dies after presenting (its lease expires) is replaced by another that
// finishes the same order; etcd stopped for a while changes nothing
// locally and renewals resume when it returns.
func TestFleetDaemonsRenewOnceAndTakeOver(t *testing.T) {
	if testing.Short() {
		t.Skip("needs etcd and Pebble")
	}
	e := testenv.StartEtcd(t)
	p := testenv.StartPebble(t, testenv.PebbleOptions{Profiles: map[string]int{"default": 7776000, "tiny": 12, "mid": 30}})
	key := writeKeyFile(t)
	ctx := testenv.Context(t, 4*time.Minute)

	// Host B dies (simulated) right after presenting its challenges.
	dead := make(chan struct{})
	var bDone sync.WaitGroup
	// b's goroutine logs through t: wait for it before the test ends.
	t.Cleanup(func() { close(dead); bDone.Wait() })
	var bLock atomic.Pointer[Lock]
	died := make(chan struct{})
	var dieOnce sync.Once
	fpB := func(ctx context.Context, name string) {
		if name != client.FailpointAfterPresent {
			return
		}
		dieOnce.Do(func() {
			bLock.Load().abandon() // as SIGKILL would: no unlock, no cleanup
			close(died)
		})
		<-dead
	}
	a := newTestHost(t, e, "a", "127.0.0.1:"+strconv.Itoa(p.HTTPPort), key, nil)
	b := newTestHost(t, e, "b", "127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)), key, fpB)
	c := newTestHost(t, e, "c", "127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)), key, nil)
	pebbleDefaults(p, a, b, c)

	// First issuance by c with a 12-second profile, through a's responder.
	respA := &Responder{Fleet: a.h.Fleet, HTTPAddrs: []string{a.addr}}
	lk, err := c.h.Fleet.LockCert(ctx, "fleet", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := respA.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.h.Publish(ctx, lk, settingsFor(p, c.addr, "tiny")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.h.Issue(ctx, lk, IssueOptions{}); err != nil {
		t.Fatalf("first issue: %v", err)
	}
	// The next certificate lives 30 s (due after 15 s, during the etcd
	// outage below); the one after that 90 days.
	s, _ := c.h.Settings(ctx, "fleet")
	s.Profile = "mid"
	if err := c.h.Publish(ctx, lk, s); err != nil {
		t.Fatal(err)
	}
	lk.Unlock()
	respA.Close()
	_, first, err := c.h.Fleet.Latest(ctx, "fleet")
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := leafOf(first.Cert)
	dueAt := leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)

	// b takes the lock as soon as the certificate is due and dies after
	// presenting.
	bDone.Go(func() {
		for time.Now().Before(dueAt) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(dueAt)):
			}
		}
		lk, err := b.h.Fleet.LockCert(ctx, "fleet", time.Minute)
		if err != nil {
			t.Errorf("b lock: %v", err)
			return
		}
		bLock.Store(lk)
		_, _ = b.h.Issue(ctx, lk, IssueOptions{})
	})
	select {
	case <-died:
	case <-ctx.Done():
		t.Fatal("b never reached after-present")
	}
	if got := p.Count("POST /order-plz 201"); got != 2 {
		t.Fatalf("orders after b died = %d; want 2", got)
	}

	// Now a and c run daemons (a owns the http-01 port).
	results := make(chan string, 16)
	dctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, h := range []*testHost{a, c} {
		d := &Daemon{Host: h.h, OnResult: func(name string, iss *Issued, err error) {
			results <- fmt.Sprintf("%s: resumed=%v err=%v", h.name, iss != nil && iss.Resumed, err)
		}}
		if h == a {
			d.Responder = &Responder{Fleet: a.h.Fleet, HTTPAddrs: []string{a.addr}}
		}
		wg.Go(func() { _ = d.Run(dctx) })
	}
	t.Cleanup(func() { stop(); wg.Wait() })

	var r string
	select {
	case r = <-results:
	case <-ctx.Done():
		t.Fatal("no host took over")
	}
	if r != "a: resumed=true err=<nil>" && r != "c: resumed=true err=<nil>" {
		t.Fatalf("takeover: %s; want a resumed order without error", r)
	}
	testenv.WaitFor(t, "certificate on a and c", 30*time.Second, func() error {
		fa, fc := fullchain(t, a), fullchain(t, c)
		if fa == nil || !bytes.Equal(fa, fc) || bytes.Equal(fa, first.Fullchain) {
			return errors.New("not yet")
		}
		if a.deploys.Load() != 2 || c.deploys.Load() != 2 {
			return fmt.Errorf("deploys a=%d c=%d", a.deploys.Load(), c.deploys.Load())
		}
		return nil
	})
	if got := p.Count("POST /order-plz 201"); got != 2 {
		t.Errorf("orders = %d; want 2 (the takeover resumed b's order)", got)
	}
	// b catches up by sync (it would on restart).
	if res, err := b.h.Sync(ctx, "fleet"); err != nil || !res.Deployed || !bytes.Equal(fullchain(t, b), fullchain(t, a)) {
		t.Errorf("b sync = %+v, %v", res, err)
	}

	// From now on renewals get 90 days, so exactly one more falls due.
	lk, err = c.h.Fleet.LockCert(ctx, "fleet", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.Profile = "default"
	if err := c.h.Publish(ctx, lk, s); err != nil {
		t.Fatal(err)
	}
	lk.Unlock()
	_, second, err := c.h.Fleet.Latest(ctx, "fleet")
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ = leafOf(second.Cert)
	dueAt = leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)
	if !time.Now().Before(dueAt) {
		t.Fatalf("second certificate already due (%v); the test is too slow", dueAt)
	}

	// etcd outage while the certificate falls due: no order, the local
	// live files stay byte-identical.
	e.Stop()
	snap := func(h *testHost) []byte {
		f, _, err := h.h.Local.Current("fleet")
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Join([][]byte{f.Cert, f.Chain, f.Fullchain, f.PrivKey}, nil)
	}
	beforeA, beforeC := snap(a), snap(c)
	testenv.WaitFor(t, "the certificate to fall due during the outage", time.Minute, func() error {
		if time.Now().Before(dueAt.Add(3 * time.Second)) {
			return errors.New("not yet due")
		}
		return nil
	})
	if got := p.Count("POST /order-plz 201"); got != 2 {
		t.Errorf("orders during outage = %d; want 2", got)
	}
	if !bytes.Equal(beforeA, snap(a)) || !bytes.Equal(beforeC, snap(c)) {
		t.Errorf("local live files changed during the outage")
	}
	e.Restart()
	select {
	case r = <-results:
	case <-ctx.Done():
		t.Fatal("no renewal after etcd returned")
	}
	if r != "a: resumed=false err=<nil>" && r != "c: resumed=false err=<nil>" {
		t.Fatalf("renewal after outage: %s", r)
	}
	testenv.WaitFor(t, "third certificate on a and c", 30*time.Second, func() error {
		fa, fc := fullchain(t, a), fullchain(t, c)
		if !bytes.Equal(fa, fc) || bytes.Equal(fa, second.Fullchain) {
			return errors.New("not yet")
		}
		if a.deploys.Load() != 3 || c.deploys.Load() != 3 {
			return fmt.Errorf("deploys a=%d c=%d", a.deploys.Load(), c.deploys.Load())
		}
		return nil
	})
	if got := p.Count("POST /order-plz 201"); got != 3 {
		t.Errorf("orders = %d; want 3", got)
	}
	select {
	case r := <-results:
		t.Errorf("unexpected second renewal: %s", r)
	default:
	}
}
