package renew

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

// memStore is an in-memory Store with real mutual exclusion per name.
type memStore struct {
	mu     sync.Mutex
	states map[string]store.State
	locked map[string]bool
	saves  atomic.Int64
}

func newMemStore() *memStore {
	return &memStore{states: map[string]store.State{}, locked: map[string]bool{}}
}

func (m *memStore) LoadState(_ context.Context, name string) (*store.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.states[name]
	return &s, nil
}

func (m *memStore) SaveState(_ context.Context, name string, s *store.State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saves.Add(1)
	m.states[name] = *s
	return nil
}

func (m *memStore) LockCert(_ context.Context, name string, _ time.Duration) (func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locked[name] {
		return nil, &store.LockedError{Name: name, HolderPID: 4242}
	}
	m.locked[name] = true
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.locked, name)
	}, nil
}

// fakeIssuer issues certificates of a fixed lifetime "now", counting calls.
type fakeIssuer struct {
	life     time.Duration
	now      func() time.Time
	fail     func(name string) error
	ari      func(name string) (*client.RenewalInfo, time.Time, error)
	delay    time.Duration
	issues   atomic.Int64
	fetches  atomic.Int64
	inFlight atomic.Int64
	maxPar   atomic.Int64
}

func (f *fakeIssuer) RenewalInfo(_ context.Context, name string, _ *store.State) (*client.RenewalInfo, time.Time, error) {
	f.fetches.Add(1)
	if f.ari == nil {
		return nil, time.Time{}, &client.UnsupportedError{Feature: "ARI"}
	}
	return f.ari(name)
}

func (f *fakeIssuer) Issue(ctx context.Context, name string, st *store.State, dryRun bool) (*Issued, error) {
	f.issues.Add(1)
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxPar.Load()
		if n <= m || f.maxPar.CompareAndSwap(m, n) {
			break
		}
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.fail != nil {
		if err := f.fail(name); err != nil {
			return nil, err
		}
	}
	now := f.now()
	if !dryRun {
		st.NotBefore, st.NotAfter = now, now.Add(f.life)
		st.Version++
		st.LastError, st.Backoff, st.ARI, st.PendingOrder = nil, nil, nil, nil
		st.LastSuccess = now
	}
	return &Issued{NotAfter: now.Add(f.life), Version: st.Version}, nil
}

type fakeHooks struct {
	mu                       sync.Mutex
	pre, deploy, fail, posts int
	deployErr                error
}

func (h *fakeHooks) Pre(context.Context, string) { h.mu.Lock(); h.pre++; h.mu.Unlock() }
func (h *fakeHooks) Deploy(context.Context, string, *store.State) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.deploy++
	return h.deployErr
}
func (h *fakeHooks) Failure(context.Context, string, error) { h.mu.Lock(); h.fail++; h.mu.Unlock() }
func (h *fakeHooks) Post(context.Context, []string, []string) {
	h.mu.Lock()
	h.posts++
	h.mu.Unlock()
}

var passT0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func certState(nb time.Time, life time.Duration) store.State {
	// ARI fetched and unsupported: lifetime rule, next fetch far away.
	return store.State{NotBefore: nb, NotAfter: nb.Add(life), Version: 1, ARI: &store.ARIState{NextFetch: nb.Add(365 * 24 * time.Hour)}}
}

func TestPassOutcomes(t *testing.T) {
	now := passT0
	ms := newMemStore()
	ms.states["fresh"] = certState(now.Add(-time.Hour), 90*24*time.Hour)
	ms.states["due"] = certState(now.Add(-70*24*time.Hour), 90*24*time.Hour)
	ms.states["failing"] = certState(now.Add(-70*24*time.Hour), 90*24*time.Hour)
	ms.states["limited"] = certState(now.Add(-70*24*time.Hour), 90*24*time.Hour)
	backoff := certState(now.Add(-70*24*time.Hour), 90*24*time.Hour)
	backoff.Backoff = &store.Backoff{Failures: 2, NextAttempt: now.Add(10 * time.Minute)}
	ms.states["backoff"] = backoff
	ms.states["held"] = certState(now.Add(-70*24*time.Hour), 90*24*time.Hour)
	ms.locked["held"] = true
	iss := &fakeIssuer{life: 90 * 24 * time.Hour, now: func() time.Time { return now }, fail: func(name string) error {
		switch name {
		case "failing":
			return &client.Problem{Type: "urn:ietf:params:acme:error:unauthorized", Detail: "no"}
		case "limited":
			return &client.Problem{Type: "urn:ietf:params:acme:error:rateLimited", RetryAfter: now.Add(3 * time.Hour)}
		}
		return nil
	}}
	hooks := &fakeHooks{}
	r := &Runner{Store: ms, Issuer: iss, Hooks: hooks, Now: func() time.Time { return now }, Parallel: 3}
	names := []string{"backoff", "due", "failing", "fresh", "held", "limited"}
	got := map[string]Outcome{}
	for _, res := range r.Pass(t.Context(), names) {
		got[res.Name] = res.Outcome
	}
	want := map[string]Outcome{"backoff": Deferred, "due": Renewed, "failing": Failed, "fresh": NotDue, "held": Locked, "limited": Deferred}
	for n, w := range want {
		if got[n] != w {
			t.Errorf("outcome of %s = %s; want %s", n, got[n], w)
		}
	}
	if n := iss.issues.Load(); n != 3 {
		t.Errorf("Issue called %d times; want 3 (due, failing, limited)", n)
	}
	if hooks.deploy != 1 || hooks.fail != 2 || hooks.posts != 1 {
		t.Errorf("hooks: deploy %d fail %d post %d; want 1, 2, 1", hooks.deploy, hooks.fail, hooks.posts)
	}
	lim := ms.states["limited"]
	if !lim.RetryAfter.Equal(now.Add(3*time.Hour)) || lim.Backoff == nil || lim.Backoff.NextAttempt.Before(now.Add(3*time.Hour)) {
		t.Errorf("rate-limited state: retry_after %v backoff %+v; want the CA's time respected", lim.RetryAfter, lim.Backoff)
	}
	fl := ms.states["failing"]
	if fl.Backoff == nil || fl.Backoff.Failures != 1 || !fl.Backoff.NextAttempt.Equal(now.Add(BackoffMin)) || fl.LastError == nil {
		t.Errorf("failing state: %+v", fl)
	}

	// A second pass right away: failures are deferred without any call.
	iss.issues.Store(0)
	for _, res := range r.Pass(t.Context(), []string{"failing", "limited"}) {
		if res.Outcome != Deferred {
			t.Errorf("second pass: %s = %s; want deferred", res.Name, res.Outcome)
		}
	}
	if n := iss.issues.Load() + iss.fetches.Load(); n != 0 {
		t.Errorf("second pass made %d calls to the CA; want 0", n)
	}
	// --force ignores local backoff, never the CA's Retry-After.
	r.Force = true
	for _, res := range r.Pass(t.Context(), []string{"failing", "limited"}) {
		want := map[string]Outcome{"failing": Failed, "limited": Deferred}[res.Name]
		if res.Outcome != want {
			t.Errorf("forced: %s = %s; want %s", res.Name, res.Outcome, want)
		}
	}
	if n := iss.issues.Load(); n != 1 {
		t.Errorf("forced pass: %d orders; want 1 (failing only)", n)
	}
}

func TestPassARI(t *testing.T) {
	now := passT0
	ms := newMemStore()
	nb := now.Add(-10 * 24 * time.Hour)
	ms.states["a"] = store.State{NotBefore: nb, NotAfter: nb.Add(90 * 24 * time.Hour), Version: 1}
	window := &client.RenewalInfo{Start: now.Add(-2 * time.Hour), End: now.Add(-time.Hour)}
	iss := &fakeIssuer{life: 90 * 24 * time.Hour, now: func() time.Time { return now },
		ari: func(string) (*client.RenewalInfo, time.Time, error) { return window, now.Add(6 * time.Hour), nil }}
	r := &Runner{Store: ms, Issuer: iss, Now: func() time.Time { return now }}
	res := r.Pass(t.Context(), []string{"a"})[0]
	if res.Outcome != Renewed || res.Due.Rule != RuleARI {
		t.Fatalf("result %+v; want renewed by the ARI rule", res)
	}
	// New certificate: no renewal information needed yet (a run right
	// after issuance makes no request at all).
	window = &client.RenewalInfo{Start: now.Add(50 * 24 * time.Hour), End: now.Add(52 * 24 * time.Hour)}
	before := iss.fetches.Load()
	if res = r.Pass(t.Context(), []string{"a"})[0]; res.Outcome != NotDue || iss.fetches.Load() != before {
		t.Fatalf("pass right after renewal: %+v, fetches %d→%d; want not due and no fetch", res, before, iss.fetches.Load())
	}
	// A day later: ARI fetched (future window), not due, and the point
	// drawn is stored.
	now = now.Add(FirstARIFetchMax)
	res = r.Pass(t.Context(), []string{"a"})[0]
	st := ms.states["a"]
	if res.Outcome != NotDue || st.ARI == nil || st.ARI.ChosenTime.Before(window.Start) || !st.ARI.ChosenTime.Before(window.End) ||
		!st.ARI.NextFetch.Equal(now.Add(6*time.Hour)) {
		t.Fatalf("after fetch: %+v, ARI %+v", res, st.ARI)
	}
	chosen := st.ARI.ChosenTime
	fetches := iss.fetches.Load()
	// Until NextFetch: no fetch, same point; the result says when to look again.
	res = r.Pass(t.Context(), []string{"a"})[0]
	if iss.fetches.Load() != fetches || !ms.states["a"].ARI.ChosenTime.Equal(chosen) || !res.Next.Equal(now.Add(6*time.Hour)) {
		t.Errorf("no-op pass fetched or redrew: fetches %d→%d, next %v", fetches, iss.fetches.Load(), res.Next)
	}
	now = now.Add(6*time.Hour + time.Second)
	r.Pass(t.Context(), []string{"a"})
	if iss.fetches.Load() != fetches+1 || !ms.states["a"].ARI.ChosenTime.Equal(chosen) {
		t.Errorf("after Retry-After: fetches %d, chosen %v (was %v); want a re-fetch keeping the point of the same window",
			iss.fetches.Load(), ms.states["a"].ARI.ChosenTime, chosen)
	}
}

func TestPassDeployPending(t *testing.T) {
	now := passT0
	ms := newMemStore()
	st := certState(now.Add(-time.Hour), 90*24*time.Hour)
	st.DeployPending = true
	ms.states["a"] = st
	hooks := &fakeHooks{deployErr: errors.New("reload failed")}
	iss := &fakeIssuer{now: func() time.Time { return now }}
	r := &Runner{Store: ms, Issuer: iss, Hooks: hooks, Now: func() time.Time { return now }}
	if res := r.Pass(t.Context(), []string{"a"})[0]; res.Outcome != DeployFailed || !ms.states["a"].DeployPending {
		t.Errorf("failing pending deploy: %+v", res)
	}
	hooks.deployErr = nil
	if res := r.Pass(t.Context(), []string{"a"})[0]; res.Outcome != NotDue || !res.Deployed || ms.states["a"].DeployPending {
		t.Errorf("succeeding pending deploy: %+v", res)
	}
	if res := r.Pass(t.Context(), []string{"a"})[0]; res.Deployed || hooks.deploy != 2 {
		t.Errorf("nothing pending: deployed again (%d runs)", hooks.deploy)
	}
	if iss.issues.Load() != 0 {
		t.Error("deploy retries ordered a certificate")
	}
}

func TestPassInteractive(t *testing.T) {
	now := passT0
	ms := newMemStore()
	ms.states["m"] = certState(now.Add(-80*24*time.Hour), 90*24*time.Hour)
	iss := &fakeIssuer{now: func() time.Time { return now }, fail: func(n string) error { return &InteractiveError{Name: n} }}
	r := &Runner{Store: ms, Issuer: iss, Now: func() time.Time { return now }}
	for i := range 2 {
		if res := r.Pass(t.Context(), []string{"m"})[0]; res.Outcome != Failed {
			t.Errorf("pass %d: %s; want failed each time (no backoff for a missing terminal)", i, res.Outcome)
		}
	}
	if ms.states["m"].Backoff != nil {
		t.Error("backoff recorded for the manual solver")
	}
}

// TestPassParallel: Parallel bounds concurrent issuances; 6 certificates
// each taking 10 s of (fake) time finish in 20 s with 3 at once.
func TestPassParallel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ms := newMemStore()
		var names []string
		for i := range 6 {
			n := fmt.Sprintf("c%d", i)
			names = append(names, n)
			ms.states[n] = certState(time.Now().Add(-80*24*time.Hour), 90*24*time.Hour)
		}
		iss := &fakeIssuer{life: 90 * 24 * time.Hour, now: time.Now, delay: 10 * time.Second}
		r := &Runner{Store: ms, Issuer: iss, Parallel: 3}
		start := time.Now()
		for _, res := range r.Pass(t.Context(), names) {
			if res.Outcome != Renewed {
				t.Errorf("%s: %s", res.Name, res.Outcome)
			}
		}
		if el := time.Since(start); el != 20*time.Second {
			t.Errorf("pass took %v; want 20s", el)
		}
		if m := iss.maxPar.Load(); m != 3 {
			t.Errorf("max concurrent issuances = %d; want 3", m)
		}
	})
}

// TestDaemon: the loop sleeps until a 6-day certificate is due (half its
// lifetime), renews it, sleeps until the new one is due, and returns
// promptly when ctx ends; it wakes early for a store change.
func TestDaemon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		life := 6 * 24 * time.Hour
		ms := newMemStore()
		ms.states["short"] = certState(time.Now(), life)
		iss := &fakeIssuer{life: life, now: time.Now}
		r := &Runner{Store: ms, Issuer: iss}
		changed := make(chan struct{}, 1)
		var mu sync.Mutex
		names := []string{"short"}
		d := &Daemon{
			Runner: r,
			Names: func() ([]string, error) {
				mu.Lock()
				defer mu.Unlock()
				return append([]string(nil), names...), nil
			},
			Changed: func() bool {
				select {
				case <-changed:
					return true
				default:
					return false
				}
			},
			Poll: time.Minute,
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- d.Run(ctx) }()

		synctest.Wait()
		if n := iss.issues.Load(); n != 0 {
			t.Fatalf("renewed at once: %d", n)
		}
		time.Sleep(3*24*time.Hour - time.Minute) // just before half the lifetime
		synctest.Wait()
		if n := iss.issues.Load(); n != 0 {
			t.Fatalf("renewed before due: %d", n)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if n := iss.issues.Load(); n != 1 {
			t.Fatalf("renewals after due time = %d; want 1", n)
		}
		if v := ms.states["short"].Version; v != 2 {
			t.Errorf("version %d; want 2", v)
		}
		// A certificate added meanwhile, already due: picked up at the next
		// poll, not at the next due time.
		mu.Lock()
		names = append(names, "added")
		mu.Unlock()
		ms.SaveState(context.Background(), "added", &store.State{})
		changed <- struct{}{}
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		if n := iss.issues.Load(); n != 2 {
			t.Errorf("after a store change: %d renewals; want 2", n)
		}
		// The next renewal of "short" is 3 days after the first.
		time.Sleep(3*24*time.Hour - 2*time.Minute - 2*time.Second)
		synctest.Wait()
		if n := iss.issues.Load(); n != 2 {
			t.Errorf("early renewal of the second certificate: %d", n)
		}
		time.Sleep(30 * time.Second) // "added" is due a minute later
		synctest.Wait()
		if n := iss.issues.Load(); n != 3 {
			t.Errorf("second renewal missing: %d", n)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
		if el := time.Since(start); el < 6*24*time.Hour {
			t.Errorf("fake time elapsed %v", el)
		}
	})
}

// TestDaemonStopsDuringIssue: SIGTERM (ctx) during an order ends Run once
// the issuer returns; nothing is recorded as a failure.
func TestDaemonStopsDuringIssue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ms := newMemStore()
		ms.states["a"] = certState(time.Now().Add(-80*24*time.Hour), 90*24*time.Hour)
		iss := &fakeIssuer{life: time.Hour, now: time.Now, delay: time.Hour}
		hooks := &fakeHooks{}
		d := &Daemon{Runner: &Runner{Store: ms, Issuer: iss, Hooks: hooks}, Names: func() ([]string, error) { return []string{"a"}, nil }}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		time.Sleep(time.Minute)
		synctest.Wait()
		stop := time.Now()
		cancel()
		<-done
		if el := time.Since(stop); el != 0 {
			t.Errorf("stopped after %v", el)
		}
		st := ms.states["a"]
		if st.Backoff != nil || st.LastError != nil || hooks.fail != 0 || hooks.posts != 1 {
			t.Errorf("interrupted order recorded as failure: %+v, hooks %+v", st, hooks)
		}
	})
}

// TestStateCache: an entry is used only while state.json is unchanged; a
// write through the store (rename: new inode) is seen at once, also by a
// new process reading the cache file.
func TestStateCache(t *testing.T) {
	d, err := store.Open(t.TempDir() + "/state")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SaveState("a.example.test", &store.State{Version: 1}); err != nil {
		t.Fatal(err)
	}
	reads := 0
	ld := func(n string) (*store.State, error) { reads++; return d.LoadState(n) }
	c := &StateCache{Root: d.Root()}
	for range 2 {
		if s, err := c.LoadState("a.example.test", ld); err != nil || s.Version != 1 {
			t.Fatalf("LoadState = %+v, %v", s, err)
		}
	}
	if reads != 1 {
		t.Errorf("file read %d times; want 1", reads)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c2 := &StateCache{Root: d.Root()}
	if s, _ := c2.LoadState("a.example.test", ld); s.Version != 1 || reads != 1 {
		t.Errorf("new cache from file: version %d, reads %d; want 1, 1", s.Version, reads)
	}
	if err := d.SaveState("a.example.test", &store.State{Version: 2}); err != nil {
		t.Fatal(err)
	}
	if s, _ := c2.LoadState("a.example.test", ld); s.Version != 2 || reads != 2 {
		t.Errorf("after a write: version %d, reads %d; want 2, 2", s.Version, reads)
	}
}
