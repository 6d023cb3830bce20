package e2e

// The built binary against the legacy ACME v1 test CA (internal/v1ca, run
// in process), and account migrate from it to Pebble. Requests are counted
// on the servers' side.

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/internal/testenv"
	"github.com/acmectl/acmectl/internal/v1ca"
)

// v1lab is one test's v1 CA plus a state dir and the common flags.
type v1lab struct {
	ca       *v1ca.Server
	bundle   string // PEM root of the CA's HTTPS listener
	state    string
	httpPort int // where the CA validates http-01
	base     []string
}

func newV1Lab(t *testing.T, cfg v1ca.Config) *v1lab {
	t.Helper()
	if cfg.HTTP01Port == 0 {
		cfg.HTTP01Port = testenv.FreePort(t)
	}
	cfg.Listen = "127.0.0.1:0"
	ca, err := v1ca.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ca.Shutdown(ctx)
	})
	dir := t.TempDir()
	bundle := filepath.Join(dir, "v1ca-https.pem")
	if err := os.WriteFile(bundle, ca.HTTPSRootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	return &v1lab{ca: ca, bundle: bundle, state: state, httpPort: cfg.HTTP01Port, base: []string{
		"--server", ca.DirectoryURL(), "--ca-bundle", bundle, "--state-dir", state,
		"--accept-tos", "--email", "admin@example.test",
	}}
}

func (l *v1lab) args(cmd string, extra ...string) []string {
	return append(append([]string{cmd}, l.base...), extra...)
}

// acctArgs is "account SUB" with server, CA bundle and state dir, then extra.
func (l *v1lab) acctArgs(sub string, extra ...string) []string {
	return append([]string{"account", sub, "--server", l.ca.DirectoryURL(), "--ca-bundle", l.bundle, "--state-dir", l.state}, extra...)
}

func (l *v1lab) http01() []string {
	return []string{"--http-01", "--http-01-addr", fmt.Sprintf("127.0.0.1:%d", l.httpPort)}
}

func (l *v1lab) certDir(name string) string { return filepath.Join(l.state, "certificates", name) }

func (l *v1lab) count(endpoint, method string) int { return l.ca.RequestCount(endpoint, method) }

// requests is a copy of the CA's request counters.
func (l *v1lab) requests() map[string]map[string]int { return l.ca.Snapshot().Requests }

func sameRequests(a, b map[string]map[string]int) bool {
	return maps.EqualFunc(a, b, func(x, y map[string]int) bool { return maps.Equal(x, y) })
}

// verifyTo checks that the chain in fullchain.pem verifies to rootPEM for name.
func verifyTo(t *testing.T, fullchain string, rootPEM []byte, name string) *x509.Certificate {
	t.Helper()
	chain := readChain(t, fullchain)
	if len(chain) < 2 {
		t.Fatalf("%s has %d certificates; want leaf and issuer", fullchain, len(chain))
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name}); err != nil {
		t.Errorf("chain does not verify to the issuing root: %v", err)
	}
	return chain[0]
}

// TestV1ObtainTwoNames: two names with http-01 on v1; the chain (leaf plus
// the "up" issuer) verifies to the test CA's issuer root; the account is
// stored as v1; obtaining again is "current" and sends nothing but the
// directory-free check.
func TestV1ObtainTwoNames(t *testing.T) {
	l := newV1Lab(t, v1ca.Config{})
	r := run(t, nil, l.args("obtain", append(l.http01(), "-d", "a.example.test", "-d", "b.example.test", "--json")...)...)
	if r.code != 0 {
		t.Fatalf("obtain exit %d: %s", r.code, r.stderr)
	}
	var doc struct {
		Outcome string `json:"outcome"`
		Dialect string `json:"dialect"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Outcome != "obtained" || !strings.Contains(doc.Dialect, "v1") {
		t.Errorf("obtain --json = %+v (%v)", doc, err)
	}
	leaf := verifyTo(t, filepath.Join(l.certDir("a.example.test"), "fullchain.pem"), l.ca.IssuerRootPEM(), "b.example.test")
	if got := strings.Join(leaf.DNSNames, ","); got != "a.example.test,b.example.test" {
		t.Errorf("names = %s", got)
	}
	key, err := keys.ParsePrivateKeyPEM(readFile(t, filepath.Join(l.certDir("a.example.test"), "privkey.pem")))
	if err != nil || !keys.MatchesKey(leaf, key.Public()) {
		t.Errorf("privkey.pem does not match the certificate (%v)", err)
	}
	for _, c := range []struct {
		endpoint, method string
		want             int
	}{
		{"new-reg", "POST", 1}, {"new-authz", "POST", 2}, {"challenge", "POST", 2}, {"new-cert", "POST", 1},
		{"revoke-cert", "POST", 0}, {"key-change", "POST", 0},
	} {
		if got := l.count(c.endpoint, c.method); got != c.want {
			t.Errorf("%s %s requests = %d; want %d", c.method, c.endpoint, got, c.want)
		}
	}
	regs := l.ca.Snapshot().Registrations
	if len(regs) != 1 || regs[0].Agreement != l.ca.TermsURL() {
		t.Errorf("registrations = %+v; want one that agreed to %s", regs, l.ca.TermsURL())
	}
	id, _ := store.ServerID(l.ca.DirectoryURL())
	var rec store.AccountRecord
	if err := json.Unmarshal(readFile(t, filepath.Join(l.state, "accounts", id, "default", "account.json")), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Dialect != "v1" || !strings.Contains(rec.URL, "/acme/reg/") {
		t.Errorf("stored account = %+v", rec)
	}
	if st, ok := l.ca.Certificate(fmt.Sprintf("%036x", leaf.SerialNumber)); !ok || st.Status != "valid" {
		t.Errorf("CA does not know the certificate as valid: %+v", st)
	}

	// Again: current, no authorization or certificate requested.
	before := l.requests()
	r = run(t, nil, l.args("obtain", append(l.http01(), "-d", "a.example.test", "-d", "b.example.test")...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "is current until") {
		t.Fatalf("second obtain: exit %d stdout %q", r.code, r.stdout)
	}
	if after := l.requests(); !sameRequests(before, after) {
		t.Errorf("second obtain reached the CA: %v → %v", before, after)
	}

	// --force: a new certificate; the valid authorizations are reused, so
	// no challenge is answered again.
	r = run(t, nil, l.args("obtain", append(l.http01(), "-d", "a.example.test", "-d", "b.example.test", "--force")...)...)
	if r.code != 0 {
		t.Fatalf("obtain --force: exit %d: %s", r.code, r.stderr)
	}
	if got := l.count("new-cert", "POST"); got != 2 {
		t.Errorf("new-cert after --force = %d; want 2", got)
	}
	if got := l.count("challenge", "POST"); got != 2 {
		t.Errorf("challenge POSTs after --force = %d; want 2 (authorizations reused)", got)
	}
	if got := l.count("new-reg", "POST"); got != 1 {
		t.Errorf("new-reg after --force = %d; want 1 (stored account reused)", got)
	}
}

// TestV1VersionOverride: --acme-version 2 against the v1 CA exits 2 naming
// the keys found, before any POST.
func TestV1VersionOverride(t *testing.T) {
	l := newV1Lab(t, v1ca.Config{})
	r := run(t, nil, l.args("obtain", append(l.http01(), "-d", "v.example.test", "--acme-version", "2")...)...)
	if r.code != 2 {
		t.Fatalf("obtain --acme-version 2: exit %d; want 2", r.code)
	}
	for _, k := range []string{"new-reg", "new-authz", "new-cert", "newOrder"} {
		if !strings.Contains(r.stderr, k) {
			t.Errorf("stderr %q does not name %s", r.stderr, k)
		}
	}
	for _, ep := range []string{"new-reg", "new-authz", "new-cert", "reg"} {
		if n := l.count(ep, ""); n != 0 {
			t.Errorf("%s requests = %d; want 0", ep, n)
		}
	}
	// --acme-version 1 is what auto chooses anyway.
	r = run(t, nil, l.args("obtain", append(l.http01(), "-d", "v1.example.test", "--acme-version", "1")...)...)
	if r.code != 0 {
		t.Fatalf("obtain --acme-version 1: exit %d: %s", r.code, r.stderr)
	}
}

// TestV1Unsupported: names v1 never issued for fail before any request
// that changes state, with exit 2 and a message naming the dialect.
func TestV1Unsupported(t *testing.T) {
	l := newV1Lab(t, v1ca.Config{})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		// A wildcard needs a DNS solver; a program that is never run does.
		{"wildcard", []string{"-d", "*.example.test", "--cert-name", "wild", "--dns-01", "exec", "--dns-exec", "/bin/true"}, "wildcard"},
		{"ip", append(l.http01(), "-d", "127.0.0.1"), "IP identifiers"},
		{"profile", append(l.http01(), "-d", "p.example.test", "--profile", "shortlived"), "profile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, nil, l.args("obtain", tc.args...)...)
			if r.code != 2 {
				t.Fatalf("exit %d; want 2", r.code)
			}
			if !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "v1") {
				t.Errorf("stderr %q does not name %q and the v1 dialect", r.stderr, tc.want)
			}
			for _, ep := range []string{"new-reg", "new-authz", "new-cert"} {
				if n := l.count(ep, "POST"); n != 0 {
					t.Errorf("%s POSTs = %d; want 0", ep, n)
				}
			}
		})
	}
	// EAB on v1: refused before any request.
	keyFile := filepath.Join(t.TempDir(), "hmac")
	if err := os.WriteFile(keyFile, []byte("c2VjcmV0LXNlY3JldC1zZWNyZXQ"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, l.acctArgs("register", "--accept-tos", "--eab-kid", "kid-1", "--eab-hmac-key-file", keyFile)...)
	if r.code != 2 || !strings.Contains(r.stderr, "external account binding") || !strings.Contains(r.stderr, "v1") {
		t.Errorf("register with EAB on v1: exit %d stderr %q; want 2 naming EAB and v1", r.code, r.stderr)
	}
	if n := l.count("new-reg", "POST"); n != 0 {
		t.Errorf("new-reg POSTs = %d; want 0", n)
	}
}

// TestV1MigrateToPebble: a certificate obtained on v1, then account migrate
// to Pebble (dry run first, then --yes), then a forced reorder that lands
// on Pebble with the migrated key and leaves the v1 CA alone.
func TestV1MigrateToPebble(t *testing.T) {
	port := testenv.FreePort(t)
	l := newV1Lab(t, v1ca.Config{HTTP01Port: port})
	p := testenv.StartPebble(t, testenv.PebbleOptions{HTTPPort: port, Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	names := []string{"-d", "m1.example.test", "-d", "m2.example.test"}
	r := run(t, nil, l.args("obtain", append(l.http01(), names...)...)...)
	if r.code != 0 {
		t.Fatalf("obtain on v1: exit %d: %s", r.code, r.stderr)
	}
	certDir := l.certDir("m1.example.test")
	files := snapshot(t, certDir)
	settingsPath := filepath.Join(certDir, "settings.yaml")
	settingsBefore := readFile(t, settingsPath)
	v1ID, _ := store.ServerID(l.ca.DirectoryURL())
	v1Key := readFile(t, filepath.Join(l.state, "accounts", v1ID, "default", "key.pem"))

	migrate := func(extra ...string) result {
		return run(t, nil, append([]string{"account", "migrate", "--from", l.ca.DirectoryURL(), "--to", p.DirURL,
			"--ca-bundle", p.CABundle, "--state-dir", l.state}, extra...)...)
	}
	// Dry run: shows the plan, changes nothing, creates nothing at Pebble.
	r = migrate()
	if r.code != 0 || !strings.Contains(r.stdout, "Dry run") || !strings.Contains(r.stdout, "m1.example.test") ||
		!strings.Contains(r.stdout, "register the same key") {
		t.Fatalf("dry run: exit %d stdout %q", r.code, r.stdout)
	}
	if got := readFile(t, settingsPath); string(got) != string(settingsBefore) {
		t.Error("dry run changed settings.yaml")
	}
	if got := p.Count("POST /sign-me-up 201"); got != 0 {
		t.Errorf("dry run created %d accounts at Pebble", got)
	}
	// Off a terminal, registering needs --accept-tos: exit 2, nothing changed.
	r = migrate("--yes")
	if r.code != 2 || !strings.Contains(r.stderr, "--accept-tos") {
		t.Fatalf("migrate --yes without --accept-tos: exit %d stderr %q; want 2", r.code, r.stderr)
	}
	if got := readFile(t, settingsPath); string(got) != string(settingsBefore) {
		t.Error("refused migration changed settings.yaml")
	}
	r = migrate("--yes", "--accept-tos", "--json")
	if r.code != 0 {
		t.Fatalf("migrate --yes: exit %d: %s", r.code, r.stderr)
	}
	var doc struct {
		Applied  bool `json:"applied"`
		Accounts []struct {
			Label, Action, AccountURL string
		} `json:"accounts"`
		Certificates []struct {
			CertName string `json:"cert_name"`
		} `json:"certificates"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || !doc.Applied || len(doc.Accounts) != 1 ||
		doc.Accounts[0].Action != "register" || len(doc.Certificates) != 1 {
		t.Errorf("migrate --json = %s (%v)", r.stdout, err)
	}
	if got := p.Count("POST /sign-me-up 201"); got != 1 {
		t.Errorf("accounts created at Pebble = %d; want 1", got)
	}
	sameSnapshot(t, files, snapshot(t, certDir))
	s := readFile(t, settingsPath)
	if !strings.Contains(string(s), p.DirURL) || strings.Contains(string(s), l.ca.DirectoryURL()) {
		t.Errorf("settings.yaml after migrate:\n%s", s)
	}
	pebbleID, _ := store.ServerID(p.DirURL)
	newKey := readFile(t, filepath.Join(l.state, "accounts", pebbleID, "default", "key.pem"))
	if thumbprintOf(t, newKey) != thumbprintOf(t, v1Key) {
		t.Error("the account stored for Pebble does not have the v1 account's key")
	}
	// Applying again finds nothing new to register.
	r = migrate("--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "already stored") || !strings.Contains(r.stdout, "Nothing to change") {
		t.Errorf("second migrate: exit %d stdout %q", r.code, r.stdout)
	}

	// The next renewal goes to Pebble, not to the v1 CA.
	v1Before := l.requests()
	r = run(t, nil, "renew", "--state-dir", l.state, "--force", "--cert-name", "m1.example.test", "--no-random-sleep")
	if r.code != 0 {
		t.Fatalf("renew --force after migrate: exit %d: %s", r.code, r.stderr)
	}
	if got := p.Count("POST /order-plz 201"); got != 1 {
		t.Errorf("orders created at Pebble = %d; want 1", got)
	}
	if got := p.Count("POST /sign-me-up 201"); got != 1 {
		t.Errorf("accounts at Pebble = %d; want 1 (the migrated one)", got)
	}
	if after := l.requests(); !sameRequests(v1Before, after) {
		t.Errorf("the v1 CA got requests after the migration: %v → %v", v1Before, after)
	}
	verifyTo(t, filepath.Join(certDir, "fullchain.pem"), p.Root(t, 0), "m2.example.test")
}

// TestV1Lifecycle: renew, account update, key rollover, revocation (by
// account key, again, by certificate key, an unsupported reason) and
// deactivation on v1, each checked in the CA's own state.
func TestV1Lifecycle(t *testing.T) {
	l := newV1Lab(t, v1ca.Config{})
	r := run(t, nil, l.args("obtain", append(l.http01(), "-d", "life.example.test")...)...)
	if r.code != 0 {
		t.Fatalf("obtain: exit %d: %s", r.code, r.stderr)
	}
	dir := l.certDir("life.example.test")
	first := readFile(t, filepath.Join(dir, "cert.pem"))
	firstKey := readFile(t, filepath.Join(dir, "privkey.pem"))

	r = run(t, nil, "renew", "--state-dir", l.state, "--force", "--cert-name", "life.example.test", "--no-random-sleep")
	if r.code != 0 {
		t.Fatalf("renew --force: exit %d: %s", r.code, r.stderr)
	}
	if got := l.count("new-cert", "POST"); got != 2 {
		t.Errorf("new-cert POSTs after renew = %d; want 2", got)
	}
	if string(readFile(t, filepath.Join(dir, "cert.pem"))) == string(first) {
		t.Error("renew did not install a new certificate")
	}
	verifyTo(t, filepath.Join(dir, "fullchain.pem"), l.ca.IssuerRootPEM(), "life.example.test")
	// Not due: at most the directory is read (for ARI, which v1 lacks).
	before := l.requests()
	r = run(t, nil, "renew", "--state-dir", l.state, "--no-random-sleep")
	if r.code != 0 || r.stdout != "" {
		t.Errorf("renew when nothing is due: exit %d stdout %q", r.code, r.stdout)
	}
	after := l.requests()
	delete(before, "directory")
	delete(after, "directory")
	if !sameRequests(before, after) {
		t.Errorf("renew with nothing due reached the CA beyond its directory: %v → %v", before, after)
	}

	r = run(t, nil, l.acctArgs("update", "--email", "new@example.test")...)
	if r.code != 0 {
		t.Fatalf("account update: exit %d: %s", r.code, r.stderr)
	}
	if regs := l.ca.Snapshot().Registrations; len(regs) != 1 || strings.Join(regs[0].Contact, ",") != "mailto:new@example.test" {
		t.Errorf("registrations after update = %+v", regs)
	}

	r = run(t, nil, l.acctArgs("rollover")...)
	if r.code != 0 {
		t.Fatalf("account rollover: exit %d: %s", r.code, r.stderr)
	}
	if got := l.count("key-change", "POST"); got != 1 {
		t.Errorf("key-change POSTs = %d; want 1", got)
	}
	id, _ := store.ServerID(l.ca.DirectoryURL())
	acctKey := readFile(t, filepath.Join(l.state, "accounts", id, "default", "key.pem"))
	if regs := l.ca.Snapshot().Registrations; regs[0].Thumbprint != thumbprintOf(t, acctKey) {
		t.Errorf("CA key thumbprint %s; stored key %s", regs[0].Thumbprint, thumbprintOf(t, acctKey))
	}

	// Revoke the current certificate with the (rolled-over) account key.
	leaf := readChain(t, filepath.Join(dir, "cert.pem"))[0]
	r = run(t, nil, "revoke", "--state-dir", l.state, "--cert-name", "life.example.test", "--reason", "superseded", "--yes")
	if r.code != 0 {
		t.Fatalf("revoke: exit %d: %s", r.code, r.stderr)
	}
	if st, ok := l.ca.Certificate(fmt.Sprintf("%036x", leaf.SerialNumber)); !ok || st.Status != "revoked" || st.Reason == nil || *st.Reason != 4 {
		t.Errorf("CA state after revoke = %+v", st)
	}
	r = run(t, nil, "revoke", "--state-dir", l.state, "--cert-name", "life.example.test", "--yes")
	if r.code != 0 || !strings.Contains(strings.ToLower(r.stdout+r.stderr), "already revoked") {
		t.Errorf("second revoke: exit %d stdout %q stderr %q; want 0 saying already revoked", r.code, r.stdout, r.stderr)
	}
	// The first certificate, by its own key; a reason v1 never accepted
	// fails before any request.
	certFile, keyFile := filepath.Join(t.TempDir(), "c.pem"), filepath.Join(t.TempDir(), "k.pem")
	if err := os.WriteFile(certFile, first, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, firstKey, 0o600); err != nil {
		t.Fatal(err)
	}
	revokes := l.count("revoke-cert", "POST")
	r = run(t, nil, "revoke", "--server", l.ca.DirectoryURL(), "--ca-bundle", l.bundle, "--state-dir", l.state,
		"--cert", certFile, "--key", keyFile, "--reason", "cACompromise", "--yes")
	if r.code != 2 || !strings.Contains(r.stderr, "v1") {
		t.Errorf("revoke with reason 2: exit %d stderr %q; want 2 naming v1", r.code, r.stderr)
	}
	if got := l.count("revoke-cert", "POST"); got != revokes {
		t.Errorf("revoke with an unsupported reason sent %d requests", got-revokes)
	}
	r = run(t, nil, "revoke", "--server", l.ca.DirectoryURL(), "--ca-bundle", l.bundle, "--state-dir", l.state,
		"--cert", certFile, "--key", keyFile, "--reason", "keyCompromise", "--yes")
	if r.code != 0 {
		t.Fatalf("revoke by certificate key: exit %d: %s", r.code, r.stderr)
	}
	firstLeaf := readChain(t, certFile)[0]
	if st, ok := l.ca.Certificate(fmt.Sprintf("%036x", firstLeaf.SerialNumber)); !ok || st.Status != "revoked" || st.Reason == nil || *st.Reason != 1 {
		t.Errorf("CA state of the first certificate = %+v", st)
	}

	r = run(t, nil, l.acctArgs("deactivate", "--yes")...)
	if r.code != 0 {
		t.Fatalf("account deactivate: exit %d: %s", r.code, r.stderr)
	}
	if regs := l.ca.Snapshot().Registrations; regs[0].Status != "deactivated" {
		t.Errorf("registration status = %q; want deactivated", regs[0].Status)
	}
}

// TestV1TermsOnlyInLink: issue 13 item 15. A v1 directory without meta
// (Boulder before 2017-05) names the terms only in new-reg's Link header;
// they still need --accept-tos (or a prompt): without it obtain exits 2
// naming the terms and nothing is agreed or ordered; with it the
// registration made on the first try agrees and the order works.
func TestV1TermsOnlyInLink(t *testing.T) {
	l := newV1Lab(t, v1ca.Config{NoMeta: true})
	noTOS := slices.DeleteFunc(append([]string(nil), l.base...), func(s string) bool { return s == "--accept-tos" })
	r := run(t, nil, append(append([]string{"obtain"}, noTOS...), append(l.http01(), "-d", "l.example.test")...)...)
	if r.code != 2 || !strings.Contains(r.stderr, l.ca.TermsURL()) || !strings.Contains(r.stderr, "--accept-tos") {
		t.Errorf("obtain without --accept-tos: exit %d stderr %q; want 2 naming the terms and --accept-tos", r.code, r.stderr)
	}
	for _, reg := range l.ca.Snapshot().Registrations {
		if reg.Agreement != "" {
			t.Errorf("registration %+v agreed to the terms without consent", reg)
		}
	}
	if n := l.count("new-authz", "POST"); n != 0 {
		t.Errorf("new-authz POSTs = %d; want 0", n)
	}
	r = run(t, nil, l.args("obtain", append(l.http01(), "-d", "l.example.test")...)...)
	if r.code != 0 {
		t.Fatalf("obtain --accept-tos: exit %d %s", r.code, r.stderr)
	}
	if regs := l.ca.Snapshot().Registrations; len(regs) != 1 || regs[0].Agreement != l.ca.TermsURL() {
		t.Errorf("registrations %+v; want one, agreed to %s", regs, l.ca.TermsURL())
	}
}
