package hook

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestInherit(t *testing.T) {
	keep := []string{"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "LC_ALL", "LC_CTYPE"}
	drop := []string{
		"HTTPS_PROXY", "https_proxy", "SSH_AUTH_SOCK", "USER", "acmectl", "MYSQL_PWD", "DATABASE_URL", "PGPASSFILE",
		"LD_PRELOAD", "BASH_ENV", "ENV", "path", "LC_", "LC_X-Y",
		"ACMECTL_SERVER", "ACMECTL_EAB_HMAC_KEY", "acmectl_hook_event", "ACMECTL_HOOK_CERT_NAME",
		"AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "DB_PASSWORD", "MYSQL_PWD_PASSWD", "GPG_PASSPHRASE",
		"EAB_HMAC", "TSIG_FILE", "SSH_KEY", "api_key", "CREDENTIALS_DIRECTORY",
		"RENEWED_LINEAGE", "RENEWED_DOMAINS", "FAILED_DOMAINS",
	}
	for _, n := range keep {
		if !Inherit(n) {
			t.Errorf("Inherit(%q) = false; want true", n)
		}
	}
	for _, n := range drop {
		if Inherit(n) {
			t.Errorf("Inherit(%q) = true; want false", n)
		}
	}
}

func TestEventVars(t *testing.T) {
	na := time.Date(2026, 5, 30, 12, 0, 0, 0, time.FixedZone("", 3600))
	cert := Event{
		CertName: "example.com", Domains: []string{"example.com", "www.example.com"},
		CertPath: "/s/c/cert.pem", KeyPath: "/s/c/privkey.pem", ChainPath: "/s/c/chain.pem", FullchainPath: "/s/c/fullchain.pem",
		Lineage: "/s/c", Server: "https://acme.test/dir", NotAfter: na,
		Renewed: []string{"a"}, Failed: []string{"b"}, Error: "boom", ErrorClass: "x",
	}
	certVars := []string{
		"ACMECTL_HOOK_CERT_NAME=example.com",
		"ACMECTL_HOOK_DOMAINS=example.com www.example.com",
		"ACMECTL_HOOK_CERT_PATH=/s/c/cert.pem",
		"ACMECTL_HOOK_KEY_PATH=/s/c/privkey.pem",
		"ACMECTL_HOOK_CHAIN_PATH=/s/c/chain.pem",
		"ACMECTL_HOOK_FULLCHAIN_PATH=/s/c/fullchain.pem",
		"ACMECTL_HOOK_SERVER=https://acme.test/dir",
		"ACMECTL_HOOK_NOT_AFTER=2026-05-30T11:00:00Z",
	}
	with := func(k Kind, dry bool) Event { e := cert; e.Kind = k; e.DryRun = dry; return e }
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name string
		ev   Event
		want []string
	}{
		{"pre ignores certificate fields", with(Pre, false), []string{"ACMECTL_HOOK_EVENT=pre", "ACMECTL_HOOK_DRY_RUN=0"}},
		{"post", with(Post, true), []string{"ACMECTL_HOOK_EVENT=post", "ACMECTL_HOOK_DRY_RUN=1", "ACMECTL_HOOK_RENEWED=a", "ACMECTL_HOOK_FAILED=b"}},
		{"post nothing renewed", Event{Kind: Post}, []string{"ACMECTL_HOOK_EVENT=post", "ACMECTL_HOOK_DRY_RUN=0", "ACMECTL_HOOK_RENEWED=", "ACMECTL_HOOK_FAILED="}},
		{"deploy", with(Deploy, false), cat(
			[]string{"ACMECTL_HOOK_EVENT=deploy", "ACMECTL_HOOK_DRY_RUN=0"}, certVars,
			[]string{"RENEWED_LINEAGE=/s/c", "RENEWED_DOMAINS=example.com www.example.com"})},
		{"failure", with(Failure, false), cat(
			[]string{"ACMECTL_HOOK_EVENT=failure", "ACMECTL_HOOK_DRY_RUN=0"}, certVars,
			[]string{"ACMECTL_HOOK_ERROR=boom", "ACMECTL_HOOK_ERROR_CLASS=x"})},
		{"deploy for a CSR: no key path", Event{Kind: Deploy, CertName: "n", Domains: []string{"n.test"}, CertPath: "/c"},
			[]string{"ACMECTL_HOOK_EVENT=deploy", "ACMECTL_HOOK_DRY_RUN=0", "ACMECTL_HOOK_CERT_NAME=n", "ACMECTL_HOOK_DOMAINS=n.test",
				"ACMECTL_HOOK_CERT_PATH=/c", "RENEWED_DOMAINS=n.test"}},
		{"failure error made one line", Event{Kind: Failure, Error: "urn:ietf:params:acme:error:x\n\x1b[31mfake\x00", ErrorClass: "rate_limited"},
			[]string{"ACMECTL_HOOK_EVENT=failure", "ACMECTL_HOOK_DRY_RUN=0",
				"ACMECTL_HOOK_ERROR=urn:ietf:params:acme:error:x  [31mfake", "ACMECTL_HOOK_ERROR_CLASS=rate_limited"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, tc.ev.Vars()); d != "" {
				t.Errorf("Vars() mismatch (-want +got):\n%s", d)
			}
		})
	}
	long := Event{Kind: Failure, Error: strings.Repeat("é", 3000)}.Vars()[2]
	if v := strings.TrimPrefix(long, "ACMECTL_HOOK_ERROR="); len(v) > maxErrorLen || !strings.HasPrefix(v, "éé") || strings.ContainsRune(v, '\uFFFD') {
		t.Errorf("long error: %d bytes, valid prefix %v; want ≤ %d bytes cut on a rune boundary", len(v), strings.HasPrefix(v, "éé"), maxErrorLen)
	}
}

func TestEnviron(t *testing.T) {
	parent := []string{
		"PATH=/usr/bin:/bin", "HOME=/root", "ACMECTL_HOOK_EVENT=spoofed", "ACMECTL_SERVER=https://evil.test",
		"AWS_SECRET_ACCESS_KEY=s", "malformed", "=novalue", "LANG=C", "HOME=/home/x", "RENEWED_LINEAGE=/stale",
	}
	got := Environ(parent, Event{Kind: Pre})
	want := []string{"PATH=/usr/bin:/bin", "HOME=/home/x", "LANG=C", "ACMECTL_HOOK_EVENT=pre", "ACMECTL_HOOK_DRY_RUN=0"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Environ mismatch (-want +got):\n%s", d)
	}
}

// TestEnvironAllowlist is issue 14 item 9: secrets whose names the old
// denylist did not know (MYSQL_PWD, DATABASE_URL, proxy credentials,
// SSH_AUTH_SOCK) reached hooks. Only the allowlist and the names a user
// passes with hook-env do; hook-env never passes ACMECTL_* or the event's
// own variables.
func TestEnvironAllowlist(t *testing.T) {
	parent := []string{
		"PATH=/bin", "MYSQL_PWD=s3cret", "DATABASE_URL=postgres://u:pw@db/x", "HTTPS_PROXY=http://u:pw@proxy:3128",
		"SSH_AUTH_SOCK=/tmp/ssh-x/agent.1", "LC_ALL=C.UTF-8", "TZ=UTC", "VAULT_ADDR=https://vault",
		"ACMECTL_EAB_HMAC_KEY=k", "RENEWED_DOMAINS=stale",
	}
	got := Environ(parent, Event{Kind: Pre}, "VAULT_ADDR", "ACMECTL_EAB_HMAC_KEY", "RENEWED_DOMAINS", "bad-name")
	want := []string{"PATH=/bin", "LC_ALL=C.UTF-8", "TZ=UTC", "VAULT_ADDR=https://vault", "ACMECTL_HOOK_EVENT=pre", "ACMECTL_HOOK_DRY_RUN=0"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Environ mismatch (-want +got):\n%s", d)
	}
	for _, bad := range []string{"ACMECTL_EAB_HMAC_KEY", "acmectl_x", "RENEWED_LINEAGE", "A-B", "1X", ""} {
		if ValidPassName(bad) == nil {
			t.Errorf("ValidPassName(%q) = nil; want an error", bad)
		}
	}
}
