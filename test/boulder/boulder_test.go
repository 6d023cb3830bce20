package boulder

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/testenv"
)

// Set by scripts/boulder/test.sh once Boulder answers.
var (
	directory = os.Getenv("ACMECTL_BOULDER_DIRECTORY")
	caBundle  = os.Getenv("ACMECTL_BOULDER_CA_BUNDLE")
	dnsHook   = os.Getenv("ACMECTL_BOULDER_DNS_HOOK")
	dnsServer = os.Getenv("ACMECTL_BOULDER_DNS") // chall-test-srv's DNS, HOST:PORT
	mysqlConf = os.Getenv("ACMECTL_BOULDER_MYSQL_DEFAULTS")
)

var bin string

func TestMain(m *testing.M) {
	if directory == "" {
		fmt.Println("test/boulder: ACMECTL_BOULDER_DIRECTORY unset: skipped (run make test-boulder)")
		os.Exit(0)
	}
	b, err := testenv.BuildAcmectl("acmectl-boulder-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = b
	code := m.Run()
	os.RemoveAll(filepath.Dir(b))
	os.Exit(code)
}

// run is one acmectl run.
type run struct {
	code           int
	stdout, stderr string
}

// lab is one test's state dir and unique names (Boulder reuses orders and
// authorizations across runs, and the suite runs against a long-lived
// database).
type lab struct {
	state string
	tag   string
}

func newLab(t *testing.T) *lab {
	b := make([]byte, 5)
	rand.Read(b)
	return &lab{state: t.TempDir(), tag: hex.EncodeToString(b)}
}

// name is a DNS name unique to this lab under example.com (Boulder's test
// policy refuses .test, .local, example.net/org and loopback IPs).
func (l *lab) name(label string) string { return label + "." + l.tag + ".example.com" }

func (l *lab) acmectl(t *testing.T, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+l.state)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := run{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("acmectl: %v", err)
	}
	t.Logf("acmectl %s → %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// server are the flags naming Boulder and the state dir.
func (l *lab) server(args ...string) []string {
	return append(args, "--server", directory, "--ca-bundle", caBundle, "--state-dir", l.state)
}

// obtain runs obtain with an account at Boulder (its test policy refuses
// contacts at example.com) and the given solver/name flags.
func (l *lab) obtain(t *testing.T, args ...string) run {
	t.Helper()
	return l.acmectl(t, l.server(append([]string{"obtain", "--accept-tos", "--email", "ops@letsencrypt.org"}, args...)...)...)
}

func http01(names ...string) []string {
	a := []string{"--http-01", "--http-01-addr", "127.0.0.1:80"} // Boulder's VA always uses port 80
	for _, n := range names {
		a = append(a, "-d", n)
	}
	return a
}

func mustOK(t *testing.T, r run, what string) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\n%s", what, r.code, r.stderr)
	}
}

// chain reads a certificate's fullchain.pem.
func (l *lab) chain(t *testing.T, cert string) []*x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(l.state, "certificates", cert, "fullchain.pem"))
	if err != nil {
		t.Fatal(err)
	}
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if len(out) < 2 {
		t.Fatalf("%s: chain of %d certificates", cert, len(out))
	}
	return out
}

func (l *lab) state_(t *testing.T, cert string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.state, "certificates", cert, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// sql runs a query on Boulder's database (server-side truth).
func sql(t *testing.T, query string) string {
	t.Helper()
	if mysqlConf == "" {
		t.Skip("ACMECTL_BOULDER_MYSQL_DEFAULTS unset")
	}
	out, err := exec.CommandContext(t.Context(), "mariadb", "--defaults-file="+mysqlConf, "-uroot", "-N", "-B", "boulder_sa", "-e", query).CombinedOutput()
	if err != nil {
		t.Fatalf("mariadb %q: %v\n%s", query, err, out)
	}
	return strings.TrimSpace(string(out))
}

func serialHex(c *x509.Certificate) string { return fmt.Sprintf("%036x", c.SerialNumber) }

func TestObtainHTTP01(t *testing.T) {
	l := newLab(t)
	n := l.name("h")
	mustOK(t, l.obtain(t, http01(n)...), "obtain http-01")
	leaf := l.chain(t, n)[0]
	if err := leaf.VerifyHostname(n); err != nil {
		t.Error(err)
	}
	if got := sql(t, fmt.Sprintf("select count(*) from certificates where serial='%s'", serialHex(leaf))); got != "1" {
		t.Errorf("Boulder has %s certificates with the leaf's serial; want 1", got)
	}
}

func TestObtainTLSALPN01(t *testing.T) {
	l := newLab(t)
	n := l.name("t")
	mustOK(t, l.obtain(t, "--tls-alpn-01", "--tls-alpn-01-addr", "127.0.0.1:443", "-d", n), "obtain tls-alpn-01")
	if err := l.chain(t, n)[0].VerifyHostname(n); err != nil {
		t.Error(err)
	}
}

func TestObtainDNS01Wildcard(t *testing.T) {
	l := newLab(t)
	base := l.name("w")
	mustOK(t, l.obtain(t, "--dns-01", "exec", "--dns-exec", dnsHook, "--dns-resolvers", dnsServer,
		"-d", "*."+base, "-d", base), "obtain dns-01 wildcard")
	leaf := l.chain(t, "_wildcard."+base)[0]
	for _, h := range []string{base, "x." + base} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Error(err)
		}
	}
}

// ARI and replaces: a plain renew of a fresh certificate is not due; an
// order with --force for the same certificate and account sends replaces,
// which Boulder records against the old serial in replacementOrders.
func TestRenewARIReplaces(t *testing.T) {
	l := newLab(t)
	n := l.name("r")
	mustOK(t, l.obtain(t, http01(n)...), "obtain")
	old := l.chain(t, n)[0]
	mustOK(t, l.acmectl(t, "renew", "--state-dir", l.state, "--no-random-sleep"), "renew (not due)")
	if ari, _ := l.state_(t, n)["ari"].(map[string]any); ari == nil || ari["window_start"] == nil {
		// Whether a plain renew fetches ARI for a certificate this fresh
		// is the renewal policy's business; logged, not asserted.
		t.Logf("no ARI window stored after a plain renew of a fresh certificate")
	}
	mustOK(t, l.obtain(t, append(http01(n), "--force")...), "obtain --force (renewal with replaces)")
	if l.chain(t, n)[0].SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Fatal("not renewed")
	}
	if got := sql(t, fmt.Sprintf("select count(*) from replacementOrders where serial='%s'", serialHex(old))); got != "1" {
		t.Errorf("Boulder recorded %s replacement orders for the old serial; want 1 (replaces sent)", got)
	}
}

func TestProfiles(t *testing.T) {
	l := newLab(t)
	n := l.name("p")
	mustOK(t, l.obtain(t, append(http01(n), "--profile", "shortlived")...), "obtain --profile shortlived")
	leaf := l.chain(t, n)[0]
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life > 8*24*time.Hour {
		t.Errorf("shortlived certificate lives %v; want ≤ 8 days", life)
	}
	r := l.obtain(t, append(http01(l.name("q")), "--profile", "no-such-profile")...)
	if r.code != 2 || !strings.Contains(r.stderr, "the server offers") {
		t.Errorf("unknown profile: exit %d; want 2 naming the offered profiles", r.code)
	}
}

func TestPreferredChain(t *testing.T) {
	l := newLab(t)
	a, b := l.name("c1"), l.name("c2")
	mustOK(t, l.obtain(t, http01(a)...), "obtain default chain")
	def := l.chain(t, a)
	defTop := def[len(def)-1].Issuer.CommonName
	want := "root rsa"
	if defTop == want {
		want = "root ecdsa"
	}
	mustOK(t, l.obtain(t, append(http01(b), "--preferred-chain", want)...), "obtain --preferred-chain")
	alt := l.chain(t, b)
	if got := alt[len(alt)-1].Issuer.CommonName; got != want {
		t.Errorf("preferred chain tops out at %q; want %q (default %q)", got, want, defTop)
	}
}

func TestRevoke(t *testing.T) {
	l := newLab(t)
	n := l.name("v")
	mustOK(t, l.obtain(t, http01(n)...), "obtain")
	leaf := l.chain(t, n)[0]
	mustOK(t, l.acmectl(t, "revoke", "--state-dir", l.state, "--cert-name", n, "--reason", "superseded", "--yes"), "revoke")
	got := sql(t, fmt.Sprintf("select status, revokedReason from certificateStatus where serial='%s'", serialHex(leaf)))
	if got != "revoked\t4" {
		t.Errorf("Boulder's status for the certificate: %q; want revoked with reason 4 (superseded)", got)
	}
}

// Rollover, then an order at once: Boulder's account cache refuses the new
// key's signatures for seconds; acmectl retries them.
func TestRolloverThenOrder(t *testing.T) {
	l := newLab(t)
	n := l.name("k")
	mustOK(t, l.obtain(t, http01(n)...), "obtain")
	mustOK(t, l.acmectl(t, l.server("account", "rollover")...), "account rollover")
	mustOK(t, l.obtain(t, append(http01(n), "--force")...), "obtain right after the rollover")
}

// A new account under the same label (here: the account files lost, as
// after import without the account): replaces would be refused with 403
// unauthorized; acmectl does not send it, and the renewal works.
func TestReplacesAfterNewAccount(t *testing.T) {
	l := newLab(t)
	n := l.name("n")
	mustOK(t, l.obtain(t, http01(n)...), "obtain")
	old := l.chain(t, n)[0]
	if err := os.RemoveAll(filepath.Join(l.state, "accounts")); err != nil {
		t.Fatal(err)
	}
	mustOK(t, l.obtain(t, append(http01(n), "--force")...), "obtain --force with a new account")
	if got := sql(t, fmt.Sprintf("select count(*) from replacementOrders where serial='%s'", serialHex(old))); got != "0" {
		t.Errorf("replacement orders for the old serial: %s; want 0", got)
	}
}

func TestDeactivate(t *testing.T) {
	l := newLab(t)
	mustOK(t, l.obtain(t, http01(l.name("a"))...), "obtain")
	r := l.acmectl(t, l.server("account", "deactivate", "--yes")...)
	mustOK(t, r, "account deactivate")
	// "Account URL deactivated …": the state dir forgets the account.
	f := strings.Fields(r.stdout)
	if len(f) < 2 || !strings.HasPrefix(f[1], "https://") {
		t.Fatalf("no account URL in %q", r.stdout)
	}
	acct := struct{ URL string }{f[1]}
	id := acct.URL[strings.LastIndex(acct.URL, "/")+1:]
	if got := sql(t, "select status from registrations where id="+id); got != "deactivated" {
		t.Errorf("Boulder's account status %q; want deactivated", got)
	}
}

// Boulder refuses must-staple at finalize, after validation: acmectl
// refuses it before ordering and says how to clear the setting.
func TestMustStapleRefused(t *testing.T) {
	l := newLab(t)
	n := l.name("m")
	before := sql(t, "select count(*) from orders")
	r := l.obtain(t, append(http01(n), "--must-staple")...)
	if r.code != 2 || !strings.Contains(r.stderr, "--must-staple=false") {
		t.Errorf("obtain --must-staple: exit %d; want 2 with how to clear it", r.code)
	}
	if after := sql(t, "select count(*) from orders"); after != before {
		t.Errorf("orders at Boulder %s → %s; want no new order", before, after)
	}
}

// replaceCmd is the way out acmectl prints for a lost or deactivated
// account under label "default".
func replaceCmd() string {
	return "acmectl account register --replace --server " + directory + " --account default"
}

// A lost account (the CA's database reset, as at a staging reset): the
// registration row is deleted. Boulder answers the next order with 400
// accountDoesNotExist; obtain and doctor print the way out, and that
// command gets the label working again.
func TestLostAccount(t *testing.T) {
	l := newLab(t)
	n := l.name("l")
	// Registered by newAccount only: Boulder's account cache (keyed by
	// ID, filled by signed requests) has not seen it yet.
	r := l.acmectl(t, l.server("account", "register", "--accept-tos", "--email", "ops@letsencrypt.org", "--json")...)
	mustOK(t, r, "account register")
	var acct struct{ URL string }
	if err := json.Unmarshal([]byte(r.stdout), &acct); err != nil || acct.URL == "" {
		t.Fatalf("account register --json: %v %q", err, r.stdout)
	}
	id := acct.URL[strings.LastIndex(acct.URL, "/")+1:]
	sql(t, "delete from registrations where id="+id)
	r = l.obtain(t, http01(n)...)
	if r.code != 1 || !strings.Contains(r.stderr, "accountDoesNotExist") || !strings.Contains(r.stderr, replaceCmd()) {
		t.Errorf("obtain with the lost account: exit %d; want 1 naming accountDoesNotExist and %q", r.code, replaceCmd())
	}
	r = l.acmectl(t, l.server("doctor", "--http-01", "-d", n)...)
	if !strings.Contains(r.stdout, replaceCmd()) {
		t.Errorf("doctor does not print %q", replaceCmd())
	}
	r = l.acmectl(t, l.server("account", "register", "--replace", "--account", "default", "--accept-tos", "--json")...)
	mustOK(t, r, "account register --replace")
	var repl struct {
		URL      string
		Contacts []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &repl); err != nil || repl.URL == "" || repl.URL == acct.URL {
		t.Fatalf("register --replace: %v %q; want a new account URL", err, r.stdout)
	}
	if len(repl.Contacts) != 1 || repl.Contacts[0] != "mailto:ops@letsencrypt.org" {
		t.Errorf("contacts after --replace: %v; want the stored one kept", repl.Contacts)
	}
	newID := repl.URL[strings.LastIndex(repl.URL, "/")+1:]
	if got := sql(t, "select status from registrations where id="+newID); got != "valid" {
		t.Errorf("Boulder's status of the new account: %q", got)
	}
	mustOK(t, l.obtain(t, http01(n)...), "obtain after register --replace")
}

// A deactivated account looked up again: Boulder answers 403 unauthorized
// "exists but is deactivated", shown as the account's status with the way
// out (was: "new account: unauthorized").
func TestDeactivatedLookedUp(t *testing.T) {
	l := newLab(t)
	mustOK(t, l.acmectl(t, l.server("account", "register", "--accept-tos")...), "account register")
	id := filepath.Join(l.state, "accounts")
	ents, err := os.ReadDir(id)
	if err != nil || len(ents) != 1 {
		t.Fatalf("accounts: %v %v", ents, err)
	}
	srv := filepath.Join(id, ents[0].Name())
	if out, err := exec.Command("cp", "-a", filepath.Join(srv, "default"), filepath.Join(srv, "copy")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	mustOK(t, l.acmectl(t, l.server("account", "deactivate", "--yes")...), "account deactivate")
	r := l.acmectl(t, l.server("account", "show", "--account", "copy")...)
	want := "acmectl account register --replace --server " + directory + " --account copy"
	if r.code != 1 || !strings.Contains(r.stderr, "is deactivated") || !strings.Contains(r.stderr, want) {
		t.Errorf("show of a deactivated account: exit %d; want 1 saying it is deactivated and %q", r.code, want)
	}
	if b, err := os.ReadFile(filepath.Join(srv, "copy", "account.json")); err != nil || !strings.Contains(string(b), `"deactivated"`) {
		t.Errorf("the stored record does not say deactivated: %s %v", b, err)
	}
	mustOK(t, l.acmectl(t, l.server("account", "register", "--replace", "--account", "copy", "--accept-tos")...), "register --replace of a deactivated account")
}

// Boulder neither stores nor returns contacts: account update does not
// claim success, and account show keeps the local list.
func TestContactsNotKept(t *testing.T) {
	l := newLab(t)
	mustOK(t, l.acmectl(t, l.server("account", "register", "--accept-tos", "--email", "ops@letsencrypt.org")...), "account register")
	r := l.acmectl(t, l.server("account", "update", "--email", "sec@letsencrypt.org")...)
	if r.code != 0 || strings.Contains(r.stdout, "Account updated") || !strings.Contains(r.stdout, "locally only") {
		t.Errorf("account update: exit %d; want 0 saying it was recorded locally only", r.code)
	}
	r = l.acmectl(t, l.server("account", "show", "--json")...)
	if r.code != 0 || !strings.Contains(r.stdout, "mailto:sec@letsencrypt.org") || !strings.Contains(r.stdout, `"ca_contacts": []`) {
		t.Errorf("account show: exit %d; want the local contact and what the CA returned (none)", r.code)
	}
}

// IP identifiers: Boulder permits them only in the shortlived profile and
// never for reserved addresses; acmectl says so before ordering.
func TestIPIdentifiersRefusedBeforeOrder(t *testing.T) {
	l := newLab(t)
	before := sql(t, "select count(*) from orders")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-d", "8.8.8.8"}, "--profile shortlived"},
		{[]string{"-d", "127.0.0.1", "--profile", "shortlived"}, "loopback"},
	} {
		r := l.obtain(t, append([]string{"--http-01", "--http-01-addr", "127.0.0.1:80"}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("obtain %v: exit %d; want 2 naming %q", c.args, r.code, c.want)
		}
	}
	if after := sql(t, "select count(*) from orders"); after != before {
		t.Errorf("orders at Boulder %s → %s; want no new order", before, after)
	}
	r := l.acmectl(t, l.server("directory")...)
	if !strings.Contains(r.stdout, "only with --profile shortlived") {
		t.Errorf("directory does not say that IPs need shortlived:\n%s", r.stdout)
	}
}
