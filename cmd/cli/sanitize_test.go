package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

// TestTerminalEscapesSanitized is issue 14 item 11: an issuer CN (from the
// certificate) in show and list, and account contacts (from the CA) in
// account show, reached the terminal raw. Text output escapes them; JSON
// keeps them exact.
func TestTerminalEscapesSanitized(t *testing.T) {
	const evil = "Evil CA\x1b]0;pwned\x07\x1b[2J\x9b31m"
	const contact = "mailto:ops@example.com\x1b[8m"
	dir := filepath.Join(t.TempDir(), "state")
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	server := "https://ca.example/dir"
	if err := st.SaveSettings("evil.example", &store.Settings{Names: client.MustNames("evil.example"), Server: server}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveState("evil.example", &store.State{Issuer: evil, NotAfter: time.Now().Add(48 * time.Hour), Version: 1}); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := st.SaveAccount(server, "default", &store.AccountRecord{URL: "https://ca.example/acct/1", Contacts: []string{contact}, DirectoryURL: server}, key); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"show", "evil.example"},
		{"list", "--wide"},
		{"account", "show", "--offline", "--server", server},
	} {
		r := runCLI(t, time.Now, nil, append(args, "--state-dir", dir)...)
		if strings.ContainsAny(r.stdout+r.stderr, "\x1b\x07\u009b") {
			t.Errorf("acmectl %s: raw control characters on the terminal:\nstdout %q\nstderr %q", strings.Join(args, " "), r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, `\x1b]0;pwned`) && !strings.Contains(r.stdout, `ops@example.com\x1b[8m`) {
			t.Errorf("acmectl %s: the value is not shown escaped:\n%s", strings.Join(args, " "), r.stdout)
		}
	}
	r := runCLI(t, time.Now, nil, "show", "evil.example", "--json", "--state-dir", dir)
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("show --json: %v\n%s", err, r.stdout)
	}
	if !strings.Contains(r.stdout, `\u001b]0;pwned`) {
		t.Errorf("show --json does not keep the issuer exact: %s", r.stdout)
	}
	r = runCLI(t, time.Now, nil, "account", "show", "--offline", "--server", server, "--json", "--state-dir", dir)
	if !strings.Contains(r.stdout, `ops@example.com\u001b[8m`) {
		t.Errorf("account show --json does not keep the contact exact: %s", r.stdout)
	}
}
