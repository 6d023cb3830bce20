// Package e2e runs the built acmectl binary against real servers started
// by the tests (Pebble, BIND9, nginx, the legacy v1 test CA) on 127.0.0.1.
package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/testenv"
)

// bin is the acmectl binary built once for the package (with failpoints).
var binDir string

func TestMain(m *testing.M) {
	bin, err := testenv.BuildAcmectl("acmectl-e2e-bin", "acmectl_failpoints")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = filepath.Dir(bin)
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// result is one acmectl run.
type result struct {
	code           int
	stdout, stderr string
}

// run executes acmectl with args and extra environment, bounded in time.
func run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return runCtx(t, testenv.Context(t, 2*time.Minute), env, args...)
}

func runCtx(t *testing.T, ctx context.Context, env []string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "acmectl"), args...)
	cmd.Env = append(cleanEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run acmectl: %v", err)
	}
	r := result{code: code, stdout: out.String(), stderr: errb.String()}
	t.Logf("acmectl %s → %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, r.stdout, r.stderr)
	return r
}

// cleanEnv is the test process environment without ACMECTL_* variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ACMECTL_") {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+os.TempDir(), "XDG_CONFIG_HOME="+os.TempDir()+"/acmectl-e2e-noconfig")
}

// lab is one test's Pebble plus a state dir and the common flags.
type lab struct {
	p     *testenv.Pebble
	state string
	base  []string
}

func newLab(t *testing.T, opts testenv.PebbleOptions) *lab {
	t.Helper()
	p := testenv.StartPebble(t, opts)
	state := filepath.Join(t.TempDir(), "state")
	return &lab{p: p, state: state, base: []string{
		"--server", p.DirURL, "--ca-bundle", p.CABundle, "--state-dir", state,
		"--accept-tos", "--email", "admin@example.test",
	}}
}

// args is cmd, the lab's common flags, then extra.
func (l *lab) args(cmd string, extra ...string) []string {
	return append(append([]string{cmd}, l.base...), extra...)
}

func (l *lab) http01() []string {
	return []string{"--http-01", "--http-01-addr", fmt.Sprintf("127.0.0.1:%d", l.p.HTTPPort)}
}

func (l *lab) certDir(name string) string { return filepath.Join(l.state, "certificates", name) }

// readChain parses a PEM chain file.
func readChain(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	return certs
}

// snapshot reads the live files of a certificate for byte comparison.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range []string{"cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		out[f] = b
	}
	return out
}

func sameSnapshot(t *testing.T, want, got map[string][]byte) {
	t.Helper()
	for f, w := range want {
		if !bytes.Equal(w, got[f]) {
			t.Errorf("%s changed", f)
		}
	}
}
