package e2e

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/testenv"
)

// quietPebble: no nonce rejection, so request counts are exact.
func quietPebble(env map[string]string) testenv.PebbleOptions {
	e := map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}
	for k, v := range env {
		e[k] = v
	}
	return testenv.PebbleOptions{Env: e}
}

func (l *lab) obtain(t *testing.T, name string, extra ...string) result {
	t.Helper()
	args := append(l.http01(), "-d", name, "--profile", "default")
	return run(t, nil, l.args("obtain", append(args, extra...)...)...)
}

func mustObtain(t *testing.T, l *lab, name string, extra ...string) {
	t.Helper()
	if r := l.obtain(t, name, extra...); r.code != 0 {
		t.Fatalf("obtain %s: exit %d: %s", name, r.code, r.stderr)
	}
}

func leafAt(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	return readChain(t, path)[0]
}

type stateDoc struct {
	Revoked bool   `json:"revoked"`
	Serial  string `json:"serial"`
}

func readState(t *testing.T, l *lab, name string) stateDoc {
	t.Helper()
	var s stateDoc
	if err := json.Unmarshal(readFile(t, filepath.Join(l.certDir(name), "state.json")), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRevoke: by --cert-name with the account key and a reason name; by
// --cert with the certificate's own key and a reason code; the state says
// revoked and the next order uses a fresh key even with --reuse-key.
func TestRevoke(t *testing.T) {
	l := newLab(t, quietPebble(nil))
	mustObtain(t, l, "rv.example.test", "--reuse-key")
	dir := l.certDir("rv.example.test")
	leaf := leafAt(t, filepath.Join(dir, "cert.pem"))
	key1 := readFile(t, filepath.Join(dir, "privkey.pem"))

	// Usage errors: no request reaches the CA.
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no --yes off a terminal", []string{"--cert-name", "rv.example.test"}},
		{"unknown reason", []string{"--cert-name", "rv.example.test", "--reason", "bogus", "--yes"}},
		{"reason code 7", []string{"--cert-name", "rv.example.test", "--reason", "7", "--yes"}},
		{"neither name nor file", []string{"--yes"}},
		{"both name and file", []string{"--cert-name", "rv.example.test", "--cert", filepath.Join(dir, "cert.pem"), "--yes"}},
		{"unknown name", []string{"--cert-name", "nope.example.test", "--yes"}},
		{"key of another certificate", []string{"--cert", filepath.Join(dir, "cert.pem"), "--key", filepath.Join(l.accountDir(t, "default"), "key.pem"), "--yes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, nil, l.args("revoke", tc.args...)...)
			if r.code != 2 {
				t.Errorf("exit %d; want 2", r.code)
			}
		})
	}
	if got := l.p.Count("POST /revoke-cert"); got != 0 {
		t.Fatalf("revocation requests after usage errors = %d; want 0", got)
	}
	if st, _ := l.p.CertStatus(t, leaf.SerialNumber); st != "Valid" {
		t.Fatalf("status before revoke = %s", st)
	}

	r := run(t, nil, l.args("revoke", "--cert-name", "rv.example.test", "--reason", "keycompromise", "--yes")...)
	if r.code != 0 || !strings.Contains(r.stdout, "keyCompromise (1)") {
		t.Fatalf("revoke: exit %d stdout %q", r.code, r.stdout)
	}
	if st, reason := l.p.CertStatus(t, leaf.SerialNumber); st != "Revoked" || reason != 1 {
		t.Errorf("Pebble: %s reason %d; want Revoked 1", st, reason)
	}
	if got := l.p.Count("POST /revoke-cert 200"); got != 1 {
		t.Errorf("revocations = %d; want 1", got)
	}
	if s := readState(t, l, "rv.example.test"); !s.Revoked {
		t.Error("state.json does not say revoked")
	}
	// Again: the CA says alreadyRevoked; that is success.
	r = run(t, nil, l.args("revoke", "--cert-name", "rv.example.test", "--yes", "--json")...)
	var doc struct {
		Outcome string `json:"outcome"`
		Serial  string `json:"serial"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &doc) != nil || doc.Outcome != "already_revoked" || doc.Serial != fmt.Sprintf("%x", leaf.SerialNumber) {
		t.Errorf("second revoke: exit %d stdout %q; want 0 already_revoked", r.code, r.stdout)
	}

	// The revoked certificate is replaced (same names, not due, no --force)
	// and never with the old key, although reuse-key is set.
	mustObtain(t, l, "rv.example.test")
	leaf2 := leafAt(t, filepath.Join(dir, "cert.pem"))
	key2 := readFile(t, filepath.Join(dir, "privkey.pem"))
	if leaf2.SerialNumber.Cmp(leaf.SerialNumber) == 0 || bytes.Equal(key1, key2) {
		t.Fatal("the revoked certificate was not replaced with a fresh key")
	}
	if s := readState(t, l, "rv.example.test"); s.Revoked {
		t.Error("state.json still says revoked after the replacement")
	}

	// --cert FILE signed with the certificate's own key, reason by code;
	// the stored certificate with that leaf is marked too.
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	keyFile := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(certFile, readFile(t, filepath.Join(dir, "fullchain.pem")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, key2, 0o600); err != nil {
		t.Fatal(err)
	}
	// A state dir without any account: only the certificate key can sign.
	other := t.TempDir()
	r = run(t, nil, "revoke", "--server", l.p.DirURL, "--ca-bundle", l.p.CABundle, "--state-dir", other,
		"--cert", certFile, "--yes")
	if r.code != 2 || !strings.Contains(r.stderr, "--key") {
		t.Errorf("revoke --cert without account or key: exit %d stderr %q; want 2 naming --key", r.code, r.stderr)
	}
	// Pebble-only: Pebble records the requested reason for a revocation
	// signed with the certificate key; Let's Encrypt (Boulder) records
	// keyCompromise and blocks the key, which acmectl says and reports
	// there (test/hostile TestBoulderRevoke).
	r = run(t, nil, "revoke", "--server", l.p.DirURL, "--ca-bundle", l.p.CABundle, "--state-dir", other,
		"--cert", certFile, "--key", keyFile, "--reason", "4", "--yes")
	if r.code != 0 {
		t.Fatalf("revoke --cert --key: exit %d", r.code)
	}
	if st, reason := l.p.CertStatus(t, leaf2.SerialNumber); st != "Revoked" || reason != 4 {
		t.Errorf("Pebble: %s reason %d; want Revoked 4", st, reason)
	}
	r = run(t, nil, l.args("revoke", "--cert", certFile, "--yes")...)
	if r.code != 0 || !strings.Contains(r.stdout, "Already revoked") {
		t.Errorf("revoke --cert of a revoked stored cert: exit %d stdout %q", r.code, r.stdout)
	}
	if s := readState(t, l, "rv.example.test"); !s.Revoked {
		t.Error("revoke --cert did not mark the stored certificate")
	}
	if got := l.p.Count("POST /revoke-cert 200"); got != 2 {
		t.Errorf("revocations = %d; want 2", got)
	}
}

// TestDelete: delete needs --yes off a terminal, --revoke revokes first.
func TestDelete(t *testing.T) {
	l := newLab(t, quietPebble(nil))
	mustObtain(t, l, "del.example.test")
	mustObtain(t, l, "keep.example.test")
	dir := l.certDir("del.example.test")
	leaf := leafAt(t, filepath.Join(dir, "cert.pem"))
	keep := snapshot(t, l.certDir("keep.example.test"))

	if r := run(t, nil, l.args("delete", "--cert-name", "del.example.test")...); r.code != 2 {
		t.Errorf("delete without --yes: exit %d; want 2", r.code)
	}
	if r := run(t, nil, l.args("delete", "--cert-name", "nope.example.test", "--yes")...); r.code != 2 {
		t.Errorf("delete of an unknown name: exit %d; want 2", r.code)
	}
	if r := run(t, nil, l.args("delete", "--cert-name", "del.example.test", "--reason", "superseded", "--yes")...); r.code != 2 {
		t.Errorf("delete --reason without --revoke: exit %d; want 2", r.code)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("certificate gone after refused deletes: %v", err)
	}
	r := run(t, nil, l.args("delete", "--cert-name", "del.example.test", "--revoke", "--reason", "cessationOfOperation", "--yes")...)
	if r.code != 0 {
		t.Fatalf("delete --revoke: exit %d", r.code)
	}
	if st, reason := l.p.CertStatus(t, leaf.SerialNumber); st != "Revoked" || reason != 5 {
		t.Errorf("Pebble: %s reason %d; want Revoked 5", st, reason)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("certificate directory still there: %v", err)
	}
	sameSnapshot(t, keep, snapshot(t, l.certDir("keep.example.test")))
	// Plain delete.
	if r := run(t, nil, l.args("delete", "--cert-name", "keep.example.test", "--yes")...); r.code != 0 {
		t.Fatalf("delete: exit %d", r.code)
	}
	if _, err := os.Stat(l.certDir("keep.example.test")); !os.IsNotExist(err) {
		t.Errorf("certificate directory still there: %v", err)
	}
	if got := l.p.Count("POST /revoke-cert 200"); got != 1 {
		t.Errorf("revocations = %d; want 1", got)
	}
}

// TestKeyTypes: every --key-type gives a certificate for a key of that type.
func TestKeyTypes(t *testing.T) {
	t.Parallel() // own servers and state; long, so it runs beside the others (docs/dev/testing.md)
	l := newLab(t, quietPebble(nil))
	for _, kt := range keys.KeyTypes() {
		t.Run(kt, func(t *testing.T) {
			name := kt + ".example.test"
			mustObtain(t, l, name, "--key-type", kt)
			leaf := leafAt(t, filepath.Join(l.certDir(name), "cert.pem"))
			if got := keys.KeyTypeOf(leaf.PublicKey); got != kt {
				t.Errorf("certificate key type = %s; want %s", got, kt)
			}
			k, err := keys.ParsePrivateKeyPEM(readFile(t, filepath.Join(l.certDir(name), "privkey.pem")))
			if err != nil || !keys.MatchesKey(leaf, k.Public()) {
				t.Errorf("privkey.pem does not match (%v)", err)
			}
		})
	}
	if r := l.obtain(t, "bad.example.test", "--key-type", "rsa1024"); r.code != 2 {
		t.Errorf("--key-type rsa1024: exit %d; want 2", r.code)
	}
}

// TestReuseKey: a forced reorder with --reuse-key keeps the key; without
// it the key changes.
func TestReuseKey(t *testing.T) {
	l := newLab(t, quietPebble(nil))
	mustObtain(t, l, "reuse.example.test", "--reuse-key")
	dir := l.certDir("reuse.example.test")
	k1 := readFile(t, filepath.Join(dir, "privkey.pem"))
	c1 := readFile(t, filepath.Join(dir, "cert.pem"))
	mustObtain(t, l, "reuse.example.test", "--force")
	k2 := readFile(t, filepath.Join(dir, "privkey.pem"))
	if !bytes.Equal(k1, k2) || bytes.Equal(c1, readFile(t, filepath.Join(dir, "cert.pem"))) {
		t.Error("--reuse-key: want the same key and a new certificate")
	}
	mustObtain(t, l, "fresh.example.test")
	f1 := readFile(t, filepath.Join(l.certDir("fresh.example.test"), "privkey.pem"))
	mustObtain(t, l, "fresh.example.test", "--force")
	if bytes.Equal(f1, readFile(t, filepath.Join(l.certDir("fresh.example.test"), "privkey.pem"))) {
		t.Error("without --reuse-key the key was reused")
	}
	if got := l.p.Count("POST /order-plz 201"); got != 4 {
		t.Errorf("orders = %d; want 4", got)
	}
}

// TestCSR: --csr takes names from the CSR, writes no privkey.pem, and the
// certificate has the CSR's key; a CSR that does not parse is exit 2.
func TestCSR(t *testing.T) {
	l := newLab(t, quietPebble(nil))
	key, err := keys.Generate(keys.RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "csr.example.test"}, DNSNames: []string{"csr.example.test", "Www.CSR.example.test"},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	csrFile := filepath.Join(tmp, "req.pem")
	if err := os.WriteFile(csrFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	derFile := filepath.Join(tmp, "req.der")
	if err := os.WriteFile(derFile, der, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(tmp, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a CSR"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, nil, l.args("obtain", append(l.http01(), "--csr", bad)...)...); r.code != 2 {
		t.Errorf("bad CSR: exit %d; want 2", r.code)
	}
	if got := l.p.Count("POST /order-plz"); got != 0 {
		t.Errorf("orders after a bad CSR = %d; want 0", got)
	}

	r := run(t, nil, l.args("obtain", append(l.http01(), "--csr", csrFile, "--profile", "default", "--json")...)...)
	if r.code != 0 {
		t.Fatalf("obtain --csr: exit %d", r.code)
	}
	dir := l.certDir("csr.example.test")
	leaf := leafAt(t, filepath.Join(dir, "cert.pem"))
	if got := strings.ToLower(strings.Join(leaf.DNSNames, ",")); got != "csr.example.test,www.csr.example.test" {
		t.Errorf("names = %s", got)
	}
	if !keys.MatchesKey(leaf, key.Public()) {
		t.Error("the certificate is not for the CSR's key")
	}
	if _, err := os.Lstat(filepath.Join(dir, "privkey.pem")); !os.IsNotExist(err) {
		t.Errorf("privkey.pem exists for a --csr certificate: %v", err)
	}
	var doc struct {
		Paths map[string]string `json:"paths"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Paths["privkey"] != "" || doc.Paths["fullchain"] == "" {
		t.Errorf("--json paths = %v (%v); want no privkey", doc.Paths, err)
	}
	if !strings.Contains(string(readFile(t, filepath.Join(dir, "settings.yaml"))), "BEGIN CERTIFICATE REQUEST") {
		t.Error("the CSR is not copied into settings.yaml")
	}
	// DER works too.
	r = run(t, nil, l.args("obtain", append(l.http01(), "--csr", derFile, "--cert-name", "csr-der", "--profile", "default")...)...)
	if r.code != 0 {
		t.Fatalf("obtain --csr DER: exit %d", r.code)
	}
	if !keys.MatchesKey(leafAt(t, filepath.Join(l.certDir("csr-der"), "cert.pem")), key.Public()) {
		t.Error("DER CSR: the certificate is not for the CSR's key")
	}
}

// TestProfile: an unknown profile is refused before any order with the
// server's list; a known one shapes the certificate.
func TestProfile(t *testing.T) {
	l := newLab(t, quietPebble(nil))
	r := run(t, nil, l.args("obtain", append(l.http01(), "-d", "p.example.test", "--profile", "tlsserver")...)...)
	if r.code != 2 || !strings.Contains(r.stderr, "default, shortlived") {
		t.Errorf("unknown profile: exit %d stderr %q; want 2 listing default, shortlived", r.code, r.stderr)
	}
	if got := l.p.Count("POST /order-plz"); got != 0 {
		t.Errorf("orders = %d; want 0", got)
	}
	if got := l.p.Count("POST /sign-me-up"); got != 0 {
		t.Errorf("newAccount requests = %d; want 0 (refused before the account)", got)
	}
	if _, err := os.Lstat(filepath.Join(l.certDir("p.example.test"), "cert.pem")); !os.IsNotExist(err) {
		t.Errorf("a refused obtain installed a certificate: %v", err)
	}
	r = run(t, nil, l.args("obtain", append(l.http01(), "-d", "p.example.test", "--profile", "shortlived")...)...)
	if r.code != 0 {
		t.Fatalf("shortlived: exit %d", r.code)
	}
	leaf := leafAt(t, filepath.Join(l.certDir("p.example.test"), "cert.pem"))
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life > 7*24*time.Hour {
		t.Errorf("shortlived lifetime = %v; want 6 days", life)
	}
}

// TestPreferredChain: with two alternate roots and chains of two
// intermediates, --preferred-chain picks by the top issuer's CN and falls
// back to the default chain.
func TestPreferredChain(t *testing.T) {
	l := newLab(t, quietPebble(map[string]string{"PEBBLE_ALTERNATE_ROOTS": "2", "PEBBLE_CHAIN_LENGTH": "2"}))
	var roots []*x509.Certificate
	for i := range 3 {
		b, _ := pem.Decode(l.p.Root(t, i))
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, c)
	}
	top := func(name string) *x509.Certificate {
		chain := readChain(t, filepath.Join(l.certDir(name), "fullchain.pem"))
		if len(chain) != 3 {
			t.Fatalf("%s: chain of %d certificates; want leaf + 2 intermediates", name, len(chain))
		}
		if !bytes.Equal(readChain(t, filepath.Join(l.certDir(name), "chain.pem"))[1].Raw, chain[2].Raw) {
			t.Errorf("%s: chain.pem is not fullchain.pem without the leaf", name)
		}
		return chain[len(chain)-1]
	}
	mustObtain(t, l, "def.example.test")
	if got := top("def.example.test").Issuer.CommonName; got != roots[0].Subject.CommonName {
		t.Errorf("default chain ends at %q; want %q", got, roots[0].Subject.CommonName)
	}
	for i := 1; i < 3; i++ {
		name := fmt.Sprintf("alt%d.example.test", i)
		mustObtain(t, l, name, "--preferred-chain", roots[i].Subject.CommonName)
		c := top(name)
		if c.Issuer.CommonName != roots[i].Subject.CommonName {
			t.Errorf("--preferred-chain %q: chain ends at %q", roots[i].Subject.CommonName, c.Issuer.CommonName)
		}
		if err := c.CheckSignatureFrom(roots[i]); err != nil {
			t.Errorf("%s: top certificate not signed by root %d: %v", name, i, err)
		}
	}
	mustObtain(t, l, "none.example.test", "--preferred-chain", "No Such Root CA")
	if got := top("none.example.test").Issuer.CommonName; got != roots[0].Subject.CommonName {
		t.Errorf("unknown preferred chain: ends at %q; want the default %q", got, roots[0].Subject.CommonName)
	}
}

// TestMustStaple: the CSR asks for the TLS feature extension and Pebble
// copies it into the certificate. Pebble-only: Let's Encrypt (Boulder)
// refuses must-staple at finalize, and acmectl refuses it there before
// ordering (test/hostile TestBoulderAnswers/must-staple-refused-before-order,
// test/boulder TestMustStapleRefused).
func TestMustStaple(t *testing.T) {
	l := newLab(t, quietPebble(nil))
	oid := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}
	has := func(c *x509.Certificate) bool {
		for _, e := range c.Extensions {
			if e.Id.Equal(oid) {
				return bytes.Equal(e.Value, []byte{0x30, 0x03, 0x02, 0x01, 0x05})
			}
		}
		return false
	}
	r := l.obtain(t, "staple.example.test", "--must-staple")
	if r.code != 0 || !strings.Contains(r.stderr, "must-staple") {
		t.Fatalf("obtain --must-staple: exit %d stderr %q; want 0 and a warning", r.code, r.stderr)
	}
	if !has(leafAt(t, filepath.Join(l.certDir("staple.example.test"), "cert.pem"))) {
		t.Error("no must-staple extension in the certificate")
	}
	mustObtain(t, l, "plain.example.test")
	if has(leafAt(t, filepath.Join(l.certDir("plain.example.test"), "cert.pem"))) {
		t.Error("must-staple without asking")
	}
}

// TestObtainJSONPaths: --json names every written file, and they are the
// files on disk.
func TestObtainJSONPaths(t *testing.T) {
	l := newLab(t, quietPebble(nil))
	r := l.obtain(t, "js.example.test", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	var doc struct {
		Schema   int               `json:"schema"`
		CertName string            `json:"cert_name"`
		Outcome  string            `json:"outcome"`
		Names    []string          `json:"names"`
		Serial   string            `json:"serial"`
		NotAfter string            `json:"not_after"`
		Version  int               `json:"version"`
		Paths    map[string]string `json:"paths"`
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(&doc); err != nil || dec.More() {
		t.Fatalf("stdout is not exactly one JSON document: %v\n%s", err, r.stdout)
	}
	dir := l.certDir("js.example.test")
	leaf := leafAt(t, filepath.Join(dir, "cert.pem"))
	if doc.Schema != 1 || doc.Outcome != "obtained" || doc.Version != 1 || doc.Serial != fmt.Sprintf("%x", leaf.SerialNumber) ||
		doc.NotAfter != leaf.NotAfter.UTC().Format(time.RFC3339) || strings.Join(doc.Names, ",") != "js.example.test" {
		t.Errorf("doc = %+v", doc)
	}
	for _, f := range []string{"cert", "chain", "fullchain", "privkey"} {
		if want := filepath.Join(dir, f+".pem"); doc.Paths[f] != want {
			t.Errorf("paths[%s] = %q; want %q", f, doc.Paths[f], want)
		}
	}
}

// TestObtainDryRun: the whole protocol runs, nothing is written to the
// certificate's paths, and deploy hooks do not run.
func TestObtainDryRun(t *testing.T) {
	l := newLab(t, quietPebble(nil))
	marker := filepath.Join(t.TempDir(), "deployed")
	hook := []string{"--deploy-hook", "/usr/bin/touch " + marker}

	r := l.obtain(t, "dry.example.test", append(hook, "--dry-run")...)
	if r.code != 0 || !strings.Contains(r.stdout, "Dry run") {
		t.Fatalf("dry run: exit %d stdout %q", r.code, r.stdout)
	}
	if got := l.p.Count("POST /finalize-order 200"); got != 1 {
		t.Errorf("finalized orders = %d; want 1 (the whole protocol)", got)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Error("the deploy hook ran on a dry run")
	}
	if _, err := os.Stat(l.certDir("dry.example.test")); !os.IsNotExist(err) {
		t.Errorf("dry run wrote %s: %v", l.certDir("dry.example.test"), err)
	}

	// On an existing certificate: live files and settings byte-identical.
	mustObtain(t, l, "dry.example.test", hook...)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("deploy hook did not run on a real obtain: %v", err)
	}
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	dir := l.certDir("dry.example.test")
	before := snapshot(t, dir)
	settings := readFile(t, filepath.Join(dir, "settings.yaml"))
	stateBefore := readFile(t, filepath.Join(dir, "state.json"))
	r = l.obtain(t, "dry.example.test", "--dry-run", "--key-type", "rsa2048", "--json")
	var doc struct {
		Outcome string `json:"outcome"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &doc) != nil || doc.Outcome != "dry_run" {
		t.Fatalf("dry run on an existing certificate: exit %d stdout %q", r.code, r.stdout)
	}
	if got := l.p.Count("POST /finalize-order 200"); got != 3 {
		t.Errorf("finalized orders = %d; want 3", got)
	}
	sameSnapshot(t, before, snapshot(t, dir))
	if !bytes.Equal(settings, readFile(t, filepath.Join(dir, "settings.yaml"))) {
		t.Error("settings.yaml changed on a dry run")
	}
	if !bytes.Equal(stateBefore, readFile(t, filepath.Join(dir, "state.json"))) {
		t.Error("state.json changed on a dry run")
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Error("the deploy hook ran on a dry run")
	}
}

// TestOrderWindow: --not-before/--not-after reach the order and Pebble
// copies them; bad values are refused before any order. Pebble-only:
// Let's Encrypt (Boulder) answers malformed "NotBefore and NotAfter are not
// supported".
func TestOrderWindow(t *testing.T) {
	l := newLab(t, quietPebble(nil))
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"not a time", []string{"--not-after", "tomorrow"}},
		{"in the past", []string{"--not-after", "2001-01-01T00:00:00Z"}},
		{"after before before", []string{"--not-before", "48h", "--not-after", "24h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := l.obtain(t, "win.example.test", tc.args...); r.code != 2 {
				t.Errorf("exit %d; want 2", r.code)
			}
		})
	}
	if got := l.p.Count("POST /order-plz"); got != 0 {
		t.Fatalf("orders after refused windows = %d; want 0", got)
	}
	nb := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	na := nb.Add(48 * time.Hour)
	mustObtain(t, l, "win.example.test", "--not-before", nb.Format(time.RFC3339), "--not-after", na.Format(time.RFC3339))
	leaf := leafAt(t, filepath.Join(l.certDir("win.example.test"), "cert.pem"))
	if !leaf.NotBefore.Equal(nb) || !leaf.NotAfter.Equal(na) {
		t.Errorf("validity %v – %v; want %v – %v", leaf.NotBefore, leaf.NotAfter, nb, na)
	}
	// A duration is relative to now.
	mustObtain(t, l, "dur.example.test", "--not-after", "30h")
	leaf = leafAt(t, filepath.Join(l.certDir("dur.example.test"), "cert.pem"))
	if d := time.Until(leaf.NotAfter); d < 29*time.Hour || d > 30*time.Hour+time.Minute {
		t.Errorf("--not-after 30h: notAfter in %v", d)
	}
	// Not stored: a later order uses the profile's validity again.
	if set := string(readFile(t, filepath.Join(l.certDir("dur.example.test"), "settings.yaml"))); strings.Contains(set, "not-after") {
		t.Errorf("--not-after stored in settings.yaml:\n%s", set)
	}
}

// TestPKCS12: --pkcs12 writes leaf, chain and key (0600) encrypted with
// the password from env or a file; without a password nothing is ordered.
func TestPKCS12(t *testing.T) {
	l := newLab(t, quietPebble(nil))
	tmp := t.TempDir()
	p12 := filepath.Join(tmp, "out.p12")
	if r := l.obtain(t, "p12.example.test", "--pkcs12", p12); r.code != 2 || !strings.Contains(r.stderr, "ACMECTL_PKCS12_PASSWORD") {
		t.Errorf("--pkcs12 without a password: exit %d stderr %q; want 2", r.code, r.stderr)
	}
	if got := l.p.Count("POST /order-plz"); got != 0 {
		t.Fatalf("orders = %d; want 0", got)
	}
	check := func(path, password string) {
		t.Helper()
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v; want 0600", path, st.Mode().Perm())
		}
		key, leaf, cas, err := pkcs12.DecodeChain(readFile(t, path), password)
		if err != nil {
			t.Fatalf("decode %s: %v", path, err)
		}
		dir := l.certDir("p12.example.test")
		if !leaf.Equal(leafAt(t, filepath.Join(dir, "cert.pem"))) {
			t.Error("PKCS#12 leaf is not cert.pem")
		}
		if len(cas) != 1 || !cas[0].Equal(readChain(t, filepath.Join(dir, "chain.pem"))[0]) {
			t.Errorf("PKCS#12 chain has %d certificates; want chain.pem's 1", len(cas))
		}
		signer, ok := key.(interface{ Public() crypto.PublicKey })
		if !ok || !keys.MatchesKey(leaf, signer.Public()) {
			t.Error("PKCS#12 key does not match the certificate")
		}
		if _, _, _, err := pkcs12.DecodeChain(readFile(t, path), password+"x"); err == nil {
			t.Error("PKCS#12 opens with a wrong password")
		}
	}
	r := run(t, []string{"ACMECTL_PKCS12_PASSWORD=s3cret"}, l.args("obtain", append(l.http01(), "-d", "p12.example.test", "--profile", "default", "--pkcs12", p12, "--json")...)...)
	if r.code != 0 {
		t.Fatalf("obtain --pkcs12: exit %d", r.code)
	}
	var doc struct {
		Paths map[string]string `json:"paths"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Paths["pkcs12"] != p12 {
		t.Errorf("--json paths = %v (%v); want pkcs12 %s", doc.Paths, err, p12)
	}
	check(p12, "s3cret")

	pwFile := filepath.Join(tmp, "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	legacy := filepath.Join(tmp, "legacy.p12")
	mustObtain(t, l, "p12.example.test", "--force", "--pkcs12", legacy, "--pkcs12-password-file", pwFile, "--pkcs12-legacy")
	check(legacy, "from-file")
}

// TestReconfigure: same names → settings only, no order, live files
// untouched; new names → ordered at once with the merged settings (stored
// solver, new key type, new deploy hook); --new-name moves the certificate.
func TestReconfigure(t *testing.T) {
	l := newLab(t, quietPebble(nil))
	mustObtain(t, l, "rc.example.test")
	dir := l.certDir("rc.example.test")
	before := snapshot(t, dir)
	marker := filepath.Join(t.TempDir(), "deployed")

	if r := run(t, nil, l.args("reconfigure", "--key-type", "rsa2048")...); r.code != 2 {
		t.Errorf("reconfigure without --cert-name: exit %d; want 2", r.code)
	}
	if r := run(t, nil, l.args("reconfigure", "--cert-name", "nope.example.test", "--key-type", "rsa2048")...); r.code != 2 {
		t.Errorf("reconfigure of an unknown name: exit %d; want 2", r.code)
	}
	if r := run(t, nil, l.args("reconfigure", "--cert-name", "rc.example.test", "--key-type", "dsa")...); r.code != 2 {
		t.Errorf("reconfigure --key-type dsa: exit %d; want 2", r.code)
	}

	r := run(t, nil, l.args("reconfigure", "--cert-name", "rc.example.test", "--key-type", "rsa2048", "--deploy-hook", "/usr/bin/touch "+marker)...)
	if r.code != 0 || !strings.Contains(r.stdout, "key-type") || !strings.Contains(r.stdout, "hooks") {
		t.Fatalf("reconfigure: exit %d stdout %q", r.code, r.stdout)
	}
	if got := l.p.Count("POST /order-plz 201"); got != 1 {
		t.Errorf("orders = %d; want 1 (no reorder for the same names)", got)
	}
	sameSnapshot(t, before, snapshot(t, dir))
	set := string(readFile(t, filepath.Join(dir, "settings.yaml")))
	if !strings.Contains(set, "key-type: rsa2048") || !strings.Contains(set, "/usr/bin/touch") || !strings.Contains(set, "http-01-addrs") {
		t.Errorf("settings.yaml after reconfigure:\n%s", set)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Error("deploy hook ran without an order")
	}

	// New names: ordered now with the stored solver and the new settings.
	r = run(t, nil, l.args("reconfigure", "--cert-name", "rc.example.test", "-d", "rc.example.test", "-d", "www.rc.example.test", "--json")...)
	if r.code != 0 {
		t.Fatalf("reconfigure with new names: exit %d", r.code)
	}
	var doc struct {
		Reordered bool     `json:"reordered"`
		Added     []string `json:"names_added"`
		Version   int      `json:"version"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || !doc.Reordered || strings.Join(doc.Added, ",") != "www.rc.example.test" || doc.Version != 2 {
		t.Errorf("--json = %s (%v)", r.stdout, err)
	}
	if got := l.p.Count("POST /order-plz 201"); got != 2 {
		t.Errorf("orders = %d; want 2", got)
	}
	leaf := leafAt(t, filepath.Join(dir, "cert.pem"))
	if got := strings.Join(leaf.DNSNames, ","); got != "rc.example.test,www.rc.example.test" || keys.KeyTypeOf(leaf.PublicKey) != "rsa2048" {
		t.Errorf("new certificate: names %s, key %s", got, keys.KeyTypeOf(leaf.PublicKey))
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("deploy hook did not run after the reorder: %v", err)
	}

	// Rename: same certificate under the new name, the old name gone.
	live := snapshot(t, dir)
	r = run(t, nil, l.args("reconfigure", "--cert-name", "rc.example.test", "--new-name", "web")...)
	if r.code != 0 {
		t.Fatalf("reconfigure --new-name: exit %d", r.code)
	}
	sameSnapshot(t, live, snapshot(t, l.certDir("web")))
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("old name still stored: %v", err)
	}
	if got := l.p.Count("POST /order-plz 201"); got != 2 {
		t.Errorf("orders = %d; want 2 (a rename orders nothing)", got)
	}
	if s := readState(t, l, "web"); s.Serial != fmt.Sprintf("%x", leaf.SerialNumber) {
		t.Errorf("state of web: serial %q; want %x", s.Serial, leaf.SerialNumber)
	}
	// Renamed into an existing name: refused.
	mustObtain(t, l, "other.example.test")
	if r := run(t, nil, l.args("reconfigure", "--cert-name", "web", "--new-name", "other.example.test")...); r.code != 2 {
		t.Errorf("rename onto an existing certificate: exit %d; want 2", r.code)
	}
}

// TestRenewAfterRevoke: a plain renew (nothing forced) replaces a revoked
// certificate, with a fresh key although reuse-key is set.
func TestRenewAfterRevoke(t *testing.T) {
	l := newLab(t, quietPebble(nil))
	mustObtain(t, l, "rr.example.test", "--reuse-key")
	dir := l.certDir("rr.example.test")
	key1 := readFile(t, filepath.Join(dir, "privkey.pem"))
	renew := []string{"renew", "--state-dir", l.state, "--no-random-sleep", "--cert-name", "rr.example.test"}
	if r := run(t, nil, renew...); r.code != 0 {
		t.Fatalf("renew before revoke: exit %d", r.code)
	}
	if got := l.p.Count("POST /order-plz 201"); got != 1 {
		t.Fatalf("orders = %d; want 1 (not due)", got)
	}
	if r := run(t, nil, l.args("revoke", "--cert-name", "rr.example.test", "--reason", "superseded", "--yes")...); r.code != 0 {
		t.Fatalf("revoke: exit %d", r.code)
	}
	if r := run(t, nil, renew...); r.code != 0 {
		t.Fatalf("renew after revoke: exit %d", r.code)
	}
	if got := l.p.Count("POST /order-plz 201"); got != 2 {
		t.Errorf("orders = %d; want 2 (the revoked certificate replaced)", got)
	}
	if bytes.Equal(key1, readFile(t, filepath.Join(dir, "privkey.pem"))) {
		t.Error("the replacement reuses the revoked certificate's key")
	}
	if s := readState(t, l, "rr.example.test"); s.Revoked {
		t.Error("state still says revoked")
	}
}
