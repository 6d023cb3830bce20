package fleet

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/store"
)

// ErrUntrustedCertificate is wrapped by the errors of a certificate in etcd
// that a host refuses to install: its chain does not verify to the roots
// the host trusts for the server, its names differ from the settings', or
// its dates are not sane.
var ErrUntrustedCertificate = errors.New("certificate in etcd refused")

// clockSkew is how far in the future a NotBefore may be.
const clockSkew = 5 * time.Minute

// leafNames are a leaf's DNS names and IP addresses, sorted.
func leafNames(leaf *x509.Certificate) []string {
	names := slices.Clone(leaf.DNSNames)
	for _, ip := range leaf.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			names = append(names, a.Unmap().String())
		}
	}
	for i, n := range names {
		names[i] = strings.ToLower(n)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func sameNameSet(a, b []string) bool {
	x := slices.Clone(a)
	y := slices.Clone(b)
	for i := range x {
		x[i] = strings.ToLower(x[i])
	}
	for i := range y {
		y[i] = strings.ToLower(y[i])
	}
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

// validStoredName accepts a name from storage only in the form the command
// line stores it (normalised by obtain's -d): a canonical IP address, or
// a lowercase A-label DNS name, optionally "*." in front, that
// client.ValidateDNSName accepts. No control characters, globs, slashes or
// spaces can pass.
func validStoredName(n string) error {
	if ip, err := netip.ParseAddr(n); err == nil {
		if ip.Zone() != "" || ip.Unmap().String() != n {
			return fmt.Errorf("name %q: not a canonical IP address", n)
		}
		return nil
	}
	base := strings.TrimPrefix(n, "*.")
	if base == "" || strings.ContainsAny(base, "*") || strings.ToLower(base) != base {
		return fmt.Errorf("name %q: not a valid domain name", n)
	}
	for _, r := range base {
		if r > 0x7e || r <= 0x20 {
			return fmt.Errorf("name %q: not a valid domain name", n)
		}
	}
	if err := client.ValidateDNSName(base); err != nil {
		return fmt.Errorf("name %q: %w", n, err)
	}
	return nil
}

// rootsFor is the pool a host trusts for certificates of s's server: the
// system roots plus the host's own ca-bundle (a host-local setting).
func rootsFor(s *store.Settings) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if s.CABundle != "" {
		pem, err := os.ReadFile(s.CABundle)
		if err != nil {
			return nil, fmt.Errorf("ca-bundle: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca-bundle %s: no PEM certificates", s.CABundle)
		}
	}
	return pool, nil
}

// verifyFleetCertificate applies to a certificate read from etcd the
// checks a certificate from the CA passes before it is installed, plus
// those the CA's TLS connection stood for: the leaf and chain parse, the
// chain verifies to roots (rootsFor) at now, the names equal the settings'
// names (and the record's), NotBefore is not in the future and NotAfter
// not past. It returns the leaf.
func verifyFleetCertificate(v *Version, files *store.Files, s *store.Settings, roots *x509.CertPool, now time.Time) (*x509.Certificate, error) {
	leaf, err := leafOf(files.Cert)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUntrustedCertificate, err)
	}
	if leaf.NotBefore.After(now.Add(clockSkew)) {
		return nil, fmt.Errorf("%w: not valid before %s (in the future)", ErrUntrustedCertificate, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if !now.Before(leaf.NotAfter) {
		return nil, fmt.Errorf("%w: expired at %s", ErrUntrustedCertificate, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if len(s.Names) > 0 && !sameNameSet(leafNames(leaf), s.Names) {
		return nil, fmt.Errorf("%w: names %s differ from the settings' %s", ErrUntrustedCertificate,
			strings.Join(leafNames(leaf), ","), strings.Join(s.Names, ","))
	}
	if len(s.Names) > 0 && v.Names != nil && !sameNameSet(v.Names, s.Names) {
		return nil, fmt.Errorf("%w: record names differ from the settings'", ErrUntrustedCertificate)
	}
	inter := x509.NewCertPool()
	if len(strings.TrimSpace(string(files.Chain))) > 0 {
		chain, err := keys.ParseCertificateChainPEM(files.Chain)
		if err != nil {
			return nil, fmt.Errorf("%w: chain: %w", ErrUntrustedCertificate, err)
		}
		for _, c := range chain {
			inter.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("%w: chain does not verify to the roots this host trusts (system roots and its ca-bundle): %w", ErrUntrustedCertificate, err)
	}
	return leaf, nil
}
