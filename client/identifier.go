package client

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/idna"

	"github.com/acmectl/acmectl/challenges"
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

// ParseIdentifier parses one name (given with -d or --solver, a CSR's
// names, a name read back from settings.yaml or etcd) into a typed
// identifier. It is the one place that decides whether a name is an IP
// address ("ip", canonical form) or a DNS name ("dns": lowercase IDNA
// A-label, "*." for a wildcard); every identifier it returns parses back
// to itself from its Value. Anything else is a *NameError.
func ParseIdentifier(n string) (Identifier, error) {
	n = strings.TrimSpace(n)
	if ip, err := netip.ParseAddr(n); err == nil {
		if ip.Zone() != "" {
			return Identifier{}, &NameError{Name: n, Why: "IP address with a zone"}
		}
		return Identifier{Type: challenges.IdentifierIP, Value: ip.Unmap().String()}, nil
	}
	wild := strings.HasPrefix(n, "*.")
	base := strings.TrimSuffix(strings.TrimPrefix(n, "*."), ".")
	if _, err := netip.ParseAddr(base); err == nil {
		// "192.0.2.1." or "*.192.0.2.1" would be a DNS name that reads
		// back as an IP address.
		return Identifier{}, &NameError{Name: n, Why: "an IP address has no trailing dot and no wildcard"}
	}
	if why := domainNameProblem(base); why != "" {
		return Identifier{}, &NameError{Name: n, Why: why}
	}
	a, err := idna.Lookup.ToASCII(strings.ToLower(base))
	if err != nil || a == "" || strings.Contains(a, "*") || ValidateDNSName(a) != nil {
		return Identifier{}, &NameError{Name: n}
	}
	if wild {
		a = "*." + a
	}
	return Identifier{Type: challenges.IdentifierDNS, Value: a}, nil
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

// CheckIdentifier reports whether id is what ParseIdentifier makes of its
// Value: an identifier built elsewhere (a literal, an old record) that the
// parser would type or spell differently, such as a "dns" 192.0.2.1, is a
// *NameError, never re-typed.
func CheckIdentifier(id Identifier) error {
	p, err := ParseIdentifier(id.Value)
	if err != nil {
		return err
	}
	if p != id {
		return &NameError{Name: id.Value, Why: fmt.Sprintf("not a canonical %q identifier (the name is the %s identifier %q)", Sanitize(id.Type, 20), p.Type, p.Value)}
	}
	return nil
}

// Names are the identifiers of one certificate, in the order given, as
// acmectl stores and shows them: in YAML and JSON each is its Value alone
// ("example.com", "*.example.com", "192.0.2.1"; the settings.yaml and etcd
// formats), read back through ParseIdentifier. Orders send them as
// []Identifier, in RFC 8555's form.
type Names []Identifier

// ParseNames parses each name (ParseIdentifier); the first error is
// returned.
func ParseNames(names []string) (Names, error) {
	if names == nil {
		return nil, nil
	}
	out := make(Names, 0, len(names))
	for _, n := range names {
		id, err := ParseIdentifier(n)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

// Strings are the names' values, for display and hook environments.
func (ns Names) Strings() []string {
	if ns == nil {
		return nil
	}
	out := make([]string, len(ns))
	for i, id := range ns {
		out[i] = id.Value
	}
	return out
}

// String joins the values with ", ".
func (ns Names) String() string { return strings.Join(ns.Strings(), ", ") }

// Contains reports whether id is one of the names.
func (ns Names) Contains(id Identifier) bool { return slices.Contains(ns, id) }

// SameSet reports whether ns and o hold the same identifiers, in any order
// and counting duplicates once.
func (ns Names) SameSet(o Names) bool {
	for _, id := range ns {
		if !o.Contains(id) {
			return false
		}
	}
	for _, id := range o {
		if !ns.Contains(id) {
			return false
		}
	}
	return true
}

// MarshalYAML writes the names as a list of strings.
func (ns Names) MarshalYAML() (any, error) { return ns.Strings(), nil }

// UnmarshalYAML reads a list of strings through ParseIdentifier.
func (ns *Names) UnmarshalYAML(unmarshal func(any) error) error {
	var raw []string
	if err := unmarshal(&raw); err != nil {
		return err
	}
	return ns.set(raw)
}

// MarshalJSON writes the names as an array of strings.
func (ns Names) MarshalJSON() ([]byte, error) {
	if ns == nil {
		return []byte("null"), nil
	}
	return json.Marshal(ns.Strings())
}

// UnmarshalJSON reads an array of strings through ParseIdentifier.
func (ns *Names) UnmarshalJSON(b []byte) error {
	var raw []string
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	return ns.set(raw)
}

func (ns *Names) set(raw []string) error {
	p, err := ParseNames(raw)
	if err != nil {
		return fmt.Errorf("names: %w", err)
	}
	*ns = p
	return nil
}

// SANNames are the identifiers of a certificate's or CSR's subject
// alternative names, typed by the extension that holds them: each dNSName
// through ParseIdentifier (one that reads as an IP address is a
// *NameError), each iPAddress as an "ip" identifier. Duplicates are
// dropped.
func SANNames(dnsNames []string, ips []net.IP) (Names, error) {
	var out Names
	add := func(id Identifier) {
		if !out.Contains(id) {
			out = append(out, id)
		}
	}
	for _, n := range dnsNames {
		id, err := ParseIdentifier(n)
		if err != nil {
			return nil, err
		}
		if id.Type != challenges.IdentifierDNS {
			return nil, &NameError{Name: n, Why: "a DNS name that reads as an IP address"}
		}
		add(id)
	}
	for _, ip := range ips {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			return nil, &NameError{Name: ip.String(), Why: "not an IP address"}
		}
		add(Identifier{Type: challenges.IdentifierIP, Value: a.Unmap().String()})
	}
	return out, nil
}

// MustNames parses names (ParseIdentifier) and panics on an error; for
// names written in code, like netip.MustParseAddr.
func MustNames(names ...string) Names {
	ns, err := ParseNames(names)
	if err != nil {
		panic(err)
	}
	return ns
}
