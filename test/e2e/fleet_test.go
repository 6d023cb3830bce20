package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/internal/testenv"
)

// TestFleetObtainAnsweredByAnotherHost: host A runs `renew --daemon` with
// its responder on Pebble's http-01 port; host B (separate process and
// state dir) obtains with --storage etcd and its own, unreachable, http-01
// address. The order succeeds only if B's answer travelled through etcd
// to A; A's daemon then installs the same certificate and runs its own
// deploy hook once.
func TestFleetObtainAnsweredByAnotherHost(t *testing.T) {
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
		Names: []string{name}, Server: p.DirURL, HTTP01Addrs: []string{fmt.Sprintf("127.0.0.1:%d", p.HTTPPort)},
		Hooks: store.Hooks{Deploy: [][]string{{hook}}},
	}); err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 3*time.Minute)
	daemon := exec.CommandContext(ctx, filepath.Join(binDir, "acmectl"), append([]string{"renew", "--daemon", "--state-dir", stateA, "--log-level", "debug"},
		"--storage", storage, "--storage-key-file", keyFile, "--etcd-lease-ttl", "3s")...)
	daemon.Env = cleanEnv()
	proc := testenv.Start(t, "acmectl daemon A", daemon)
	testenv.WaitFor(t, "A's responder", 30*time.Second, func() error {
		if !strings.Contains(proc.Log.String(), "fleet http-01 responder started") {
			return errors.New("not yet")
		}
		return nil
	})

	r := run(t, nil, append([]string{"obtain", "--state-dir", stateB, "-d", name, "--http-01", "--http-01-addr",
		fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}, common...)...)
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
	r = run(t, nil, append([]string{"obtain", "--state-dir", stateB, "-d", name, "--http-01"}, common...)...)
	if r.code != 0 || !strings.Contains(r.stderr, "is current until") {
		t.Errorf("second obtain: exit %d, stderr %q", r.code, r.stderr)
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
}
