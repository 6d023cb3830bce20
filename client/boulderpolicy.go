package client

import (
	"fmt"
	"net/netip"
	"strings"
)

// Let's Encrypt's (Boulder's) published policies that the directory does
// not state, applied before ordering when Directory.Boulder is set.

// boulderIPProfile is the profile that allows IP address identifiers at
// Let's Encrypt (its profiles page; Boulder's own test configuration
// gives "ip" to the same profile only). Every other profile answers
// rejectedIdentifier "... does not permit IP address identifiers".
const boulderIPProfile = "shortlived"

// reservedPrefixes are the IANA special-purpose address registries (IPv4
// and IPv6): Boulder refuses every IP identifier inside one of them
// (rejectedIdentifier "IP address is in a reserved address block").
var reservedPrefixes = [...]struct{ prefix, name string }{
	{"0.0.0.0/8", "\"this network\" (RFC 791)"},
	{"10.0.0.0/8", "private use (RFC 1918)"},
	{"100.64.0.0/10", "shared address space (RFC 6598)"},
	{"127.0.0.0/8", "loopback (RFC 1122)"},
	{"169.254.0.0/16", "link local (RFC 3927)"},
	{"172.16.0.0/12", "private use (RFC 1918)"},
	{"192.0.0.0/24", "IETF protocol assignments (RFC 6890)"},
	{"192.0.2.0/24", "documentation (RFC 5737)"},
	{"192.31.196.0/24", "AS112 (RFC 7535)"},
	{"192.52.193.0/24", "AMT (RFC 7450)"},
	{"192.88.99.0/24", "6to4 relay anycast (RFC 7526)"},
	{"192.168.0.0/16", "private use (RFC 1918)"},
	{"192.175.48.0/24", "AS112 direct delegation (RFC 7534)"},
	{"198.18.0.0/15", "benchmarking (RFC 2544)"},
	{"198.51.100.0/24", "documentation (RFC 5737)"},
	{"203.0.113.0/24", "documentation (RFC 5737)"},
	{"224.0.0.0/4", "multicast (RFC 5771)"},
	{"240.0.0.0/4", "reserved (RFC 1112)"},
	{"255.255.255.255/32", "limited broadcast (RFC 919)"},
	{"::/128", "unspecified (RFC 4291)"},
	{"::1/128", "loopback (RFC 4291)"},
	{"::ffff:0:0/96", "IPv4-mapped (RFC 4291)"},
	{"64:ff9b::/96", "IPv4-IPv6 translation (RFC 6052)"},
	{"64:ff9b:1::/48", "IPv4-IPv6 translation (RFC 8215)"},
	{"100::/64", "discard-only (RFC 6666)"},
	{"100:0:0:1::/64", "dummy prefix (RFC 9780)"},
	{"2001::/23", "IETF protocol assignments (RFC 2928)"},
	{"2001:db8::/32", "documentation (RFC 3849)"},
	{"2002::/16", "6to4 (RFC 3056)"},
	{"2620:4f:8000::/48", "AS112 direct delegation (RFC 7534)"},
	{"3fff::/20", "documentation (RFC 9637)"},
	{"5f00::/16", "SRv6 SIDs (RFC 9602)"},
	{"fc00::/7", "unique local (RFC 4193)"},
	{"fe80::/10", "link-local unicast (RFC 4291)"},
	{"ff00::/8", "multicast (RFC 4291)"},
}

// ReservedBlock names the IANA special-purpose block ip is in (private,
// loopback, documentation, ...), or "": Let's Encrypt refuses those.
func ReservedBlock(ip netip.Addr) string {
	for _, r := range reservedPrefixes {
		if netip.MustParsePrefix(r.prefix).Contains(ip) {
			return r.prefix + ", " + r.name
		}
	}
	return ""
}

// boulderIPAllowed reports whether profile (the requested one, "" for the
// default) allows IP identifiers at Let's Encrypt.
func boulderIPAllowed(profile string) bool { return profile == boulderIPProfile }

// checkBoulderIPs refuses, before ordering at a Boulder server, the IP
// identifiers Let's Encrypt refuses: with a profile that does not allow
// them, or in a private or reserved range.
func checkBoulderIPs(dir *Directory, ids []Identifier, profile string) error {
	for _, id := range ids {
		if id.Type != "ip" {
			continue
		}
		ip, err := netip.ParseAddr(id.Value)
		if err != nil {
			continue // validateIdentifier has refused it
		}
		if b := ReservedBlock(ip); b != "" {
			return &UnsupportedError{Feature: "IP address " + id.Value, Dialect: BoulderPolicy,
				Detail: "Let's Encrypt refuses private and reserved addresses (" + b + "): only a publicly routable address can be in a certificate"}
		}
		if boulderIPAllowed(profile) {
			continue
		}
		what := "the default profile"
		if profile != "" {
			what = fmt.Sprintf("profile %q", profile)
		}
		how := "and this server offers no profile that does"
		if _, ok := dir.Meta.Profiles[boulderIPProfile]; ok {
			how = "pass --profile " + boulderIPProfile + " (6-day certificates)"
		}
		return &UnsupportedError{Feature: "IP address " + id.Value + " with " + what, Dialect: BoulderPolicy,
			Detail: fmt.Sprintf("Let's Encrypt issues IP address certificates only with the %q profile: %s", boulderIPProfile, how)}
	}
	return nil
}

// Stated is what is known about an optional feature of the server, from
// the directory itself, from the dialect (legacy v1 has none of these),
// or from Let's Encrypt's published policy when the server runs Boulder:
// "yes", "no", "required", or "not stated" followed by an explanation.
type Stated struct {
	Feature string // wildcard, ip_identifiers, validity_dates, external_account_binding
	Value   string // yes, no, required, conditional, not stated
	Detail  string
}

// Statements says what is known about the features a directory may leave
// unsaid: nothing is claimed merely because the server speaks RFC 8555.
func (d *Directory) Statements() []Stated {
	v1 := d.DialectID == "v1"
	st := func(f string) Stated {
		switch {
		case v1:
			return Stated{f, "no", "legacy ACME v1"}
		case d.Boulder:
			return Stated{f, "", ""}
		}
		return Stated{f, "not stated", "the directory does not say; the CA answers the order"}
	}
	wild, ip, dates, eab := st("wildcard"), st("ip_identifiers"), st("validity_dates"), st("external_account_binding")
	if d.Boulder && !v1 {
		wild.Value, wild.Detail = "yes", "dns-01 only (Let's Encrypt policy)"
		dates.Value, dates.Detail = "no", "Let's Encrypt refuses notBefore/notAfter"
		ip.Value, ip.Detail = "no", "Let's Encrypt policy: only the "+boulderIPProfile+" profile allows IP addresses, and this server does not offer it"
		if _, ok := d.Meta.Profiles[boulderIPProfile]; ok {
			ip.Value, ip.Detail = "conditional", "only with --profile "+boulderIPProfile+", public addresses only (Let's Encrypt policy)"
		}
		eab.Value, eab.Detail = "not stated", "not required"
	}
	if !v1 && !d.Boulder {
		eab.Detail = "not required by the directory"
	}
	if d.Meta.ExternalAccountRequired {
		eab.Value, eab.Detail = "required", "--eab-kid and --eab-hmac-key-file"
	}
	return []Stated{wild, ip, dates, eab}
}

// String is the one-line form: "yes", "no (legacy ACME v1)", ...
func (s Stated) String() string {
	if s.Detail == "" {
		return s.Value
	}
	return strings.TrimSpace(s.Value + " (" + s.Detail + ")")
}
