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

// checkCAA applies RFC 8659 §3 (with RFC 8657 parameters) to name for a
// CA whose issuer domain names are identities: climb from the name towards
// the TLD until a CAA record set is found; no set anywhere means any CA may
// issue. wildcard selects issuewild when the set has any. methods are the
// challenge types acmectl would use; accountURL the account, if known.
func (l *dnsLookup) checkCAA(ctx context.Context, name string, wildcard bool, identities, methods []string, accountURL string) caaVerdict {
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
		return evalCAA(at, rrs, wildcard, identities, methods, accountURL)
	}
	return caaVerdict{"OK", "no CAA records: any CA may issue"}
}

func evalCAA(at string, rrs []dns.RR, wildcard bool, identities, methods []string, accountURL string) caaVerdict {
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
		case "iodef", "issuemail", "issuevmc", "contactemail", "contactphone":
		default:
			if c.Flag&128 != 0 {
				return caaVerdict{"FAIL", fmt.Sprintf("CAA at %s has the critical tag %q no CA understands: no CA may issue", at, client.Sanitize(c.Tag, 40))}
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
	if len(identities) == 0 {
		return caaVerdict{"WARN", fmt.Sprintf("CAA at %s restricts issuance, but the CA's directory lists no caaIdentities to compare", at)}
	}
	var seen []string
	for _, c := range set {
		issuer, params := parseCAAValue(c.Value)
		if issuer == "" {
			seen = append(seen, `";" (nobody)`)
			continue
		}
		seen = append(seen, issuer)
		if !slices.ContainsFunc(identities, func(id string) bool { return strings.EqualFold(id, issuer) }) {
			continue
		}
		if acct, ok := params["accounturi"]; ok && accountURL != "" && acct != accountURL {
			continue
		}
		if vm, ok := params["validationmethods"]; ok && len(methods) > 0 {
			allowed := strings.Split(vm, ",")
			if !slices.ContainsFunc(methods, func(m string) bool { return slices.Contains(allowed, m) }) {
				return caaVerdict{"FAIL", fmt.Sprintf("CAA at %s allows %s only with validationmethods=%s, not %s", at, issuer, vm, strings.Join(methods, ","))}
			}
		}
		detail := fmt.Sprintf("CAA %s at %s allows %s", tag, at, issuer)
		if acct, ok := params["accounturi"]; ok && accountURL == "" {
			return caaVerdict{"WARN", detail + " only for account " + acct + " (no local account to compare)"}
		}
		return caaVerdict{"OK", detail}
	}
	return caaVerdict{"FAIL", fmt.Sprintf("CAA %s at %s allows only %s, not this CA (%s)", tag, at,
		client.Sanitize(strings.Join(seen, ", "), 200), strings.Join(identities, ", "))}
}

// parseCAAValue splits an issue/issuewild value (RFC 8659 §4.2) into the
// issuer domain name and its parameters.
func parseCAAValue(v string) (string, map[string]string) {
	issuer, rest, _ := strings.Cut(v, ";")
	params := map[string]string{}
	for _, p := range strings.Split(rest, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok {
			params[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(val)
		}
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(issuer), ".")), params
}
