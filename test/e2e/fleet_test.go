package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/internal/testenv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestFleetObtainAnsweredByAnotherHost: host A runs `renew --daemon` with
// its responder on Pebble's http-01 port; host B (separate process and
// state dir) obtains with --storage etcd and its own, unreachable, http-01
// address. The order succeeds only if B's answer travelled through etcd
// to A; A's daemon then installs the same certificate and runs its own
// deploy hook once.
func TestFleetObtainAnsweredByAnotherHost(t *testing.T) {
	t.Parallel() // own servers and state; long, so it runs beside the others (docs/dev/testing.md)
	if testing.Short() {
		t.Skip("needs etcd and Pebble")
	}
	e := testenv.StartEtcd(t)
	p := testenv.StartPebble(t, testenv.PebbleOptions{})
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "storage.key")
	if err := os.WriteFile(keyFile, bytes.Repeat([]byte{0x42}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	storage := "etcd://" + e.Endpoint + "/e2e-fleet"
	common := []string{"--server", p.DirURL, "--ca-bundle", p.CABundle, "--accept-tos", "--email", "ops@example.test",
		"--storage", storage, "--storage-key-file", keyFile, "--etcd-lease-ttl", "3s"}
	stateA, stateB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	const name = "fleet.example.test"

	// Host A's own settings.yaml: where its responder listens and its
	// deploy hook (hooks are per host, never from etcd).
	hookOut := filepath.Join(dir, "a-deploys")
	hook := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho \"$ACMECTL_HOOK_CERT_NAME\" >> "+hookOut+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	da, err := store.Open(stateA)
	if err != nil {
		t.Fatal(err)
	}
	if err := da.SaveSettings(name, &store.Settings{
		Names: client.MustNames(name), Server: p.DirURL, HTTP01Addrs: []string{fmt.Sprintf("127.0.0.1:%d", p.HTTPPort)},
		Hooks: store.Hooks{Deploy: [][]string{{hook}}},
	}); err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 3*time.Minute)
	daemon := exec.CommandContext(ctx, filepath.Join(binDir, "acmectl"), append([]string{"renew", "--daemon", "--state-dir", stateA, "--log-level", "debug"},
		"--storage", storage, "--storage-key-file", keyFile, "--etcd-lease-ttl", "3s", "--ca-bundle", p.CABundle)...)
	daemon.Env = cleanEnv()
	proc := testenv.Start(t, "acmectl daemon A", daemon)
	testenv.WaitFor(t, "A's responder", 30*time.Second, func() error {
		if !strings.Contains(proc.Log.String(), "fleet http-01 responder started") {
			return errors.New("not yet")
		}
		return nil
	})

	addrB := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	r := run(t, nil, append([]string{"obtain", "--state-dir", stateB, "-d", name, "--http-01", "--http-01-addr", addrB}, common...)...)
	if r.code != 0 {
		t.Fatalf("obtain on B: exit %d", r.code)
	}
	if got := p.Count("POST /order-plz 201"); got != 1 {
		t.Errorf("orders = %d; want 1", got)
	}
	fullB, err := os.ReadFile(filepath.Join(stateB, "certificates", name, "fullchain.pem"))
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "A to install the certificate and run its hook", 30*time.Second, func() error {
		fullA, err := os.ReadFile(filepath.Join(stateA, "certificates", name, "fullchain.pem"))
		if err != nil || !bytes.Equal(fullA, fullB) {
			return fmt.Errorf("fullchain on A differs (%v)", err)
		}
		runs, _ := os.ReadFile(hookOut)
		if string(runs) != name+"\n" {
			return fmt.Errorf("hook runs on A: %q", runs)
		}
		return nil
	})
	// A second obtain with the same names is a no-op (current), and the
	// hook does not run again on A.
	r = run(t, nil, append([]string{"obtain", "--state-dir", stateB, "-d", name, "--http-01", "--http-01-addr", addrB}, common...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "is current until") {
		t.Errorf("second obtain: exit %d, stdout %q; want the line on stdout, as a local obtain", r.code, r.stdout)
	}
	if got := p.Count("POST /order-plz 201"); got != 1 {
		t.Errorf("orders after second obtain = %d; want 1", got)
	}
	if runs, _ := os.ReadFile(hookOut); string(runs) != name+"\n" {
		t.Errorf("hook runs on A after second obtain: %q", runs)
	}
	// Without a storage key, fleet mode refuses to start (exit 2).
	if r := run(t, nil, "renew", "--state-dir", stateB, "--storage", storage); r.code != 2 {
		t.Errorf("renew without --storage-key-file: exit %d; want 2", r.code)
	}

	// One-shot fleet renew on B: --json outcomes and exit codes.
	renewB := func(extra ...string) (result, map[string]any) {
		t.Helper()
		r := run(t, nil, append([]string{"renew", "--state-dir", stateB, "--json", "--no-random-sleep",
			"--storage", storage, "--storage-key-file", keyFile, "--etcd-lease-ttl", "3s", "--ca-bundle", p.CABundle}, extra...)...)
		var doc map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("renew --json: stdout is not one JSON document: %v\n%s", err, r.stdout)
		}
		return r, doc
	}
	outcome := func(doc map[string]any) string {
		certs, _ := doc["certificates"].([]any)
		if len(certs) != 1 {
			return fmt.Sprintf("%d certificates", len(certs))
		}
		c, _ := certs[0].(map[string]any)
		return fmt.Sprint(c["outcome"])
	}
	if r, doc := renewB(); r.code != 0 || outcome(doc) != "not_due" {
		t.Errorf("renew (nothing due): exit %d, outcome %s; want 0, not_due", r.code, outcome(doc))
	}
	if r, doc := renewB("--force", "--cert-name", name); r.code != 0 || outcome(doc) != "renewed" {
		t.Errorf("renew --force: exit %d, outcome %s; want 0, renewed", r.code, outcome(doc))
	}
	if got := p.Count("POST /order-plz 201"); got != 2 {
		t.Errorf("orders after renew --force = %d; want 2", got)
	}
	fullB2, _ := os.ReadFile(filepath.Join(stateB, "certificates", name, "fullchain.pem"))
	if bytes.Equal(fullB2, fullB) {
		t.Error("renew --force did not install a new certificate on B")
	}
	testenv.WaitFor(t, "A to install the forced renewal and run its hook again", 30*time.Second, func() error {
		fullA, _ := os.ReadFile(filepath.Join(stateA, "certificates", name, "fullchain.pem"))
		if !bytes.Equal(fullA, fullB2) {
			return errors.New("fullchain on A differs")
		}
		if runs, _ := os.ReadFile(hookOut); string(runs) != name+"\n"+name+"\n" {
			return fmt.Errorf("hook runs on A: %q", runs)
		}
		return nil
	})
	// SIGHUP: A re-reads its configuration and local settings and moves
	// its responder to the address now in its settings.yaml.
	moved := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	sa, err := da.LoadSettings(name)
	if err != nil {
		t.Fatal(err)
	}
	sa.HTTP01Addrs = []string{moved}
	if err := da.SaveSettings(name, sa); err != nil {
		t.Fatal(err)
	}
	if err := proc.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "A's responder to move after SIGHUP", 30*time.Second, func() error {
		if !strings.Contains(proc.Log.String(), "fleet http-01 responder started\" addr="+moved) {
			return errors.New("not yet")
		}
		return nil
	})
	// Now nobody answers on Pebble's http-01 port: the forced renewal
	// fails (exit 1, outcome failed).
	if err := proc.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "A's daemon to stop", 30*time.Second, func() error {
		if !strings.Contains(proc.Log.String(), "fleet daemon stopped") {
			return errors.New("not yet")
		}
		return nil
	})
	if r, doc := renewB("--force"); r.code != 1 || outcome(doc) != "failed" || doc["error"] == nil {
		t.Errorf("renew --force without a responder: exit %d, outcome %s, error %v; want 1, failed, an error", r.code, outcome(doc), doc["error"])
	}
	// etcd down: nothing is done and the run is deferred (exit 75).
	e.Stop()
	if r, doc := renewB(); r.code != 75 {
		t.Errorf("renew with etcd down: exit %d; want 75", r.code)
	} else if e, _ := doc["error"].(map[string]any); e == nil || e["class"] != "storage_unavailable" {
		t.Errorf("renew with etcd down: error %v; want class storage_unavailable", doc["error"])
	}
	if r, doc := renewB("--cert-name", name); r.code != 75 || outcome(doc) != "deferred" {
		t.Errorf("renew --cert-name with etcd down: exit %d, outcome %s; want 75, deferred", r.code, outcome(doc))
	}
	if got, _ := os.ReadFile(filepath.Join(stateB, "certificates", name, "fullchain.pem")); !bytes.Equal(got, fullB2) {
		t.Error("B's live fullchain changed while etcd was down")
	}
}

// fleetHost is one acmectl host of TestFleetThreeDaemons: its own state
// dir and deploy-hook log, and its `renew --daemon` process.
type fleetHost struct {
	name, state, hookLog string
	proc                 *testenv.Process
}

func (h *fleetHost) fullchain(cert string) []byte {
	b, _ := os.ReadFile(filepath.Join(h.state, "certificates", cert, "fullchain.pem"))
	return b
}

func (h *fleetHost) hookRuns() []string {
	b, _ := os.ReadFile(h.hookLog)
	return strings.Fields(string(b))
}

func fingerprint(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestFleetThreeDaemons is issue 9 item 5 with real processes: one etcd,
// Pebble with a 40-second profile (a renewal falls due 20 s after each
// issuance), three `acmectl renew --daemon --storage etcd://…` processes
// with separate state dirs and one storage key file. Only host a's
// responder owns Pebble's http-01 port; the others' answers travel through
// etcd. It checks, counted on Pebble:
//
//  1. the due renewal is ordered exactly once and lands byte-identical on
//     all three hosts, with one deploy hook run per version on each;
//  2. the renewing host (c, paused by a failpoint after presenting its
//     challenge) killed with SIGKILL: another host resumes the same order
//     (no new order) and every host installs the result;
//  3. etcd stopped past the next due time: no order, local live files
//     untouched; after etcd returns the renewal happens once.
func TestFleetThreeDaemons(t *testing.T) {
	t.Parallel() // own servers and state; long, so it runs beside the others (docs/dev/testing.md)
	if testing.Short() {
		t.Skip("needs etcd and Pebble")
	}
	const (
		name     = "fleet3.example.test"
		lifetime = 40 // seconds; due when half is left
	)
	e := testenv.StartEtcd(t)
	p := testenv.StartPebble(t, testenv.PebbleOptions{Profiles: map[string]int{"default": 7776000, "tiny": lifetime}})
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "storage.key")
	if err := os.WriteFile(keyFile, bytes.Repeat([]byte{0x17}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	hook := filepath.Join(dir, "hook.sh")
	// One line per run: the fingerprint of the fullchain the hook was
	// told about.
	if err := os.WriteFile(hook, []byte("#!/bin/sh\nsha256sum < \"$ACMECTL_HOOK_FULLCHAIN_PATH\" | cut -d' ' -f1 >> \"$1\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	fpDir := filepath.Join(dir, "failpoints")
	if err := os.Mkdir(fpDir, 0o700); err != nil {
		t.Fatal(err)
	}
	release := filepath.Join(fpDir, "after-present.release")
	reached := filepath.Join(fpDir, "after-present.reached")
	// Until phase 2 the failpoint on c lets every order through.
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	storage := "etcd://" + e.Endpoint + "/e2e-fleet3"
	// ca-bundle is host-local (never from etcd): each host gives its own.
	fleetArgs := []string{"--storage", storage, "--storage-key-file", keyFile, "--etcd-lease-ttl", "3s", "--ca-bundle", p.CABundle}
	respAddr := fmt.Sprintf("127.0.0.1:%d", p.HTTPPort)

	hosts := map[string]*fleetHost{}
	for _, n := range []string{"a", "b", "c"} {
		hosts[n] = &fleetHost{name: n, state: filepath.Join(dir, n), hookLog: filepath.Join(dir, n+"-deploys")}
	}
	a, b, c := hosts["a"], hosts["b"], hosts["c"]
	// Local settings.yaml of a and c: their deploy hook, and for a the
	// address of the responder that owns Pebble's http-01 port. b gets
	// its settings from obtain below.
	for _, h := range []*fleetHost{a, c} {
		d, err := store.Open(h.state)
		if err != nil {
			t.Fatal(err)
		}
		s := &store.Settings{Names: client.MustNames(name), Server: p.DirURL, Hooks: store.Hooks{Deploy: [][]string{{hook, h.hookLog}}}}
		if h == a {
			s.HTTP01Addrs = []string{respAddr}
		}
		if err := d.SaveSettings(name, s); err != nil {
			t.Fatal(err)
		}
	}
	start := func(h *fleetHost, env ...string) {
		t.Helper()
		cmd := exec.Command(filepath.Join(binDir, "acmectl"), append([]string{"renew", "--daemon", "--state-dir", h.state, "--log-level", "debug"}, fleetArgs...)...)
		cmd.Env = append(cleanEnv(), env...)
		h.proc = testenv.Start(t, "acmectl daemon "+h.name, cmd)
	}
	signal := func(h *fleetHost, sig syscall.Signal) {
		t.Helper()
		if err := h.proc.Cmd.Process.Signal(sig); err != nil {
			t.Fatalf("signal %v to %s: %v", sig, h.name, err)
		}
	}
	start(a)
	start(b)
	start(c, "ACMECTL_FAILPOINT=after-present:pause", "ACMECTL_FAILPOINT_DIR="+fpDir)
	testenv.WaitFor(t, "a's responder", 30*time.Second, func() error {
		if !strings.Contains(a.proc.Log.String(), "fleet http-01 responder started") {
			return errors.New("not yet")
		}
		return nil
	})

	orders := func() int { return p.Count("POST /order-plz 201") }
	all := []*fleetHost{a, b, c}
	// landed waits until every host serves the same fullchain, different
	// from prev, and each host's hook ran once for each version in gens.
	var gens []string // fingerprints of the fullchains, in order
	landed := func(what string, prev []byte) []byte {
		t.Helper()
		var full []byte
		testenv.WaitFor(t, what, 60*time.Second, func() error {
			full = a.fullchain(name)
			if len(full) == 0 || bytes.Equal(full, prev) {
				return errors.New("a has no new certificate")
			}
			for _, h := range all {
				if got := h.fullchain(name); !bytes.Equal(got, full) {
					return fmt.Errorf("fullchain on %s differs from a's", h.name)
				}
			}
			want := append(slices.Clone(gens), fingerprint(full))
			for _, h := range all {
				if got := h.hookRuns(); !slices.Equal(got, want) {
					return fmt.Errorf("deploy hook runs on %s: %d %v; want %d %v", h.name, len(got), got, len(want), want)
				}
			}
			return nil
		})
		gens = append(gens, fingerprint(full))
		return full
	}
	dueAt := func(full []byte) time.Time {
		t.Helper()
		certs, err := keys.ParseCertificateChainPEM(full)
		if err != nil {
			t.Fatal(err)
		}
		leaf := certs[0]
		return leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)
	}

	// The certificate is obtained once, on b: its own http-01 address is
	// reachable by nobody, so the answer goes through etcd to a.
	r := run(t, nil, append([]string{"obtain", "--state-dir", b.state, "-d", name, "--profile", "tiny",
		"--http-01", "--http-01-addr", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		"--deploy-hook", hook + " " + b.hookLog,
		"--server", p.DirURL, "--ca-bundle", p.CABundle, "--accept-tos", "--email", "ops@example.test"}, fleetArgs...)...)
	if r.code != 0 {
		t.Fatalf("obtain on b: exit %d", r.code)
	}
	if got := orders(); got != 1 {
		t.Fatalf("orders after obtain = %d; want 1", got)
	}
	gen1 := landed("generation 1 on every host", nil)

	// Phase 1: the renewal falls due on all three daemons at once.
	gen2 := landed("the renewal on every host", gen1)
	if got := orders(); got != 2 {
		t.Fatalf("orders after the first renewal = %d; want 2 (exactly one renewal order)", got)
	}

	// Phase 2: c must be the renewer: a and b are stopped (SIGSTOP) until
	// c reached its failpoint, after publishing its challenge answer.
	if time.Now().After(dueAt(gen2).Add(-2 * time.Second)) {
		t.Fatal("test too slow: generation 2 is already due before phase 2 starts")
	}
	for _, f := range []string{release, reached} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	// The renewer of generation 2 installs it before it releases the
	// fleet lock: stopping it while it still holds the lock would keep
	// the lock held (its lease is kept alive by its acmectl-etcd helper,
	// which SIGSTOP does not stop) and c could never renew. Wait until no
	// host holds it.
	lockKeys := "/e2e-fleet3/locks/certs/" + name + "/"
	etcdc := e.Client(t)
	testenv.WaitFor(t, "the fleet lock to be released", 30*time.Second, func() error {
		resp, err := etcdc.Get(t.Context(), lockKeys, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return err
		}
		if resp.Count > 0 {
			return fmt.Errorf("%d lock keys", resp.Count)
		}
		return nil
	})
	for _, h := range []*fleetHost{a, b} {
		signal(h, syscall.SIGSTOP)
		t.Cleanup(func() { _ = h.proc.Cmd.Process.Signal(syscall.SIGCONT) })
	}
	testenv.WaitFor(t, "c to reach after-present", 60*time.Second, func() error {
		_, err := os.Stat(reached)
		return err
	})
	if got := orders(); got != 3 {
		t.Fatalf("orders once c paused = %d; want 3", got)
	}
	signal(a, syscall.SIGCONT)
	signal(b, syscall.SIGCONT)
	signal(c, syscall.SIGKILL)
	gen3 := func() []byte {
		// c is dead: wait for a and b only, then restart c (without the
		// failpoint), which installs what it missed.
		all = []*fleetHost{a, b}
		defer func() { all = []*fleetHost{a, b, c} }()
		var full []byte
		testenv.WaitFor(t, "a or b to finish c's order", 60*time.Second, func() error {
			full = a.fullchain(name)
			if bytes.Equal(full, gen2) || !bytes.Equal(full, b.fullchain(name)) {
				return errors.New("not yet on a and b")
			}
			return nil
		})
		return full
	}()
	if got := orders(); got != 3 {
		t.Errorf("orders after the takeover = %d; want 3 (c's order resumed, not a new one)", got)
	}
	if !strings.Contains(a.proc.Log.String()+b.proc.Log.String(), "resumed=true") {
		t.Error("neither a nor b logged resuming the order")
	}
	start(c)
	if got := landed("generation 3 on every host (c restarted)", gen2); !bytes.Equal(got, gen3) {
		t.Fatal("generation 3 changed while c restarted")
	}

	// Phase 3: etcd is stopped before the next renewal falls due and stays
	// down until every daemon has failed to reach it after that time.
	due := dueAt(gen3)
	if time.Now().After(due.Add(-2 * time.Second)) {
		t.Fatal("test too slow: generation 3 is already due before etcd is stopped")
	}
	e.Stop()
	snaps := map[string]map[string][]byte{}
	for _, h := range all {
		snaps[h.name] = snapshot(t, filepath.Join(h.state, "certificates", name))
	}
	offsets := map[string]int{}
	testenv.WaitFor(t, "every daemon to fail reaching etcd after the due time", 90*time.Second, func() error {
		for _, h := range all {
			sameSnapshot(t, snaps[h.name], snapshot(t, filepath.Join(h.state, "certificates", name)))
		}
		if got := orders(); got != 3 {
			t.Fatalf("orders while etcd is down = %d; want 3", got)
		}
		if time.Now().Before(due) {
			return errors.New("not due yet")
		}
		for _, h := range all {
			log := h.proc.Log.String()
			off, ok := offsets[h.name]
			if !ok {
				offsets[h.name] = len(log)
				off = len(log)
			}
			rest := log[off:]
			if !strings.Contains(rest, "etcd unavailable; waiting") && !strings.Contains(rest, "not tended; will retry") {
				return fmt.Errorf("%s logged no etcd failure since the due time", h.name)
			}
		}
		return nil
	})
	if t.Failed() {
		t.FailNow()
	}
	e.Restart()
	landed("the renewal after etcd returned", gen3)
	if got := orders(); got != 4 {
		t.Errorf("orders after etcd returned = %d; want 4 (one renewal)", got)
	}
}
