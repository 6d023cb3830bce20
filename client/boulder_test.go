package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Boulder sends "Retry-After: 60" with every 500 (wfe2 sendError). One such
// answer while polling must cost a wait inside the run, not the run.
func TestBoulder500RetryAfter60HonouredInRun(t *testing.T) {
	var n atomic.Int64
	f := newFakeCA(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "60")
			problem(w, 500, "serverInternal", "Problem getting authorization")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"valid","identifier":{"type":"dns","value":"a.example.com"},"challenges":[]}`))
	})
	c := f.client(t)
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}
	d, err := c.dialect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	az, err := d.fetchAuthorization(t.Context(), &Account{URL: f.srv.URL + "/acct/1", Key: testKey(t)}, f.srv.URL+"/authz/1")
	if err != nil {
		t.Fatalf("a 500 with Retry-After: 60 ended the run: %v", err)
	}
	if az.Status != StatusValid || n.Load() != 2 {
		t.Errorf("status %s after %d requests; want valid after 2", az.Status, n.Load())
	}
	if len(waits) != 1 || waits[0] < 59*time.Second || waits[0] > 60*time.Second {
		t.Errorf("waits %v; want one of 60 s (the server's Retry-After)", waits)
	}
}

// A Retry-After beyond the in-run cap, or beyond the order's deadline, ends
// the run at once with that time (recorded for the next run).
func TestRetryAfterBeyondCapOrDeadlineNotSlept(t *testing.T) {
	for _, tc := range []struct {
		name, retryAfter string
		deadline         time.Duration
	}{{"beyond-cap", "3600", time.Hour}, {"beyond-deadline", "60", 5 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCA(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", tc.retryAfter)
				problem(w, 500, "serverInternal", "down")
			})
			c := f.client(t)
			c.sleep = func(ctx context.Context, d time.Duration) error {
				t.Errorf("slept %v", d)
				return nil
			}
			d, err := c.dialect(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), tc.deadline)
			defer cancel()
			_, err = d.fetchAuthorization(ctx, &Account{URL: f.srv.URL + "/acct/1", Key: testKey(t)}, f.srv.URL+"/authz/1")
			if !Temporary(err) || RateLimited(err) || RetryAfterOf(err).IsZero() {
				t.Errorf("err %v (temporary %v, retry %v); want the CA unavailable with the retry time", err, Temporary(err), RetryAfterOf(err))
			}
		})
	}
}

// A paused account (Boulder: 429 rateLimited without Retry-After, detail
// ending in an unpause URL) is a failure needing a person, and the URL is
// never cut, however long the detail.
func TestPausedAccountNotDeferredURLWhole(t *testing.T) {
	url := "https://127.0.0.1:4003/sfe/v1/unpause?jwt=" + strings.Repeat("eyJhbGciOiJIUzI1NiJ9", 40)
	detail := "Your account is temporarily prevented from requesting certificates for a.example.com, b.example.com and possibly others. Please visit: " + url
	f := newFakeCA(t, func(w http.ResponseWriter, r *http.Request) { problem(w, 429, "rateLimited", detail) })
	_, err := f.client(t).Register(t.Context(), testKey(t), RegisterOptions{AgreeTerms: true})
	var pe *PausedError
	if Temporary(err) || RateLimited(err) || !errors.As(err, &pe) || pe.UnpauseURL != url {
		t.Fatalf("err %v (temporary %v); want a PausedError with the URL, not temporary", err, Temporary(err))
	}
	if !strings.Contains(err.Error(), url) {
		t.Errorf("error text cuts the unpause URL: %s", err)
	}
	// The same answer with a Retry-After is an ordinary rate limit.
	f2 := newFakeCA(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		problem(w, 429, "rateLimited", "too many certificates")
	})
	_, err = f2.client(t).Register(t.Context(), testKey(t), RegisterOptions{AgreeTerms: true})
	if !RateLimited(err) || !Temporary(err) {
		t.Errorf("err %v: rate limited %v, temporary %v; want both", err, RateLimited(err), Temporary(err))
	}
}

func TestSanitizeDetailKeepsURLsBoundsText(t *testing.T) {
	url := "https://x.example/" + strings.Repeat("u", 1500)
	got := sanitizeDetail(strings.Repeat("word ", 300)+url+" tail\x1b[2J", maxDetail)
	if !strings.Contains(got, url) {
		t.Error("URL cut")
	}
	if len(got) > maxDetail+len(url)+16 {
		t.Errorf("detail %d bytes; want text bounded to about %d plus the URL", len(got), maxDetail)
	}
	if strings.Contains(got, "\x1b") {
		t.Error("raw ESC kept")
	}
	if huge := sanitizeDetail(strings.Repeat("https://x.example/a ", 100000), maxDetail); len(huge) > 5*maxDetail {
		t.Errorf("many URLs: %d bytes; want bounded", len(huge))
	}
}

func TestReplacesRefused(t *testing.T) {
	for _, tc := range []struct {
		status   int
		typ, det string
		want     bool
	}{
		{403, "unauthorized", "Could not validate ARI 'replaces' field :: while checking that this order is a replacement: requester account did not request the certificate being replaced by this order", true},
		{409, "alreadyReplaced", "cannot indicate an order replaces certificate with serial \"x\", which already has a replacement order", true},
		{404, "malformed", "Could not validate ARI 'replaces' field :: while checking that this order is a replacement: request included `replaces` field, but no current certificate with serial \"x\" exists", true},
		{400, "malformed", "Could not validate ARI 'replaces' field :: while checking that this order is a replacement: identifiers in this order do not match any identifiers in the certificate being replaced", true},
		{409, "conflict", "replaced", true},
		{400, "malformed", "Unable to validate JWS :: JWS verification error", false},
		{400, "malformed", "NotBefore and NotAfter are not supported", false},
		{429, "rateLimited", "too many", false},
		{400, "badNonce", "JWS has an invalid anti-replay nonce", false},
		{400, "rejectedIdentifier", "Default profile does not permit IP address identifiers", false},
		{500, "serverInternal", "down", false},
	} {
		p := &Problem{Type: "urn:ietf:params:acme:error:" + tc.typ, Status: tc.status, Detail: tc.det}
		if got := replacesRefused(p); got != tc.want {
			t.Errorf("replacesRefused(%d %s %q) = %v; want %v", tc.status, tc.typ, tc.det, got, tc.want)
		}
	}
}
