package renew

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

const (
	day = 24 * time.Hour
	ns  = time.Nanosecond
)

// quarter is a deterministic chooser: a quarter into the window.
func quarter(s, e time.Time) time.Time { return s.Add(e.Sub(s) / 4) }

// dueView is the part of DueResult the table compares.
type dueView struct {
	Due          bool
	At           time.Time
	Rule         Rule
	Reason       string
	NeedARIFetch bool
	ARIChanged   bool
	Chosen       time.Time
}

func TestPolicyDue(t *testing.T) {
	nb90, na90 := t0, t0.Add(90*day) // due at t0+60d
	nb6, na6 := t0, t0.Add(6*day)    // due at t0+72h
	future := store.ARIState{WindowStart: t0.Add(50 * day), WindowEnd: t0.Add(52 * day), NextFetch: t0.Add(40 * day)}
	past := store.ARIState{WindowStart: t0.Add(10 * day), WindowEnd: t0.Add(11 * day), FetchedAt: t0.Add(5 * day), NextFetch: t0.Add(30 * day)}
	cur := store.ARIState{WindowStart: t0.Add(20 * day), WindowEnd: t0.Add(24 * day), NextFetch: t0.Add(40 * day)} // quarter: t0+21d
	withChosen := func(s store.ARIState, c time.Time) store.ARIState { s.ChosenTime = c; return s }
	fetched := func(s store.ARIState, f time.Time) store.ARIState { s.FetchedAt = f; return s }
	const lifeThird, lifeHalf = "1/3 of lifetime left", "1/2 of lifetime left (short-lived)"
	futureReason := "ARI window 2026-04-20T00:00:00Z–2026-04-22T00:00:00Z"
	curReason := "ARI window 2026-03-21T00:00:00Z–2026-03-25T00:00:00Z"

	tests := []struct {
		name string
		in   DueInput
		want dueView
	}{
		// Lifetime rule, 90-day certificate.
		{"90d fresh", DueInput{NotBefore: nb90, NotAfter: na90, Now: t0.Add(time.Hour)},
			dueView{At: t0.Add(60 * day), Rule: RuleLifetime, Reason: lifeThird}},
		{"90d 1ns before", DueInput{NotBefore: nb90, NotAfter: na90, Now: t0.Add(60*day - ns)},
			dueView{At: t0.Add(60 * day), Rule: RuleLifetime, Reason: lifeThird}},
		{"90d exactly", DueInput{NotBefore: nb90, NotAfter: na90, Now: t0.Add(60 * day)},
			dueView{Due: true, At: t0.Add(60 * day), Rule: RuleLifetime, Reason: lifeThird}},
		{"90d 1ns after", DueInput{NotBefore: nb90, NotAfter: na90, Now: t0.Add(60*day + ns)},
			dueView{Due: true, At: t0.Add(60 * day), Rule: RuleLifetime, Reason: lifeThird}},
		{"90d 1ns before expiry", DueInput{NotBefore: nb90, NotAfter: na90, Now: na90.Add(-ns)},
			dueView{Due: true, At: t0.Add(60 * day), Rule: RuleLifetime, Reason: lifeThird}},
		{"90d expired", DueInput{NotBefore: nb90, NotAfter: na90, Now: na90},
			dueView{Due: true, At: na90, Rule: RuleExpired, Reason: "expired at 2026-05-30T00:00:00Z"}},

		// Lifetime rule, 6-day certificate: half.
		{"6d 1ns before", DueInput{NotBefore: nb6, NotAfter: na6, Now: t0.Add(72*time.Hour - ns)},
			dueView{At: t0.Add(72 * time.Hour), Rule: RuleShortLived, Reason: lifeHalf}},
		{"6d exactly", DueInput{NotBefore: nb6, NotAfter: na6, Now: t0.Add(72 * time.Hour)},
			dueView{Due: true, At: t0.Add(72 * time.Hour), Rule: RuleShortLived, Reason: lifeHalf}},
		{"6d 160h lifetime (Boulder backdating)", DueInput{NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(159 * time.Hour), Now: t0},
			dueView{At: t0.Add(79 * time.Hour), Rule: RuleShortLived, Reason: lifeHalf}},

		// The 10-day boundary: exactly 10 days is short-lived, 1ns more is not.
		{"10d is short-lived", DueInput{NotBefore: t0, NotAfter: t0.Add(10 * day), Now: t0},
			dueView{At: t0.Add(5 * day), Rule: RuleShortLived, Reason: lifeHalf}},
		{"10d+1ns uses third", DueInput{NotBefore: t0, NotAfter: t0.Add(10*day + ns), Now: t0},
			dueView{At: t0.Add(10*day + ns - (10*day+ns)/3), Rule: RuleLifetime, Reason: lifeThird}},
		{"10d-1ns is short-lived", DueInput{NotBefore: t0, NotAfter: t0.Add(10*day - ns), Now: t0},
			dueView{At: t0.Add(10*day - ns - (10*day-ns)/2), Rule: RuleShortLived, Reason: lifeHalf}},

		// ARI.
		{"ARI future window drawn", DueInput{NotBefore: nb90, NotAfter: na90, ARI: future, ARISupported: true, Now: t0.Add(day)},
			dueView{At: t0.Add(50*day + 12*time.Hour), Rule: RuleARI, Reason: futureReason,
				ARIChanged: true, Chosen: t0.Add(50*day + 12*time.Hour)}},
		{"ARI future window wins over lifetime", DueInput{NotBefore: nb90, NotAfter: na90, ARI: withChosen(future, t0.Add(51*day)), Now: t0.Add(60 * day)},
			dueView{At: t0.Add(51 * day), Due: true, Rule: RuleARI, Reason: futureReason, Chosen: t0.Add(51 * day)}},
		{"ARI stored point kept", DueInput{NotBefore: nb90, NotAfter: na90, ARI: withChosen(future, future.WindowEnd.Add(-ns)), Now: t0.Add(day)},
			dueView{At: future.WindowEnd.Add(-ns), Rule: RuleARI, Reason: futureReason, Chosen: future.WindowEnd.Add(-ns)}},
		{"ARI point outside window redrawn", DueInput{NotBefore: nb90, NotAfter: na90, ARI: withChosen(future, future.WindowEnd), Now: t0.Add(day)},
			dueView{At: t0.Add(50*day + 12*time.Hour), Rule: RuleARI, Reason: futureReason,
				ARIChanged: true, Chosen: t0.Add(50*day + 12*time.Hour)}},
		{"ARI window now, 1ns before point", DueInput{NotBefore: nb90, NotAfter: na90, ARI: cur, Now: t0.Add(21*day - ns)},
			dueView{At: t0.Add(21 * day), Rule: RuleARI, Reason: curReason, ARIChanged: true, Chosen: t0.Add(21 * day)}},
		{"ARI window now, at point", DueInput{NotBefore: nb90, NotAfter: na90, ARI: cur, Now: t0.Add(21 * day)},
			dueView{Due: true, At: t0.Add(21 * day), Rule: RuleARI, Reason: curReason, ARIChanged: true, Chosen: t0.Add(21 * day)}},
		{"ARI window in the past: due, fetch once", DueInput{NotBefore: nb90, NotAfter: na90, ARI: past, ARISupported: true, Now: t0.Add(20 * day)},
			dueView{Due: true, At: t0.Add(10*day + 6*time.Hour), Rule: RuleARI,
				Reason: "ARI window 2026-03-11T00:00:00Z–2026-03-12T00:00:00Z", NeedARIFetch: true,
				ARIChanged: true, Chosen: t0.Add(10*day + 6*time.Hour)}},
		{"ARI window in the past, fetched since", DueInput{NotBefore: nb90, NotAfter: na90, ARI: withChosen(fetched(past, past.WindowEnd), past.WindowStart), ARISupported: true, Now: t0.Add(20 * day)},
			dueView{Due: true, At: past.WindowStart, Rule: RuleARI,
				Reason: "ARI window 2026-03-11T00:00:00Z–2026-03-12T00:00:00Z", Chosen: past.WindowStart}},
		{"ARI window ends at now, fetched before", DueInput{NotBefore: nb90, NotAfter: na90, ARI: withChosen(fetched(past, past.WindowEnd.Add(-ns)), past.WindowStart), ARISupported: true, Now: past.WindowEnd},
			dueView{Due: true, At: past.WindowStart, Rule: RuleARI, NeedARIFetch: true,
				Reason: "ARI window 2026-03-11T00:00:00Z–2026-03-12T00:00:00Z", Chosen: past.WindowStart}},
		{"ARI window after expiry ignored", DueInput{NotBefore: nb6, NotAfter: na6, ARI: store.ARIState{WindowStart: na6, WindowEnd: na6.Add(day)}, Now: t0},
			dueView{At: t0.Add(72 * time.Hour), Rule: RuleShortLived, Reason: lifeHalf}},
		{"ARI window straddling expiry drawn before it", DueInput{NotBefore: nb6, NotAfter: na6, ARI: store.ARIState{WindowStart: na6.Add(-4 * time.Hour), WindowEnd: na6.Add(4 * time.Hour)}, Now: t0},
			dueView{At: na6.Add(-3 * time.Hour), Rule: RuleARI, ARIChanged: true, Chosen: na6.Add(-3 * time.Hour),
				Reason: "ARI window 2026-03-06T20:00:00Z–2026-03-07T04:00:00Z"}},
		{"ARI inverted window ignored", DueInput{NotBefore: nb90, NotAfter: na90, ARI: store.ARIState{WindowStart: future.WindowEnd, WindowEnd: future.WindowStart}, Now: t0},
			dueView{At: t0.Add(60 * day), Rule: RuleLifetime, Reason: lifeThird}},

		// ARI fetch scheduling.
		{"fetch: never fetched, just issued", DueInput{NotBefore: nb90, NotAfter: na90, ARISupported: true, Now: nb90.Add(time.Hour)},
			dueView{At: t0.Add(60 * day), Rule: RuleLifetime, Reason: lifeThird}},
		{"fetch: never fetched, 1ns before a day", DueInput{NotBefore: nb90, NotAfter: na90, ARISupported: true, Now: nb90.Add(FirstARIFetchMax - ns)},
			dueView{At: t0.Add(60 * day), Rule: RuleLifetime, Reason: lifeThird}},
		{"fetch: never fetched, a day after issuance", DueInput{NotBefore: nb90, NotAfter: na90, ARISupported: true, Now: nb90.Add(FirstARIFetchMax)},
			dueView{At: t0.Add(60 * day), Rule: RuleLifetime, Reason: lifeThird, NeedARIFetch: true}},
		{"fetch: never fetched, 6d certificate after a fifteenth", DueInput{NotBefore: nb6, NotAfter: na6, ARISupported: true, Now: nb6.Add((na6.Sub(nb6)) / 15)},
			dueView{At: t0.Add(72 * time.Hour), Rule: RuleShortLived, Reason: lifeHalf, NeedARIFetch: true}},
		{"fetch: unsupported", DueInput{NotBefore: nb90, NotAfter: na90, Now: t0},
			dueView{At: t0.Add(60 * day), Rule: RuleLifetime, Reason: lifeThird}},
		{"fetch: after error, 1ns before NextFetch", DueInput{NotBefore: nb90, NotAfter: na90, ARISupported: true, ARI: store.ARIState{FetchedAt: t0, NextFetch: t0.Add(6 * time.Hour)}, Now: t0.Add(6*time.Hour - ns)},
			dueView{At: t0.Add(60 * day), Rule: RuleLifetime, Reason: lifeThird}},
		{"fetch: at NextFetch", DueInput{NotBefore: nb90, NotAfter: na90, ARISupported: true, ARI: withChosen(future, t0.Add(51*day)), Now: future.NextFetch},
			dueView{At: t0.Add(51 * day), Rule: RuleARI, Reason: futureReason, NeedARIFetch: true, Chosen: t0.Add(51 * day)}},
		{"fetch: never after expiry", DueInput{NotBefore: nb6, NotAfter: na6, ARISupported: true, Now: na6},
			dueView{Due: true, At: na6, Rule: RuleExpired, Reason: "expired at 2026-03-07T00:00:00Z"}},

		// Revoked, invalid.
		{"revoked fresh", DueInput{NotBefore: nb90, NotAfter: na90, Revoked: true, ARISupported: true, Now: t0.Add(time.Hour)},
			dueView{Due: true, At: t0.Add(time.Hour), Rule: RuleRevoked, Reason: "revoked"}},
		{"invalid period", DueInput{NotBefore: na90, NotAfter: na90, Now: t0},
			dueView{Due: true, At: t0, Rule: RuleInvalid, Reason: "certificate validity period is invalid"}},

		// Local backoff.
		{"backoff delays a due cert", DueInput{NotBefore: nb6, NotAfter: na6, BackoffUntil: t0.Add(100 * time.Hour), Now: t0.Add(90 * time.Hour)},
			dueView{At: t0.Add(100 * time.Hour), Rule: RuleBackoff,
				Reason: "in backoff until 2026-03-05T04:00:00Z (then 1/2 of lifetime left (short-lived))"}},
		{"backoff ends exactly now", DueInput{NotBefore: nb6, NotAfter: na6, BackoffUntil: t0.Add(90 * time.Hour), Now: t0.Add(90 * time.Hour)},
			dueView{Due: true, At: t0.Add(72 * time.Hour), Rule: RuleShortLived, Reason: lifeHalf}},
		{"backoff before due date is moot", DueInput{NotBefore: nb90, NotAfter: na90, BackoffUntil: t0.Add(day), Now: t0},
			dueView{At: t0.Add(60 * day), Rule: RuleLifetime, Reason: lifeThird}},
		{"backoff delays revoked", DueInput{NotBefore: nb90, NotAfter: na90, Revoked: true, BackoffUntil: t0.Add(time.Hour), Now: t0},
			dueView{At: t0.Add(time.Hour), Rule: RuleBackoff, Reason: "in backoff until 2026-03-01T01:00:00Z (then revoked)"}},

		// Force and the CA's Retry-After.
		{"force fresh cert", DueInput{NotBefore: nb90, NotAfter: na90, Force: true, Now: t0.Add(time.Hour)},
			dueView{Due: true, At: t0.Add(time.Hour), Rule: RuleForced, Reason: "forced"}},
		{"force ignores backoff", DueInput{NotBefore: nb90, NotAfter: na90, Force: true, BackoffUntil: t0.Add(day), Now: t0},
			dueView{Due: true, At: t0, Rule: RuleForced, Reason: "forced"}},
		{"force does not ignore Retry-After", DueInput{NotBefore: nb90, NotAfter: na90, Force: true, RetryAfter: t0.Add(time.Hour), Now: t0},
			dueView{At: t0.Add(time.Hour), Rule: RuleRetryAfter, Reason: "CA asked to retry after 2026-03-01T01:00:00Z (then forced)"}},
		{"force at Retry-After", DueInput{NotBefore: nb90, NotAfter: na90, Force: true, RetryAfter: t0.Add(time.Hour), Now: t0.Add(time.Hour)},
			dueView{Due: true, At: t0.Add(time.Hour), Rule: RuleForced, Reason: "forced"}},
		{"Retry-After 1ns ahead", DueInput{NotBefore: nb6, NotAfter: na6, RetryAfter: t0.Add(80*time.Hour + ns), Now: t0.Add(80 * time.Hour)},
			dueView{At: t0.Add(80*time.Hour + ns), Rule: RuleRetryAfter,
				Reason: "CA asked to retry after 2026-03-04T08:00:00Z (then 1/2 of lifetime left (short-lived))"}},
		{"Retry-After beats backoff", DueInput{NotBefore: nb6, NotAfter: na6, BackoffUntil: t0.Add(81 * time.Hour), RetryAfter: t0.Add(82 * time.Hour), Now: t0.Add(80 * time.Hour)},
			dueView{At: t0.Add(82 * time.Hour), Rule: RuleRetryAfter,
				Reason: "CA asked to retry after 2026-03-04T10:00:00Z (then in backoff until 2026-03-04T09:00:00Z (then 1/2 of lifetime left (short-lived)))"}},
		{"Retry-After binds revoked", DueInput{NotBefore: nb90, NotAfter: na90, Revoked: true, RetryAfter: t0.Add(time.Minute), Now: t0},
			dueView{At: t0.Add(time.Minute), Rule: RuleRetryAfter, Reason: "CA asked to retry after 2026-03-01T00:01:00Z (then revoked)"}},
		{"Retry-After in the past ignored", DueInput{NotBefore: nb6, NotAfter: na6, RetryAfter: t0, Now: t0.Add(80 * time.Hour)},
			dueView{Due: true, At: t0.Add(72 * time.Hour), Rule: RuleShortLived, Reason: lifeHalf}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Policy{Choose: quarter}.Due(tc.in)
			view := dueView{got.Due, got.At, got.Rule, got.Reason, got.NeedARIFetch, got.ARIChanged, got.ARI.ChosenTime}
			want := tc.want
			if want.Chosen.IsZero() {
				want.Chosen = tc.in.ARI.ChosenTime
			}
			if d := cmp.Diff(want, view); d != "" {
				t.Errorf("Due(%+v) mismatch (-want +got):\n%s", tc.in, d)
			}
			// Only Chosen may change in the returned state.
			wantARI := tc.in.ARI
			wantARI.ChosenTime = got.ARI.ChosenTime
			if d := cmp.Diff(wantARI, got.ARI); d != "" {
				t.Errorf("Due changed ARI state beyond Chosen (-want +got):\n%s", d)
			}
		})
	}
}

func TestPolicyDueDrawsOncePerWindow(t *testing.T) {
	calls := 0
	p := Policy{Choose: func(s, e time.Time) time.Time { calls++; return quarter(s, e) }}
	in := DueInput{NotBefore: t0, NotAfter: t0.Add(90 * day), ARISupported: true, Now: t0}
	in.ARI = withRenewalInfo(in.ARI, &client.RenewalInfo{Start: t0.Add(50 * day), End: t0.Add(52 * day)}, t0, t0.Add(6*time.Hour))
	r := p.Due(in)
	if !r.ARIChanged || calls != 1 {
		t.Fatalf("first Due: ARIChanged=%v calls=%d; want true, 1", r.ARIChanged, calls)
	}
	// Stored and re-read: no new draw, on any later run.
	in.ARI = r.ARI
	for i := range 3 {
		in.Now = t0.Add(time.Duration(i) * time.Hour)
		if r2 := p.Due(in); r2.ARIChanged || !r2.At.Equal(r.At) {
			t.Errorf("Due run %d: ARIChanged=%v At=%v; want false, %v", i, r2.ARIChanged, r2.At, r.At)
		}
	}
	// The same window fetched again keeps the point.
	in.ARI = withRenewalInfo(in.ARI, &client.RenewalInfo{Start: t0.Add(50 * day), End: t0.Add(52 * day)}, t0.Add(6*time.Hour), t0.Add(12*time.Hour))
	if r3 := p.Due(in); r3.ARIChanged || calls != 1 {
		t.Errorf("same window refetched: ARIChanged=%v calls=%d; want false, 1", r3.ARIChanged, calls)
	}
	// A moved window draws again, even if the old point lies inside it.
	in.ARI = withRenewalInfo(in.ARI, &client.RenewalInfo{Start: t0.Add(49 * day), End: t0.Add(52 * day)}, t0.Add(12*time.Hour), t0.Add(18*time.Hour))
	if r4 := p.Due(in); !r4.ARIChanged || calls != 2 || !r4.At.Equal(t0.Add(49*day+18*time.Hour)) {
		t.Errorf("moved window: ARIChanged=%v calls=%d At=%v; want true, 2, %v", r4.ARIChanged, calls, r4.At, t0.Add(49*day+18*time.Hour))
	}
}

func TestPolicyDueBrokenChooserStaysInWindow(t *testing.T) {
	p := Policy{Choose: func(s, e time.Time) time.Time { return e.Add(day) }}
	w := store.ARIState{WindowStart: t0.Add(50 * day), WindowEnd: t0.Add(52 * day)}
	got := p.Due(DueInput{NotBefore: t0, NotAfter: t0.Add(90 * day), ARI: w, Now: t0})
	if !got.At.Equal(w.WindowStart) {
		t.Errorf("Due with out-of-window chooser: At = %v; want %v", got.At, w.WindowStart)
	}
}

func TestChooseInWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	start, end := t0, t0.Add(2*day)
	var lo, hi int
	for range 2000 {
		c := ChooseInWindow(start, end, r)
		if c.Before(start) || !c.Before(end) {
			t.Fatalf("ChooseInWindow(%v, %v) = %v; outside [start, end)", start, end, c)
		}
		if c.Before(start.Add(day)) {
			lo++
		} else {
			hi++
		}
	}
	if lo < 850 || hi < 850 { // uniform: ~1000 each; this fails only if badly skewed
		t.Errorf("ChooseInWindow halves = %d, %d; want roughly equal", lo, hi)
	}
	if c := ChooseInWindow(end, start, r); !c.Equal(end) {
		t.Errorf("ChooseInWindow(inverted) = %v; want start %v", c, end)
	}
	if c := ChooseInWindow(start, start.Add(ns), nil); !c.Equal(start) {
		t.Errorf("ChooseInWindow(1ns window, global rand) = %v; want %v", c, start)
	}
}

func TestNextBackoff(t *testing.T) {
	tests := []struct {
		name     string
		failures int
		ca       time.Time
		want     time.Duration
	}{
		{"first", 1, time.Time{}, time.Minute},
		{"zero counts as one", 0, time.Time{}, time.Minute},
		{"negative counts as one", -3, time.Time{}, time.Minute},
		{"second", 2, time.Time{}, 2 * time.Minute},
		{"sixth", 6, time.Time{}, 32 * time.Minute},
		{"seventh capped", 7, time.Time{}, time.Hour},
		{"huge capped", 1 << 30, time.Time{}, time.Hour},
		{"would overflow a shift", 29, time.Time{}, time.Hour},
		{"64", 64, time.Time{}, time.Hour},
		{"CA later wins", 1, t0.Add(3 * time.Hour), 3 * time.Hour},
		{"CA earlier ignored", 3, t0.Add(time.Minute), 4 * time.Minute},
		{"CA in the past ignored", 1, t0.Add(-time.Hour), time.Minute},
		{"CA capped at 24h", 1, t0.Add(1000 * time.Hour), 24 * time.Hour},
		{"CA exactly 24h", 1, t0.Add(24 * time.Hour), 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NextBackoff(tc.failures, t0, tc.ca); !got.Equal(t0.Add(tc.want)) {
				t.Errorf("NextBackoff(%d, t0, %v) = t0+%v; want t0+%v", tc.failures, tc.ca, got.Sub(t0), tc.want)
			}
		})
	}
}

// A cron running every minute through a day-long outage makes few attempts.
func TestNextBackoffCronDoesNotHammer(t *testing.T) {
	p := Policy{}
	in := DueInput{NotBefore: t0, NotAfter: t0.Add(6 * day)}
	attempts, failures := 0, 0
	for now := t0.Add(72 * time.Hour); now.Before(t0.Add(96 * time.Hour)); now = now.Add(time.Minute) {
		in.Now = now
		if r := p.Due(in); r.Due {
			attempts++
			failures++
			in.BackoffUntil = NextBackoff(failures, now, time.Time{})
		} else if !strings.HasPrefix(r.Reason, "in backoff until") {
			t.Fatalf("Due at %v not due for %q; want backoff", now, r.Reason)
		}
	}
	// 7 attempts ramping up to the cap, then hourly: ~7 + 22.
	if attempts > 30 {
		t.Errorf("attempts over 24h of per-minute cron = %d; want ≤ 30", attempts)
	}
}
