package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acmectl/acmectl/client"
)

// FuzzState: a damaged state.json is an error naming the file, never a
// crash; an accepted one keeps only https resume URLs usable (the issue
// engine checks the order URL again before use).
func FuzzState(f *testing.F) {
	f.Add([]byte(`{"pending_order":{"url":"https://acme.example/o/1","directory_url":"https://acme.example/dir","account":"default","names":["a.example"]},"retry_after":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"pending_order":{"url":"file:///etc/passwd#$(id)"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(d.certsDir(), "x.example")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, stateFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := d.LoadState("x.example")
		if err != nil {
			if !strings.Contains(err.Error(), "state.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		// What loads saves and loads again the same.
		if err := d.SaveState("x.example", st); err != nil {
			t.Fatal(err)
		}
		if _, err := d.LoadState("x.example"); err != nil {
			t.Fatalf("saved state does not load: %v", err)
		}
	})
}

// FuzzSettings: settings.yaml is parsed strictly; an accepted file has
// valid names as plain strings, and hooks stay argv lists.
func FuzzSettings(f *testing.F) {
	f.Add([]byte("version: 1\nnames: [a.example]\nserver: https://acme.example/dir\nhooks:\n  deploy: [[/usr/bin/systemctl, reload, nginx]]\n"))
	f.Add([]byte("names: a\nunknown: 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseSettings("settings.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "settings.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if s.Version > SettingsVersion {
			t.Fatalf("accepted version %d", s.Version)
		}
	})
}

// FuzzCertName: an accepted name is one path element; the derived default
// name is always accepted; distinct valid names map to distinct paths.
func FuzzCertName(f *testing.F) {
	f.Add("example.com", "*.example.com")
	f.Add("../x", "2001:db8::1")
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, n := range []string{a, b} {
			if ValidCertName(n) == nil && (filepath.Base(n) != n || n == "." || n == ".." || strings.ContainsAny(n, "/\\\x00")) {
				t.Fatalf("ValidCertName accepted %q", n)
			}
			if dn, err := defaultCertName(n); err == nil && ValidCertName(dn) != nil {
				t.Fatalf("DefaultCertName(%q) = %q, which is not valid", n, dn)
			}
		}
		da, erra := defaultCertName(a)
		db, errb := defaultCertName(b)
		if erra == nil && errb == nil && da == db && !strings.EqualFold(a, b) && strings.TrimSuffix(strings.ToLower(a), ".") != strings.TrimSuffix(strings.ToLower(b), ".") {
			t.Logf("DefaultCertName(%q) == DefaultCertName(%q) == %q", a, b, da)
		}
		if ValidCertName(a) == nil && ValidCertName(b) == nil && a != b {
			d := &Dir{root: "/state"}
			pa, _ := d.certDir(a)
			pb, _ := d.certDir(b)
			if pa == pb {
				t.Fatalf("%q and %q share %s", a, b, pa)
			}
		}
		if _, err := ServerID(a); err == nil {
			id, _ := ServerID(a)
			if filepath.Base(id) != id || id == ".." || id == "." {
				t.Fatalf("ServerID(%q) = %q is not one path element", a, id)
			}
		}
	})
}

// defaultCertName is DefaultCertName of a name as the command line parses
// it.
func defaultCertName(n string) (string, error) {
	id, err := client.ParseIdentifier(n)
	if err != nil {
		return "", err
	}
	return DefaultCertName(id)
}
