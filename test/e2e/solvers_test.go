package e2e

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/testenv"
)

// challengeFiles lists what is left under webroot/.well-known/acme-challenge.
func challengeFiles(t *testing.T, webroot string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(webroot, ".well-known", "acme-challenge"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// listening reports whether something accepts TCP on 127.0.0.1:port.
func listening(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func webrootDir(t *testing.T) string {
	t.Helper()
	w := filepath.Join(t.TempDir(), "www")
	if err := os.MkdirAll(w, 0o755); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestWebrootNginx: http-01 answered by a real nginx from the webroot;
// the token file (and the directories acmectl made) are gone afterwards.
func TestWebrootNginx(t *testing.T) {
	t.Parallel()
	l := newLab(t, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	www := webrootDir(t)
	ng := testenv.StartNginx(t, www, l.p.HTTPPort)
	r := run(t, nil, l.args("obtain", "-d", "web.example.test", "--webroot", www)...)
	wantCode(t, r, 0)
	access, _ := os.ReadFile(filepath.Join(ng.Dir, "access.log"))
	if n := strings.Count(string(access), "GET /.well-known/acme-challenge/"); n < 1 || !strings.Contains(string(access), "\" 200 ") {
		t.Errorf("nginx served no challenge (%d GETs):\n%s", n, access)
	}
	if files := challengeFiles(t, www); len(files) != 0 {
		t.Errorf("left in the webroot: %v", files)
	}
	if _, err := os.Stat(filepath.Join(www, ".well-known")); !os.IsNotExist(err) {
		t.Errorf(".well-known left behind (err %v)", err)
	}
}

// TestTLSALPN01: the built-in responder on Pebble's TLS port, for a DNS
// name and, in a second order, an IP address; nothing listens afterwards.
func TestTLSALPN01(t *testing.T) {
	t.Parallel()
	l := newLab(t, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	addr := fmt.Sprintf("127.0.0.1:%d", l.p.TLSPort)
	r := run(t, nil, l.args("obtain", "-d", "alpn.example.test", "--tls-alpn-01", "--tls-alpn-01-addr", addr)...)
	wantCode(t, r, 0)
	if got := leafNames(t, l, "alpn.example.test"); !slices.Equal(got, []string{"alpn.example.test"}) {
		t.Errorf("names = %v", got)
	}
	// Pebble-only: an IP identifier with the default profile, and a
	// loopback one. Let's Encrypt (Boulder) allows IPs only in profiles
	// that list them (shortlived) and refuses reserved addresses.
	r = run(t, nil, l.args("obtain", "-d", "127.0.0.1", "--tls-alpn-01", "--tls-alpn-01-addr", addr)...)
	wantCode(t, r, 0)
	if got := leafNames(t, l, "_ip.127.0.0.1"); !slices.Equal(got, []string{"127.0.0.1"}) {
		t.Errorf("names = %v", got)
	}
	if listening(l.p.TLSPort) {
		t.Error("tls-alpn-01 listener left open")
	}
	if got := l.p.Count("POST /chalZ"); got != 2 {
		t.Errorf("challenges answered = %d; want 2", got)
	}
}

// TestHTTP01IP: an IP identifier through the built-in http-01 responder.
func TestHTTP01IP(t *testing.T) {
	t.Parallel()
	l := newLab(t, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	r := run(t, nil, l.args("obtain", append(l.http01(), "-d", "127.0.0.1")...)...)
	wantCode(t, r, 0)
	if got := leafNames(t, l, "_ip.127.0.0.1"); !slices.Equal(got, []string{"127.0.0.1"}) {
		t.Errorf("names = %v", got)
	}
	if listening(l.p.HTTPPort) {
		t.Error("http-01 listener left open")
	}
}

// TestSolverChoiceErrors: names no configured solver can answer fail
// before any order (exit 2).
func TestSolverChoiceErrors(t *testing.T) {
	t.Parallel()
	l := newLab(t, testenv.PebbleOptions{})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"wildcard over http-01", append(l.http01(), "-d", "*.w.example.test"), "wildcards are validated only by DNS"},
		{"IP over dns-01", []string{"-d", "127.0.0.1", "--dns-01", "exec", "--dns-exec", "/bin/true"}, "IP addresses are validated only by http-01 or tls-alpn-01"},
		{"unknown solver", []string{"-d", "u.example.test", "--solver", "default=nope"}, `solver "nope" is unknown`},
		{"solver for another name", append(l.http01(), "-d", "u.example.test", "--solver", "v.example.test=http-01"), "not one of the certificate's names"},
		{"rfc2136 without server", []string{"-d", "u.example.test", "--dns-01", "rfc2136"}, "rfc2136 needs a server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, nil, l.args("obtain", tc.args...)...)
			wantCode(t, r, 2)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr = %q; want %q", r.stderr, tc.want)
			}
		})
	}
	if got := l.p.Count("POST /order-plz"); got != 0 {
		t.Errorf("orders = %d; want 0", got)
	}
}

// TestSolverMix: one certificate, three names, three solvers: http-01 for
// one, and two DNS providers named in the config file (rfc2136, exec).
func TestSolverMix(t *testing.T) {
	t.Parallel()
	l, b := dnsLab(t)
	prog, log := execScript(t, b, 0o700)
	conf := filepath.Join(t.TempDir(), "config.yaml")
	yaml := fmt.Sprintf(`solvers:
  ns-a:
    type: dns-01
    provider: rfc2136
    server: %s
    tsig-file: %s
    resolvers: %s
  ns-b:
    type: dns-01
    provider: exec
    exec: %s
    resolvers: [%s]
`, b.Addr, b.TSIGFile, b.Addr, prog, b.Addr)
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, l.args("obtain", append(l.http01(), "--config", conf,
		"-d", "h.acme.test", "-d", "*.a.acme.test", "-d", "b.acme.test",
		"--solver", "h.acme.test=http-01", "--solver", "*.a.acme.test=ns-a", "--solver", "b.acme.test=ns-b,ns-a")...)...)
	wantCode(t, r, 0)
	if got := leafNames(t, l, "h.acme.test"); !slices.Equal(got, []string{"*.a.acme.test", "b.acme.test", "h.acme.test"}) {
		t.Errorf("names = %v", got)
	}
	blog := b.Log()
	if !strings.Contains(blog, "acmectl-key: updating zone 'acme.test/IN': adding an RR at '_acme-challenge.a.acme.test' TXT") {
		t.Error("ns-a (rfc2136) did not place the wildcard's record")
	}
	calls, _ := os.ReadFile(log)
	if !strings.Contains(string(calls), "present _acme-challenge.b.acme.test.") || strings.Contains(string(calls), "a.acme.test") {
		t.Errorf("ns-b (exec) calls:\n%s", calls)
	}
	if strings.Contains(blog, "_acme-challenge.h.acme.test' TXT") {
		t.Error("h.acme.test was answered by DNS, not http-01")
	}
	wantNoTXT(t, b.Addr, "_acme-challenge.a.acme.test", "_acme-challenge.b.acme.test")
	settings, _ := os.ReadFile(filepath.Join(l.certDir("h.acme.test"), "settings.yaml"))
	if !strings.Contains(string(settings), "ns-a:") || !strings.Contains(string(settings), "provider: exec") {
		t.Errorf("named solvers not stored in settings.yaml:\n%s", settings)
	}
	if strings.Contains(string(settings), b.Secret) {
		t.Error("settings.yaml holds the TSIG secret")
	}
	if got := l.p.Count("POST /chalZ"); got != 3 {
		t.Errorf("challenges answered = %d; want 3", got)
	}
}

// cleanupCase is one solver set up to succeed up to Present, with probes
// for what it leaves behind.
type cleanupCase struct {
	name string
	// setup returns the obtain flags; broken=true makes validation fail
	// (the solver answers where the CA does not look).
	setup func(t *testing.T, broken bool) (l *lab, flags []string, present, gone func(t *testing.T))
}

func cleanupCases() []cleanupCase {
	pebbleEnv := map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}
	return []cleanupCase{
		{"http-01", func(t *testing.T, broken bool) (*lab, []string, func(*testing.T), func(*testing.T)) {
			l := newLab(t, testenv.PebbleOptions{Env: pebbleEnv})
			port := l.p.HTTPPort
			if broken {
				port = testenv.FreePort(t)
			}
			return l, []string{"--http-01", "--http-01-addr", fmt.Sprintf("127.0.0.1:%d", port)},
				func(t *testing.T) {
					if !listening(port) {
						t.Error("http-01 listener not up after Present")
					}
				},
				func(t *testing.T) {
					if listening(port) {
						t.Errorf("http-01 listener on %d left open", port)
					}
				}
		}},
		{"webroot", func(t *testing.T, broken bool) (*lab, []string, func(*testing.T), func(*testing.T)) {
			l := newLab(t, testenv.PebbleOptions{Env: pebbleEnv})
			www := webrootDir(t)
			served := www
			if broken {
				served = webrootDir(t)
			}
			testenv.StartNginx(t, served, l.p.HTTPPort)
			return l, []string{"--webroot", www},
				func(t *testing.T) {
					if len(challengeFiles(t, www)) != 1 {
						t.Error("no token file after Present")
					}
				},
				func(t *testing.T) {
					if f := challengeFiles(t, www); len(f) != 0 {
						t.Errorf("token files left: %v", f)
					}
				}
		}},
		{"tls-alpn-01", func(t *testing.T, broken bool) (*lab, []string, func(*testing.T), func(*testing.T)) {
			l := newLab(t, testenv.PebbleOptions{Env: pebbleEnv})
			port := l.p.TLSPort
			if broken {
				port = testenv.FreePort(t)
			}
			return l, []string{"--tls-alpn-01", "--tls-alpn-01-addr", fmt.Sprintf("127.0.0.1:%d", port)},
				func(t *testing.T) {
					c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{ServerName: "c.acme.test", NextProtos: []string{"acme-tls/1"}, InsecureSkipVerify: true})
					if err != nil {
						t.Errorf("tls-alpn-01 responder not answering after Present: %v", err)
						return
					}
					c.Close()
				},
				func(t *testing.T) {
					if listening(port) {
						t.Errorf("tls-alpn-01 listener on %d left open", port)
					}
				}
		}},
		{"dns-01 rfc2136", func(t *testing.T, broken bool) (*lab, []string, func(*testing.T), func(*testing.T)) {
			l, b := dnsLab(t)
			target := b
			if broken {
				target = testenv.StartBIND(t) // a server Pebble never asks
			}
			name := "_acme-challenge.c.acme.test"
			return l, rfc2136Flags(target),
				func(t *testing.T) {
					if len(txt(t, target.Addr, name)) != 1 {
						t.Error("no TXT record after Present")
					}
				},
				func(t *testing.T) { wantNoTXT(t, target.Addr, name) }
		}},
		{"dns-01 exec", func(t *testing.T, broken bool) (*lab, []string, func(*testing.T), func(*testing.T)) {
			l, b := dnsLab(t)
			target := b
			if broken {
				target = testenv.StartBIND(t)
			}
			prog, _ := execScript(t, target, 0o700)
			name := "_acme-challenge.c.acme.test"
			return l, []string{"--dns-01", "exec", "--dns-exec", prog, "--dns-resolvers", target.Addr, "--dns-propagation-timeout", "30s"},
				func(t *testing.T) {
					if len(txt(t, target.Addr, name)) != 1 {
						t.Error("no TXT record after Present")
					}
				},
				func(t *testing.T) { wantNoTXT(t, target.Addr, name) }
		}},
	}
}

// TestCleanupAfterFailure: a validation that fails leaves nothing behind.
func TestCleanupAfterFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range cleanupCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, flags, _, gone := tc.setup(t, true)
			r := run(t, nil, l.args("obtain", append(flags, "-d", "c.acme.test")...)...)
			wantCode(t, r, 1)
			if got := l.p.Count("POST /chalZ"); got != 1 {
				t.Errorf("challenges answered = %d; want 1 (a validation failure, not an earlier one)", got)
			}
			if !strings.Contains(r.stderr, "c.acme.test") {
				t.Errorf("error does not name the identifier: %q", r.stderr)
			}
			gone(t)
		})
	}
}

// TestCleanupAfterSIGINT: interrupted right after Present (failpoint), the
// run removes what it presented and answers no challenge.
func TestCleanupAfterSIGINT(t *testing.T) {
	t.Parallel()
	for _, tc := range cleanupCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, flags, present, gone := tc.setup(t, false)
			fp := t.TempDir()
			p := start(t, []string{"ACMECTL_FAILPOINT=after-present:pause", "ACMECTL_FAILPOINT_DIR=" + fp},
				l.args("obtain", append(flags, "-d", "c.acme.test")...)...)
			testenv.WaitFor(t, "failpoint after-present", 30*time.Second, func() error {
				_, err := os.Stat(filepath.Join(fp, "after-present.reached"))
				return err
			})
			present(t)
			if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			code := p.wait(t, 45*time.Second)
			if code != 130 {
				t.Errorf("exit %d after SIGINT; want 130 (interrupted)", code)
			}
			if got := l.p.Count("POST /chalZ"); got != 0 {
				t.Errorf("challenges answered = %d; want 0", got)
			}
			gone(t)
		})
	}
}
