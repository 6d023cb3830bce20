package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/internal/testenv"
)

// acctArgs is "account SUB" with the lab's server, CA bundle and state dir
// (no --accept-tos, no --email), then extra.
func (l *lab) acctArgs(sub string, extra ...string) []string {
	return append([]string{"account", sub, "--server", l.p.DirURL, "--ca-bundle", l.p.CABundle, "--state-dir", l.state}, extra...)
}

func (l *lab) accountDir(t *testing.T, label string) string {
	t.Helper()
	id, err := store.ServerID(l.p.DirURL)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(l.state, "accounts", id, label)
}

func thumbprintOf(t *testing.T, keyPEM []byte) string {
	t.Helper()
	k, err := keys.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := client.Thumbprint(k)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

// termsURL reads meta.termsOfService from Pebble's directory.
func termsURL(t *testing.T, p *testenv.Pebble) string {
	t.Helper()
	resp, err := p.HTTPClient.Get(p.DirURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var dir struct {
		Meta struct {
			TermsOfService string `json:"termsOfService"`
		} `json:"meta"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&dir); err != nil {
		t.Fatal(err)
	}
	if dir.Meta.TermsOfService == "" {
		t.Fatal("Pebble's directory has no termsOfService")
	}
	return dir.Meta.TermsOfService
}

type accountDoc struct {
	Schema        int      `json:"schema"`
	Label         string   `json:"label"`
	URL           string   `json:"url"`
	Status        string   `json:"status"`
	Contacts      []string `json:"contacts"`
	KeyThumbprint string   `json:"key_thumbprint"`
	KeyType       string   `json:"key_type"`
}

func showAccount(t *testing.T, l *lab, label string) accountDoc {
	t.Helper()
	r := run(t, nil, l.acctArgs("show", "--account", label, "--json")...)
	if r.code != 0 {
		t.Fatalf("account show exit %d: %s", r.code, r.stderr)
	}
	var doc accountDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("account show --json: %v\n%s", err, r.stdout)
	}
	return doc
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAccountLifecycle: register (terms), list, show, update, rollover,
// several accounts per server, recover, deactivate.
func TestAccountLifecycle(t *testing.T) {
	t.Parallel() // own servers and state; long, so it runs beside the others (docs/dev/testing.md)
	l := newLab(t, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	terms := termsURL(t, l.p)

	// Off a terminal without --accept-tos: exit 2 naming the terms, no account created.
	r := run(t, nil, l.acctArgs("register", "--email", "a@example.test")...)
	if r.code != 2 || !strings.Contains(r.stderr, terms) || !strings.Contains(r.stderr, "--accept-tos") {
		t.Fatalf("register without --accept-tos: exit %d stderr %q; want 2 naming %s", r.code, r.stderr, terms)
	}
	if got := l.p.Count("POST /sign-me-up"); got != 0 {
		t.Errorf("newAccount requests without terms = %d; want 0", got)
	}

	r = run(t, nil, l.acctArgs("register", "--accept-tos", "--email", "a@example.test")...)
	if r.code != 0 || !strings.Contains(r.stdout, "/my-account/") {
		t.Fatalf("register: exit %d stdout %q", r.code, r.stdout)
	}
	if got := l.p.Count("POST /sign-me-up 201"); got != 1 {
		t.Errorf("accounts created = %d; want 1", got)
	}
	// A second register under the same label is refused.
	r = run(t, nil, l.acctArgs("register", "--accept-tos")...)
	if r.code != 2 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("second register: exit %d stderr %q; want 2 already exists", r.code, r.stderr)
	}
	// Several accounts per server.
	r = run(t, nil, l.acctArgs("register", "--accept-tos", "--account", "second")...)
	if r.code != 0 {
		t.Fatalf("register second: exit %d", r.code)
	}
	if got := l.p.Count("POST /sign-me-up 201"); got != 2 {
		t.Errorf("accounts created = %d; want 2", got)
	}

	r = run(t, nil, l.acctArgs("list", "--json")...)
	var list struct {
		Accounts []struct{ Label, URL string } `json:"accounts"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &list) != nil {
		t.Fatalf("list: exit %d stdout %q", r.code, r.stdout)
	}
	if len(list.Accounts) != 2 || list.Accounts[0].Label != "default" || list.Accounts[1].Label != "second" ||
		list.Accounts[0].URL == list.Accounts[1].URL {
		t.Errorf("list = %+v; want default and second with different URLs", list.Accounts)
	}

	dflt := showAccount(t, l, "default")
	keyPEM := readFile(t, filepath.Join(l.accountDir(t, "default"), "key.pem"))
	if dflt.Status != "valid" || dflt.KeyThumbprint != thumbprintOf(t, keyPEM) || dflt.KeyType != "ec256" ||
		strings.Join(dflt.Contacts, ",") != "mailto:a@example.test" || dflt.Schema != 1 {
		t.Errorf("show = %+v", dflt)
	}

	// update replaces the contacts at the CA (show asks the CA).
	// Pebble-only: Let's Encrypt (Boulder) stores and returns no contacts.
	r = run(t, nil, l.acctArgs("update", "--email", "b@example.test", "--email", "c@example.test")...)
	if r.code != 0 {
		t.Fatalf("update: exit %d", r.code)
	}
	if got := showAccount(t, l, "default"); strings.Join(got.Contacts, ",") != "mailto:b@example.test,mailto:c@example.test" {
		t.Errorf("contacts after update = %v", got.Contacts)
	}
	r = run(t, nil, l.acctArgs("update")...)
	if r.code != 2 {
		t.Errorf("update without --email: exit %d; want 2", r.code)
	}

	// rollover: the CA gets the new key, the store keeps it, the old is gone.
	r = run(t, nil, l.acctArgs("rollover")...)
	if r.code != 0 {
		t.Fatalf("rollover: exit %d", r.code)
	}
	if got := l.p.Count("POST /rollover-account-key 200"); got != 1 {
		t.Errorf("key changes = %d; want 1", got)
	}
	newPEM := readFile(t, filepath.Join(l.accountDir(t, "default"), "key.pem"))
	if bytes.Equal(newPEM, keyPEM) {
		t.Fatal("key.pem unchanged after rollover")
	}
	if _, err := os.Stat(filepath.Join(l.accountDir(t, "default"), "key.pem.next")); !os.IsNotExist(err) {
		t.Errorf("key.pem.next left behind: %v", err)
	}
	after := showAccount(t, l, "default")
	if after.URL != dflt.URL || after.KeyThumbprint != thumbprintOf(t, newPEM) || after.KeyThumbprint == dflt.KeyThumbprint {
		t.Errorf("after rollover: %+v (before %+v)", after, dflt)
	}
	// The old key no longer finds the account; the new key does.
	oldKeyFile := filepath.Join(t.TempDir(), "old.pem")
	if err := os.WriteFile(oldKeyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	r = run(t, nil, l.acctArgs("recover", "--account", "old", "--key", oldKeyFile)...)
	if r.code != 1 || !strings.Contains(r.stderr, "has no account") {
		t.Errorf("recover with the rolled-over key: exit %d stderr %q; want 1, no account", r.code, r.stderr)
	}

	// Orders use the chosen account; no account is created on the way.
	r = run(t, nil, l.args("obtain", append(l.http01(), "-d", "acct.example.test", "--account", "second")...)...)
	if r.code != 0 {
		t.Fatalf("obtain with --account second: exit %d", r.code)
	}
	if got := l.p.Count("POST /sign-me-up 201"); got != 2 {
		t.Errorf("accounts created = %d; want still 2", got)
	}
	set := string(readFile(t, filepath.Join(l.certDir("acct.example.test"), "settings.yaml")))
	if !strings.Contains(set, "account: second") {
		t.Errorf("settings.yaml does not name account second:\n%s", set)
	}

	// recover: the second account's key, stored under a new label.
	secondKey := filepath.Join(l.accountDir(t, "second"), "key.pem")
	r = run(t, nil, l.acctArgs("recover", "--account", "copy", "--key", secondKey, "--json")...)
	if r.code != 0 {
		t.Fatalf("recover: exit %d", r.code)
	}
	second := showAccount(t, l, "second")
	if got := showAccount(t, l, "copy"); got.URL != second.URL || got.KeyThumbprint != second.KeyThumbprint {
		t.Errorf("recovered %+v; want the account of %+v", got, second)
	}
	if got := l.p.Count("POST /sign-me-up 201"); got != 2 {
		t.Errorf("accounts created = %d; want still 2 (recover never creates)", got)
	}

	// deactivate: --yes needed off a terminal.
	r = run(t, nil, l.acctArgs("deactivate", "--account", "second")...)
	if r.code != 2 || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("deactivate without --yes: exit %d stderr %q; want 2", r.code, r.stderr)
	}
	if got := l.p.Count("POST /my-account 200"); got == 0 {
		t.Fatal("no account POSTs counted at all")
	}
	r = run(t, nil, l.acctArgs("deactivate", "--account", "second", "--yes")...)
	if r.code != 0 {
		t.Fatalf("deactivate: exit %d", r.code)
	}
	if _, err := os.Stat(l.accountDir(t, "second")); !os.IsNotExist(err) {
		t.Errorf("deactivated account still stored: %v", err)
	}
	// The CA refuses the deactivated account: the copy under "copy" fails.
	r = run(t, nil, l.acctArgs("show", "--account", "copy")...)
	if r.code != 1 || !strings.Contains(r.stderr, "deactivated") {
		t.Errorf("show of a deactivated account: exit %d stderr %q; want 1 naming deactivated", r.code, r.stderr)
	}
	r = run(t, nil, l.acctArgs("show", "--account", "second")...)
	if r.code != 2 || !strings.Contains(r.stderr, "account register") {
		t.Errorf("show of a removed account: exit %d stderr %q; want 2", r.code, r.stderr)
	}
}

// TestAccountRolloverCrash: a kill after the CA accepted the new key but
// before the store switched leaves key.pem.next; the next command finds
// out which key the CA has and keeps working. A kill before the request
// keeps the old key.
func TestAccountRolloverCrash(t *testing.T) {
	l := newLab(t, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	if r := run(t, nil, l.acctArgs("register", "--accept-tos")...); r.code != 0 {
		t.Fatalf("register: exit %d", r.code)
	}
	dir := l.accountDir(t, "default")
	before := showAccount(t, l, "default")
	oldPEM := readFile(t, filepath.Join(dir, "key.pem"))

	// Killed before the request: the CA still has the old key.
	r := run(t, []string{"ACMECTL_FAILPOINT=before-key-change:kill"}, l.acctArgs("rollover")...)
	if r.code != -1 {
		t.Fatalf("rollover with kill failpoint: exit %d; want killed (-1)", r.code)
	}
	if got := l.p.Count("POST /rollover-account-key"); got != 0 {
		t.Fatalf("key change requests = %d; want 0", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "key.pem.next")); err != nil {
		t.Fatalf("no pending key after the kill: %v", err)
	}
	got := showAccount(t, l, "default")
	if got.KeyThumbprint != before.KeyThumbprint || !bytes.Equal(readFile(t, filepath.Join(dir, "key.pem")), oldPEM) {
		t.Errorf("after a kill before the request the key changed: %+v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "key.pem.next")); !os.IsNotExist(err) {
		t.Errorf("stale key.pem.next not discarded: %v", err)
	}

	// Killed after the CA accepted: the store still has the old key as key.pem.
	r = run(t, []string{"ACMECTL_FAILPOINT=after-key-change:kill"}, l.acctArgs("rollover")...)
	if r.code != -1 {
		t.Fatalf("rollover with kill failpoint: exit %d; want killed (-1)", r.code)
	}
	if got := l.p.Count("POST /rollover-account-key 200"); got != 1 {
		t.Fatalf("key changes accepted = %d; want 1", got)
	}
	if !bytes.Equal(readFile(t, filepath.Join(dir, "key.pem")), oldPEM) {
		t.Fatal("key.pem changed before the commit")
	}
	pending := readFile(t, filepath.Join(dir, "key.pem.next"))

	// The next command (an order) works with the account: no new account.
	r = run(t, nil, l.args("obtain", append(l.http01(), "-d", "crash.example.test")...)...)
	if r.code != 0 {
		t.Fatalf("obtain after the interrupted rollover: exit %d", r.code)
	}
	if got := l.p.Count("POST /sign-me-up 201"); got != 1 {
		t.Errorf("accounts created = %d; want 1 (the account survived)", got)
	}
	if !bytes.Equal(readFile(t, filepath.Join(dir, "key.pem")), pending) {
		t.Error("key.pem is not the key the CA accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "key.pem.next")); !os.IsNotExist(err) {
		t.Errorf("key.pem.next left after recovery: %v", err)
	}
	if got := showAccount(t, l, "default"); got.URL != before.URL || got.KeyThumbprint != thumbprintOf(t, pending) {
		t.Errorf("after recovery: %+v", got)
	}
}

// TestAccountEAB: a CA that requires external account binding.
func TestAccountEAB(t *testing.T) {
	hmac := base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	l := newLab(t, testenv.PebbleOptions{EAB: map[string]string{"kid-1": hmac}, Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})

	r := run(t, nil, l.acctArgs("register", "--accept-tos")...)
	if r.code != 2 || !strings.Contains(r.stderr, "--eab-kid") {
		t.Errorf("register without EAB: exit %d stderr %q; want 2 naming --eab-kid", r.code, r.stderr)
	}
	r = run(t, nil, l.acctArgs("register", "--accept-tos", "--eab-kid", "kid-1")...)
	if r.code != 2 || !strings.Contains(r.stderr, "ACMECTL_EAB_HMAC_KEY") {
		t.Errorf("register with a kid and no key: exit %d stderr %q; want 2", r.code, r.stderr)
	}
	if got := l.p.Count("POST /sign-me-up 201"); got != 0 {
		t.Fatalf("accounts created = %d; want 0", got)
	}
	// Wrong key: the CA refuses.
	wrong := base64.RawURLEncoding.EncodeToString([]byte("not the right key, not the right"))
	r = run(t, []string{"ACMECTL_EAB_HMAC_KEY=" + wrong}, l.acctArgs("register", "--accept-tos", "--eab-kid", "kid-1")...)
	if r.code != 1 {
		t.Errorf("register with a wrong HMAC key: exit %d; want 1", r.code)
	}
	// Key from env.
	r = run(t, []string{"ACMECTL_EAB_HMAC_KEY=" + hmac}, l.acctArgs("register", "--accept-tos", "--eab-kid", "kid-1", "--account", "env")...)
	if r.code != 0 {
		t.Fatalf("register with EAB from env: exit %d", r.code)
	}
	// Key from a file.
	keyFile := filepath.Join(t.TempDir(), "eab.key")
	if err := os.WriteFile(keyFile, []byte(hmac+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = run(t, nil, l.acctArgs("register", "--accept-tos", "--eab-kid", "kid-1", "--eab-hmac-key-file", keyFile, "--account", "file")...)
	if r.code != 0 || strings.Contains(r.stderr, "warning") {
		t.Fatalf("register with EAB from a file: exit %d stderr %q", r.code, r.stderr)
	}
	if got := l.p.Count("POST /sign-me-up 201"); got != 2 {
		t.Errorf("accounts created = %d; want 2", got)
	}
	// The bound account orders.
	r = run(t, nil, l.args("obtain", append(l.http01(), "-d", "eab.example.test", "--account", "file")...)...)
	if r.code != 0 {
		t.Errorf("obtain with the EAB account: exit %d", r.code)
	}
}
