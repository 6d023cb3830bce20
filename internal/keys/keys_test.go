//go:debug rsa1024min=0

package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestGenerateAndKeyTypeOf(t *testing.T) {
	for _, kt := range KeyTypes() {
		t.Run(kt, func(t *testing.T) {
			if strings.HasPrefix(kt, "rsa") && kt != RSA2048 && testing.Short() {
				t.Skip("slow RSA generation under -short")
			}
			k, err := Generate(kt)
			if err != nil {
				t.Fatalf("Generate(%q): %v", kt, err)
			}
			if got := KeyTypeOf(k.Public()); got != kt {
				t.Errorf("KeyTypeOf(Generate(%q).Public()) = %q; want %q", kt, got, kt)
			}
			if got := KeyTypeOf(k); got != kt {
				t.Errorf("KeyTypeOf(Generate(%q)) = %q; want %q", kt, got, kt)
			}
			if err := ValidKeyType(kt); err != nil {
				t.Errorf("ValidKeyType(%q) = %v; want nil", kt, err)
			}
		})
	}
}

func TestGenerateUnknown(t *testing.T) {
	for _, kt := range []string{"", "ec521", "EC256", "rsa1024", "ed25519"} {
		_, err := Generate(kt)
		if !errors.Is(err, ErrUnknownKeyType) {
			t.Errorf("Generate(%q) error = %v; want ErrUnknownKeyType", kt, err)
			continue
		}
		for _, valid := range KeyTypes() {
			if !strings.Contains(err.Error(), valid) {
				t.Errorf("Generate(%q) error %q does not name valid type %q", kt, err, valid)
			}
		}
	}
}

func TestKeyTypeOfOthers(t *testing.T) {
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name string
		pub  crypto.PublicKey
		want string
	}{
		{"nil", nil, ""},
		{"p521", &p521.PublicKey, "ec521"},
		{"ed25519", edPub, ""},
		{"string", "x", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := KeyTypeOf(tc.pub); got != tc.want {
				t.Errorf("KeyTypeOf(%T) = %q; want %q", tc.pub, got, tc.want)
			}
		})
	}
}

func TestPrivateKeyRoundTripAndFormats(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)

	pkcs8, err := MarshalPrivateKeyPEM(ec)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pkcs8, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Fatalf("MarshalPrivateKeyPEM = %q; want a PRIVATE KEY block", pkcs8)
	}
	secDER, _ := x509.MarshalECPrivateKey(ec)
	sec1 := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: secDER})
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})
	ecParams := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}})

	tests := []struct {
		name string
		in   []byte
		want crypto.Signer
	}{
		{"pkcs8 ec", pkcs8, ec},
		{"sec1", sec1, ec},
		{"pkcs1", pkcs1, rk},
		{"openssl ecparam output", append(append([]byte{}, ecParams...), sec1...), ec},
		{"surrounding whitespace", append(append([]byte("\n\n  "), pkcs8...), "\n\n"...), ec},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePrivateKeyPEM(tc.in)
			if err != nil {
				t.Fatalf("ParsePrivateKeyPEM: %v", err)
			}
			eq, ok := got.(interface{ Equal(crypto.PrivateKey) bool })
			if !ok || !eq.Equal(tc.want) {
				t.Errorf("ParsePrivateKeyPEM returned a different key")
			}
		})
	}
}

func TestParsePrivateKeyPEMRejects(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good, _ := MarshalPrivateKeyPEM(ec)
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edPriv)
	small, _ := rsa.GenerateKey(rand.Reader, 512)
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte{1, 2, 3}})
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})

	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"garbage", []byte("hello")},
		{"two keys", append(append([]byte{}, good...), good...)},
		{"garbage before", append([]byte("junk\n"), good...)},
		{"garbage after", append(append([]byte{}, good...), "junk"...)},
		{"certificate block", append(append([]byte{}, good...), cert...)},
		{"encrypted", encrypted},
		{"ed25519", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER})},
		{"rsa512", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)})},
		{"bad der", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 0x01}})},
		{"too big", append(append([]byte{}, good...), bytes.Repeat([]byte("\n"), maxKeyPEMSize)...)},
		{"truncated", good[:len(good)-10]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if k, err := ParsePrivateKeyPEM(tc.in); err == nil {
				t.Errorf("ParsePrivateKeyPEM = %T, nil; want error", k)
			}
		})
	}
}

// selfSigned makes a test certificate for key, signed by parentKey/parent
// (self-signed when parent is nil).
func selfSigned(t testing.TB, key crypto.Signer, cn string, parent *x509.Certificate, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{cn},
	}
	if parent == nil {
		parent, parentKey = tmpl, key
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCertificateChain(t *testing.T) {
	caKey, _ := Generate(EC256)
	ca := selfSigned(t, caKey, "Test CA", nil, nil)
	leafKey, _ := Generate(EC256)
	leaf := selfSigned(t, leafKey, "example.test", ca, caKey)

	chain := EncodeCertificatesPEM([]*x509.Certificate{leaf, ca})
	if !bytes.Equal(chain, EncodeCertificatesPEM([][]byte{leaf.Raw, ca.Raw})) {
		t.Fatal("EncodeCertificatesPEM differs between parsed and DER input")
	}
	got, err := ParseCertificateChainPEM(chain)
	if err != nil {
		t.Fatalf("ParseCertificateChainPEM: %v", err)
	}
	if len(got) != 2 || !got[0].Equal(leaf) || !got[1].Equal(ca) {
		t.Fatalf("ParseCertificateChainPEM returned %d certs, not [leaf, ca]", len(got))
	}
	if !MatchesKey(got[0], leafKey.Public()) || !MatchesKey(got[0], leafKey) {
		t.Error("MatchesKey(leaf, leafKey) = false; want true")
	}
	if MatchesKey(got[0], caKey.Public()) {
		t.Error("MatchesKey(leaf, caKey) = true; want false")
	}
	if MatchesKey(nil, leafKey) || MatchesKey(got[0], nil) {
		t.Error("MatchesKey with nil = true; want false")
	}

	one := EncodeCertificatesPEM([]*x509.Certificate{leaf})
	eleven := bytes.Repeat(one, maxChainCerts+1)
	keyPEM, _ := MarshalPrivateKeyPEM(leafKey)
	withHeaders := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"A": "b"}, Bytes: leaf.Raw})
	broken := []byte("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n")

	bad := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"whitespace", []byte("\n \n")},
		{"eleven", eleven},
		{"key block", append(append([]byte{}, one...), keyPEM...)},
		{"garbage between", append(append(append([]byte{}, one...), "x\n"...), one...)},
		{"garbage before", append([]byte("subject=CN=x\n"), one...)},
		{"garbage after", append(append([]byte{}, one...), "trailer"...)},
		{"headers", withHeaders},
		{"malformed block then good", append(append([]byte{}, broken...), one...)},
		{"bad der", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x00}})},
		{"too big", append(append([]byte{}, one...), bytes.Repeat([]byte(" "), maxChainPEMSize)...)},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := ParseCertificateChainPEM(tc.in); err == nil {
				t.Errorf("ParseCertificateChainPEM = %d certs, nil; want error", len(c))
			}
		})
	}
	t.Run("ten allowed", func(t *testing.T) {
		c, err := ParseCertificateChainPEM(bytes.Repeat(one, maxChainCerts))
		if err != nil || len(c) != maxChainCerts {
			t.Errorf("ParseCertificateChainPEM(10 certs) = %d, %v; want 10, nil", len(c), err)
		}
	})
	t.Run("crlf", func(t *testing.T) {
		crlf := bytes.ReplaceAll(chain, []byte("\n"), []byte("\r\n"))
		if c, err := ParseCertificateChainPEM(crlf); err != nil || len(c) != 2 {
			t.Errorf("ParseCertificateChainPEM(CRLF) = %d, %v; want 2, nil", len(c), err)
		}
	})
}
