// Package renew decides when certificates are due and renews them: the
// due-date policy (this file, pure), ARI helpers (ari.go), and the one-shot
// pass run from cron and the daemon loop.
package renew

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

// Lifetime rule (docs/renewal.md "When is a certificate due?"): without ARI a certificate is due
// when a third of its lifetime is left, or half of it for short-lived
// certificates, those whose lifetime (NotAfter − NotBefore) is at most
// ShortLivedMax.
const ShortLivedMax = 10 * 24 * time.Hour

// Backoff after failed renewals (see NextBackoff).
const (
	// BackoffMin is the delay after the first failure; each further failure
	// doubles it: 1m, 2m, 4m, 8m, 16m, 32m, then BackoffMax.
	BackoffMin = time.Minute
	// BackoffMax caps local backoff. One hour keeps a cron that runs every
	// minute to ≤ 30 attempts a day during an outage, and renews within an
	// hour of the CA coming back (a 6-day certificate has 72 h of margin).
	// Longer waits come only from the CA's own Retry-After.
	BackoffMax = time.Hour
	// MaxCARetryAfter caps how far a CA's Retry-After can push the next
	// attempt. A larger (or garbage) value would otherwise park a short-lived
	// certificate until it expires.
	MaxCARetryAfter = 24 * time.Hour
)

// Rule names what decided a due time; stable for --json output.
type Rule string

// Rules, in the order Policy.Due considers them.
const (
	RuleRetryAfter Rule = "retry_after" // CA's Retry-After not yet passed (binds even with force)
	RuleForced     Rule = "forced"      // --force
	RuleBackoff    Rule = "backoff"     // local backoff after failures
	RuleRevoked    Rule = "revoked"
	RuleInvalid    Rule = "invalid" // NotAfter not after NotBefore
	RuleExpired    Rule = "expired"
	RuleARI        Rule = "ari"                  // point chosen in the CA's suggested window
	RuleLifetime   Rule = "lifetime"             // 1/3 of lifetime left
	RuleShortLived Rule = "lifetime_short_lived" // 1/2 of lifetime left, lifetime ≤ 10 days
)

// withRenewalInfo returns a updated with a window fetched at now, to fetch
// again at next (see NextARIFetch). The drawn point survives only when the
// window is unchanged, so the point is drawn once per window.
func withRenewalInfo(a store.ARIState, ri *client.RenewalInfo, now, next time.Time) store.ARIState {
	if !ri.Start.Equal(a.WindowStart) || !ri.End.Equal(a.WindowEnd) {
		a.ChosenTime = time.Time{}
	}
	a.WindowStart, a.WindowEnd, a.ExplanationURL = ri.Start, ri.End, ri.ExplanationURL
	a.FetchedAt, a.NextFetch = now, next
	return a
}

// fetchedAt is when a's renewalInfo was last fetched. A state.json
// written before the fetch time was kept gives the latest it can have
// been: NextFetch − ARIRetryMin.
func fetchedAt(a store.ARIState) time.Time {
	if a.FetchedAt.IsZero() && !a.NextFetch.IsZero() {
		return a.NextFetch.Add(-ARIRetryMin)
	}
	return a.FetchedAt
}

// DueInput is everything Policy.Due looks at. Times are absolute; zero
// means "none".
type DueInput struct {
	NotBefore, NotAfter time.Time
	// ARI is the stored ARI state (state.json's, the zero value when
	// never fetched); ARISupported says the certificate's server
	// advertises renewalInfo (only then is a fetch asked for).
	ARI          store.ARIState
	ARISupported bool
	// BackoffUntil is local backoff after failures (NextBackoff).
	BackoffUntil time.Time
	// RetryAfter is the CA's Retry-After (rate limit, unavailable), as an
	// absolute time. It binds even with Force.
	RetryAfter time.Time
	Revoked    bool
	Force      bool
	Now        time.Time
}

// DueResult is Policy.Due's answer.
type DueResult struct {
	// Due is true when At is not after Now.
	Due bool
	// At is when renewal is (or was) due, after backoff and Retry-After.
	At time.Time
	// Rule and Reason say why: Reason is for humans, e.g.
	// "ARI window 2026-03-01T00:00:00Z–2026-03-03T00:00:00Z".
	Rule   Rule
	Reason string
	// NeedARIFetch: fetch renewalInfo now (never fetched, NextFetch passed,
	// or the window ended and nothing was fetched since). Never for an
	// expired or revoked certificate, nor when ARI is unsupported.
	NeedARIFetch bool
	// ARI is the input ARI state with ChosenTime drawn if it had to be;
	// ARIChanged says it differs from the input and must be stored.
	ARI        store.ARIState
	ARIChanged bool
}

// Policy computes due dates. The zero value is ready to use.
type Policy struct {
	// Choose draws the renewal point in [start, end). Nil means
	// ChooseInWindow with math/rand/v2's global generator. Tests inject a
	// deterministic one.
	Choose func(start, end time.Time) time.Time
}

// ChooseInWindow returns a uniformly random time in [start, end) using r
// (nil: math/rand/v2's global generator, safe for concurrent use). It
// returns start when the window is empty or inverted.
func ChooseInWindow(start, end time.Time, r *rand.Rand) time.Time {
	d := end.Sub(start)
	if d <= 0 {
		return start
	}
	var n int64
	if r != nil {
		n = r.Int64N(int64(d))
	} else {
		n = rand.Int64N(int64(d))
	}
	return start.Add(time.Duration(n))
}

// Due decides whether the certificate described by in is due for renewal.
// It is pure apart from drawing the ARI point through p.Choose, which happens
// only when in.ARI has a usable window and no point inside it.
//
// Order of rules: the base due time is "now" for a revoked, expired or
// malformed certificate; else the chosen point of a usable ARI window (one
// that starts before NotAfter; the point is drawn before NotAfter); else
// the lifetime rule. Force replaces the base with now and skips local
// backoff. Local backoff then delays At; the CA's Retry-After delays it
// FirstARIFetchMax bounds how long after issuance the first renewalInfo
// fetch of a certificate waits (RFC 9773 clients check about daily).
const FirstARIFetchMax = 24 * time.Hour

// even under Force. Due is Now ≥ At.
func (p Policy) Due(in DueInput) DueResult {
	now := in.Now
	res := DueResult{ARI: in.ARI}

	switch {
	case in.Revoked:
		res.At, res.Rule, res.Reason = now, RuleRevoked, "revoked"
	case !in.NotBefore.Before(in.NotAfter):
		res.At, res.Rule, res.Reason = now, RuleInvalid, "certificate validity period is invalid"
	case !now.Before(in.NotAfter):
		res.At, res.Rule, res.Reason = in.NotAfter, RuleExpired, "expired at "+fmtTime(in.NotAfter)
	case usableWindow(in.ARI, in.NotAfter):
		w := in.ARI
		end := minTime(w.WindowEnd, in.NotAfter)
		if w.ChosenTime.Before(w.WindowStart) || !w.ChosenTime.Before(end) {
			choose := p.Choose
			if choose == nil {
				choose = func(s, e time.Time) time.Time { return ChooseInWindow(s, e, nil) }
			}
			c := choose(w.WindowStart, end)
			if c.Before(w.WindowStart) || !c.Before(end) { // a broken chooser must not escape the window
				c = w.WindowStart
			}
			res.ARI.ChosenTime = c
			res.ARIChanged = true
		}
		res.At, res.Rule = res.ARI.ChosenTime, RuleARI
		res.Reason = "ARI window " + fmtTime(w.WindowStart) + "–" + fmtTime(w.WindowEnd)
	default:
		res.At, res.Rule, res.Reason = lifetimeDue(in.NotBefore, in.NotAfter)
	}

	if in.Force {
		res.At, res.Rule, res.Reason = now, RuleForced, "forced"
	} else if in.BackoffUntil.After(now) && in.BackoffUntil.After(res.At) {
		res.Reason = fmt.Sprintf("in backoff until %s (then %s)", fmtTime(in.BackoffUntil), res.Reason)
		res.At, res.Rule = in.BackoffUntil, RuleBackoff
	}
	if in.RetryAfter.After(now) && in.RetryAfter.After(res.At) {
		res.Reason = fmt.Sprintf("CA asked to retry after %s (then %s)", fmtTime(in.RetryAfter), res.Reason)
		res.At, res.Rule = in.RetryAfter, RuleRetryAfter
	}
	res.Due = !now.Before(res.At)

	if in.ARISupported && !in.Revoked && in.NotBefore.Before(in.NotAfter) && now.Before(in.NotAfter) {
		w := in.ARI
		fetched := fetchedAt(w)
		pastUnseen := !w.WindowEnd.IsZero() && !now.Before(w.WindowEnd) && fetched.Before(w.WindowEnd)
		next := w.NextFetch
		if next.IsZero() && fetched.IsZero() {
			// Never fetched: a certificate just issued needs no renewal
			// information yet (its window lies weeks ahead), so the first
			// fetch waits a fifteenth of the lifetime, at most a day. A run
			// right after obtain then makes no request at all (and does not
			// sleep before one).
			next = in.NotBefore.Add(min(in.NotAfter.Sub(in.NotBefore)/15, FirstARIFetchMax))
		}
		res.NeedARIFetch = !now.Before(next) || pastUnseen
	}
	return res
}

// usableWindow reports whether w holds a window worth following for a
// certificate expiring at notAfter: present, start before end, and starting
// before the certificate expires (a window after expiry would let the
// certificate lapse, so the lifetime rule applies instead).
func usableWindow(w store.ARIState, notAfter time.Time) bool {
	return !w.WindowStart.IsZero() && w.WindowStart.Before(w.WindowEnd) && w.WindowStart.Before(notAfter)
}

// lifetimeDue applies the lifetime rule to a valid period.
func lifetimeDue(notBefore, notAfter time.Time) (time.Time, Rule, string) {
	life := notAfter.Sub(notBefore)
	if life <= ShortLivedMax {
		return notAfter.Add(-life / 2), RuleShortLived, "1/2 of lifetime left (short-lived)"
	}
	return notAfter.Add(-life / 3), RuleLifetime, "1/3 of lifetime left"
}

// NextBackoff returns when to try again after failures consecutive failed
// attempts (1 for the first), the last one ending at now: now + BackoffMin ×
// 2^(failures−1), at most now + BackoffMax, and never before the CA's
// Retry-After caRetryAfter (zero: none), itself capped at now +
// MaxCARetryAfter. failures < 1 counts as 1.
func NextBackoff(failures int, now time.Time, caRetryAfter time.Time) time.Time {
	d := BackoffMin
	for i := 1; i < failures && d < BackoffMax; i++ { // doubling stops at the cap: no overflow
		d *= 2
	}
	d = min(d, BackoffMax)
	next := now.Add(d)
	if caRetryAfter.After(next) {
		next = minTime(caRetryAfter, now.Add(MaxCARetryAfter))
	}
	return next
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Current reports whether a certificate valid from notBefore to notAfter,
// with state st, is not yet due at now by the rule renew follows: the
// point drawn in the stored ARI window when there is one, else the
// lifetime rule (obtain's "is current" test). Backoff and the CA's
// Retry-After hold back a renewal; they do not make a certificate current.
func (p Policy) Current(st *store.State, notBefore, notAfter, now time.Time) bool {
	in := DueInput{NotBefore: notBefore, NotAfter: notAfter, Revoked: st.Revoked, Now: now}
	if st.ARI != nil {
		in.ARI = *st.ARI
	}
	return !p.Due(in).Due
}
