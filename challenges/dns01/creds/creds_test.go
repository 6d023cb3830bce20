package creds

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var token = Item{
	What:       "API token",
	Env:        []string{"ACMECTL_CLOUDFLARE_API_TOKEN", "CLOUDFLARE_DNS_API_TOKEN", "CF_DNS_API_TOKEN"},
	Credential: "cloudflare-api-token",
	INI:        []string{"dns_cloudflare_api_token"},
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLookupOrder(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tok")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	credDir := filepath.Join(dir, "creds")
	os.Mkdir(credDir, 0o700)
	os.WriteFile(filepath.Join(credDir, "cloudflare-api-token"), []byte("from-systemd\n"), 0o600)
	ini := filepath.Join(dir, "cf.ini")
	os.WriteFile(ini, []byte("# certbot\ndns_cloudflare_api_token = \"from-ini\"\n"), 0o600)

	for _, tc := range []struct {
		name     string
		env      map[string]string
		ini      string
		want     string
		wantFrom string
	}{
		{"acmectl name first", map[string]string{"ACMECTL_CLOUDFLARE_API_TOKEN": "a", "CF_DNS_API_TOKEN": "b"}, "", "a", "ACMECTL_CLOUDFLARE_API_TOKEN"},
		{"lego name", map[string]string{"CF_DNS_API_TOKEN": " b\n"}, ini, "b", "CF_DNS_API_TOKEN"},
		{"lego _FILE", map[string]string{"CLOUDFLARE_DNS_API_TOKEN_FILE": file}, ini, "from-file", "CLOUDFLARE_DNS_API_TOKEN_FILE (" + file + ")"},
		{"systemd credential", map[string]string{"CREDENTIALS_DIRECTORY": credDir}, ini, "from-systemd", "systemd credential cloudflare-api-token"},
		{"certbot INI", map[string]string{"CREDENTIALS_DIRECTORY": dir}, ini, "from-ini", "dns_cloudflare_api_token in " + ini},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Source{Provider: "cloudflare", Getenv: env(tc.env), INIFile: tc.ini}
			v, err := s.Lookup(token)
			if err != nil {
				t.Fatal(err)
			}
			if v.Value != tc.want || v.From != tc.wantFrom {
				t.Fatalf("got %q from %q; want %q from %q", v.Value, v.From, tc.want, tc.wantFrom)
			}
		})
	}
}

func TestNotFoundNamesEverythingTried(t *testing.T) {
	s := &Source{Provider: "cloudflare", Getenv: env(nil)}
	_, err := s.Lookup(token)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v; want ErrNotFound", err)
	}
	want := "cloudflare: no API token: set ACMECTL_CLOUDFLARE_API_TOKEN, CLOUDFLARE_DNS_API_TOKEN or CF_DNS_API_TOKEN (or ACMECTL_CLOUDFLARE_API_TOKEN_FILE), or a systemd credential cloudflare-api-token, or dns_cloudflare_api_token in a certbot credentials file (option credentials)"
	if err.Error() != want {
		t.Fatalf("error:\n%s\nwant:\n%s", err, want)
	}
	if v, err := s.Optional(token); err != nil || v.Value != "" {
		t.Fatalf("Optional = %q, %v", v.Value, err)
	}
}

func TestFileErrorsNeverShowContent(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.ini")
	os.WriteFile(bad, []byte("dns_cloudflare_api_token sekrit-value\n"), 0o600)
	s := &Source{Provider: "cloudflare", Getenv: env(nil), INIFile: bad}
	_, err := s.Lookup(token)
	if err == nil || strings.Contains(err.Error(), "sekrit") || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("err = %v; want a line number and no content", err)
	}
	s = &Source{Provider: "cloudflare", Getenv: env(map[string]string{"CF_DNS_API_TOKEN_FILE": filepath.Join(dir, "missing")})}
	if _, err := s.Lookup(token); err == nil || !strings.Contains(err.Error(), "CF_DNS_API_TOKEN_FILE") {
		t.Fatalf("err = %v; want it to name the variable", err)
	}
}

func TestINIReadableByOthersWarns(t *testing.T) {
	ini := filepath.Join(t.TempDir(), "cf.ini")
	os.WriteFile(ini, []byte("dns_cloudflare_api_token = sekrit\n"), 0o644)
	os.Chmod(ini, 0o644)
	var buf bytes.Buffer
	s := &Source{Provider: "cloudflare", Getenv: env(nil), INIFile: ini, Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	v, err := s.Lookup(token)
	if err != nil || v.Value != "sekrit" {
		t.Fatalf("Lookup = %q, %v", v.Value, err)
	}
	if !strings.Contains(buf.String(), "readable by group or others") || strings.Contains(buf.String(), "sekrit") {
		t.Fatalf("log = %q; want a warning without the secret", buf.String())
	}
}

func TestParseINI(t *testing.T) {
	m, err := ParseINI("# c\n; c\n[section]\nDNS_X = 'a b'\ny=c # comment\nz = \n", "f")
	if err != nil {
		t.Fatal(err)
	}
	if m["dns_x"] != "a b" || m["y"] != "c" || m["z"] != "" {
		t.Fatalf("got %q", m)
	}
}
