package v1ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// authority is a generated CA: a root, and optionally the intermediate that
// signs leaves.
type authority struct {
	rootDER  []byte
	root     *x509.Certificate
	interDER []byte
	inter    *x509.Certificate
	interKey crypto.Signer
}

func newSerial() (*big.Int, error) {
	// 18 random bytes = 36 hex digits, as Let's Encrypt's serials; the first
	// byte is forced non-zero so the hex form always has 36 digits.
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("random serial: %w", err)
	}
	b[0] = 0x03 + b[0]%0x7c
	return new(big.Int).SetBytes(b), nil
}

func selfSignedCA(cn string, now time.Time) ([]byte, *x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generate %s key: %w", cn, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"acmectl test CA"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("sign %s: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("parse %s: %w", cn, err)
	}
	return der, cert, key, nil
}

// newIssuingAuthority makes a root and an intermediate signed by it.
func newIssuingAuthority(now time.Time) (*authority, error) {
	suffix, err := randomToken(4)
	if err != nil {
		return nil, err
	}
	rootDER, root, rootKey, err := selfSignedCA("acmectl v1 test root "+suffix, now)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate intermediate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "acmectl v1 test intermediate " + suffix, Organization: []string{"acmectl test CA"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, key.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("sign intermediate: %w", err)
	}
	inter, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse intermediate: %w", err)
	}
	return &authority{rootDER: rootDER, root: root, interDER: der, inter: inter, interKey: key}, nil
}

// newHTTPSIdentity makes a root and a leaf for 127.0.0.1, ::1 and localhost
// signed directly by it, for the CA's own HTTPS listener.
func newHTTPSIdentity(now time.Time) (rootDER []byte, leafDER []byte, leafKey crypto.Signer, err error) {
	suffix, err := randomToken(4)
	if err != nil {
		return nil, nil, nil, err
	}
	rootDER, root, rootKey, err := selfSignedCA("acmectl testca HTTPS root "+suffix, now)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generate HTTPS key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(2 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err = x509.CreateCertificate(rand.Reader, tmpl, root, key.Public(), rootKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("sign HTTPS leaf: %w", err)
	}
	return rootDER, leafDER, key, nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
