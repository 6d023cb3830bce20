package dns01

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Limits applied to every DNS answer, which is treated as hostile.
const (
	maxRRs        = 256  // records in all sections of one response
	maxTXTLen     = 4096 // bytes of one joined TXT value considered
	maxNS         = 16   // nameserver names of one zone
	maxAddrsPerNS = 4    // addresses used per nameserver name
	udpSize       = 1232 // EDNS buffer size (DNS flag day 2020)
)

// querier sends single DNS queries, UDP with a TCP retry on truncation. It
// is acmectl's one DNS query implementation: the dns-01 solver, Resolver
// (dns-persist-01, doctor) and the propagation checks all go through it.
type querier struct {
	dialer  *net.Dialer
	timeout time.Duration
	log     *slog.Logger
}

// errMalformed marks answers that break the grammar or the limits.
var errMalformed = errors.New("malformed DNS response")

// query asks server (host:port) for name/qtype, with recursion desired when
// recurse. It returns any rcode as a response; err is only for transport
// failures and malformed responses.
func (q *querier) query(ctx context.Context, server, name string, qtype uint16, recurse bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = recurse
	m.SetEdns0(udpSize, false)
	c := &dns.Client{Net: "udp", Timeout: q.timeout, Dialer: q.dialer, UDPSize: udpSize}
	r, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && r.Truncated {
		q.log.Debug("dns answer truncated, retrying over tcp", "server", server, "name", name)
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return nil, fmt.Errorf("query %s %s at %s: %w", name, dns.TypeToString[qtype], server, err)
	}
	if err := checkResponse(r, name, qtype); err != nil {
		return nil, fmt.Errorf("query %s %s at %s: %w", name, dns.TypeToString[qtype], server, err)
	}
	q.log.Debug("dns answer", "server", server, "name", name, "type", dns.TypeToString[qtype],
		"rcode", dns.RcodeToString[r.Rcode], "answers", len(r.Answer))
	return r, nil
}

// checkResponse applies the structural checks miekg/dns leaves to callers.
func checkResponse(r *dns.Msg, name string, qtype uint16) error {
	if !r.Response {
		return fmt.Errorf("%w: QR bit not set", errMalformed)
	}
	if len(r.Question) != 1 || !strings.EqualFold(r.Question[0].Name, name) || r.Question[0].Qtype != qtype {
		return fmt.Errorf("%w: question does not match", errMalformed)
	}
	if len(r.Answer)+len(r.Ns)+len(r.Extra) > maxRRs {
		return fmt.Errorf("%w: more than %d records", errMalformed, maxRRs)
	}
	for _, rr := range append(append(r.Answer[:len(r.Answer):len(r.Answer)], r.Ns...), r.Extra...) {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		if _, ok := dns.IsDomainName(rr.Header().Name); !ok {
			return fmt.Errorf("%w: bad owner name", errMalformed)
		}
		switch rr := rr.(type) {
		case *dns.CNAME:
			if !validName(rr.Target) {
				return fmt.Errorf("%w: bad CNAME target", errMalformed)
			}
		case *dns.NS:
			if !validName(rr.Ns) {
				return fmt.Errorf("%w: bad NS target", errMalformed)
			}
		}
	}
	return nil
}

// validName reports whether s is an absolute DNS name within the limits of
// RFC 1035 §2.3.4 (255 bytes, 63 per label, at least one label).
func validName(s string) bool {
	if !dns.IsFqdn(s) || s == "." || len(s) > 254 {
		return false
	}
	_, ok := dns.IsDomainName(s)
	return ok
}

// answer is what one response says about a name after following the CNAME
// records inside its answer section.
type answer struct {
	final string   // the last name of the chain inside this response
	txt   []string // joined TXT values owned by final
}

// follow walks the CNAME records for name inside r.Answer (bounded, loop
// checked) and collects the TXT values at the end of the chain.
func follow(r *dns.Msg, name string) (answer, error) {
	cur := fqdn(name)
	seen := map[string]bool{cur: true}
	for range MaxCNAMEHops + 1 {
		next := ""
		for _, rr := range r.Answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, cur) {
				next = fqdn(c.Target)
				break
			}
		}
		if next == "" {
			break
		}
		if seen[next] {
			return answer{}, fmt.Errorf("%w: at %s", ErrCNAMELoop, next)
		}
		seen[next] = true
		cur = next
	}
	if len(seen) > MaxCNAMEHops+1 {
		return answer{}, fmt.Errorf("%w: at %s", ErrCNAMELoop, cur)
	}
	a := answer{final: cur}
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TXT); ok && strings.EqualFold(t.Hdr.Name, cur) {
			v := strings.Join(t.Txt, "")
			if len(v) > maxTXTLen {
				v = v[:maxTXTLen]
			}
			a.txt = append(a.txt, v)
		}
	}
	return a, nil
}

// describe renders a response for an error message.
func describe(r *dns.Msg, a answer) string {
	if r.Rcode != dns.RcodeSuccess {
		return dns.RcodeToString[r.Rcode]
	}
	if len(a.txt) == 0 {
		if a.final != strings.ToLower(r.Question[0].Name) {
			return "CNAME " + a.final + " and no TXT"
		}
		return "no TXT record"
	}
	parts := make([]string, 0, len(a.txt))
	for i, v := range a.txt {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(a.txt)-5))
			break
		}
		parts = append(parts, quote(v))
	}
	return "TXT " + strings.Join(parts, ", ")
}

// Resolver asks recursive resolvers, in turn, with the checks of every
// answer that the dns-01 solver applies (grammar, sizes, the question
// echoed). Safe for concurrent use.
type Resolver struct {
	Servers []string      // host:port; empty: the nameservers of ResolvConf
	Timeout time.Duration // per query (default DefaultQueryTimeout)
	Dialer  *net.Dialer
	Logger  *slog.Logger
}

func (r *Resolver) querier() *querier {
	q := &querier{dialer: r.Dialer, timeout: r.Timeout, log: r.Logger}
	if q.timeout <= 0 {
		q.timeout = DefaultQueryTimeout
	}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	return q
}

// Lookup asks the resolvers in turn (recursion desired) for name/qtype and
// returns the first NOERROR or NXDOMAIN response.
func (r *Resolver) Lookup(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	servers := r.Servers
	if len(servers) == 0 {
		var err error
		if servers, err = SystemResolvers(); err != nil {
			return nil, err
		}
	}
	return lookupAt(ctx, r.querier(), servers, fqdn(name), qtype)
}

// LookupTXT returns the TXT values at name, following the CNAME chain in
// the answer (at most max values; none for NXDOMAIN).
func (r *Resolver) LookupTXT(ctx context.Context, name string, max int) ([]string, error) {
	m, err := r.Lookup(ctx, name, dns.TypeTXT)
	if err != nil || m.Rcode == dns.RcodeNameError {
		return nil, err
	}
	a, err := follow(m, name)
	if err != nil {
		return nil, err
	}
	if len(a.txt) > max {
		a.txt = a.txt[:max]
	}
	return a.txt, nil
}

// SystemResolvers are the nameservers of ResolvConf, as host:port.
func SystemResolvers() ([]string, error) {
	cfg, err := dns.ClientConfigFromFile(ResolvConf)
	if err != nil {
		return nil, fmt.Errorf("read system resolvers: %w", err)
	}
	if len(cfg.Servers) == 0 {
		return nil, fmt.Errorf("no nameserver in %s (set --dns-resolvers)", ResolvConf)
	}
	servers := make([]string, 0, len(cfg.Servers))
	for _, h := range cfg.Servers {
		servers = append(servers, net.JoinHostPort(h, cfg.Port))
	}
	return servers, nil
}

// lookupAt asks servers in turn (recursion desired) and returns the first
// NOERROR or NXDOMAIN response.
func lookupAt(ctx context.Context, q *querier, servers []string, name string, qtype uint16) (*dns.Msg, error) {
	var errs []error
	for _, srv := range servers {
		r, err := q.query(ctx, srv, name, qtype, true)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
			errs = append(errs, fmt.Errorf("query %s %s at %s: %s", name, dns.TypeToString[qtype], srv, dns.RcodeToString[r.Rcode]))
			continue
		}
		return r, nil
	}
	return nil, errors.Join(errs...)
}
