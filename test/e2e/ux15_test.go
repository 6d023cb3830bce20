package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	// renew --force --json: the renewed certificate's next renewal (as
	// list then shows it), not the moment of this renewal (item 11).
	r = run(t, nil, l.renewArgs("--json", "--force", "--cert-name", "next.example.test")...)
	doc = parseRenew(t, r)
	if r.code != 0 || len(doc.Certificates) != 1 || doc.Certificates[0].Outcome != "renewed" {
		t.Fatalf("renew --force --json: exit %d %+v", r.code, doc.Certificates)
	}
	forced, err := time.Parse(time.RFC3339, doc.Certificates[0].Next)
	if err != nil || doc.Certificates[0].Next != listNext() || !forced.After(time.Now().Add(24*time.Hour)) {
		t.Errorf("renew --force next_renewal %q (%v); list says %q; want the new certificate's, days ahead", doc.Certificates[0].Next, err, listNext())
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
	staging, prod, bundle, state := stagingAndProduction(t)
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

// TestImportCertbotMigration (issue 15, item 13): two certificates that
// the real certbot obtained from Pebble with one account are imported
// with that account once; --ca-bundle given to import is stored, so a
// renewal without it works; the plan prints each live path with
// acmectl's stable path, and --symlink-live points certbot's live links
// there, so a server reading certbot's paths gets acmectl's renewals; a
// certbot hook that needs a shell is reminded by show and doctor.
func TestImportCertbotMigration(t *testing.T) {
	t.Parallel()
	certbot := testenv.LookTool(t, "certbot", "apt-get install certbot")
	l := newLab(t, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	cb := t.TempDir()
	config := filepath.Join(cb, "config")
	names := []string{"one.certbot.test", "two.certbot.test"}
	for _, name := range names {
		cmd := exec.Command(certbot, "certonly", "--non-interactive", "--agree-tos", "--register-unsafely-without-email",
			"--server", l.p.DirURL, "--standalone", "--http-01-address", "127.0.0.1", "--http-01-port", strconv.Itoa(l.p.HTTPPort),
			"--config-dir", config, "--work-dir", filepath.Join(cb, "work"), "--logs-dir", filepath.Join(cb, "logs"),
			"--pre-hook", "echo starting | logger -t certbot", "-d", name)
		cmd.Env = append(os.Environ(), "REQUESTS_CA_BUNDLE="+l.p.CABundle)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("certbot: %v\n%s", err, out)
		}
	}
	if got := l.p.Count("POST /sign-me-up 201"); got != 1 {
		t.Fatalf("certbot registered %d accounts; want 1 for both certificates", got)
	}
	accounts := l.p.Count("POST /sign-me-up 201")
	imp := []string{"import", "certbot", "--from", config, "--state-dir", l.state, "--ca-bundle", l.p.CABundle}

	// The plan: the account once, each live path with its new path.
	r := run(t, nil, imp...)
	if r.code != 0 || strings.Count(r.stdout, "Would import account") != 1 {
		t.Fatalf("plan: exit %d; want one account\n%s", r.code, r.stdout)
	}
	for _, name := range names {
		for _, f := range []string{"fullchain.pem", "privkey.pem", "cert.pem", "chain.pem"} {
			want := fmt.Sprintf("  %s -> %s\n", filepath.Join(config, "live", name, f), filepath.Join(l.certDir(name), f))
			if !strings.Contains(r.stdout, want) {
				t.Errorf("plan does not print %q\n%s", want, r.stdout)
			}
		}
	}
	if !strings.Contains(r.stdout, "--symlink-live") {
		t.Errorf("plan does not offer --symlink-live:\n%s", r.stdout)
	}
	// Solver flags are certbot's own: refused, nothing written.
	if r := run(t, nil, append(imp, "--webroot", t.TempDir(), "--yes")...); r.code != 2 || !strings.Contains(r.stderr, "--webroot") {
		t.Errorf("import certbot --webroot: exit %d, stderr %q; want 2", r.code, r.stderr)
	}

	r = run(t, nil, append(imp, "--yes", "--symlink-live")...)
	if r.code != 0 || strings.Count(r.stdout, "Imported account default on "+l.p.DirURL) != 1 || strings.Contains(r.stdout, "certbot-") {
		t.Fatalf("import: exit %d; want the account once, as default\n%s", r.code, r.stdout)
	}
	r = run(t, nil, "account", "list", "--state-dir", l.state, "--json")
	var al struct {
		Accounts []struct{ Label string } `json:"accounts"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &al); err != nil || len(al.Accounts) != 1 {
		t.Errorf("accounts stored: %v (%v); want one", al.Accounts, err)
	}
	for _, name := range names {
		set := string(readFile(t, filepath.Join(l.certDir(name), "settings.yaml")))
		if !strings.Contains(set, "ca-bundle: "+l.p.CABundle) || !strings.Contains(set, "account: default") {
			t.Errorf("%s settings.yaml lacks the CA bundle or the account:\n%s", name, set)
		}
		for _, f := range []string{"fullchain.pem", "privkey.pem", "cert.pem", "chain.pem"} {
			live := filepath.Join(config, "live", name, f)
			if target, err := os.Readlink(live); err != nil || target != filepath.Join(l.certDir(name), f) {
				t.Errorf("%s -> %q (%v); want acmectl's stable path", live, target, err)
			}
		}
	}

	// The dropped pre hook, long after the import.
	r = run(t, nil, "show", names[0], "--state-dir", l.state)
	if !strings.Contains(r.stdout, "Not imported:") || !strings.Contains(r.stdout, "echo starting | logger -t certbot") ||
		!strings.Contains(r.stdout, "acmectl reconfigure --cert-name "+names[0]+" --pre-hook SCRIPT") {
		t.Errorf("show does not remind of the certbot hook:\n%s", r.stdout)
	}
	r = run(t, nil, "doctor", "--cert-name", names[0], "--state-dir", l.state, "--json", "--timeout", "2s")
	if !strings.Contains(r.stdout, `"check": "hook"`) || !strings.Contains(r.stdout, "echo starting") {
		t.Errorf("doctor does not remind of the certbot hook:\n%s", r.stdout)
	}

	// The first renewal: no --ca-bundle, the certbot account, and certbot's
	// live path now serves the new certificate.
	before := leafAt(t, filepath.Join(config, "live", names[0], "cert.pem"))
	r = run(t, nil, "renew", "--state-dir", l.state, "--cert-name", names[0], "--force", "--no-random-sleep")
	if r.code != 0 {
		t.Fatalf("renew without --ca-bundle: exit %d\n%s", r.code, r.stderr)
	}
	if got := l.p.Count("POST /sign-me-up 201") - accounts; got != 0 {
		t.Errorf("new accounts at the CA = %d; want 0", got)
	}
	after := leafAt(t, filepath.Join(config, "live", names[0], "cert.pem"))
	if after.SerialNumber.Cmp(before.SerialNumber) == 0 {
		t.Error("certbot's live path still serves the old certificate after acmectl renewed it")
	}
}

// TestObtainOnTerminal (issue 15, item 1): a plain obtain on a terminal
// shows one live progress line, then the result; no log lines at the
// default level. The transcript is logged (the closing note shows it).
func TestObtainOnTerminal(t *testing.T) {
	t.Parallel()
	l := newLab(t, quietPebble(nil))
	r := runTTY(t, "", l.args("obtain", append(l.http01(), "-d", "tty.example.test")...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "Certificate tty.example.test for tty.example.test saved") || !strings.Contains(r.stdout, "Next renewal: ") {
		t.Fatalf("obtain on a terminal: exit %d\n%q", r.code, r.stdout)
	}
	if n := strings.Count(r.stdout, "tty.example.test: certificate issued in"); n != 1 {
		t.Errorf("final progress line shown %d times; want once:\n%q", n, r.stdout)
	}
	if strings.Contains(r.stdout, "level=") || strings.Contains(r.stdout, "msg=") {
		t.Errorf("log lines on a terminal at the default level:\n%q", r.stdout)
	}
}
