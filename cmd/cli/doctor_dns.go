package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/client"
)

// dnsLookup queries recursive resolvers directly (dns01.Resolver, the one
// DNS query implementation), the way a CA's resolver sees the names, not
// through the local stub or /etc/hosts.
type dnsLookup struct {
	res *dns01.Resolver
}

func newDNSLookup(resolvers []string, timeout time.Duration) (*dnsLookup, error) {
	var servers []string
	for _, r := range resolvers {
		if _, _, err := net.SplitHostPort(r); err != nil {
			r = net.JoinHostPort(r, "53")
		}
		servers = append(servers, r)
	}
	if len(servers) == 0 {
		var err error
		if servers, err = dns01.SystemResolvers(); err != nil {
			return nil, err
		}
	}
	return &dnsLookup{res: &dns01.Resolver{Servers: servers, Timeout: timeout}}, nil
}

// query asks each resolver in turn until one answers. It returns the
// records of type qtype in the answer (following the CNAME chain the
// resolver returned) and whether the name exists.
func (l *dnsLookup) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, bool, error) {
	r, err := l.res.Lookup(ctx, name, qtype)
	if err != nil {
		return nil, false, err
	}
	if r.Rcode == dns.RcodeNameError {
		return nil, false, nil
	}
	var out []dns.RR
	for _, rr := range r.Answer {
		if rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	return out, true, nil
}

// addrs returns the A and AAAA addresses of name.
func (l *dnsLookup) addrs(ctx context.Context, name string) ([]net.IP, error) {
	var ips []net.IP
	var errs []error
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		rrs, _, err := l.query(ctx, name, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, rr := range rrs {
			switch v := rr.(type) {
			case *dns.A:
				ips = append(ips, v.A)
			case *dns.AAAA:
				ips = append(ips, v.AAAA)
			}
		}
	}
	if len(ips) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ips, nil
}

// caaVerdict is the outcome of the CAA check of one name.
type caaVerdict struct {
	verdict string // OK, WARN, FAIL
	detail  string
}

// caaQuery is what a CAA check compares the records with: the CA's issuer
// domain names (caaIdentities), the challenge types acmectl would use, the
// account URL if known, and whether the CA is Let's Encrypt's (Boulder),
// whose rules are applied to the letter.
type caaQuery struct {
	identities []string
	methods    []string
	accountURL string
	boulder    bool
}

// checkCAA applies RFC 8659 §3 (with RFC 8657 parameters) to name: climb
// from the name towards the TLD until a CAA record set is found; no set
// anywhere means any CA may issue. wildcard selects issuewild when the set
// has any.
func (l *dnsLookup) checkCAA(ctx context.Context, name string, wildcard bool, q caaQuery) caaVerdict {
	labels := dns.SplitDomainName(name)
	for i := range labels {
		at := strings.Join(labels[i:], ".")
		rrs, _, err := l.query(ctx, at, dns.TypeCAA)
		if err != nil {
			return caaVerdict{"FAIL", fmt.Sprintf("CAA lookup failed (%s): CAs refuse to issue when CAA cannot be checked", client.Sanitize(err.Error(), 200))}
		}
		if len(rrs) == 0 {
			continue
		}
		return evalCAA(at, rrs, wildcard, q)
	}
	return caaVerdict{"OK", "no CAA records: any CA may issue"}
}

// evalCAA judges one relevant CAA record set as Boulder's VA does
// (va/caa.go): an unknown tag with flag bit 128 or 1 set (bit 1 is a
// widespread misreading Boulder honours) forbids issuance; issuewild
// replaces issue for a wildcard when present; a record matches when its
// issuer is the CA's, it parses (RFC 8659 §4.2), and its accounturi and
// validationmethods parameters (RFC 8657; at most one of each) allow this
// account and a method acmectl would use. A record that does not match is
// skipped, never fatal by itself.
func evalCAA(at string, rrs []dns.RR, wildcard bool, q caaQuery) caaVerdict {
	var issue, issuewild []*dns.CAA
	for _, rr := range rrs {
		c, ok := rr.(*dns.CAA)
		if !ok {
			continue
		}
		switch strings.ToLower(c.Tag) {
		case "issue":
			issue = append(issue, c)
		case "issuewild":
			issuewild = append(issuewild, c)
		case "iodef", "issuemail", "issuevmc":
		default:
			if c.Flag&(128|1) != 0 {
				return caaVerdict{"FAIL", fmt.Sprintf("CAA at %s has the critical tag %q (flags %d) no CA understands: no CA may issue", at, client.Sanitize(c.Tag, 40), c.Flag)}
			}
		}
	}
	set, tag := issue, "issue"
	if wildcard && len(issuewild) > 0 {
		set, tag = issuewild, "issuewild"
	}
	if len(set) == 0 {
		return caaVerdict{"OK", fmt.Sprintf("CAA at %s has no %s records: any CA may issue", at, tag)}
	}
	if len(q.identities) == 0 {
		return caaVerdict{"WARN", fmt.Sprintf("CAA at %s restricts issuance, but the CA's directory lists no caaIdentities to compare", at)}
	}
	var seen, why []string
	for _, c := range set {
		issuer, params, err := parseCAAValue(c.Value)
		switch {
		case err != nil:
			seen = append(seen, client.Sanitize(c.Value, 80))
			why = append(why, fmt.Sprintf("%q is malformed (%v)", client.Sanitize(c.Value, 80), err))
			continue
		case issuer == "":
			seen = append(seen, `";" (nobody)`)
			continue
		}
		seen = append(seen, issuer)
		if !slices.ContainsFunc(q.identities, func(id string) bool { return q.issuerMatches(issuer, id) }) {
			if !q.boulder || !slices.ContainsFunc(q.identities, func(id string) bool { return strings.EqualFold(strings.TrimSuffix(issuer, "."), id) }) {
				continue
			}
			why = append(why, fmt.Sprintf("%q is not spelled exactly %s (Let's Encrypt compares the issuer as written)", issuer, strings.Join(q.identities, ", ")))
			continue
		}
		acct, acctSet := params["accounturi"]
		if acctSet {
			if len(acct) != 1 {
				why = append(why, issuer+" with more than one accounturi (unsatisfiable)")
				continue
			}
			if q.accountURL != "" && !q.accountMatches(acct[0]) {
				why = append(why, fmt.Sprintf("%s only for account %s, not %s", issuer, client.Sanitize(acct[0], 200), q.accountURL))
				continue
			}
		}
		if vm, ok := params["validationmethods"]; ok {
			if len(vm) != 1 {
				why = append(why, issuer+" with more than one validationmethods (unsatisfiable)")
				continue
			}
			if !methodAllowed(vm[0], q.methods) {
				why = append(why, fmt.Sprintf("%s only with validationmethods=%s, not %s", issuer, client.Sanitize(vm[0], 80), strings.Join(q.methods, ",")))
				continue
			}
		}
		detail := fmt.Sprintf("CAA %s at %s allows %s", tag, at, issuer)
		if acctSet && q.accountURL == "" {
			return caaVerdict{"WARN", detail + " only for account " + client.Sanitize(acct[0], 200) + " (no local account to compare)"}
		}
		return caaVerdict{"OK", detail}
	}
	detail := fmt.Sprintf("CAA %s at %s allows only %s, not this CA (%s)", tag, at,
		client.Sanitize(strings.Join(seen, ", "), 200), strings.Join(q.identities, ", "))
	if len(why) > 0 {
		detail = fmt.Sprintf("CAA %s at %s does not allow this CA: %s", tag, at, client.Sanitize(strings.Join(why, "; "), 400))
	}
	return caaVerdict{"FAIL", detail}
}

// issuerMatches compares a record's issuer with one of the CA's
// identities: Boulder compares the string exactly; other CAs are assumed
// to compare DNS names (case, a final dot).
func (q caaQuery) issuerMatches(issuer, id string) bool {
	if q.boulder {
		return issuer == id
	}
	return strings.EqualFold(strings.TrimSuffix(issuer, "."), strings.TrimSuffix(id, "."))
}

// accountMatches compares an accounturi with the account URL. Let's
// Encrypt also accepts the ACME v1 form of the same account
// (…/acme/reg/ID for …/acme/acct/ID: its accountURIPrefixes).
func (q caaQuery) accountMatches(uri string) bool {
	if uri == q.accountURL {
		return true
	}
	if !q.boulder {
		return false
	}
	v2host, id, ok := strings.Cut(strings.TrimPrefix(q.accountURL, "https://"), "/acme/acct/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return false
	}
	v1host := strings.Replace(strings.Replace(v2host, "-staging-v02.", "-staging.", 1), "-v02.", "-v01.", 1)
	return uri == "https://"+v1host+"/acme/reg/"+id
}

// methodAllowed reports whether a validationmethods value (RFC 8657 §4:
// comma-separated labels of letters, digits and "-") names one of methods.
func methodAllowed(value string, methods []string) bool {
	if len(methods) == 0 {
		return true // not known here: the CA decides
	}
	for m := range strings.SplitSeq(value, ",") {
		if m == "" || strings.IndexFunc(m, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
		}) >= 0 {
			return false // the whole property is malformed (Boulder)
		}
		if slices.Contains(methods, m) {
			return true
		}
	}
	return false
}

// parseCAAValue splits an issue/issuewild value (RFC 8659 §4.2) into the
// issuer domain name and its parameters (tag → every value given), as
// Boulder parses it: "tag=value" pairs separated by ";", the tag letters
// and digits, the value printable ASCII without spaces or ";".
func parseCAAValue(v string) (string, map[string][]string, error) {
	wsp := func(r rune) bool { return r == ' ' || r == '\t' }
	parts := strings.Split(v, ";")
	issuer := strings.TrimFunc(parts[0], wsp)
	params := map[string][]string{}
	if len(parts) == 2 && strings.TrimFunc(parts[1], wsp) == "" {
		return issuer, params, nil
	}
	for _, p := range parts[1:] {
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			return "", nil, fmt.Errorf("parameter %q is not tag=value", p)
		}
		k, val = strings.TrimFunc(k, wsp), strings.TrimFunc(val, wsp)
		if k == "" || strings.IndexFunc(k, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') }) >= 0 {
			return "", nil, fmt.Errorf("parameter tag %q", k)
		}
		if strings.IndexFunc(val, func(r rune) bool { return r < 0x21 || r == ';' || r > 0x7e }) >= 0 {
			return "", nil, fmt.Errorf("parameter value %q", val)
		}
		params[k] = append(params[k], val)
	}
	return issuer, params, nil
}
