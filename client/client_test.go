package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeCA is a minimal scripted ACME server for fault cases the real Pebble
// cannot produce on demand. handle decides each non-directory response.
type fakeCA struct {
	srv    *httptest.Server
	nonces atomic.Int64
	handle func(w http.ResponseWriter, r *http.Request)
	heads  atomic.Int64
	posts  atomic.Int64
}

func newFakeCA(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *fakeCA {
	t.Helper()
	f := &fakeCA{handle: handle}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/dir" {
			w.Header().Set("Replay-Nonce", fmt.Sprintf("nonce%06d", f.nonces.Add(1)))
		}
		switch {
		case r.URL.Path == "/dir":
			u := f.srv.URL
			fmt.Fprintf(w, `{"newNonce":%q,"newAccount":%q,"newOrder":%q,"revokeCert":%q,"meta":{"termsOfService":%q,"profiles":{"default":"d"}}}`,
				u+"/nonce", u+"/acct", u+"/order", u+"/revoke", u+"/tos")
		case r.Method == http.MethodHead:
			f.heads.Add(1)
		default:
			f.posts.Add(1)
			f.handle(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCA) client(t *testing.T) *Client {
	t.Helper()
	c, err := New(Config{DirectoryURL: f.srv.URL + "/dir", HTTPClient: f.srv.Client(), MaxBody: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func problem(w http.ResponseWriter, status int, typ, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"urn:ietf:params:acme:error:%s","detail":%q,"status":%d}`, typ, detail, status)
}

func testKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func acctOK(w http.ResponseWriter) {
	w.Header().Set("Location", "https://"+"127.0.0.1/acct/1")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprint(w, `{"status":"valid","contact":["mailto:a@example.test"]}`)
}

func TestBadNonceRetriedWithFreshNonce(t *testing.T) {
	var calls atomic.Int64
	f := newFakeCA(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 3 {
			problem(w, 400, "badNonce", "stale")
			return
		}
		acctOK(w)
	})
	c := f.client(t)
	if _, err := c.Register(t.Context(), testKey(t), RegisterOptions{AgreeTerms: true}); err != nil {
		// The Location is not on the fake's host; accept only URL errors.
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			t.Fatalf("Register: %v", err)
		}
	}
	if got := calls.Load(); got != 4 {
		t.Errorf("POSTs = %d; want 4 (3 badNonce + 1)", got)
	}
	if got := f.heads.Load(); got != 1 {
		t.Errorf("HEAD newNonce = %d; want 1: retries must use the nonce from the error response", got)
	}
}

func TestBadNonceBounded(t *testing.T) {
	f := newFakeCA(t, func(w http.ResponseWriter, r *http.Request) { problem(w, 400, "badNonce", "never") })
	c := f.client(t)
	_, err := c.Register(t.Context(), testKey(t), RegisterOptions{AgreeTerms: true})
	var p *Problem
	if !errors.As(err, &p) || !p.Has(ProblemBadNonce) {
		t.Fatalf("err = %v; want badNonce problem", err)
	}
	if got := f.posts.Load(); got != maxBadNonceRetries+1 {
		t.Errorf("POSTs = %d; want %d", got, maxBadNonceRetries+1)
	}
}

func TestProblemDocumentTyped(t *testing.T) {
	f := newFakeCA(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(403)
		fmt.Fprint(w, `{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"no \u001b[31mred","status":403,
		 "subproblems":[{"type":"urn:ietf:params:acme:error:caa","detail":"CAA forbids","identifier":{"type":"dns","value":"x.test"}}]}`)
	})
	c := f.client(t)
	_, err := c.Register(t.Context(), testKey(t), RegisterOptions{AgreeTerms: true})
	var p *Problem
	if !errors.As(err, &p) {
		t.Fatalf("err = %T %v; want *Problem", err, err)
	}
	if !p.Has(ProblemRejectedIdentifier) || p.Status != 403 || len(p.Subproblems) != 1 || p.Subproblems[0].Identifier.Value != "x.test" {
		t.Errorf("problem = %+v", p)
	}
	if strings.Contains(err.Error(), "\x1b") || !strings.Contains(err.Error(), `\x1b`) {
		t.Errorf("escape not sanitised: %q", err.Error())
	}
	if Temporary(err) || RateLimited(err) {
		t.Errorf("Temporary/RateLimited(%v) = true; want a permanent refusal", err)
	}
}

func TestRateLimitRetryAfter(t *testing.T) {
	f := newFakeCA(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		problem(w, 429, "rateLimited", "too many")
	})
	c := f.client(t)
	start := time.Now()
	_, err := c.Register(t.Context(), testKey(t), RegisterOptions{AgreeTerms: true})
	if !RateLimited(err) || !Temporary(err) {
		t.Fatalf("RateLimited(%v) = %v, Temporary = %v; want both", err, RateLimited(err), Temporary(err))
	}
	ra := RetryAfterOf(err)
	if d := ra.Sub(start); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("RetryAfter in %v; want ~1h", d)
	}
	if got := f.posts.Load(); got != 1 {
		t.Errorf("POSTs = %d; want 1 (no retry on rate limit)", got)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, in string
		want     time.Duration
	}{
		{"seconds", "120", 2 * time.Minute},
		{"http-date", "Sat, 28 Nov 2026 12:05:00 GMT", 5 * time.Minute},
		{"negative", "-5", 0},
		{"garbage", "soon", 0},
		{"past date", "Sat, 28 Nov 2026 11:00:00 GMT", 0},
		{"huge clamped", "999999999999", time.Hour},
		{"far date clamped", "Fri, 01 Jan 2100 00:00:00 GMT", time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseRetryAfter(tc.in, now, time.Hour)
			var d time.Duration
			if !got.IsZero() {
				d = got.Sub(now)
			}
			if d != tc.want {
				t.Errorf("parseRetryAfter(%q) = +%v; want +%v", tc.in, d, tc.want)
			}
		})
	}
}

func TestOversizedBodyRejected(t *testing.T) {
	f := newFakeCA(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(201)
		w.Write([]byte(`{"status":"valid","contact":["` + strings.Repeat("a", 200<<10) + `"]}`))
	})
	c := f.client(t)
	_, err := c.Register(t.Context(), testKey(t), RegisterOptions{AgreeTerms: true})
	var pe *ProtocolError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v; want body size error", err)
	}
}

func TestServerErrorRetriedForPostAsGetOnly(t *testing.T) {
	var n atomic.Int64
	f := newFakeCA(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		problem(w, 503, "serverInternal", "down")
	})
	c := f.client(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := c.Register(ctx, testKey(t), RegisterOptions{AgreeTerms: true})
	if !Temporary(err) || RateLimited(err) {
		t.Errorf("Temporary(%v) = %v, RateLimited = %v; want temporary, not rate limited", err, Temporary(err), RateLimited(err))
	}
	if got := n.Load(); got != 1 {
		t.Errorf("newAccount POSTs = %d; want 1 (state-changing POSTs are not repeated blindly)", got)
	}
}

func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	if _, err := New(Config{DirectoryURL: "http://acme.example.com/dir"}); err == nil {
		t.Error("plain http to a public host accepted")
	}
	if _, err := New(Config{DirectoryURL: "http://127.0.0.1:4000/dir"}); err != nil {
		t.Errorf("plain http on loopback refused: %v", err)
	}
	c, _ := New(Config{DirectoryURL: "https://acme.example.com/dir"})
	for _, u := range []string{"http://acme.example.com/x", "/relative", "ftp://acme.example.com/x", "https://user:pw@acme.example.com/x", "https://127.0.0.1/x", "https://10.1.2.3/x"} {
		if _, err := c.checkURL(u, "test"); err == nil {
			t.Errorf("checkURL(%q) accepted", u)
		}
	}
	if _, err := c.checkURL("https://other.example.net/x", "test"); err != nil {
		t.Errorf("checkURL(https other host) = %v", err)
	}
}
