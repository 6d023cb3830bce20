package e2e

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/testenv"
)

// TestObtainTwoNames: a two-name certificate from Pebble with its default
// 5 % nonce rejection; the chain verifies to Pebble's root, the key
// matches and is 0600.
func TestObtainTwoNames(t *testing.T) {
	l := newLab(t, testenv.PebbleOptions{})
	r := run(t, nil, l.args("obtain", append(l.http01(), "-d", "a.example.test", "-d", "b.example.test", "--profile", "default")...)...)
	if r.code != 0 {
		t.Fatalf("obtain exit %d: %s", r.code, r.stderr)
	}
	dir := l.certDir("a.example.test")
	chain := readChain(t, filepath.Join(dir, "fullchain.pem"))
	leaf := chain[0]
	if got := strings.Join(leaf.DNSNames, ","); got != "a.example.test,b.example.test" {
		t.Errorf("names = %s", got)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(l.p.Root(t, 0))
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: "b.example.test"}); err != nil {
		t.Errorf("chain does not verify to Pebble's root: %v", err)
	}
	keyPath := filepath.Join(dir, "privkey.pem")
	st, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	// The stable path is a symlink; the key file behind it must be 0600.
	real, _ := filepath.EvalSymlinks(keyPath)
	rst, _ := os.Stat(real)
	if rst.Mode().Perm() != 0o600 {
		t.Errorf("privkey mode = %v; want 0600", rst.Mode().Perm())
	}
	_ = st
	kb, _ := os.ReadFile(keyPath)
	key, err := keys.ParsePrivateKeyPEM(kb)
	if err != nil {
		t.Fatal(err)
	}
	if !keys.MatchesKey(leaf, key.Public()) {
		t.Error("privkey.pem does not match the certificate")
	}
	if got := l.p.Count("POST /order-plz 201"); got != 1 {
		t.Errorf("orders created = %d; want 1", got)
	}
	// Second obtain with the same names: current, no order.
	r = run(t, nil, l.args("obtain", append(l.http01(), "-d", "a.example.test", "-d", "b.example.test")...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "is current until") {
		t.Fatalf("second obtain: exit %d stdout %q", r.code, r.stdout)
	}
	if got := l.p.Count("POST /order-plz 201"); got != 1 {
		t.Errorf("orders after second obtain = %d; want 1", got)
	}
}

// TestObtainJSON: --json prints one document with the paths.
func TestObtainJSON(t *testing.T) {
	l := newLab(t, testenv.PebbleOptions{})
	r := run(t, nil, l.args("obtain", append(l.http01(), "-d", "j.example.test", "--json")...)...)
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	var doc struct {
		Schema   int               `json:"schema"`
		CertName string            `json:"cert_name"`
		Paths    map[string]string `json:"paths"`
		Requests int               `json:"requests"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, r.stdout)
	}
	if doc.Schema != 1 || doc.CertName != "j.example.test" || doc.Paths["fullchain"] == "" {
		t.Errorf("doc = %+v", doc)
	}
}

// TestObtainSolverFlagKeepsAddress: on an existing certificate, --http-01
// without --http-01-addr keeps the stored address (it must not fall back to
// :80, where Pebble does not look).
func TestObtainSolverFlagKeepsAddress(t *testing.T) {
	l := newLab(t, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	name := "addr.example.test"
	if r := run(t, nil, l.args("obtain", append(l.http01(), "-d", name)...)...); r.code != 0 {
		t.Fatalf("first obtain: exit %d", r.code)
	}
	if r := run(t, nil, l.args("obtain", "-d", name, "--force", "--http-01")...); r.code != 0 {
		t.Fatalf("obtain --force --http-01: exit %d; want 0 with the stored address", r.code)
	}
	settings, err := os.ReadFile(filepath.Join(l.certDir(name), "settings.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(settings), l.http01()[2]) {
		t.Errorf("settings.yaml lost the http-01 address %s:\n%s", l.http01()[2], settings)
	}
}
