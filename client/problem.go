package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Problem type URNs (RFC 8555 §6.7). The legacy dialect uses the
// "urn:acme:error:" prefix for the same names; Problem.Is matches both.
const (
	ProblemAccountDoesNotExist = "accountDoesNotExist"
	ProblemAlreadyReplaced     = "alreadyReplaced"
	ProblemAlreadyRevoked      = "alreadyRevoked"
	ProblemBadNonce            = "badNonce"
	ProblemBadRevocationReason = "badRevocationReason"
	ProblemExternalAccountReq  = "externalAccountRequired"
	ProblemInvalidProfile      = "invalidProfile"
	ProblemMalformed           = "malformed"
	ProblemOrderNotReady       = "orderNotReady"
	ProblemRateLimited         = "rateLimited"
	ProblemRejectedIdentifier  = "rejectedIdentifier"
	ProblemServerInternal      = "serverInternal"
	ProblemUnauthorized        = "unauthorized"
	ProblemUserActionRequired  = "userActionRequired"
	ProblemAgreementRequired   = "agreementRequired"
)

// maxDetail bounds the text of a problem's detail when it is shown; URLs
// in it are kept whole (an unpause link cut short is useless) up to
// maxDetailURL bytes each.
const (
	maxDetail    = 512
	maxDetailURL = 4096
)

// Problem is an ACME problem document (RFC 7807, RFC 8555 §6.7) returned by
// the CA. Every string in it came from the server: Detail and the other
// texts are sanitised (control characters escaped, length capped) when the
// error is formatted, never trusted.
type Problem struct {
	Type        string        `json:"type"`
	Detail      string        `json:"detail,omitempty"`
	Status      int           `json:"status,omitempty"`
	Instance    string        `json:"instance,omitempty"`
	Identifier  *Identifier   `json:"identifier,omitempty"`
	Subproblems []*Subproblem `json:"subproblems,omitempty"`

	// URL is the request URL that produced the problem (not from the server).
	URL string `json:"-"`
	// RetryAfter is the server's Retry-After, clamped, or zero.
	RetryAfter time.Time `json:"-"`
}

// Subproblem is one entry of a problem's subproblems (RFC 8555 §6.7.1).
type Subproblem struct {
	Type       string      `json:"type"`
	Detail     string      `json:"detail,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
}

// Short is the problem type without its URN prefix ("badNonce").
func (p *Problem) Short() string { return shortType(p.Type) }

func shortType(t string) string {
	for _, pre := range []string{"urn:ietf:params:acme:error:", "urn:acme:error:"} {
		if strings.HasPrefix(t, pre) {
			return t[len(pre):]
		}
	}
	return t
}

// Has reports whether the problem has the given short type, in either dialect.
func (p *Problem) Has(short string) bool { return p != nil && p.Short() == short }

func (p *Problem) Error() string {
	var b strings.Builder
	if p.Type != "about:blank" {
		// about:blank (RFC 7807: "no more than the HTTP status") says
		// nothing to a user; the detail carries the status.
		b.WriteString(Sanitize(p.Short(), 80))
	}
	if p.Detail != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(sanitizeDetail(p.Detail, maxDetail))
	} else if b.Len() == 0 {
		fmt.Fprintf(&b, "HTTP %d", p.Status)
	}
	for i, sp := range p.Subproblems {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(p.Subproblems)-5)
			break
		}
		b.WriteString("; ")
		if sp.Identifier != nil {
			b.WriteString(Sanitize(sp.Identifier.Value, 80))
			b.WriteString(": ")
		}
		b.WriteString(Sanitize(shortType(sp.Type), 80))
		if sp.Detail != "" {
			b.WriteString(": ")
			b.WriteString(Sanitize(sp.Detail, 200))
		}
	}
	return b.String()
}

// Sanitize makes server-supplied text safe for a terminal or log: invalid
// UTF-8, control and format characters (ANSI escapes included) are shown as
// \xNN or \u{NNNN}, and the result is cut to max bytes.
func Sanitize(s string, max int) string {
	var b strings.Builder
	for i, r := range s {
		if b.Len() >= max {
			b.WriteString("…")
			break
		}
		switch {
		case r == utf8.RuneError && isInvalidAt(s, i):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case (r >= 0x80 && r < 0xa0) || r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
			fmt.Fprintf(&b, `\u{%04x}`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// sanitizeDetail is Sanitize for a problem detail: the text is cut at
// about max bytes, but up to four URLs in it (words starting with http://
// or https://, each up to maxDetailURL bytes) are never cut, wherever they
// are.
func sanitizeDetail(s string, max int) string {
	var b strings.Builder
	text, urls, cut := 0, 0, false
	for _, w := range strings.SplitAfter(s, " ") {
		sw := Sanitize(w, 8*len(w)+8)
		if urls < 4 && isDetailURL(strings.TrimRight(w, " ")) {
			urls++
			b.WriteString(sw)
			continue
		}
		if cut {
			continue
		}
		if text+len(sw) > max {
			b.WriteString(Sanitize(w, max-text)) // ends in "…"
			cut = true
			continue
		}
		text += len(sw)
		b.WriteString(sw)
	}
	return b.String()
}

func isDetailURL(w string) bool {
	return len(w) <= maxDetailURL && (strings.HasPrefix(w, "https://") || strings.HasPrefix(w, "http://"))
}

func isInvalidAt(s string, i int) bool {
	r, size := utf8.DecodeRuneInString(s[i:])
	return r == utf8.RuneError && size <= 1
}

// parseProblem decodes a problem document; a body that is not one yields a
// synthetic Problem carrying the HTTP status.
func parseProblem(status int, body []byte, url string) *Problem {
	p := &Problem{}
	if err := json.Unmarshal(body, p); err != nil || p.Type == "" {
		p = &Problem{Type: "about:blank", Detail: fmt.Sprintf("HTTP %d with no problem document", status)}
	}
	if p.Status == 0 {
		p.Status = status
	}
	if len(p.Subproblems) > 100 {
		p.Subproblems = p.Subproblems[:100]
	}
	p.URL = url
	return p
}

// TemporaryError is an error after which trying again later may succeed
// (network errors, 5xx, rate limits, deadlines). RetryAfter is the server's
// wish, if any.
type TemporaryError struct {
	Err        error
	RetryAfter time.Time
}

func (e *TemporaryError) Error() string { return e.Err.Error() }
func (e *TemporaryError) Unwrap() error { return e.Err }

// PausedError is the CA refusing to issue for this account until a person
// acts: Boulder (Let's Encrypt) pauses an account's identifiers after many
// failed validations and answers newOrder with 429 rateLimited, no
// Retry-After, and a detail ending in an unpause URL. Retrying never
// helps, so it is a failure (exit 1), not a deferral.
type PausedError struct {
	Problem *Problem
	// UnpauseURL is the link from the detail, whole ("" if none).
	UnpauseURL string
}

func (e *PausedError) Error() string {
	s := "the CA has paused issuance for this account (retrying will not help): " + e.Problem.Error()
	if e.UnpauseURL != "" && !strings.Contains(e.Problem.Detail, e.UnpauseURL) {
		s += "; unpause at " + Sanitize(e.UnpauseURL, 8*maxDetailURL)
	}
	return s
}

func (e *PausedError) Unwrap() error { return e.Problem }

// pausedProblem recognises Boulder's paused answer: 429 rateLimited without
// Retry-After whose detail carries an unpause link. It returns the link.
func pausedProblem(p *Problem, hasRetryAfter bool) (string, bool) {
	if p.Status != 429 || !p.Has(ProblemRateLimited) || hasRetryAfter {
		return "", false
	}
	for _, w := range strings.Fields(p.Detail) {
		if isDetailURL(w) && strings.Contains(strings.ToLower(w), "unpause") {
			return w, true
		}
	}
	if strings.Contains(strings.ToLower(p.Detail), "unpause") || strings.Contains(p.Detail, "temporarily prevented") {
		return "", true
	}
	return "", false
}

// ProtocolError is a response from the server that breaks the protocol or
// this client's safety rules (wrong types, bad URLs, bad tokens, bad
// certificates). What names the resource and field.
type ProtocolError struct {
	URL  string
	What string
}

func (e *ProtocolError) Error() string {
	if e.URL == "" {
		return "server response rejected: " + e.What
	}
	return fmt.Sprintf("server response from %s rejected: %s", Sanitize(e.URL, 200), e.What)
}

// AuthorizationError is a failed authorization: the CA could not validate
// the identifier.
type AuthorizationError struct {
	Identifier Identifier
	Type       string // challenge type tried
	Problem    *Problem
}

func (e *AuthorizationError) Error() string {
	msg := fmt.Sprintf("authorization for %s failed", Sanitize(e.Identifier.Value, 255))
	if e.Type != "" {
		msg += " (" + e.Type + ")"
	}
	if e.Problem != nil {
		msg += ": " + e.Problem.Error()
	}
	return msg
}

func (e *AuthorizationError) Unwrap() error {
	if e.Problem == nil {
		return nil
	}
	return e.Problem
}

// DeadOrderError is an order that can never lead to a certificate: the CA
// refused its finalize for good (a 4xx problem other than orderNotReady,
// badNonce and rateLimited: Boulder refuses must-staple CSRs there, after
// every validation) or it became invalid. Such an order is never resumed.
type DeadOrderError struct {
	OrderURL string
	Err      error
}

func (e *DeadOrderError) Error() string { return e.Err.Error() }
func (e *DeadOrderError) Unwrap() error { return e.Err }

// OrderIsDead reports whether err leaves the order it came from unusable
// for good (a failed authorization, an invalid order, a finalize the CA
// refused), so that a stored order URL must be dropped, not resumed.
func OrderIsDead(err error) bool {
	var de *DeadOrderError
	var ae *AuthorizationError
	return errors.As(err, &de) || errors.As(err, &ae)
}

// UnsupportedError is a feature the server's dialect or directory lacks,
// found before any state-changing request.
type UnsupportedError struct {
	Feature string
	Dialect string
	Detail  string
}

func (e *UnsupportedError) Error() string {
	s := fmt.Sprintf("%s is not supported by this server (%s)", e.Feature, e.Dialect)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// ConfigError is a Config that cannot work (a directory URL that is not
// https off loopback, an unknown version): the user's input, not the CA.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

// AccountGoneError is the CA refusing an account it no longer accepts: it
// does not know it (accountDoesNotExist: its database was reset, a staging
// reset, or the account never existed) or the account is deactivated or
// revoked. Boulder (Let's Encrypt) answers a request signed by such an
// account with 400 accountDoesNotExist "Account ... not found", or 403
// unauthorized "Account is not valid, has status ..."; a newAccount
// lookup of a deactivated key with 403 unauthorized "An account with the
// provided public key exists but is deactivated". Retrying never helps:
// the way out is a new account.
type AccountGoneError struct {
	// Status is "deactivated" or "revoked", or "" when the CA does not
	// know the account.
	Status  string
	Problem *Problem
}

func (e *AccountGoneError) Error() string { return e.Problem.Error() }
func (e *AccountGoneError) Unwrap() error { return e.Problem }

// Is makes an unknown account ErrAccountNotFound too.
func (e *AccountGoneError) Is(target error) bool {
	return target == ErrAccountNotFound && e.Status == ""
}

// accountGone recognises the answers of AccountGoneError.
func accountGone(p *Problem) *AccountGoneError {
	switch {
	case p.Has(ProblemAccountDoesNotExist):
		return &AccountGoneError{Problem: p}
	case !p.Has(ProblemUnauthorized):
		return nil
	}
	for _, st := range []string{StatusDeactivated, StatusRevoked} {
		if strings.Contains(p.Detail, "exists but is "+st) || strings.Contains(p.Detail, `has status "`+st+`"`) {
			return &AccountGoneError{Status: st, Problem: p}
		}
	}
	return nil
}

// TermsNotAgreedError is a registration that needs the CA's terms of
// service agreed, found only at registration (a legacy v1 directory without
// meta names them only in a Link header): the user's consent is needed.
type TermsNotAgreedError struct{ URL string }

func (e *TermsNotAgreedError) Error() string {
	return "the CA's terms of service at " + Sanitize(e.URL, 300) + " must be agreed to"
}

// Sentinels.
var (
	ErrAccountNotFound   = errors.New("no account exists for this key at the CA")
	ErrUnknownDirectory  = errors.New("directory is neither RFC 8555 nor legacy ACME v1")
	ErrOrderNotResumable = errors.New("stored order cannot be resumed")
)

// refused reports whether err is first a refusal of the request itself
// (a Config that cannot work, a paused account, a feature the server
// lacks, a failed validation), which trying again does not change.
func refused(err error) bool {
	var ce *ConfigError
	var pz *PausedError
	var ue *UnsupportedError
	var ae *AuthorizationError
	return errors.As(err, &ce) || errors.As(err, &pz) || errors.As(err, &ue) || errors.As(err, &ae)
}

// RateLimited reports whether err is the CA's rateLimited problem (and
// not first a refusal of the request itself).
func RateLimited(err error) bool {
	var p *Problem
	return !refused(err) && errors.As(err, &p) && p.Has(ProblemRateLimited)
}

// Temporary reports whether trying the same request later may succeed
// without a change: the CA's rate limit, or a *TemporaryError (network
// errors, 5xx, time ran out).
func Temporary(err error) bool {
	var te *TemporaryError
	return RateLimited(err) || !refused(err) && errors.As(err, &te)
}

// RetryAfterOf returns the retry time carried by err, if any.
func RetryAfterOf(err error) time.Time {
	var te *TemporaryError
	if errors.As(err, &te) && !te.RetryAfter.IsZero() {
		return te.RetryAfter
	}
	var p *Problem
	if errors.As(err, &p) {
		return p.RetryAfter
	}
	return time.Time{}
}
