// Package rfc2136 is a dns01.Provider that adds and removes single TXT
// records by DNS UPDATE (RFC 2136) signed with TSIG (RFC 8945,
// hmac-sha256/384/512), as BIND, Knot and PowerDNS accept.
package rfc2136

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/miekg/dns"
)

// Defaults for Config.
const (
	DefaultTTL     = 60 * time.Second
	DefaultTimeout = 10 * time.Second
	tsigFudge      = 300
)

// Config configures a Provider.
type Config struct {
	// Server is the primary nameserver accepting updates, "host:port"
	// (":53" added when the port is missing).
	Server string
	// Key signs the updates; nil sends them unsigned (only for servers
	// that allow updates by address).
	Key *TSIGKey
	// Zone is the zone to update. Empty, or not a parent of a record's
	// name (a CNAME led elsewhere): found by SOA queries to Server.
	Zone string
	// TTL of the records added (default 60s).
	TTL time.Duration
	// Timeout bounds one exchange with Server (default 10s).
	Timeout time.Duration
	// Dialer, if set, is used to reach Server.
	Dialer *net.Dialer
	// Logger gets debug lines per update; nil discards.
	Logger *slog.Logger
}

// Provider sends DNS UPDATE messages to one server. It is safe for
// concurrent use.
type Provider struct {
	cfg    Config
	alg    string
	log    *slog.Logger
	client *dns.Client
}

var _ dns01.Provider = (*Provider)(nil)

// UpdateError is a server's refusal of an update (or zone lookup).
type UpdateError struct {
	Op     string // "add", "delete" or "find zone"
	Name   string
	Zone   string
	Server string
	Rcode  int
	TSIG   string // the TSIG error the server reported, if any (e.g. "BADSIG")
}

func (e *UpdateError) Error() string {
	msg := fmt.Sprintf("rfc2136: %s TXT %s", e.Op, e.Name)
	if e.Zone != "" {
		msg += " in zone " + e.Zone
	}
	msg += " at " + e.Server + ": " + rcodeString(e.Rcode)
	if e.TSIG != "" {
		msg += " (TSIG " + e.TSIG + ")"
	}
	switch e.Rcode {
	case dns.RcodeRefused:
		msg += " (check the key and the server's update-policy)"
	case dns.RcodeNotAuth:
		msg += " (check the key name, algorithm and secret, and that the server is authoritative for the zone)"
	}
	return msg
}

func rcodeString(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("rcode %d", rc)
}

// New checks cfg and returns a Provider. It does no I/O.
func New(cfg Config) (*Provider, error) {
	if cfg.Server == "" {
		return nil, errors.New("rfc2136: no server configured")
	}
	if _, _, err := net.SplitHostPort(cfg.Server); err != nil {
		cfg.Server = net.JoinHostPort(strings.Trim(cfg.Server, "[]"), "53")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Zone != "" {
		if _, ok := dns.IsDomainName(cfg.Zone); !ok {
			return nil, fmt.Errorf("rfc2136: zone %q is not a valid DNS name", cfg.Zone)
		}
		cfg.Zone = dns.CanonicalName(cfg.Zone)
	}
	p := &Provider{cfg: cfg, log: cfg.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.client = &dns.Client{Net: "tcp", Timeout: cfg.Timeout, Dialer: cfg.Dialer}
	if cfg.Key != nil {
		if err := cfg.Key.Validate(); err != nil {
			return nil, err
		}
		p.alg, _ = cfg.Key.algorithm()
		k := *cfg.Key
		k.Name = dns.CanonicalName(k.Name)
		p.cfg.Key = &k
		p.client.TsigSecret = map[string]string{k.Name: k.Secret}
	}
	return p, nil
}

// SetTXT adds the one record fqdn TXT value (one or two round trips: zone
// lookup, update). An existing identical record is left as it is.
func (p *Provider) SetTXT(ctx context.Context, fqdn, value string) error {
	return p.update(ctx, "add", fqdn, value)
}

// DeleteTXT removes the one record fqdn TXT value and no other; removing a
// record that does not exist succeeds.
func (p *Provider) DeleteTXT(ctx context.Context, fqdn, value string) error {
	return p.update(ctx, "delete", fqdn, value)
}

func (p *Provider) update(ctx context.Context, op, name, value string) error {
	name = dns.CanonicalName(name)
	if _, ok := dns.IsDomainName(name); !ok {
		return fmt.Errorf("rfc2136: %s TXT: invalid name %q", op, name)
	}
	zone, err := p.zone(ctx, name)
	if err != nil {
		return err
	}
	rr := &dns.TXT{
		Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: uint32(p.cfg.TTL / time.Second)},
		Txt: split(value),
	}
	m := new(dns.Msg)
	m.SetUpdate(zone)
	if op == "add" {
		m.Insert([]dns.RR{rr})
	} else {
		m.Remove([]dns.RR{rr}) // class NONE: this RR only (RFC 2136 §2.5.4)
	}
	r, err := p.exchange(ctx, m)
	if err != nil {
		return fmt.Errorf("rfc2136: %s TXT %s in zone %s at %s: %w", op, name, zone, p.cfg.Server, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		return &UpdateError{Op: op, Name: name, Zone: zone, Server: p.cfg.Server, Rcode: r.Rcode, TSIG: tsigError(r)}
	}
	p.log.Debug("dns update", "op", op, "name", name, "zone", zone, "server", p.cfg.Server)
	return nil
}

func (p *Provider) exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	if p.cfg.Key != nil {
		m.SetTsig(p.cfg.Key.Name, p.alg, tsigFudge, time.Now().Unix())
	}
	r, _, err := p.client.ExchangeContext(ctx, m, p.cfg.Server)
	if err != nil {
		// A server rejecting our key answers unsigned; report its rcode
		// rather than the signature check of its answer.
		if r != nil && r.Rcode != dns.RcodeSuccess {
			return r, nil
		}
		return nil, err
	}
	if !r.Response || r.Id != m.Id {
		return nil, errors.New("malformed response")
	}
	return r, nil
}

func tsigError(r *dns.Msg) string {
	if t := r.IsTsig(); t != nil && t.Error != dns.RcodeSuccess {
		return rcodeString(int(t.Error))
	}
	return ""
}

// zone returns cfg.Zone when it holds name, else the zone found by asking
// Server for the SOA of name and its parents.
func (p *Provider) zone(ctx context.Context, name string) (string, error) {
	if p.cfg.Zone != "" && dns.IsSubDomain(p.cfg.Zone, name) {
		return p.cfg.Zone, nil
	}
	cur := name
	for {
		m := new(dns.Msg)
		m.SetQuestion(cur, dns.TypeSOA)
		m.RecursionDesired = false
		c := &dns.Client{Net: "tcp", Timeout: p.cfg.Timeout, Dialer: p.cfg.Dialer}
		r, _, err := c.ExchangeContext(ctx, m, p.cfg.Server)
		if err != nil {
			return "", fmt.Errorf("rfc2136: find zone of %s at %s: %w", name, p.cfg.Server, err)
		}
		if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
			return "", &UpdateError{Op: "find zone for", Name: name, Server: p.cfg.Server, Rcode: r.Rcode}
		}
		cname := false
		for _, rr := range r.Answer {
			switch rr := rr.(type) {
			case *dns.SOA:
				if strings.EqualFold(rr.Hdr.Name, cur) {
					return dns.CanonicalName(cur), nil
				}
			case *dns.CNAME:
				cname = true
			}
		}
		if !cname && len(r.Answer) == 0 {
			for _, rr := range r.Ns {
				if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(soa.Hdr.Name, cur) {
					if _, ok := dns.IsDomainName(soa.Hdr.Name); ok {
						return dns.CanonicalName(soa.Hdr.Name), nil
					}
				}
			}
		}
		_, rest, _ := strings.Cut(cur, ".")
		if rest == "" {
			return "", fmt.Errorf("rfc2136: find zone of %s at %s: no SOA found (set the zone)", name, p.cfg.Server)
		}
		cur = rest
	}
}

// split cuts a value into character-strings of at most 255 bytes.
func split(v string) []string {
	var out []string
	for len(v) > 255 {
		out = append(out, v[:255])
		v = v[255:]
	}
	return append(out, v)
}
