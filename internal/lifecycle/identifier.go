package lifecycle

import (
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"

	"github.com/acmectl/acmectl/client"
)

// NameError is a name that is not an identifier a certificate can be for.
type NameError struct {
	Name string
	// Why says in a user's words what is wrong ("" when the name is
	// simply not a valid domain name).
	Why string
}

func (e *NameError) Error() string {
	if e.Why != "" {
		return fmt.Sprintf("%q: %s", e.Name, e.Why)
	}
	return fmt.Sprintf("%q is not a valid domain name", e.Name)
}

// ParseIdentifier parses one name a user gave (-d, --solver, a CSR's
// names) into a typed identifier, once: an IP address ("ip", canonical
// form) or a DNS name ("dns": lowercase IDNA A-label, "*." for a
// wildcard). Anything else is a *NameError.
func ParseIdentifier(n string) (client.Identifier, error) {
	n = strings.TrimSpace(n)
	if ip, err := netip.ParseAddr(n); err == nil {
		if ip.Zone() != "" {
			return client.Identifier{}, &NameError{Name: n, Why: "IP address with a zone"}
		}
		return client.Identifier{Type: "ip", Value: ip.Unmap().String()}, nil
	}
	wild := strings.HasPrefix(n, "*.")
	base := strings.TrimSuffix(strings.TrimPrefix(n, "*."), ".")
	if why := domainNameProblem(base); why != "" {
		return client.Identifier{}, &NameError{Name: n, Why: why}
	}
	a, err := idna.Lookup.ToASCII(strings.ToLower(base))
	if err != nil || a == "" || strings.Contains(a, "*") || client.ValidateDNSName(a) != nil {
		return client.Identifier{}, &NameError{Name: n}
	}
	if wild {
		a = "*." + a
	}
	return client.Identifier{Type: "dns", Value: a}, nil
}

// domainNameProblem says in a user's words what is wrong with a domain
// name given as a DNS name (without its "*." prefix), or "" when nothing obvious
// is; the IDNA and grammar checks follow.
func domainNameProblem(name string) string {
	switch {
	case name == "":
		return "empty domain name"
	case strings.Contains(name, ".."):
		return "empty label (two dots in a row)"
	case strings.HasPrefix(name, "."):
		return "a domain name cannot start with a dot"
	case strings.Contains(name, "*"):
		return "a wildcard is allowed only as the whole first label (*.example.com)"
	case strings.ContainsAny(name, " \t/:@_"):
		return "a domain name has only letters, digits, '-' and '.' (no spaces, '/', ':', '@' or '_')"
	case !strings.Contains(name, "."):
		return "a domain name needs at least two labels, like example.com (names are separated by commas: -d a.example,b.example)"
	case len(name) > 253:
		return "longer than 253 characters"
	}
	for _, l := range strings.Split(name, ".") {
		if len(l) > 63 {
			return fmt.Sprintf("label %q is longer than 63 characters", l[:20]+"...")
		}
		if strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return fmt.Sprintf("label %q starts or ends with '-'", l)
		}
	}
	return ""
}
