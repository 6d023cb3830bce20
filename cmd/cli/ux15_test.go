package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/store"
)

// TestDirectoryTextEAB: external account binding is stated on one line,
// never "not required" beside a feature line saying "yes" (issue 15,
// item 15).
func TestDirectoryTextEAB(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  client.Directory
		want string
	}{
		// The directory states only a requirement, never that binding is
		// accepted (issue 13 item 13b).
		{"not-required", client.Directory{DialectID: "rfc8555", Supports: client.Capabilities{ExternalAccountBinding: true}}, "External account: not required\n"},
		{"required", client.Directory{DialectID: "rfc8555", Meta: client.DirectoryMeta{ExternalAccountRequired: true}, Supports: client.Capabilities{ExternalAccountBinding: true}}, "External account: required"},
		{"v1", client.Directory{DialectID: "v1"}, "External account: not supported (legacy v1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			writeDirectoryText(&b, &tc.dir)
			out := b.String()
			if !strings.Contains(out, tc.want) {
				t.Errorf("want %q in\n%s", tc.want, out)
			}
			if n := strings.Count(strings.ToLower(out), "external account"); n != 1 {
				t.Errorf("external account binding mentioned %d times; want once:\n%s", n, out)
			}
		})
	}
}

// TestDurationFlags: --hook-timeout, --dns-propagation-* and
// --manual-continue-after are durations like --lock-wait: help says
// "duration", 90s and 2m are stored as written, a bare number or a word
// is refused with one line and exit 2 (issue 15, item 15).
func TestDurationFlags(t *testing.T) {
	r := runCLI(t, time.Now, nil, "reconfigure", "--help")
	for _, f := range []string{"--hook-timeout duration", "--dns-propagation-wait duration", "--dns-propagation-timeout duration", "--manual-continue-after duration", "--lock-wait duration"} {
		if !strings.Contains(r.stdout, f) {
			t.Errorf("reconfigure --help lacks %q", f)
		}
	}
	stateDir, st := storedCert(t)
	r = runCLI(t, time.Now, nil, "reconfigure", "--state-dir", stateDir, "--cert-name", "a.example.test",
		"--hook-timeout", "90s", "--dns-propagation-wait", "2m", "--dns-propagation-timeout", "1h30m")
	if r.code != 0 {
		t.Fatalf("reconfigure with durations: exit %d %s", r.code, r.stderr)
	}
	s, err := st.LoadSettings("a.example.test")
	if err != nil || s.HookTimeout != "90s" || s.DNS.PropagationWait != "2m" || s.DNS.PropagationTimeout != "1h30m" {
		t.Errorf("stored hook-timeout %q propagation %q/%q (%v)", s.HookTimeout, s.DNS.PropagationWait, s.DNS.PropagationTimeout, err)
	}
	for _, bad := range [][]string{{"--hook-timeout", "90"}, {"--dns-propagation-wait", "soon"}, {"--dns-propagation-timeout", "-1m"}} {
		r = runCLI(t, time.Now, nil, append([]string{"reconfigure", "--state-dir", stateDir, "--cert-name", "a.example.test"}, bad...)...)
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, bad[0]) || !strings.Contains(r.stderr, "like 90s") {
			t.Errorf("%v: exit %d stderr %q; want 2 and one line naming the flag", bad, r.code, r.stderr)
		}
	}
}

// TestRandomSleepSaysSoOnTerminal: renew's random sleep before the first
// request to the CA is announced when stderr is a terminal, and stays
// silent off one (issue 15, item 2).
func TestRandomSleepSaysSoOnTerminal(t *testing.T) {
	for _, term := range []bool{true, false} {
		var errb strings.Builder
		a := &app{env: &Env{Stderr: &errb, StderrTerminal: term}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		ctx, cancel := context.WithCancel(t.Context())
		cancel() // the sleep itself ends at once
		_ = randomSleep(a)(ctx)
		said := strings.Contains(errb.String(), "before contacting the CA (--no-random-sleep skips)")
		if said != term {
			t.Errorf("terminal %v: stderr %q", term, errb.String())
		}
	}
}

// TestAccountListHeader: account list has a header line (issue 15,
// item 15).
func TestAccountListHeader(t *testing.T) {
	state := t.TempDir()
	st, err := store.Open(state)
	if err != nil {
		t.Fatal(err)
	}
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		t.Fatal(err)
	}
	const dir = "https://ca.example.test/directory"
	if err := st.SaveAccount(dir, "default", &store.AccountRecord{URL: "https://ca.example.test/acct/1", DirectoryURL: dir}, key); err != nil {
		t.Fatal(err)
	}
	r := runUX(t, nil, "account", "list", "--state-dir", state)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 2 || strings.Fields(lines[0])[0] != "LABEL" || !strings.Contains(lines[0], "SERVER") ||
		!strings.HasPrefix(lines[1], "default ") {
		t.Errorf("account list: exit %d\n%s", r.code, r.stdout)
	}
}

// TestJSONOneStyle: a success document and an error document (a flag
// error included) share one style: indented, one document, schema 1
// (issue 15, item 11).
func TestJSONOneStyle(t *testing.T) {
	ok := runUX(t, nil, "version", "--json")
	bad := runUX(t, nil, "obtain", "--http01", "--json")
	for _, r := range []cliResult{ok, bad} {
		if !strings.HasPrefix(r.stdout, "{\n  \"") || strings.Count(r.stdout, "\n}\n") != 1 || !strings.HasSuffix(r.stdout, "\n}\n") ||
			!strings.Contains(r.stdout, `"schema": 1`) {
			t.Errorf("document not in the one style (exit %d):\n%s", r.code, r.stdout)
		}
	}
}

// TestImportHelpFlags: import --help lists only flags import honours: no
// names, certificate name or CSR (issue 15, item 15); import certbot
// refuses the renewal flags that only lego takes.
func TestImportHelpFlags(t *testing.T) {
	r := runUX(t, nil, "import", "--help")
	_, own, _ := strings.Cut(r.stdout, "\nFlags:\n")
	own, _, _ = strings.Cut(own, "\nGlobal Flags:")
	for _, f := range []string{"--domain", "--cert-name", "--csr", "-d,"} {
		if strings.Contains(own, f) {
			t.Errorf("import --help lists %s, which import ignores", f)
		}
	}
	for _, f := range []string{"--from", "--yes", "--symlink-live", "--webroot", "--deploy-hook"} {
		if !strings.Contains(own, f) {
			t.Errorf("import --help lacks %s", f)
		}
	}
	r = runUX(t, nil, "import", "certbot", "--from", t.TempDir(), "--state-dir", t.TempDir(), "--deploy-hook", "/bin/true")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--deploy-hook") || !strings.Contains(r.stderr, "reconfigure") {
		t.Errorf("import certbot --deploy-hook: exit %d, stderr %q; want 2 pointing to reconfigure", r.code, r.stderr)
	}
}

// TestUserDocsIssue15: the user docs say what issue 15 found missing: your
// own Pebble or step-ca with --ca-bundle, that make demo needs the Go
// module proxy once, man acmectl after make install, the import of
// certbot and lego (live paths, --symlink-live, the stored --ca-bundle,
// hooks not imported), and accounts.md sends certbot users to import
// instead of converting keys by hand.
func TestUserDocsIssue15(t *testing.T) {
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", p))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(strings.Fields(string(b)), " ")
	}
	for file, wants := range map[string][]string{
		"README.md":        {"step-ca", "Pebble", "--ca-bundle", "module proxy", "man acmectl", "sudo make install"},
		"docs/guide.md":    {"acmectl import certbot", "--symlink-live", "/etc/letsencrypt/live/", "--ca-bundle FILE` to `import`", "Not imported:", "systemctl disable --now certbot.timer"},
		"docs/accounts.md": {"acmectl import certbot|lego", "nothing needs converting by hand"},
		"docs/renewal.md":  {"ACMECTL_HOOK_EVENT", "ACMECTL_HOOK_ERROR_CLASS", "RENEWED_LINEAGE"},
	} {
		doc := read(file)
		for _, w := range wants {
			if !strings.Contains(doc, w) {
				t.Errorf("%s does not say %q", file, w)
			}
		}
	}
	if doc := read("docs/accounts.md"); strings.Contains(doc, "private_key.json") || strings.Contains(strings.ToLower(doc), "convert the key") {
		t.Error("docs/accounts.md still tells certbot users to convert the key by hand")
	}
}
