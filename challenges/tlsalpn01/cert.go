package tlsalpn01

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/acmectl/acmectl/challenges"
)

// Protocol is the ALPN protocol name of tls-alpn-01 (RFC 8737 §6.2).
const Protocol = "acme-tls/1"

// certLifetime is how long a challenge certificate is valid. The CA only
// looks at it during the challenge; a short lifetime limits misuse.
const certLifetime = 7 * 24 * time.Hour

// AcmeIdentifierOID returns the OID of the id-pe-acmeIdentifier extension,
// 1.3.6.1.5.5.7.1.31 (RFC 8737 §6.1).
func AcmeIdentifierOID() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}
}

// ServerName returns the TLS SNI name the CA sends when validating id: the
// DNS name in lower case without a trailing dot, or for an IP address its
// reverse-DNS name (RFC 8738 §6: "4.3.2.1.in-addr.arpa", or 32 nibbles and
// "ip6.arpa"), without a trailing dot.
func ServerName(id challenges.Identifier) (string, error) {
	switch id.Type {
	case challenges.IdentifierDNS:
		name := strings.ToLower(strings.TrimSuffix(id.Value, "."))
		if name == "" || strings.HasPrefix(name, "*.") {
			return "", fmt.Errorf("tls-alpn-01: unusable DNS name %q", id.Value)
		}
		return name, nil
	case challenges.IdentifierIP:
		ip, err := parseIP(id.Value)
		if err != nil {
			return "", err
		}
		return reverseName(ip), nil
	default:
		return "", fmt.Errorf("tls-alpn-01: unsupported identifier type %q", id.Type)
	}
}

func parseIP(s string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("tls-alpn-01: invalid IP address %q", s)
	}
	return ip.Unmap(), nil
}

// reverseName is ip's name under in-addr.arpa or ip6.arpa, without the
// trailing dot.
func reverseName(ip netip.Addr) string {
	var b strings.Builder
	if ip.Is4() {
		a := ip.As4()
		fmt.Fprintf(&b, "%d.%d.%d.%d.in-addr.arpa", a[3], a[2], a[1], a[0])
		return b.String()
	}
	const hex = "0123456789abcdef"
	a := ip.As16()
	for i := len(a) - 1; i >= 0; i-- {
		b.WriteByte(hex[a[i]&0x0f])
		b.WriteByte('.')
		b.WriteByte(hex[a[i]>>4])
		b.WriteByte('.')
	}
	b.WriteString("ip6.arpa")
	return b.String()
}

// Certificate returns the self-signed certificate that answers ch
// (RFC 8737 §3, RFC 8738 §6): a fresh ECDSA P-256 key, exactly one subject
// alternative name (the DNS name, or the IP address for an IP identifier),
// and the critical id-pe-acmeIdentifier extension holding the DER OCTET
// STRING of SHA-256(key authorization). It does no I/O.
func Certificate(ch challenges.Challenge) (*tls.Certificate, error) {
	if ch.Wildcard {
		return nil, fmt.Errorf("tls-alpn-01: cannot validate wildcard *.%s", ch.Identifier.Value)
	}
	if ch.KeyAuthorization == "" {
		return nil, fmt.Errorf("tls-alpn-01: empty key authorization for %s", ch.Identifier.Value)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "acmectl tls-alpn-01 challenge"},
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    time.Now().Add(certLifetime),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	switch ch.Identifier.Type {
	case challenges.IdentifierDNS:
		name, err := ServerName(ch.Identifier)
		if err != nil {
			return nil, err
		}
		tmpl.DNSNames = []string{name}
	case challenges.IdentifierIP:
		ip, err := parseIP(ch.Identifier.Value)
		if err != nil {
			return nil, err
		}
		tmpl.IPAddresses = []net.IP{ip.AsSlice()}
	default:
		return nil, fmt.Errorf("tls-alpn-01: unsupported identifier type %q", ch.Identifier.Type)
	}
	sum := sha256.Sum256([]byte(ch.KeyAuthorization))
	value, err := asn1.Marshal(sum[:])
	if err != nil {
		return nil, fmt.Errorf("tls-alpn-01: encode acmeIdentifier: %w", err)
	}
	tmpl.ExtraExtensions = []pkix.Extension{{Id: AcmeIdentifierOID(), Critical: true, Value: value}}

	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("tls-alpn-01: serial number: %w", err)
	}
	tmpl.SerialNumber = serial
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tls-alpn-01: generate key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("tls-alpn-01: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tls-alpn-01: parse certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
