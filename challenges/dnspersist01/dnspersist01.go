// Package dnspersist01 is the dns-persist-01 solver
// (draft-ietf-acme-dns-persist): a TXT record at _validation-persist.NAME,
// published once by a person, authorizes an account of one CA for NAME.
// The solver never changes DNS; it checks the published record (through
// dns01.Resolver) before the challenge is answered, and before the order
// when the issuer is known.
package dnspersist01

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/client"
)

// RecordName is the TXT record name of dns-persist-01 for a DNS name
// (without "*."), with a trailing dot.
func RecordName(name string) string {
	return "_validation-persist." + strings.TrimSuffix(strings.TrimPrefix(name, "*."), ".") + "."
}

// Record is a dns-persist-01 TXT record value
// (draft-ietf-acme-dns-persist): "<issuer>; accounturi=<URL>[;
// policy=wildcard][; persistUntil=<unix>]".
type Record struct {
	Issuer       string
	AccountURI   string
	Wildcard     bool      // policy=wildcard: also authorizes *.name and subdomains
	PersistUntil time.Time // zero: no expiry
}

// String is the TXT value to publish.
func (r Record) String() string {
	v := r.Issuer + "; accounturi=" + r.AccountURI
	if r.Wildcard {
		v += "; policy=wildcard"
	}
	if !r.PersistUntil.IsZero() {
		v += "; persistUntil=" + strconv.FormatInt(r.PersistUntil.Unix(), 10)
	}
	return v
}

// ParseRecord parses a TXT value; an error says what is malformed.
// Unknown parameters are ignored, as the CA ignores them.
func ParseRecord(v string) (Record, error) {
	var r Record
	parts := strings.Split(v, ";")
	r.Issuer = strings.TrimSpace(parts[0])
	if r.Issuer == "" {
		return r, errors.New("no issuer domain name")
	}
	seen := map[string]bool{}
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		tag, val, ok := strings.Cut(p, "=")
		if !ok || strings.TrimSpace(tag) == "" {
			return r, fmt.Errorf("malformed parameter %q", client.Sanitize(p, 80))
		}
		tag, val = strings.ToLower(strings.TrimSpace(tag)), strings.TrimSpace(val)
		if seen[tag] {
			return r, fmt.Errorf("duplicate parameter %q", tag)
		}
		seen[tag] = true
		for _, c := range val {
			if c < 0x21 || c > 0x7e || c == ';' {
				return r, fmt.Errorf("malformed value for %q", tag)
			}
		}
		switch tag {
		case "accounturi":
			r.AccountURI = val
		case "policy":
			r.Wildcard = strings.EqualFold(val, "wildcard")
		case "persistuntil":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return r, fmt.Errorf("malformed persistUntil %q", client.Sanitize(val, 40))
			}
			r.PersistUntil = time.Unix(n, 0).UTC()
		}
	}
	if r.AccountURI == "" {
		return r, errors.New("no accounturi")
	}
	return r, nil
}

// RecordError says why no published dns-persist-01 record authorizes an
// account for a name.
type RecordError struct {
	Name   string   // the record name queried
	Reason string   // what is wrong
	Found  []string // the values found (sanitized)
}

func (e *RecordError) Error() string {
	msg := fmt.Sprintf("dns-persist-01: %s: %s", strings.TrimSuffix(e.Name, "."), e.Reason)
	if len(e.Found) > 0 {
		msg += " (found: " + strings.Join(e.Found, " | ") + ")"
	}
	return msg + ": publish the record from `acmectl dns-persist record`"
}

// Check asks resolvers (host:port; default those of
// /etc/resolv.conf, through dns01.Resolver) for the dns-persist-01 record of name and returns nil
// when one value authorizes accountURL with one of issuers (wildcard
// policy when wildcard, persistUntil not past at now). Otherwise it
// returns a *RecordError, or a lookup error.
func Check(ctx context.Context, resolvers []string, name string, wildcard bool, issuers []string, accountURL string, now time.Time) error {
	rname := RecordName(name)
	values, err := (&dns01.Resolver{Servers: resolvers}).LookupTXT(ctx, rname, maxTXTValues)
	if err != nil {
		return fmt.Errorf("dns-persist-01: look up %s: %w", rname, err)
	}
	pe := &RecordError{Name: rname}
	for _, v := range values {
		pe.Found = append(pe.Found, strconv.Quote(client.Sanitize(v, 200)))
	}
	if len(values) == 0 {
		pe.Reason = "no TXT record"
		return pe
	}
	var reasons []string
	for _, v := range values {
		r, err := ParseRecord(v)
		if err != nil {
			reasons = append(reasons, err.Error())
			continue
		}
		switch {
		case !slices.Contains(issuers, r.Issuer):
			reasons = append(reasons, fmt.Sprintf("issuer %q is not the CA's (%s)", client.Sanitize(r.Issuer, 80), strings.Join(issuers, ", ")))
		case r.AccountURI != accountURL:
			reasons = append(reasons, "accounturi is not this account ("+accountURL+")")
		case wildcard && !r.Wildcard:
			reasons = append(reasons, "a wildcard needs policy=wildcard")
		case !r.PersistUntil.IsZero() && now.After(r.PersistUntil):
			reasons = append(reasons, "persistUntil "+r.PersistUntil.Format(time.RFC3339)+" has passed")
		default:
			return nil
		}
	}
	pe.Reason = strings.Join(reasons, "; ")
	return pe
}

// Solver answers dns-persist-01 (draft-ietf-acme-dns-persist) with a
// record the user published once (see `acmectl dns-persist record`):
// Present checks that the published record authorizes the account for
// the challenge's issuer names, so a wrong record fails before the
// challenge is answered. It never changes DNS.
type Solver struct {
	Resolvers []string // host:port; default /etc/resolv.conf
	Now       func() time.Time
}

var _ challenges.Solver = (*Solver)(nil)

// maxTXTValues bounds the values considered at one name.
const maxTXTValues = 32

// Present checks the published record (a few DNS queries).
func (p *Solver) Present(ctx context.Context, ch challenges.Challenge) error {
	if ch.Type != challenges.DNSPersist01 {
		return fmt.Errorf("dns-persist-01 solver: challenge type %q", ch.Type)
	}
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	return Check(ctx, p.Resolvers, ch.Identifier.Value, ch.Wildcard, ch.IssuerDomainNames, ch.AccountURL, now)
}

// CheckBeforeOrder checks the published record for an identifier whose
// preferred solver this is, before any order exists: issuers are the
// directory's CAA identities (the names a dns-persist-01 challenge offers).
func (p *Solver) CheckBeforeOrder(ctx context.Context, id challenges.Identifier, wildcard bool, accountURL string, issuers []string) error {
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	return Check(ctx, p.Resolvers, id.Value, wildcard, issuers, accountURL, now)
}

// CleanUp does nothing: the record is persistent.
func (p *Solver) CleanUp(context.Context, challenges.Challenge) error { return nil }
