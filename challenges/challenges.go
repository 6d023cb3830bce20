// Package challenges is the contract between the ACME order workflow and the
// challenge solvers, like database/sql/driver: the Challenge value type and
// the Solver and Waiter interfaces, and nothing else that does I/O.
//
// The client (package client) builds a Challenge for every authorization it
// has to satisfy, calls Present on the chosen solver for all of them, then
// Wait (where a solver implements Waiter) for all of them, then tells the CA
// to validate, and finally calls CleanUp on every challenge it presented,
// whatever happened (also after Ctrl+C, with a context detached from the
// cancelled one).
package challenges

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"strings"
)

// Challenge types (RFC 8555 §8, RFC 8737, draft-ietf-acme-dns-account-label,
// draft-ietf-acme-dns-persist).
const (
	HTTP01       = "http-01"
	DNS01        = "dns-01"
	TLSALPN01    = "tls-alpn-01"
	DNSAccount01 = "dns-account-01"
	DNSPersist01 = "dns-persist-01"
)

// Identifier types (RFC 8555 §9.7.7, RFC 8738).
const (
	IdentifierDNS = "dns"
	IdentifierIP  = "ip"
)

// Identifier is what a certificate names: a DNS name (possibly "*.x") or an
// IP address.
type Identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Challenge is one challenge of one authorization, with everything a solver
// needs. The client has checked Token to be base64url (RFC 8555 §8.1) and
// Identifier.Value to be a valid DNS name or IP address before any solver
// sees it, so solvers may use them in file names and DNS names.
type Challenge struct {
	Type       string     // one of the constants above
	Identifier Identifier // the authorization's identifier; Value without "*." for wildcards
	Wildcard   bool       // the order asked for "*." + Identifier.Value
	Token      string     // base64url, never empty except for dns-persist-01
	// KeyAuthorization is Token + "." + base64url(JWK thumbprint) (RFC 8555 §8.1).
	KeyAuthorization string
	AccountURL       string // the account's URL (dns-account-01, dns-persist-01)
	URL              string // the challenge's URL at the CA, for logs only
	// IssuerDomainNames are the CA's names offered in a dns-persist-01 challenge.
	IssuerDomainNames []string
}

// HTTP01Path is the URL path the CA fetches for http-01 (RFC 8555 §8.3).
func (c Challenge) HTTP01Path() string {
	return "/.well-known/acme-challenge/" + c.Token
}

// DNS01Name is the fully qualified name of the TXT record for dns-01
// (RFC 8555 §8.4), with a trailing dot.
func (c Challenge) DNS01Name() string {
	return "_acme-challenge." + strings.TrimSuffix(c.Identifier.Value, ".") + "."
}

// DNSAccount01Name is the TXT record name for dns-account-01:
// "_" + lowercase base32(SHA-256(account URL)[:10]) + "._acme-challenge." + name.
func (c Challenge) DNSAccount01Name() string {
	sum := sha256.Sum256([]byte(c.AccountURL))
	label := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:10]))
	return "_" + label + "." + c.DNS01Name()
}

// DNSRecordName is the TXT record name the CA queries for this challenge's
// type (dns-01 or dns-account-01).
func (c Challenge) DNSRecordName() string {
	if c.Type == DNSAccount01 {
		return c.DNSAccount01Name()
	}
	return c.DNS01Name()
}

// DNS01Value is the TXT record value for dns-01 and dns-account-01:
// base64url(SHA-256(key authorization)).
func (c Challenge) DNS01Value() string {
	sum := sha256.Sum256([]byte(c.KeyAuthorization))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Solver makes the CA's validation of a challenge succeed.
//
// Present MUST be quick: it starts the work (writes a file, sends a DNS
// update, registers a token with a listener) and returns; slow readiness
// belongs in Waiter. CleanUp MUST undo whatever Present did and MUST be safe
// to call when Present failed or was never called for ch. Both MUST be safe
// for concurrent use: the client presents the authorizations of one order in
// parallel.
type Solver interface {
	Present(ctx context.Context, ch Challenge) error
	CleanUp(ctx context.Context, ch Challenge) error
}

// Waiter is implemented by solvers whose readiness takes time (DNS
// propagation, a person creating records). The client calls Wait for every
// presented challenge after all of them were presented and before it asks
// the CA to validate any.
type Waiter interface {
	Wait(ctx context.Context, ch Challenge) error
}

// Serializer is implemented by solvers that cannot answer some challenges
// at the same time, such as a DNS provider holding one TXT value per name
// (a wildcard and its apex both need a value at _acme-challenge.NAME).
// Challenges whose non-empty SerialKey is equal are solved one after
// another: present, wait, validate, clean up, then the next. SerialKey
// is called before Present and must be quick (a DNS plugin may start its
// program to learn whether it holds one value per name).
type Serializer interface {
	SerialKey(ch Challenge) string
}
