package fleet

import (
	"crypto/x509"
	"errors"
	"fmt"
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

// leafNames are a leaf's names (client.SANNames), sorted by value.
func leafNames(leaf *x509.Certificate) (client.Names, error) {
	names, err := client.SANNames(leaf.DNSNames, leaf.IPAddresses)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(names, func(a, b client.Identifier) int { return strings.Compare(a.Value, b.Value) })
	return names, nil
}

// checkCanonical refuses a name from storage that is not spelled exactly
// as the command line stores it: raw are the names as written, parsed the
// same names after client.ParseIdentifier (which lowercases, converts to
// A-labels and shortens IPv6). No control characters, globs, slashes or
// spaces can pass the parser.
func checkCanonical(raw []string, parsed client.Names) error {
	if len(raw) != len(parsed) {
		return errors.New("names: unreadable list")
	}
	for i, id := range parsed {
		if raw[i] != id.Value {
			return fmt.Errorf("name %q: not in canonical form (%q)", raw[i], id.Value)
		}
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
	ln, err := leafNames(leaf)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUntrustedCertificate, err)
	}
	if len(s.Names) > 0 && !ln.SameSet(s.Names) {
		return nil, fmt.Errorf("%w: names %s differ from the settings' %s", ErrUntrustedCertificate,
			strings.Join(ln.Strings(), ","), strings.Join(s.Names.Strings(), ","))
	}
	if len(s.Names) > 0 && v.Names != nil && !v.Names.SameSet(s.Names) {
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
