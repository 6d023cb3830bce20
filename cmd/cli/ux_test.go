package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

// runUX runs one command line in process as a non-root user whose
// HOME is a temporary directory.
func runUX(t *testing.T, env *Env, args ...string) cliResult {
	t.Helper()
	var out, errb strings.Builder
	home := t.TempDir()
	e := Env{Stdin: strings.NewReader(""), Getenv: func(k string) string {
		switch k {
		case "HOME":
			return home
		case "XDG_CONFIG_HOME":
			return filepath.Join(home, "config")
		}
		return ""
	}, Environ: func() []string { return nil }, Now: time.Now, Euid: 1000, Version: "test"}
	if env != nil {
		e = *env
	}
	e.Args, e.Stdout, e.Stderr = args, &out, &errb
	code := Run(t.Context(), &e)
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// TestHabitFlags: certbot's and lego's flags are answered with acmectl's
// equivalent on one line with exit 2; a near miss names the flag meant;
// --json gets its error document even for a flag error.
func TestHabitFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"obtain", "--agree-tos"}, "unknown flag --agree-tos: acmectl's equivalent is --accept-tos"},
		{[]string{"obtain", "-m", "a@example.com"}, "unknown flag -m: acmectl's equivalent is --email ADDR"},
		{[]string{"obtain", "--staging"}, "--server letsencrypt-staging"},
		{[]string{"obtain", "--standalone"}, "--http-01"},
		{[]string{"obtain", "-w", "/var/www"}, "--webroot DIR"},
		{[]string{"renew", "--non-interactive"}, "never prompts off a terminal"},
		{[]string{"obtain", "--domains", "a.example"}, "-d NAME"},
		{[]string{"obtain", "--http01"}, "unknown flag --http01 (did you mean --http-01?)"},
		{[]string{"obtian"}, `unknown command "obtian" for "acmectl" (did you mean obtain?)`},
		{[]string{"certonly"}, `unknown command "certonly": acmectl's equivalent is obtain`},
		{[]string{"help", "nosuch"}, `no help topic "nosuch"`},
	} {
		r := runUX(t, nil, c.args...)
		lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
		if r.code != ExitUsage || len(lines) != 1 || !strings.HasPrefix(lines[0], "acmectl: ") || !strings.Contains(lines[0], c.want) || strings.Contains(r.stderr, "\t") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", c.args, r.code, r.stderr, c.want)
		}
	}
	r := runUX(t, nil, "obtain", "--http01", "--json")
	var doc struct {
		Schema int
		Error  struct{ Class, Message string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Schema != 1 || doc.Error.Class != "usage" || !strings.Contains(doc.Error.Message, "--http01") {
		t.Errorf("flag error with --json: stdout %q (%v)", r.stdout, err)
	}
	if r := runUX(t, nil, "--version"); r.code != 0 || r.stdout != "acmectl test\n" {
		t.Errorf("--version: exit %d, stdout %q", r.code, r.stdout)
	}
}

// TestEmailAndNameChecks: mistakes caught before any request, each named.
func TestEmailAndNameChecks(t *testing.T) {
	base := []string{"obtain", "--http-01", "--server", "https://127.0.0.1:1/directory", "--state-dir", t.TempDir()}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-d", "localhost"}, `-d "localhost": a domain name needs at least two labels`},
		{[]string{"-d", "example,com"}, `-d "example": a domain name needs at least two labels`},
		{[]string{"-d", "example..com"}, `-d "example..com": empty label (two dots in a row)`},
		{[]string{"-d", "example..com", "--cert-name", "foo"}, `-d "example..com": empty label`},
		{[]string{"-d", "a_b.example.com"}, `no spaces, '/', ':', '@' or '_'`},
		{[]string{"-d", "192.0.2.1."}, `-d "192.0.2.1.": an IP address has no trailing dot and no wildcard`},
		{[]string{"-d", "*.192.0.2.1"}, `-d "*.192.0.2.1": an IP address has no trailing dot and no wildcard`},
		{[]string{"-d", "a.example", "--email", "you@localhost"}, `is not a public domain name`},
		{[]string{"-d", "a.example", "--email", "you@example"}, `is not a public domain name`},
		{[]string{"-d", "a.example", "--email", "you"}, `is not an email address`},
	} {
		r := runUX(t, nil, append(base, c.args...)...)
		if r.code != ExitUsage || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming %q", c.args, r.code, r.stderr, c.want)
		}
	}
	if got, err := checkEmail("mailto:Ops@Example.com"); err != nil || got != "Ops@Example.com" {
		t.Errorf("checkEmail(mailto:...) = %q, %v; want the address without mailto:", got, err)
	}
}

// TestListShowUX: list fits 80 columns unless --wide; show finds a
// certificate by one of its domain names and lists how it renews; an
// empty non-root state dir points at root's.
func TestListShowUX(t *testing.T) {
	state := t.TempDir()
	st, err := store.Open(state)
	if err != nil {
		t.Fatal(err)
	}
	s := &store.Settings{Names: client.MustNames("example.com", "www.example.com"), Server: "https://acme.example/directory",
		Webroot: "/var/www/html", Hooks: store.Hooks{Deploy: [][]string{{"systemctl", "reload", "nginx"}}}}
	if err := st.SaveSettings("example.com", s); err != nil {
		t.Fatal(err)
	}
	r := runUX(t, nil, "show", "www.example.com", "--state-dir", state)
	if r.code != 0 || !strings.Contains(r.stdout, "Certificate:    example.com") || !strings.Contains(r.stdout, "webroot /var/www/html") ||
		!strings.Contains(r.stdout, "Deploy hook:    systemctl reload nginx") {
		t.Errorf("show by SAN: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runUX(t, nil, "list", "--state-dir", state)
	for _, l := range strings.Split(r.stdout, "\n") {
		if len(l) > 80 {
			t.Errorf("list line wider than 80 columns: %q", l)
		}
	}
	if !strings.Contains(r.stdout, "example.com +1") {
		t.Errorf("list: %q", r.stdout)
	}
	if r := runUX(t, nil, "list", "--wide", "--state-dir", state); !strings.Contains(r.stdout, "https://acme.example/directory") {
		t.Errorf("list --wide lacks the server: %q", r.stdout)
	}

	rootDir := t.TempDir()
	home := t.TempDir()
	env := &Env{Stdin: strings.NewReader(""), Getenv: func(k string) string {
		if k == "HOME" {
			return home
		}
		return ""
	}, Environ: func() []string { return nil }, Now: time.Now, Euid: 1000, Version: "test", RootStateDir: rootDir}
	r = runUX(t, env, "list")
	if r.code != 0 || !strings.Contains(r.stderr, "certificates obtained as root are in "+rootDir) {
		t.Errorf("list as non-root with root's state dir present: exit %d, stderr %q", r.code, r.stderr)
	}
	if err := os.Remove(rootDir); err != nil {
		t.Fatal(err)
	}
	if r := runUX(t, env, "list"); strings.Contains(r.stderr, "as root") {
		t.Errorf("hint without root's state dir: %q", r.stderr)
	}
}

// TestEveryCommandHasExample: each runnable command's --help shows an
// example.
func TestEveryCommandHasExample(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && c.Name() != "help" && strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no example", c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRootCmd(&app{env: &Env{}}))
}

// TestHelpGroupsFleetFlags: a command's help shows its own flags first and
// the fleet (etcd) flags in a section of their own, after the global ones.
func TestHelpGroupsFleetFlags(t *testing.T) {
	r := runUX(t, nil, "obtain", "--help")
	own, global, fleet := strings.Index(r.stdout, "\nFlags:\n"), strings.Index(r.stdout, "\nGlobal Flags:\n"), strings.Index(r.stdout, "\nFleet Flags")
	if r.code != 0 || own < 0 || global < own || fleet < global {
		t.Fatalf("obtain --help sections: own %d, global %d, fleet %d\n%s", own, global, fleet, r.stdout)
	}
	if i := strings.Index(r.stdout, "--etcd-user"); i < fleet {
		t.Errorf("--etcd-user outside the fleet section")
	}
	if i := strings.Index(r.stdout, "--http-01 "); i < own || i > global {
		t.Errorf("--http-01 not among obtain's own flags")
	}
}

// TestJSONTimesOneFormat: every time in a --json document is RFC 3339 UTC
// with whole seconds, however the command built it.
func TestJSONTimesOneFormat(t *testing.T) {
	var out strings.Builder
	a := &app{env: &Env{Stdout: &out}}
	when := time.Date(2026, 12, 3, 14, 5, 6, 789_000_000, time.FixedZone("CET", 3600))
	if err := a.writeJSON(map[string]any{"t": when, "nested": []any{map[string]any{"p": &when}}, "text": "2026 is not a time", "n": 1.5}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.Count(got, `"2026-12-03T13:05:06Z"`) != 2 || strings.Contains(got, ".789") || !strings.Contains(got, `"n": 1.5`) {
		t.Errorf("document:\n%s", got)
	}
}

// TestConfigShowExplainsFlags: config show takes the order flags it lists
// (reporting them as given on the command line) and states the
// per-command default of --lock-wait.
func TestConfigShowExplainsFlags(t *testing.T) {
	r := runUX(t, nil, "config", "show", "--json", "--state-dir", t.TempDir(), "--webroot", "/var/www/html")
	var doc struct {
		Settings []struct {
			Key    string
			Value  any
			Source string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || r.code != 0 {
		t.Fatalf("config show --webroot: exit %d, %v\n%s", r.code, err, r.stderr)
	}
	got := map[string]string{}
	for _, e := range doc.Settings {
		got[e.Key] = fmt.Sprint(e.Value) + " [" + e.Source + "]"
	}
	if got["webroot"] != "/var/www/html [flag]" {
		t.Errorf("webroot = %q; want the flag's value", got["webroot"])
	}
	if !strings.Contains(got["lock-wait"], "2m0s for the other commands") {
		t.Errorf("lock-wait = %q; want the per-command defaults", got["lock-wait"])
	}
}
