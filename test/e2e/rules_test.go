package e2e

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/acmectl/acmectl/internal/testenv"
)

// The lifecycle rules of docs/renewal.md ("obtain on an existing
// certificate", "a certificate exists once it has been issued", "solver
// flags replace the stored set"), end to end against Pebble.

// verifiesTo reports whether the live fullchain of dir chains to p's root.
func verifiesTo(t *testing.T, p *testenv.Pebble, dir string) bool {
	t.Helper()
	chain := readChain(t, filepath.Join(dir, "fullchain.pem"))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.Root(t, 0))
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	return err == nil
}

// stagingAndProduction starts two Pebbles standing for a staging and a
// production CA (validating on the same http-01 port) and returns them, a
// CA bundle trusting both and a state directory.
func stagingAndProduction(t *testing.T) (staging, prod *testenv.Pebble, bundle, state string) {
	t.Helper()
	staging = testenv.StartPebble(t, quietPebble(nil))
	prod = testenv.StartPebble(t, testenv.PebbleOptions{HTTPPort: staging.HTTPPort, Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	dir := t.TempDir()
	bundle = filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(bundle, append(readFile(t, staging.CABundle), readFile(t, prod.CABundle)...), 0o644); err != nil {
		t.Fatal(err)
	}
	return staging, prod, bundle, filepath.Join(dir, "state")
}

// TestObtainNewServerOrdersAnew: a certificate from a staging server, then
// obtain with the same names and another --server (the README's step to
// production) orders a new certificate from the new server; a failed
// attempt changes neither the live files nor settings.yaml.
func TestObtainNewServerOrdersAnew(t *testing.T) {
	t.Parallel()
	staging, prod, bundle, state := stagingAndProduction(t)
	const name = "srv.example.test"
	httpAddr := fmt.Sprintf("127.0.0.1:%d", staging.HTTPPort)
	obtain := func(server string, extra ...string) result {
		return run(t, nil, append([]string{"obtain", "--server", server, "--ca-bundle", bundle, "--state-dir", state,
			"--accept-tos", "--email", "admin@example.test", "-d", name}, extra...)...)
	}
	if r := obtain(staging.DirURL, "--http-01", "--http-01-addr", httpAddr); r.code != 0 {
		t.Fatalf("obtain from staging: exit %d", r.code)
	}
	cdir := filepath.Join(state, "certificates", name)
	if !verifiesTo(t, staging, cdir) {
		t.Fatal("first certificate is not from staging")
	}
	before := snapshot(t, cdir)
	settingsBefore := readFile(t, filepath.Join(cdir, "settings.yaml"))

	// Production refuses (nothing answers on this http-01 address): the
	// staging certificate and its settings stay as they were.
	dead := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	if r := obtain(prod.DirURL, "--http-01-addr", dead); r.code != 1 {
		t.Errorf("failed obtain from production: exit %d; want 1", r.code)
	}
	sameSnapshot(t, before, snapshot(t, cdir))
	if got := readFile(t, filepath.Join(cdir, "settings.yaml")); string(got) != string(settingsBefore) {
		t.Errorf("settings.yaml changed by a failed order:\n%s", got)
	}

	r := obtain(prod.DirURL)
	if r.code != 0 {
		t.Fatalf("obtain from production: exit %d", r.code)
	}
	if strings.Contains(r.stdout, "is current") {
		t.Errorf("obtain with a new server said %q; want a new certificate", r.stdout)
	}
	if got := prod.Count("POST /order-plz 201"); got != 2 {
		t.Errorf("orders at production = %d; want 2 (the failed one and the new one)", got)
	}
	if !verifiesTo(t, prod, cdir) {
		t.Error("live certificate is not from production")
	}
	if set := string(readFile(t, filepath.Join(cdir, "settings.yaml"))); !strings.Contains(set, "server: "+prod.DirURL) {
		t.Errorf("settings.yaml does not name production:\n%s", set)
	}
	// Same server again: current, nothing ordered.
	if r := obtain(prod.DirURL); r.code != 0 || !strings.Contains(r.stdout, "is current until") {
		t.Errorf("obtain again: exit %d stdout %q", r.code, r.stdout)
	}
	if got := prod.Count("POST /order-plz 201"); got != 2 {
		t.Errorf("orders at production after a repeat = %d; want 2", got)
	}
}

// TestSwitchToWebroot: certificates obtained with the built-in http-01
// responder, then switched to --webroot by obtain and by reconfigure; with
// nginx holding the old http-01 port, renewals succeed through the webroot.
func TestSwitchToWebroot(t *testing.T) {
	t.Parallel()
	l := newLab(t, quietPebble(nil))
	const viaObtain, viaReconfigure = "sw1.example.test", "sw2.example.test"
	mustObtain(t, l, viaObtain)
	mustObtain(t, l, viaReconfigure)
	www := webrootDir(t)
	testenv.StartNginx(t, www, l.p.HTTPPort) // holds the built-in responder's port from now on

	r := run(t, nil, l.args("obtain", "-d", viaObtain, "--webroot", www)...)
	if r.code != 0 || !strings.Contains(r.stdout, "is current until") {
		t.Fatalf("obtain --webroot: exit %d stdout %q", r.code, r.stdout)
	}
	if !strings.Contains(r.stdout+r.stderr, "webroot") {
		t.Errorf("obtain --webroot does not say what changed: %q %q", r.stdout, r.stderr)
	}
	if r := run(t, nil, l.args("reconfigure", "--cert-name", viaReconfigure, "--webroot", www)...); r.code != 0 {
		t.Fatalf("reconfigure --webroot: exit %d", r.code)
	}
	for _, name := range []string{viaObtain, viaReconfigure} {
		set := string(readFile(t, filepath.Join(l.certDir(name), "settings.yaml")))
		if strings.Contains(set, "http-01-addrs") || !strings.Contains(set, "webroot: "+www) {
			t.Errorf("%s: settings.yaml keeps the old solver or lacks the webroot:\n%s", name, set)
		}
		if r := run(t, nil, l.renewArgs("--cert-name", name, "--force")...); r.code != 0 {
			t.Errorf("%s: renew after switching to --webroot: exit %d: %s", name, r.code, r.stderr)
		}
	}
	if got := l.p.Count("POST /order-plz 201"); got != 4 {
		t.Errorf("orders = %d; want 4", got)
	}
}

// wantNoCertificate: nothing of name is left that list, show or renew
// would see, and the next renew is silent with exit 0.
func wantNoCertificate(t *testing.T, l *lab, name string) {
	t.Helper()
	r := run(t, nil, "list", "--state-dir", l.state, "--json")
	var doc struct {
		Certificates []json.RawMessage `json:"certificates"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || r.code != 0 || len(doc.Certificates) != 0 {
		t.Errorf("list --json after a failed first obtain: exit %d %s (%v)", r.code, r.stdout, err)
	}
	for _, f := range []string{"settings.yaml", "state.json", "pending-key.pem"} {
		if _, err := os.Stat(filepath.Join(l.certDir(name), f)); !os.IsNotExist(err) {
			t.Errorf("%s left behind (%v)", f, err)
		}
	}
	r = run(t, nil, l.renewArgs()...)
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("renew after a failed first obtain: exit %d stdout %q stderr %q; want 0 and silence", r.code, r.stdout, r.stderr)
	}
}

// TestFailedFirstObtainLeavesNothing: a first obtain that the CA refuses,
// whose port is busy, whose challenge is refused or that is interrupted
// leaves no certificate behind.
func TestFailedFirstObtainLeavesNothing(t *testing.T) {
	t.Parallel()
	t.Run("refused by the CA", func(t *testing.T) {
		t.Parallel()
		l := newLab(t, testenv.PebbleOptions{Blocklist: []string{"blocked.example.test"}, Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
		name := "www.blocked.example.test"
		if r := run(t, nil, l.args("obtain", append(l.http01(), "-d", name)...)...); r.code != 1 {
			t.Errorf("obtain of a refused name: exit %d; want 1", r.code)
		}
		wantNoCertificate(t, l, name)
	})
	t.Run("busy port", func(t *testing.T) {
		t.Parallel()
		l := newLab(t, quietPebble(nil))
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", l.p.HTTPPort))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		name := "busy.example.test"
		if r := run(t, nil, l.args("obtain", append(l.http01(), "-d", name)...)...); r.code == 0 {
			t.Error("obtain with a busy port succeeded")
		}
		wantNoCertificate(t, l, name)
	})
	t.Run("refused challenge", func(t *testing.T) {
		t.Parallel()
		l := newLab(t, quietPebble(nil))
		name := "refused.example.test"
		dead := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		if r := run(t, nil, l.args("obtain", "--http-01-addr", dead, "-d", name)...); r.code != 1 {
			t.Errorf("obtain with an unanswered challenge: exit %d; want 1", r.code)
		}
		if got := l.p.Count("POST /order-plz 201"); got != 1 {
			t.Errorf("orders = %d; want 1", got)
		}
		wantNoCertificate(t, l, name)
	})
	t.Run("SIGINT", func(t *testing.T) {
		t.Parallel()
		l := newLab(t, quietPebble(nil))
		name := "sigint.example.test"
		fp := t.TempDir()
		p := start(t, []string{"ACMECTL_FAILPOINT=after-present:pause", "ACMECTL_FAILPOINT_DIR=" + fp},
			l.args("obtain", append(l.http01(), "-d", name)...)...)
		testenv.WaitFor(t, "failpoint after-present", 30*time.Second, func() error {
			_, err := os.Stat(filepath.Join(fp, "after-present.reached"))
			return err
		})
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t, 45*time.Second); code == 0 {
			t.Error("interrupted obtain exited 0")
		}
		wantNoCertificate(t, l, name)
	})
}

// TestReconfigureHonoursObtainFlags: reconfigure --email --profile changes
// both (the email was dropped before); obtain does the same through the
// same code.
func TestReconfigureHonoursObtainFlags(t *testing.T) {
	t.Parallel()
	l := newLab(t, quietPebble(nil))
	const name = "rcf.example.test"
	mustObtain(t, l, name)
	r := run(t, nil, "reconfigure", "--state-dir", l.state, "--cert-name", name, "--email", "new@example.test", "--profile", "shortlived")
	if r.code != 0 {
		t.Fatalf("reconfigure: exit %d", r.code)
	}
	set := string(readFile(t, filepath.Join(l.certDir(name), "settings.yaml")))
	if !strings.Contains(set, "new@example.test") || strings.Contains(set, "admin@example.test") || !strings.Contains(set, "profile: shortlived") {
		t.Errorf("settings.yaml after reconfigure --email --profile:\n%s", set)
	}
	if !strings.Contains(r.stdout, "email") || !strings.Contains(r.stdout, "profile") {
		t.Errorf("reconfigure output does not list both changes: %q", r.stdout)
	}
}

// TestFleetLikeLocal: in fleet mode a first obtain the CA refuses leaves
// nothing in etcd (no fleet renew picks it up), obtain writes the same
// --json document and "is current" line (stdout) as a local obtain, renew
// follows the CA's ARI window as a local renewal does, and a renewal that
// must register an account uses the stored email, not the run's --email.
func TestFleetLikeLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("needs etcd and Pebble")
	}
	t.Parallel()
	e := testenv.StartEtcd(t)
	// A 300 s profile: the first renewal-information check comes 20 s
	// after issuance (a fifteenth of the lifetime), the lifetime rule only
	// at 150 s.
	p := testenv.StartPebble(t, testenv.PebbleOptions{Profiles: map[string]int{"default": 7776000, "tiny": 300},
		Blocklist: []string{"blocked.example.test"}, Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "storage.key")
	if err := os.WriteFile(keyFile, make([]byte, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	www := webrootDir(t)
	testenv.StartNginx(t, www, p.HTTPPort)
	state := filepath.Join(dir, "state")
	const name = "fleetlocal.example.test"
	fleetArgs := []string{"--ca-bundle", p.CABundle, "--state-dir", state, "--accept-tos",
		"--storage", "etcd://" + e.Endpoint + "/e2e-like-local", "--storage-key-file", keyFile}
	fleet := func(args ...string) result {
		return run(t, nil, append(append(args, fleetArgs...), "--email", "ops@example.test")...)
	}
	etcdKeys := func(prefix string) map[string]string {
		t.Helper()
		ctx := testenv.Context(t, 10*time.Second)
		resp, err := e.Client(t).Get(ctx, "/e2e-like-local/"+prefix, clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, kv := range resp.Kvs {
			out[string(kv.Key)] = string(kv.Value)
		}
		return out
	}

	// A first obtain the CA refuses: nothing in etcd, nothing to renew.
	const refused = "www.blocked.example.test"
	if r := fleet("obtain", "--server", p.DirURL, "-d", refused, "--webroot", www); r.code != 1 {
		t.Errorf("fleet obtain of a refused name: exit %d; want 1", r.code)
	}
	if keys := etcdKeys("certs/"); len(keys) != 0 {
		t.Errorf("etcd after a refused first fleet obtain: %v; want no certificate keys", slices.Collect(maps.Keys(keys)))
	}
	if r := fleet("renew", "--json", "--no-random-sleep"); r.code != 0 || strings.Contains(r.stdout, refused) {
		t.Errorf("fleet renew after the refused obtain: exit %d, stdout %s; want 0 and no trace of %s", r.code, r.stdout, refused)
	}

	r := fleet("obtain", "--server", p.DirURL, "-d", name, "--webroot", www, "--profile", "tiny", "--json")
	var doc struct {
		CertName string            `json:"cert_name"`
		Outcome  string            `json:"outcome"`
		Paths    map[string]string `json:"paths"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); r.code != 0 || err != nil || doc.CertName != name || doc.Outcome != "obtained" || doc.Paths["fullchain"] == "" {
		t.Errorf("fleet obtain --json: exit %d, stdout %q (%v)", r.code, r.stdout, err)
	}
	if r := fleet("obtain", "--server", p.DirURL, "-d", name, "--webroot", www, "--profile", "tiny"); r.code != 0 || !strings.Contains(r.stdout, "is current until") || strings.Contains(r.stderr, "is current") {
		t.Errorf("fleet obtain again: exit %d, stdout %q, stderr %q; want the line on stdout", r.code, r.stdout, r.stderr)
	}
	if got := p.Count("POST /order-plz 201"); got != 1 {
		t.Fatalf("orders = %d; want 1", got)
	}
	// Not due by its lifetime, but the CA's window has passed.
	certPEM := readFile(t, filepath.Join(state, "certificates", name, "cert.pem"))
	now := time.Now().UTC()
	p.SetRenewalInfo(t, certPEM, fmt.Sprintf(`{"suggestedWindow":{"start":%q,"end":%q}}`,
		now.Add(-2*time.Hour).Format(time.RFC3339), now.Add(-time.Hour).Format(time.RFC3339)))
	issued := leafAt(t, filepath.Join(state, "certificates", name, "cert.pem")).NotBefore
	renewed := func() error {
		r := fleet("renew", "--json", "--no-random-sleep")
		if r.code != 0 || !strings.Contains(r.stdout, `"outcome": "renewed"`) {
			return fmt.Errorf("fleet renew: exit %d, stdout %s", r.code, r.stdout)
		}
		return nil
	}
	// Poll once a second (each poll is a whole acmectl run).
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(time.Second) {
		err := renewed()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fleet renewal inside the ARI window: %v", err)
		}
	}
	if since := time.Since(issued); since > 150*time.Second {
		t.Errorf("renewed %v after issuance: by the lifetime rule, not the ARI window", since)
	}
	if got := p.Count("POST /order-plz 201"); got != 2 {
		t.Errorf("orders after the fleet renew = %d; want 2", got)
	}

	// The shared account is gone (etcd restored without it): the renewal
	// registers one with the certificate's stored email, not the run's
	// --email, as a local renewal does.
	if _, err := e.Client(t).Delete(testenv.Context(t, 10*time.Second), "/e2e-like-local/accounts/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	if r := run(t, nil, append(append([]string{"renew", "--json", "--no-random-sleep", "--force"}, fleetArgs...), "--email", "run@example.test")...); r.code != 0 {
		t.Fatalf("fleet renew --force with another --email: exit %d", r.code)
	}
	recs := etcdKeys("accounts/")
	var contacts []string
	for k, v := range recs {
		if strings.HasSuffix(k, "/record") {
			var rec struct{ Contacts []string }
			if err := json.Unmarshal([]byte(v), &rec); err != nil {
				t.Fatalf("account record %s: %v", k, err)
			}
			contacts = append(contacts, rec.Contacts...)
		}
	}
	if !slices.Equal(contacts, []string{"mailto:ops@example.test"}) {
		t.Errorf("contacts of the account the fleet renewal registered = %v; want the stored [mailto:ops@example.test]", contacts)
	}
}

// TestRenewInterrupted: a renewal cut short by SIGINT (after creating its
// order) is "interrupted", exit 130, as obtain is — not a deferral (75) —
// and leaves the live certificate as it was. The failpoint is the order's
// creation, which every renewal reaches: Pebble reuses the first order's
// valid authorization 1 time in 100 even at PEBBLE_AUTHZREUSE=0, and a
// renewal born ready never presents a challenge.
func TestRenewInterrupted(t *testing.T) {
	t.Parallel()
	l := newLab(t, quietPebble(nil))
	const name = "renew-sigint.example.test"
	mustObtain(t, l, name)
	before := snapshot(t, l.certDir(name))
	fp := t.TempDir()
	p := start(t, []string{"ACMECTL_FAILPOINT=after-new-order:pause", "ACMECTL_FAILPOINT_DIR=" + fp}, l.renewArgs("--force")...)
	testenv.WaitFor(t, "failpoint after-new-order", 30*time.Second, func() error {
		_, err := os.Stat(filepath.Join(fp, "after-new-order.reached"))
		return err
	})
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 45*time.Second); code != 130 || p.errText() != "acmectl: interrupted\n" {
		t.Errorf("renew after SIGINT: exit %d, stderr %q; want 130 and \"acmectl: interrupted\"", code, p.errText())
	}
	sameSnapshot(t, before, snapshot(t, l.certDir(name)))
}
