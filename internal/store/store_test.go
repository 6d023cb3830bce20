package store

import (
	"crypto"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/keys"
)

func newDir(t testing.TB) *Dir {
	t.Helper()
	d, err := Open(filepath.Join(t.TempDir(), "state"), WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil))))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

func mode(t testing.TB, path string) os.FileMode {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestOpen(t *testing.T) {
	t.Run("creates 0700", func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "a", "b")
		d, err := Open(root)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if got := mode(t, d.Root()); got != 0o700 {
			t.Errorf("root mode = %04o; want 0700", got)
		}
	})
	for _, m := range []os.FileMode{0o770, 0o702, 0o777} {
		t.Run("refuses "+m.String(), func(t *testing.T) {
			root := t.TempDir()
			if err := os.Chmod(root, m); err != nil {
				t.Fatal(err)
			}
			_, err := Open(root)
			if err == nil || !strings.Contains(err.Error(), "writable by group or others") {
				t.Errorf("Open(mode %04o) = %v; want refusal", m, err)
			}
		})
	}
	t.Run("accepts 0755", func(t *testing.T) {
		root := t.TempDir()
		os.Chmod(root, 0o755)
		if _, err := Open(root); err != nil {
			t.Errorf("Open(0755) = %v; want nil", err)
		}
	})
	t.Run("refuses file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "f")
		os.WriteFile(f, nil, 0o600)
		if _, err := Open(f); err == nil {
			t.Error("Open(regular file) = nil; want error")
		}
	})
}

func TestAccounts(t *testing.T) {
	d := newDir(t)
	const dirURL = "https://127.0.0.1:14000/dir"
	if _, _, err := d.LoadAccount(dirURL, "default"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LoadAccount(absent) = %v; want ErrNotFound", err)
	}
	key, _ := keys.Generate(keys.EC256)
	rec := &AccountRecord{
		URL:          "https://127.0.0.1:14000/my-account/1",
		Contacts:     []string{"mailto:ops@example.test"},
		DirectoryURL: dirURL,
		Created:      time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Status:       "valid",
		Dialect:      "rfc8555",
	}
	if err := d.SaveAccount(dirURL, "default", rec, key); err != nil {
		t.Fatalf("SaveAccount: %v", err)
	}
	adir := filepath.Join(d.Root(), "accounts", "127.0.0.1_14000_dir", "default")
	if got := mode(t, filepath.Join(adir, "key.pem")); got != 0o600 {
		t.Errorf("key.pem mode = %04o; want 0600", got)
	}
	for _, p := range []string{adir, filepath.Dir(adir), filepath.Join(d.Root(), "accounts")} {
		if got := mode(t, p); got != 0o700 {
			t.Errorf("%s mode = %04o; want 0700", p, got)
		}
	}
	gotRec, gotKey, err := d.LoadAccount(dirURL, "default")
	if err != nil {
		t.Fatalf("LoadAccount: %v", err)
	}
	if diff := cmp.Diff(rec, gotRec); diff != "" {
		t.Errorf("LoadAccount record (-want +got):\n%s", diff)
	}
	if !gotKey.(interface{ Equal(crypto.PrivateKey) bool }).Equal(key) {
		t.Error("LoadAccount returned a different key")
	}

	refs, err := d.ListAccounts()
	if err != nil {
		t.Fatal(err)
	}
	want := []AccountRef{{ServerID: "127.0.0.1_14000_dir", Label: "default", DirectoryURL: dirURL, URL: rec.URL}}
	if diff := cmp.Diff(want, refs); diff != "" {
		t.Errorf("ListAccounts (-want +got):\n%s", diff)
	}

	// Rollover.
	if _, err := d.LoadPendingAccountKey(dirURL, "default"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LoadPendingAccountKey(none) = %v; want ErrNotFound", err)
	}
	if err := d.CommitPendingAccountKey(dirURL, "default"); !errors.Is(err, ErrNotFound) {
		t.Errorf("CommitPendingAccountKey(none) = %v; want ErrNotFound", err)
	}
	next, _ := keys.Generate(keys.EC384)
	if err := d.SavePendingAccountKey(dirURL, "default", next); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, filepath.Join(adir, "key.pem.next")); got != 0o600 {
		t.Errorf("key.pem.next mode = %04o; want 0600", got)
	}
	pk, err := d.LoadPendingAccountKey(dirURL, "default")
	if err != nil || keys.KeyTypeOf(pk) != keys.EC384 {
		t.Fatalf("LoadPendingAccountKey = %v, %v", keys.KeyTypeOf(pk), err)
	}
	// Still the old key until commit.
	if _, k, _ := d.LoadAccount(dirURL, "default"); keys.KeyTypeOf(k) != keys.EC256 {
		t.Error("account key changed before CommitPendingAccountKey")
	}
	if err := d.CommitPendingAccountKey(dirURL, "default"); err != nil {
		t.Fatal(err)
	}
	if _, k, _ := d.LoadAccount(dirURL, "default"); keys.KeyTypeOf(k) != keys.EC384 {
		t.Error("account key not switched by CommitPendingAccountKey")
	}
	if _, err := d.LoadPendingAccountKey(dirURL, "default"); !errors.Is(err, ErrNotFound) {
		t.Errorf("pending key still present after commit: %v", err)
	}
	d.SavePendingAccountKey(dirURL, "default", next)
	if err := d.DiscardPendingAccountKey(dirURL, "default"); err != nil {
		t.Fatal(err)
	}
	if err := d.DiscardPendingAccountKey(dirURL, "default"); err != nil {
		t.Errorf("DiscardPendingAccountKey twice = %v; want nil", err)
	}
	if _, err := d.LoadPendingAccountKey(dirURL, "default"); !errors.Is(err, ErrNotFound) {
		t.Errorf("pending key present after discard: %v", err)
	}

	// Key missing but record present is damage, not absence.
	os.Rename(filepath.Join(adir, "key.pem"), filepath.Join(adir, "key.bak"))
	if _, _, err := d.LoadAccount(dirURL, "default"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("LoadAccount(no key) = %v; want non-ErrNotFound error", err)
	}
	os.Rename(filepath.Join(adir, "key.bak"), filepath.Join(adir, "key.pem"))

	if err := d.DeleteAccount(dirURL, "default"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.LoadAccount(dirURL, "default"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LoadAccount after delete = %v; want ErrNotFound", err)
	}
	if err := d.DeleteAccount(dirURL, "default"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteAccount twice = %v; want ErrNotFound", err)
	}
	if refs, _ := d.ListAccounts(); len(refs) != 0 {
		t.Errorf("ListAccounts after delete = %v", refs)
	}
	if ents, _ := os.ReadDir(filepath.Dir(adir)); len(ents) != 0 {
		t.Errorf("leftovers after DeleteAccount: %v", ents)
	}
}

func TestAccountLabelValidated(t *testing.T) {
	d := newDir(t)
	key, _ := keys.Generate(keys.EC256)
	for _, label := range []string{"../x", "", "A", "a/b", ".."} {
		if err := d.SaveAccount("https://ca.example/dir", label, &AccountRecord{}, key); !errors.Is(err, ErrInvalidName) {
			t.Errorf("SaveAccount(label %q) = %v; want ErrInvalidName", label, err)
		}
	}
	if _, err := os.Stat(filepath.Join(d.Root(), "x")); err == nil {
		t.Error("a path escaped the accounts dir")
	}
}

func fullSettings() *Settings {
	return &Settings{
		Version:        1,
		Names:          client.MustNames("example.test", "*.example.test", "192.0.2.1"),
		Server:         "https://127.0.0.1:14000/dir",
		Account:        "default",
		ACMEVersion:    "auto",
		KeyType:        "ec384",
		ReuseKey:       true,
		KeyGroup:       "ssl-cert",
		CSR:            "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
		Solvers:        map[string][]string{"default": {"http-01", "dns-01"}, "*.example.test": {"ns-a"}},
		HTTP01Addrs:    []string{"127.0.0.1:5002"},
		Webroot:        "/var/www",
		TLSALPN01Addrs: []string{"[::1]:5001"},
		DNS: DNSSettings{
			Provider: "rfc2136", RFC2136Server: "127.0.0.1:53", RFC2136TSIGFile: "/etc/acmectl/tsig.key",
			Exec: "/usr/local/bin/dns-hook", Resolvers: []string{"127.0.0.1:53"},
			PropagationWait: "10s", PropagationTimeout: "2m",
		},
		NamedSolvers:   map[string]map[string]string{"ns-a": {"type": "dns-01", "provider": "rfc2136"}},
		Profile:        "shortlived",
		PreferredChain: "ISRG Root X1",
		MustStaple:     true,
		Hooks: Hooks{
			Pre:     [][]string{{"systemctl", "stop", "x"}},
			Post:    [][]string{{"systemctl", "start", "x"}},
			Deploy:  [][]string{{"systemctl", "reload", "nginx"}, {"/usr/local/bin/notify", "a b"}},
			Failure: [][]string{{"mail", "-s", "failed", "root"}},
		},
		HookTimeout: "5m",
		CABundle:    "/etc/ssl/ca.pem",
		Email:       []string{"ops@example.test"},
	}
}

func TestSettingsRoundTrip(t *testing.T) {
	d := newDir(t)
	for _, s := range []*Settings{fullSettings(), {Names: client.MustNames("a.test"), Server: "https://ca.example/dir"}} {
		if err := d.SaveSettings("example.test", s); err != nil {
			t.Fatalf("SaveSettings: %v", err)
		}
		got, err := d.LoadSettings("example.test")
		if err != nil {
			t.Fatalf("LoadSettings: %v", err)
		}
		want := *s
		want.Version = 1
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("settings round trip (-want +got):\n%s", diff)
		}
	}
	p := filepath.Join(d.Root(), "certificates", "example.test", "settings.yaml")
	if got := mode(t, p); got != 0o600 {
		t.Errorf("settings.yaml mode = %04o; want 0600", got)
	}
	if got := mode(t, filepath.Dir(p)); got != 0o700 {
		t.Errorf("certificate dir mode = %04o; want 0700", got)
	}
	// Kebab-case keys on disk.
	d.SaveSettings("example.test", fullSettings())
	data, _ := os.ReadFile(p)
	for _, k := range []string{"key-type: ec384", "reuse-key: true", "http-01-addrs:", "rfc2136-tsig-file:", "must-staple: true", "named-solvers:", "preferred-chain:", "hook-timeout: 5m"} {
		if !strings.Contains(string(data), k) {
			t.Errorf("settings.yaml lacks %q:\n%s", k, data)
		}
	}
}

func TestSettingsRejects(t *testing.T) {
	tests := []struct {
		name, yaml, wantInErr string
	}{
		{"unknown top key", "version: 1\nnames: [a.test]\nservr: https://x/dir\n", `unknown key "servr"`},
		{"unknown nested key", "version: 1\ndns:\n  provider: exec\n  secret: hunter2\n", `unknown key "dns.secret"`},
		{"unknown hooks key", "hooks:\n  deploy: [[a]]\n  predeploy: [[b]]\n", `unknown key "hooks.predeploy"`},
		{"duplicate key", "names: [a]\nnames: [b]\n", "already defined"},
		{"newer version", "version: 2\nnames: [a]\n", "version 2 is not supported"},
		{"bad key type", "key-type: ec999\n", "key-type"},
		{"bad account", "account: ../x\n", "account"},
		{"wrong type", "names: 3\n", "cannot unmarshal"},
		{"empty", "", "empty"},
		{"alias", "names: &a [x]\nemail: *a\n", "aliases"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDir(t)
			dir := filepath.Join(d.Root(), "certificates", "c")
			os.MkdirAll(dir, 0o700)
			os.WriteFile(filepath.Join(dir, "settings.yaml"), []byte(tc.yaml), 0o600)
			_, err := d.LoadSettings("c")
			if err == nil {
				t.Fatalf("LoadSettings(%q) = nil error; want one containing %q", tc.yaml, tc.wantInErr)
			}
			if !strings.Contains(err.Error(), tc.wantInErr) || !strings.Contains(err.Error(), "settings.yaml") {
				t.Errorf("LoadSettings error = %q; want it to name the file and contain %q", err, tc.wantInErr)
			}
			var se *SettingsError
			if !errors.As(err, &se) {
				t.Errorf("LoadSettings error %T is not a *SettingsError", err)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		d := newDir(t)
		if _, err := d.LoadSettings("nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("LoadSettings(missing) = %v; want ErrNotFound", err)
		}
	})
}

func TestStateAndList(t *testing.T) {
	d := newDir(t)
	if names, err := d.List(); err != nil || len(names) != 0 {
		t.Fatalf("List(empty) = %v, %v", names, err)
	}
	st, err := d.LoadState("b.test")
	if err != nil || st == nil || !cmp.Equal(st, &State{}) {
		t.Fatalf("LoadState(missing) = %+v, %v; want zero State, nil", st, err)
	}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	want := &State{
		ARI:           &ARIState{WindowStart: now, WindowEnd: now.Add(time.Hour), ChosenTime: now.Add(time.Minute), NextFetch: now.Add(6 * time.Hour), ExplanationURL: "https://ca.example/why"},
		RetryAfter:    now.Add(2 * time.Hour),
		Backoff:       &Backoff{Failures: 3, NextAttempt: now.Add(time.Hour)},
		PendingOrder:  &PendingOrder{URL: "https://ca.example/order/1", DirectoryURL: "https://ca.example/dir", Account: "default", Names: client.MustNames("b.test"), Replaces: "aaa.bbb", Created: now},
		DeployPending: true,
		LastError:     &LastError{Class: "rate_limited", Message: "too many", Time: now, RetryAfter: now.Add(time.Hour)},
		Revoked:       true,
		LastSuccess:   now, LastAttempt: now,
		NotBefore: now, NotAfter: now.Add(90 * 24 * time.Hour), Serial: "0abc", Issuer: "Test CA", Version: 7, KeyType: "ec256",
	}
	for _, n := range []string{"b.test", "a.test", "_wildcard.c.test"} {
		if err := d.SaveState(n, want); err != nil {
			t.Fatalf("SaveState(%s): %v", n, err)
		}
		if err := d.SaveSettings(n, &Settings{Names: client.MustNames("a.test"), Server: "https://ca.test/dir"}); err != nil {
			t.Fatal(err)
		}
	}
	// What a killed first order leaves (state and pending key, no
	// settings) is not a certificate.
	if err := d.SaveState("ghost.test", &State{PendingOrder: &PendingOrder{URL: "https://ca.test/order/1"}}); err != nil {
		t.Fatal(err)
	}
	got, err := d.LoadState("b.test")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state round trip (-want +got):\n%s", diff)
	}
	data, _ := os.ReadFile(filepath.Join(d.Root(), "certificates", "b.test", "state.json"))
	for _, k := range []string{`"deploy_pending": true`, `"window_start"`, `"pending_order"`, `"not_after"`, `"retry_after"`} {
		if !strings.Contains(string(data), k) {
			t.Errorf("state.json lacks %s:\n%s", k, data)
		}
	}
	if zero, _ := os.ReadFile(filepath.Join(d.Root(), "certificates", "b.test", "state.json")); len(zero) == 0 {
		t.Error("state.json empty")
	}
	// Junk in certificates/ is not listed.
	os.MkdirAll(filepath.Join(d.Root(), "certificates", ".deleted-x-1"), 0o700)
	os.MkdirAll(filepath.Join(d.Root(), "certificates", "UPPER"), 0o700)
	os.WriteFile(filepath.Join(d.Root(), "certificates", "file.test"), nil, 0o600)

	names, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"_wildcard.c.test", "a.test", "b.test"}, names); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if !d.Exists("a.test") || d.Exists("z.test") || d.Exists("../certificates") || d.Exists("file.test") {
		t.Error("Exists gave a wrong answer")
	}
	if err := d.Delete("a.test"); err != nil {
		t.Fatal(err)
	}
	if d.Exists("a.test") {
		t.Error("Exists after Delete = true")
	}
	if err := d.Delete("a.test"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete twice = %v; want ErrNotFound", err)
	}
	// Damaged state is an error, not a zero state.
	os.WriteFile(filepath.Join(d.Root(), "certificates", "b.test", "state.json"), []byte("{"), 0o600)
	if _, err := d.LoadState("b.test"); err == nil {
		t.Error("LoadState(damaged) = nil error")
	}
	if _, err := d.LoadState("../b"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("LoadState(../b) = %v; want ErrInvalidName", err)
	}
}

func TestPendingKey(t *testing.T) {
	d := newDir(t)
	if _, err := d.LoadPendingKey("p.test"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LoadPendingKey(none) = %v; want ErrNotFound", err)
	}
	if err := d.ClearPendingKey("p.test"); err != nil {
		t.Errorf("ClearPendingKey(none) = %v; want nil", err)
	}
	k, _ := keys.Generate(keys.EC256)
	if err := d.SavePendingKey("p.test", k); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, filepath.Join(d.Root(), "certificates", "p.test", "pending-key.pem")); got != 0o600 {
		t.Errorf("pending-key.pem mode = %04o; want 0600", got)
	}
	got, err := d.LoadPendingKey("p.test")
	if err != nil || !got.(interface{ Equal(crypto.PrivateKey) bool }).Equal(k) {
		t.Fatalf("LoadPendingKey = %v; want the saved key", err)
	}
	if err := d.ClearPendingKey("p.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.LoadPendingKey("p.test"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LoadPendingKey after clear = %v; want ErrNotFound", err)
	}
}
