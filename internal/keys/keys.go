// Package keys generates, encodes and parses the private keys and
// certificate chains acmectl stores: account keys, certificate keys and the
// PEM chains a CA returns.
//
// Parsing is strict and size-capped, because the bytes may come from a CA,
// from a file another program wrote, or from a hand-edited state directory:
// a private key file holds exactly one key block, and a certificate chain
// holds only CERTIFICATE blocks with nothing but whitespace between them.
//
// Supported key types are ECDSA P-256 and P-384 ("ec256", "ec384") and RSA
// 2048, 3072 and 4096 ("rsa2048", "rsa3072", "rsa4096"). Parsing also accepts
// ECDSA P-521 and RSA keys of 1024 to 8192 bits, so that keys made elsewhere
// (for example an old certificate's key given to revoke) can be read.
//
// All functions are safe for concurrent use and do no I/O.
package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Limits on parsed input.
const (
	// maxKeyPEMSize is the largest private key file ParsePrivateKeyPEM reads.
	maxKeyPEMSize = 64 << 10
	// maxChainPEMSize is the largest chain ParseCertificateChainPEM reads.
	maxChainPEMSize = 1 << 20
	// maxChainCerts is the most certificates a chain may hold.
	maxChainCerts = 10

	minRSABits = 1024
	maxRSABits = 8192
)

// Key type names, as used by --key-type and in settings.
const (
	EC256   = "ec256"
	EC384   = "ec384"
	RSA2048 = "rsa2048"
	RSA3072 = "rsa3072"
	RSA4096 = "rsa4096"
)

// KeyTypes lists the key types Generate accepts, in the order shown to users.
func KeyTypes() []string {
	return []string{EC256, EC384, RSA2048, RSA3072, RSA4096}
}

// ErrUnknownKeyType is returned (wrapped) by ValidKeyType and Generate for a
// key type that is not one of KeyTypes.
var ErrUnknownKeyType = errors.New("unknown key type")

// ValidKeyType returns nil if keyType is one of KeyTypes, else an error
// wrapping ErrUnknownKeyType that names the valid ones.
func ValidKeyType(keyType string) error {
	for _, k := range KeyTypes() {
		if keyType == k {
			return nil
		}
	}
	return fmt.Errorf("%w %q (valid: %s)", ErrUnknownKeyType, keyType, strings.Join(KeyTypes(), ", "))
}

// Generate makes a new private key of the given type (see KeyTypes). The
// returned signer is an *ecdsa.PrivateKey or an *rsa.PrivateKey.
func Generate(keyType string) (crypto.Signer, error) {
	switch keyType {
	case EC256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EC384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	return nil, ValidKeyType(keyType)
}

// KeyTypeOf names the type of a public key: "ec256", "ec384", "ec521", or
// "rsa" followed by the modulus size in bits (e.g. "rsa2048"). It also
// accepts a private key or crypto.Signer and uses its public half. It
// returns "" for anything else (including nil).
func KeyTypeOf(pub crypto.PublicKey) string {
	if s, ok := pub.(interface{ Public() crypto.PublicKey }); ok {
		pub = s.Public()
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return ""
		}
		switch k.Curve.Params().BitSize {
		case 256:
			return EC256
		case 384:
			return EC384
		case 521:
			return "ec521"
		}
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return ""
		}
		return fmt.Sprintf("rsa%d", k.N.BitLen())
	}
	return ""
}

// MarshalPrivateKeyPEM encodes key as one PKCS#8 "PRIVATE KEY" PEM block.
func MarshalPrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	if key == nil {
		return nil, errors.New("marshal private key: nil key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM parses a PEM file holding exactly one private key block:
// PKCS#8 "PRIVATE KEY", SEC1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY".
// "EC PARAMETERS" blocks (written by `openssl ecparam -genkey`) are ignored;
// any other block, a second key, an encrypted key, text that is not
// whitespace outside the blocks, or input over maxKeyPEMSize is an error.
// The key must be ECDSA (P-256, P-384, P-521) or RSA (1024 to 8192 bits).
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	if len(data) > maxKeyPEMSize {
		return nil, fmt.Errorf("parse private key: input is %d bytes, more than %d", len(data), maxKeyPEMSize)
	}
	blocks, err := splitPEM(data)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	var key crypto.Signer
	for i, b := range blocks {
		switch b.Type {
		case "EC PARAMETERS":
			continue
		case "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY":
		default:
			return nil, fmt.Errorf("parse private key: block %d is %q, not a private key", i+1, b.Type)
		}
		if key != nil {
			return nil, errors.New("parse private key: more than one key block")
		}
		if len(b.Headers) != 0 {
			return nil, errors.New("parse private key: encrypted or annotated PEM keys are not supported")
		}
		k, err := parseKeyDER(b.Type, b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse private key: %w", err)
		}
		key = k
	}
	if key == nil {
		return nil, errors.New("parse private key: no private key block found")
	}
	return key, nil
}

func parseKeyDER(typ string, der []byte) (crypto.Signer, error) {
	var k any
	var err error
	switch typ {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(der)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(der)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(der)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.ToLower(typ), err)
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return k, nil
		}
		return nil, fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
	case *rsa.PrivateKey:
		if n := k.N.BitLen(); n < minRSABits || n > maxRSABits {
			return nil, fmt.Errorf("unsupported RSA key size %d (want %d to %d bits)", n, minRSABits, maxRSABits)
		}
		return k, nil
	}
	return nil, fmt.Errorf("unsupported private key type %T", k)
}

// ParseCertificateChainPEM parses a PEM certificate chain strictly: input at
// most maxChainPEMSize bytes, only "CERTIFICATE" blocks without headers,
// nothing but whitespace between or around them, at least one and at most
// maxChainCerts certificates, each of which must parse. The order is kept
// (leaf first, as RFC 8555 §7.4.2 serves it).
func ParseCertificateChainPEM(data []byte) ([]*x509.Certificate, error) {
	if len(data) > maxChainPEMSize {
		return nil, fmt.Errorf("parse certificate chain: input is %d bytes, more than %d", len(data), maxChainPEMSize)
	}
	blocks, err := splitPEM(data)
	if err != nil {
		return nil, fmt.Errorf("parse certificate chain: %w", err)
	}
	if len(blocks) == 0 {
		return nil, errors.New("parse certificate chain: no certificate found")
	}
	if len(blocks) > maxChainCerts {
		return nil, fmt.Errorf("parse certificate chain: %d certificates, more than %d", len(blocks), maxChainCerts)
	}
	certs := make([]*x509.Certificate, 0, len(blocks))
	for i, b := range blocks {
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("parse certificate chain: block %d is %q, not CERTIFICATE", i+1, b.Type)
		}
		if len(b.Headers) != 0 {
			return nil, fmt.Errorf("parse certificate chain: block %d has PEM headers", i+1)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate chain: certificate %d: %w", i+1, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// splitPEM decodes every PEM block of data and fails if anything but
// whitespace lies outside the blocks or a block is malformed.
func splitPEM(data []byte) ([]*pem.Block, error) {
	var blocks []*pem.Block
	rest := data
	for {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		if len(rest) == 0 {
			return blocks, nil
		}
		if !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			return nil, fmt.Errorf("unexpected data after block %d (only PEM blocks and whitespace are allowed)", len(blocks))
		}
		b, r := pem.Decode(rest)
		if b == nil {
			return nil, fmt.Errorf("malformed PEM block %d", len(blocks)+1)
		}
		// pem.Decode skips a malformed block and returns the next good one:
		// refuse that by checking it consumed exactly one BEGIN line.
		consumed := rest[:len(rest)-len(r)]
		if bytes.Count(consumed, []byte("-----BEGIN ")) != 1 {
			return nil, fmt.Errorf("malformed PEM block %d", len(blocks)+1)
		}
		blocks = append(blocks, b)
		rest = r
	}
}

// EncodeCertificatesPEM encodes certificates, given parsed or as DER, as
// consecutive "CERTIFICATE" PEM blocks. Nil entries are skipped.
func EncodeCertificatesPEM[T *x509.Certificate | []byte](certs []T) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		var der []byte
		switch c := any(c).(type) {
		case *x509.Certificate:
			if c == nil {
				continue
			}
			der = c.Raw
		case []byte:
			der = c
		}
		if len(der) == 0 {
			continue
		}
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: der}) // writes to a bytes.Buffer cannot fail
	}
	return buf.Bytes()
}

// MatchesKey reports whether cert's public key is pub. pub may also be a
// private key or crypto.Signer, whose public half is compared. A nil cert or
// key never matches.
func MatchesKey(cert *x509.Certificate, pub crypto.PublicKey) bool {
	if cert == nil || pub == nil {
		return false
	}
	if s, ok := pub.(interface{ Public() crypto.PublicKey }); ok {
		pub = s.Public()
	}
	k, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return false
	}
	return k.Equal(pub)
}
