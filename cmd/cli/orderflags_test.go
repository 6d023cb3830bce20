package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

// In-process tests of the order flags → lifecycle.Merge path (no CA):
// reconfigure with the same names only rewrites settings.yaml, so every
// flag's effect on the stored settings is checked here, fast.

func storedCert(t *testing.T) (stateDir string, st *store.Dir) {
	t.Helper()
	stateDir = filepath.Join(t.TempDir(), "state")
	st, err := store.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveSettings("a.example.test", &store.Settings{
		Names: client.MustNames("a.example.test"), Server: "https://ca.example.test/dir", Account: "default", KeyType: "ec256",
		HTTP01Addrs: []string{"127.0.0.1:5002"}, Email: []string{"old@example.test"},
		Hooks: store.Hooks{Deploy: [][]string{{"/bin/true"}}},
	}); err != nil {
		t.Fatal(err)
	}
	return stateDir, st
}

func TestReconfigureFlags(t *testing.T) {
	www := t.TempDir()
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		code  int
		check func(t *testing.T, s *store.Settings)
	}{
		{name: "webroot replaces the built-in responder", args: []string{"--webroot", www}, check: func(t *testing.T, s *store.Settings) {
			if len(s.HTTP01Addrs) != 0 || s.Webroot != www {
				t.Errorf("solvers: http-01 %v webroot %q", s.HTTP01Addrs, s.Webroot)
			}
		}},
		{name: "email and profile", args: []string{"--email", "new@example.test", "--profile", "shortlived"}, check: func(t *testing.T, s *store.Settings) {
			if !slices.Equal(s.Email, []string{"new@example.test"}) || s.Profile != "shortlived" {
				t.Errorf("email %v profile %q", s.Email, s.Profile)
			}
		}},
		{name: "server from env does not move it", env: map[string]string{"ACMECTL_SERVER": "https://elsewhere.example.test/dir", "ACMECTL_EMAIL": "env@example.test"},
			args: []string{"--profile", "p"}, check: func(t *testing.T, s *store.Settings) {
				if s.Server != "https://ca.example.test/dir" || !slices.Equal(s.Email, []string{"old@example.test"}) {
					t.Errorf("server %q email %v moved by env", s.Server, s.Email)
				}
			}},
		{name: "server flag moves it", args: []string{"--server", "https://other.example.test/dir"}, check: func(t *testing.T, s *store.Settings) {
			if s.Server != "https://other.example.test/dir" {
				t.Errorf("server %q", s.Server)
			}
		}},
		{name: "hook replaced, solvers kept", args: []string{"--deploy-hook", "/bin/echo hi"}, check: func(t *testing.T, s *store.Settings) {
			if len(s.Hooks.Deploy) != 1 || strings.Join(s.Hooks.Deploy[0], " ") != "/bin/echo hi" || len(s.HTTP01Addrs) != 1 {
				t.Errorf("hooks %v http-01 %v", s.Hooks.Deploy, s.HTTP01Addrs)
			}
		}},
		{name: "dns tuning alone keeps the solver", args: []string{"--dns-propagation-wait", "30s"}, check: func(t *testing.T, s *store.Settings) {
			if s.DNS.PropagationWait != "30s" || len(s.HTTP01Addrs) != 1 {
				t.Errorf("dns %+v http-01 %v", s.DNS, s.HTTP01Addrs)
			}
		}},
		{name: "bad key type", args: []string{"--key-type", "dsa"}, code: 2},
		{name: "bad duration", args: []string{"--hook-timeout", "soon"}, code: 2},
		{name: "hook with shell syntax", args: []string{"--deploy-hook", "a; b"}, code: 2},
		{name: "webroot not a directory", args: []string{"--webroot", filepath.Join(www, "missing")}, code: 2},
		{name: "bad --solver", args: []string{"--solver", "nonsense"}, code: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stateDir, st := storedCert(t)
			before, _ := os.ReadFile(filepath.Join(stateDir, "certificates", "a.example.test", "settings.yaml"))
			args := append([]string{"reconfigure", "--state-dir", stateDir, "--cert-name", "a.example.test"}, tc.args...)
			r := runCLI(t, time.Now, tc.env, args...)
			if r.code != tc.code {
				t.Fatalf("exit %d; want %d", r.code, tc.code)
			}
			if tc.code != 0 {
				after, _ := os.ReadFile(filepath.Join(stateDir, "certificates", "a.example.test", "settings.yaml"))
				if string(after) != string(before) {
					t.Error("a refused reconfigure changed settings.yaml")
				}
				return
			}
			s, err := st.LoadSettings("a.example.test")
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

// TestObtainRefusesBeforeAnyRequest: obtain's flag errors exit 2 in
// process, before any network use (the server is unreachable).
func TestObtainRefusesBeforeAnyRequest(t *testing.T) {
	stateDir := filepath.Join(t.TempDir(), "state")
	for _, args := range [][]string{
		{"-d", "bad_name.example.test", "--http-01"},
		{"-d", "a.example.test", "--key-type", "rsa1"},
		{"-d", "a.example.test", "--dns-01", "nosuch"},
		{"-d", "a.example.test", "--not-after", "yesterday"},
		{"--http-01"},
	} {
		r := runCLI(t, time.Now, nil, append([]string{"obtain", "--state-dir", stateDir, "--server", "https://127.0.0.1:1/dir"}, args...)...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, "acmectl: ") {
			t.Errorf("obtain %v: exit %d stderr %q; want 2 and one acmectl: line", args, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(stateDir, "certificates")); !os.IsNotExist(err) {
		t.Errorf("refused obtains wrote certificates/ (%v)", err)
	}
}
