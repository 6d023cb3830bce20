package e2e

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acmectl/acmectl/internal/testenv"
)

// oneLine asserts stderr is exactly one "acmectl: ..." line containing want.
func oneLine(t *testing.T, r result, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	var errLines []string
	for _, l := range lines {
		if strings.HasPrefix(l, "acmectl: ") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 || !strings.Contains(errLines[0], want) {
		t.Errorf("want one error line containing %q; stderr:\n%s", want, r.stderr)
	}
}

// TestFailuresKeepLiveCertificate: after a good issuance, a bad flag, an
// unreachable server, a CA error and a refused challenge each fail with
// one clear line and the documented exit code, and the live files stay
// byte-identical.
func TestFailuresKeepLiveCertificate(t *testing.T) {
	l := newLab(t, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}, Blocklist: []string{"blocked.example.test"}})
	name := "keep.example.test"
	if r := run(t, nil, l.args("obtain", append(l.http01(), "-d", name)...)...); r.code != 0 {
		t.Fatalf("first obtain: exit %d", r.code)
	}
	before := snapshot(t, l.certDir(name))

	t.Run("bad flag", func(t *testing.T) {
		r := run(t, nil, l.args("obtain", append(l.http01(), "-d", name, "--key-type", "dsa1024", "--force")...)...)
		if r.code != 2 {
			t.Errorf("exit %d; want 2", r.code)
		}
		oneLine(t, r, "--key-type")
	})
	t.Run("unknown flag", func(t *testing.T) {
		r := run(t, nil, l.args("obtain", "-d", name, "--no-such-flag")...)
		if r.code != 2 {
			t.Errorf("exit %d; want 2", r.code)
		}
		oneLine(t, r, "no-such-flag")
	})
	t.Run("unreachable server", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		args := []string{"obtain", "--server", "https://" + addr + "/dir", "--ca-bundle", l.p.CABundle, "--state-dir", l.state,
			"--accept-tos", "--cert-name", name, "-d", name, "--force"}
		r := run(t, nil, append(args, l.http01()...)...)
		if r.code != 75 {
			t.Errorf("exit %d; want 75 (CA unavailable)", r.code)
		}
		oneLine(t, r, "connection refused")
	})
	t.Run("not a directory", func(t *testing.T) {
		// Pebble's own HTTPS server, a path that is no directory: the
		// user's --server is wrong, not the CA down (exit 2, not 75).
		bad := strings.TrimSuffix(l.p.DirURL, "/dir") + "/no-such-directory"
		args := []string{"obtain", "--server", bad, "--ca-bundle", l.p.CABundle, "--state-dir", l.state,
			"--accept-tos", "--cert-name", name, "-d", name, "--force"}
		r := run(t, nil, append(args, l.http01()...)...)
		if r.code != 2 {
			t.Errorf("exit %d; want 2 (configuration)", r.code)
		}
		oneLine(t, r, "GET "+bad+": HTTP 404: not an ACME directory (check --server; acmectl directory --server URL shows what a URL serves)")
	})
	t.Run("untrusted CA certificate", func(t *testing.T) {
		// A fresh state dir: no stored --ca-bundle to fall back on.
		args := []string{"obtain", "--server", l.p.DirURL, "--state-dir", t.TempDir(),
			"--accept-tos", "-d", "other." + name}
		r := run(t, nil, append(args, l.http01()...)...)
		if r.code != 2 {
			t.Errorf("exit %d; want 2 (configuration: --ca-bundle)", r.code)
		}
		oneLine(t, r, "--ca-bundle")
	})
	t.Run("invalid name", func(t *testing.T) {
		r := run(t, nil, l.args("obtain", append(l.http01(), "-d", name, "-d", "bad_name.example.test", "--cert-name", name, "--force")...)...)
		if r.code != 2 {
			t.Errorf("exit %d; want 2 (invalid name caught before any request)", r.code)
		}
		oneLine(t, r, "bad_name.example.test")
	})
	t.Run("CA error", func(t *testing.T) {
		orders := l.p.Count("POST /order-plz")
		r := run(t, nil, l.args("obtain", append(l.http01(), "-d", name, "-d", "x.blocked.example.test", "--cert-name", name, "--force")...)...)
		if r.code != 1 {
			t.Errorf("exit %d; want 1", r.code)
		}
		oneLine(t, r, "rejectedIdentifier")
		if got := l.p.Count("POST /order-plz") - orders; got != 1 {
			t.Errorf("newOrder requests = %d; want 1 (no retry of a refused order)", got)
		}
	})
	t.Run("refused challenge", func(t *testing.T) {
		// Nothing answers on Pebble's http-01 port: validation fails.
		r := run(t, nil, l.args("obtain", "-d", name, "--force", "--http-01", "--http-01-addr", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)))...)
		if r.code != 1 {
			t.Errorf("exit %d; want 1", r.code)
		}
		oneLine(t, r, "authorization for "+name+" failed")
	})
	sameSnapshot(t, before, snapshot(t, l.certDir(name)))
	if got := filepath.Base(l.certDir(name)); got != name {
		t.Fatal(got)
	}
}
