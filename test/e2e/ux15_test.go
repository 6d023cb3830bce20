package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/testenv"
)

// Issue 15 (daily use as a sysadmin): the end-to-end checks against Pebble
// that no other test of this package makes.

// TestObtainQuietAndNextRenewal: a plain one-name obtain off a terminal
// prints nothing on stderr and the result on stdout; the next renewal it
// reports (text and --json) is the one list and renew use; renew with
// nothing due, before and after fresh renewal information is stored,
// makes no request to the CA and does not sleep (cron line, random sleep
// on).
func TestObtainQuietAndNextRenewal(t *testing.T) {
	t.Parallel()
	l := newLab(t, quietPebble(nil))
	r := run(t, nil, l.args("obtain", append(l.http01(), "-d", "quiet.example.test")...)...)
	if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Certificate quiet.example.test for quiet.example.test saved") {
		t.Fatalf("plain obtain: exit %d, stderr %q, stdout %q; want 0, nothing on stderr, the result on stdout", r.code, r.stderr, r.stdout)
	}
	if !strings.Contains(r.stdout, "\nNext renewal: ") {
		t.Errorf("obtain does not say when the certificate renews:\n%s", r.stdout)
	}

	r = run(t, nil, l.args("obtain", append(l.http01(), "-d", "next.example.test", "--json")...)...)
	var ob struct {
		NextRenewal string `json:"next_renewal"`
		Rule        string `json:"rule"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &ob); r.code != 0 || err != nil || ob.NextRenewal == "" {
		t.Fatalf("obtain --json: exit %d, %v, next_renewal %q\n%s", r.code, err, ob.NextRenewal, r.stdout)
	}
	if _, err := time.Parse(time.RFC3339, ob.NextRenewal); err != nil || strings.Contains(ob.NextRenewal, ".") {
		t.Errorf("next_renewal %q is not RFC 3339 in whole seconds", ob.NextRenewal)
	}
	listNext := func() string {
		r := run(t, nil, "list", "--state-dir", l.state, "--json")
		var doc struct {
			Certificates []struct {
				CertName    string `json:"cert_name"`
				NextRenewal string `json:"next_renewal"`
			} `json:"certificates"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("list --json: %v\n%s", err, r.stdout)
		}
		for _, c := range doc.Certificates {
			if c.CertName == "next.example.test" {
				return c.NextRenewal
			}
		}
		return ""
	}
	if got := listNext(); got != ob.NextRenewal {
		t.Errorf("list next_renewal %q; obtain said %q", got, ob.NextRenewal)
	}
	l.p.ResetCounts()
	r = run(t, nil, l.renewArgs("--json", "--cert-name", "next.example.test")...)
	doc := parseRenew(t, r)
	if r.code != 0 || len(doc.Certificates) != 1 || doc.Certificates[0].Outcome != "not_due" || doc.Certificates[0].Next != ob.NextRenewal {
		t.Errorf("renew --json: exit %d %+v; want not_due with next_renewal %q (obtain's)", r.code, doc.Certificates, ob.NextRenewal)
	}
	if n := l.p.Count("total"); n != 0 {
		t.Errorf("renew with nothing due made %d requests (%v); want none", n, l.p.Counts())
	}

	// Renewal information fetched once (a day later), then fresh: the
	// cron line makes no request and does not sleep.
	ariCheckDue(t, l, "next.example.test")
	ariCheckDue(t, l, "quiet.example.test")
	if r := run(t, nil, l.renewArgs()...); r.code != 0 || l.p.Count("total") == 0 {
		t.Fatalf("renew fetching ARI: exit %d, %v", r.code, l.p.Counts())
	}
	if ari, _ := stateOf(t, l, "next.example.test")["ari"].(map[string]any); ari["window_start"] == nil {
		t.Fatalf("no ARI window stored: %v", ari)
	}
	l.p.ResetCounts()
	r = run(t, nil, "renew", "--state-dir", l.state, "--log-level", "debug")
	if r.code != 0 || r.stdout != "" || strings.Contains(r.stderr, "sleeping") {
		t.Errorf("cron renew with fresh ARI: exit %d stdout %q stderr %q; want 0, silent, no sleep", r.code, r.stdout, r.stderr)
	}
	if n := l.p.Count("total"); n != 0 {
		t.Errorf("cron renew with fresh ARI made %d requests (%v); want none", n, l.p.Counts())
	}
	if got := listNext(); got == "" {
		t.Error("list shows no next renewal after the ARI fetch")
	}
}

// TestProductionStepKeepsEmail: the README's step from staging to
// production (obtain again with another --server, without --email)
// registers the new account with the email the settings keep.
func TestProductionStepKeepsEmail(t *testing.T) {
	t.Parallel()
	staging := testenv.StartPebble(t, quietPebble(nil))
	prod := testenv.StartPebble(t, testenv.PebbleOptions{HTTPPort: staging.HTTPPort, Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(bundle, append(readFile(t, staging.CABundle), readFile(t, prod.CABundle)...), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	http := []string{"--http-01", "--http-01-addr", fmt.Sprintf("127.0.0.1:%d", staging.HTTPPort)}
	r := run(t, nil, append([]string{"obtain", "--server", staging.DirURL, "--ca-bundle", bundle, "--state-dir", state,
		"--accept-tos", "--email", "admin@example.test", "-d", "mail.example.test"}, http...)...)
	if r.code != 0 {
		t.Fatalf("obtain from staging: exit %d", r.code)
	}
	r = run(t, nil, "obtain", "--server", prod.DirURL, "--ca-bundle", bundle, "--state-dir", state, "--accept-tos", "-d", "mail.example.test")
	if r.code != 0 {
		t.Fatalf("obtain from production: exit %d", r.code)
	}
	r = run(t, nil, "account", "show", "--server", prod.DirURL, "--ca-bundle", bundle, "--state-dir", state, "--json")
	var acct struct {
		Contacts []string `json:"contacts"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &acct); r.code != 0 || err != nil {
		t.Fatalf("account show: exit %d %v\n%s", r.code, err, r.stdout)
	}
	if strings.Join(acct.Contacts, ",") != "mailto:admin@example.test" {
		t.Errorf("production account contacts (as the CA has them) = %v; want the email from the settings", acct.Contacts)
	}
}

// TestLogLevels: warn is the default level, so directory and account
// show print nothing on stderr; -v brings the INFO lines back, without
// duplicates ("certificate issued" once) or empty fields (issue 15,
// item 1).
func TestLogLevels(t *testing.T) {
	t.Parallel()
	l := newLab(t, quietPebble(nil))
	r := run(t, nil, l.args("obtain", append(l.http01(), "-d", "verbose.example.test", "-v")...)...)
	if r.code != 0 || !strings.Contains(r.stderr, "level=INFO") {
		t.Fatalf("obtain -v: exit %d, stderr %q; want INFO lines", r.code, r.stderr)
	}
	if n := strings.Count(r.stderr, "certificate issued"); n > 1 {
		t.Errorf("\"certificate issued\" logged %d times:\n%s", n, r.stderr)
	}
	if strings.Contains(r.stderr, `=""`) {
		t.Errorf("a log line with an empty field:\n%s", r.stderr)
	}
	for _, args := range [][]string{
		{"directory", "--server", l.p.DirURL, "--ca-bundle", l.p.CABundle},
		{"account", "show", "--server", l.p.DirURL, "--ca-bundle", l.p.CABundle, "--state-dir", l.state},
		{"list", "--state-dir", l.state},
	} {
		if r := run(t, nil, args...); r.code != 0 || r.stderr != "" || r.stdout == "" {
			t.Errorf("%v: exit %d, stderr %q; want the result on stdout and nothing on stderr", args, r.code, r.stderr)
		}
	}
}

// TestConfigErrorsExit2: configuration mistakes exit 2 with one line
// naming the fix, before any order: a --ca-bundle that is no PEM, a CA
// whose TLS certificate is not trusted, a URL that is no ACME directory,
// a bad domain name with --cert-name (issue 15, items 5-7).
func TestConfigErrorsExit2(t *testing.T) {
	t.Parallel()
	l := newLab(t, quietPebble(nil))
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state")
	obtain := []string{"obtain", "--state-dir", state, "--accept-tos", "-d", "cfg.example.test", "--http-01", "--http-01-addr", fmt.Sprintf("127.0.0.1:%d", l.p.HTTPPort)}
	base, _, _ := strings.Cut(l.p.DirURL, "/dir")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--server", l.p.DirURL, "--ca-bundle", garbage}, "--ca-bundle"},
		{[]string{"--server", l.p.DirURL}, "TLS certificate is not trusted"},
		{[]string{"--server", base + "/nosuch", "--ca-bundle", l.p.CABundle}, "not an ACME directory"},
	} {
		r := run(t, nil, append(obtain, c.args...)...)
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "acmectl: ") || !strings.Contains(r.stderr, c.want) ||
			strings.Contains(r.stderr, "about:blank") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", c.args, r.code, r.stderr, c.want)
		}
	}
	l.p.ResetCounts()
	if r := run(t, nil, "obtain", "--state-dir", state, "--server", l.p.DirURL, "--ca-bundle", l.p.CABundle, "--accept-tos",
		"-d", "example..com", "--cert-name", "foo", "--http-01"); r.code != 2 || !strings.Contains(r.stderr, `"example..com"`) {
		t.Errorf("-d example..com --cert-name foo: exit %d, stderr %q; want 2 naming the name", r.code, r.stderr)
	}
	if n := l.p.Count("total"); n != 0 {
		t.Errorf("a bad domain name reached the CA: %v", l.p.Counts())
	}
	if _, err := os.Stat(filepath.Join(state, "certificates", "cfg.example.test")); !os.IsNotExist(err) {
		t.Errorf("a refused obtain left a certificate entry (%v)", err)
	}
}
