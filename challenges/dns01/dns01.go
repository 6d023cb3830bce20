// Package dns01 solves dns-01 (RFC 8555 §8.4) and dns-account-01
// (draft-ietf-acme-dns-account-label) challenges on top of a small DNS
// Provider that adds and removes single TXT records.
//
// The Solver follows CNAME delegation of the record name before placing the
// record (so _acme-challenge.www.example.com CNAME x.acme-zone.example.net
// puts the TXT at x.acme-zone.example.net), and its Wait checks with
// github.com/miekg/dns that every authoritative nameserver of the zone
// holding the record serves the value, following the same CNAME chain the CA
// will follow, before the client asks the CA to validate.
//
// Providers live in subpackages: rfc2136 (DNS UPDATE with TSIG), exec (a
// user program), manual (a person). dnstest is their conformance suite.
package dns01

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Provider adds and removes TXT records in some DNS zone.
//
// fqdn is an absolute name with a trailing dot, already the end of any
// CNAME chain; value is the record's text (one string of at most 255 bytes
// for ACME values).
//
// SetTXT MUST add exactly one resource record (fqdn TXT value) and MUST NOT
// remove or replace other TXT records at fqdn: a wildcard and its apex in
// one order put two values at one name. Adding a record that already exists
// MUST succeed. DeleteTXT MUST remove only that one record and MUST succeed
// when it does not exist. Both MUST be safe for concurrent use. Errors
// SHOULD start with the provider's name ("rfc2136: ...") and MUST NOT
// contain secrets.
type Provider interface {
	SetTXT(ctx context.Context, fqdn, value string) error
	DeleteTXT(ctx context.Context, fqdn, value string) error
}

// RecordWaiter is implemented by providers whose records appear only after
// something outside acmectl happens, such as a person creating them
// (package manual). Solver.Wait calls WaitRecords before its propagation
// check, once per challenge; the provider decides what repeated calls do.
type RecordWaiter interface {
	WaitRecords(ctx context.Context) error
}

// ZoneKnower is implemented by providers that know the zones they manage
// (an API listing the account's zones). The Solver's propagation check
// asks KnownZone before discovering a name's zone with SOA queries; ok
// false (a name outside the provider's zones) falls back to SOA queries.
type ZoneKnower interface {
	KnownZone(ctx context.Context, fqdn string) (zone string, ok bool, err error)
}

// SingleValuer is implemented by providers that hold only one TXT value
// per name (DuckDNS-style). When SingleTXTValue returns true the Solver
// asks the client to solve challenges with the same record name one at a
// time (it implements challenges.Serializer), instead of placing a
// wildcard's and its apex's values at once.
type SingleValuer interface {
	SingleTXTValue() bool
}

// AccessChecker is implemented by providers that can check, without
// changing any record, that their credentials work and give access to the
// zone holding fqdn (`acmectl doctor` uses it). The error says what is
// wrong in one line.
type AccessChecker interface {
	CheckAccess(ctx context.Context, fqdn string) error
}

// ErrUnsupportedChallenge is returned for a challenge type other than
// dns-01 and dns-account-01.
var ErrUnsupportedChallenge = errors.New("dns01: unsupported challenge type")

// ErrCNAMELoop is returned when a CNAME chain loops or is longer than
// MaxCNAMEHops.
var ErrCNAMELoop = errors.New("dns01: CNAME chain loops or is too long")

// MaxCNAMEHops bounds the CNAME chains the Solver follows.
const MaxCNAMEHops = 8

// PropagationError says which nameserver did not yet serve a TXT value when
// Wait gave up.
type PropagationError struct {
	Name       string        // the record name queried (a step of the CNAME chain)
	Value      string        // the value expected
	Nameserver string        // the lagging server's host name ("" when a configured resolver)
	Addr       string        // the address queried, host:port
	Got        string        // what it returned, e.g. `NXDOMAIN` or `TXT "abc"`
	After      time.Duration // how long Wait tried
	Err        error         // the last lookup error, if the server did not answer
}

func (e *PropagationError) Error() string {
	if e.Addr == "" && e.Nameserver == "" {
		return fmt.Sprintf("dns01: %s TXT %q not confirmed after %v: %s",
			e.Name, e.Value, e.After.Round(time.Millisecond), e.Got)
	}
	server := e.Addr
	if e.Nameserver != "" {
		server = e.Nameserver + " (" + e.Addr + ")"
	}
	return fmt.Sprintf("dns01: %s TXT %q not served by %s after %v: it returned %s",
		e.Name, e.Value, server, e.After.Round(time.Millisecond), e.Got)
}

func (e *PropagationError) Unwrap() error { return e.Err }

// quote renders hostile text for messages: quoted, bounded.
func quote(s string) string {
	const limit = 80
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "..."
	}
	return strconv.Quote(s)
}

// fqdn lowercases name and adds the trailing dot.
func fqdn(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}
