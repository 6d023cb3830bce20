package keys

import (
	"crypto"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"software.sslmate.com/src/go-pkcs12"
)

// TestWritePKCS12: the file decodes with the password to the same leaf,
// chain and key, is 0600, and a second write replaces it whole (no
// temporary file left beside it).
func TestWritePKCS12(t *testing.T) {
	key, err := Generate(EC256)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	issuer := selfSigned(t, key, "issuer.example.test", nil, nil)
	leaf := selfSigned(t, key, "p12.example.test", issuer, key)
	dir := t.TempDir()
	path := filepath.Join(dir, "out.p12")
	for _, legacy := range []bool{false, true} {
		if err := WritePKCS12(path, keyPEM, leaf, []*x509.Certificate{issuer}, "s3cret", legacy); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		gotKey, gotLeaf, gotChain, err := pkcs12.DecodeChain(data, "s3cret")
		if err != nil {
			t.Fatalf("legacy %v: decode: %v", legacy, err)
		}
		if !gotLeaf.Equal(leaf) || len(gotChain) != 1 || !gotChain[0].Equal(issuer) {
			t.Errorf("legacy %v: leaf or chain differs", legacy)
		}
		if k, ok := gotKey.(interface{ Equal(crypto.PrivateKey) bool }); !ok || !k.Equal(key) {
			t.Errorf("legacy %v: key differs", legacy)
		}
		if _, _, _, err := pkcs12.DecodeChain(data, "wrong"); err == nil {
			t.Errorf("legacy %v: decodes with a wrong password", legacy)
		}
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("legacy %v: mode %v, %v; want 0600", legacy, st.Mode().Perm(), err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries; want only out.p12", len(entries))
	}
}
