package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Limits of API.Do.
const (
	MaxResponse    = 4 << 20          // bytes read from one response
	MaxRetries     = 4                // retries after 429 or 503
	MaxRetryWait   = 60 * time.Second // longest single wait a server may ask for
	firstRetryWait = 500 * time.Millisecond
)

// API is a JSON-over-HTTPS client for one provider's API.
type API struct {
	// Provider names the provider in errors.
	Provider string
	// Base is prefixed to every path.
	Base *url.URL
	// Client sends the requests.
	Client *http.Client
	// Authorize adds credentials to a request.
	Authorize func(*http.Request)
	// CredentialFrom names where the credentials came from
	// ("CF_DNS_API_TOKEN"), for the bad-credentials error.
	CredentialFrom string
	// Message extracts the provider's error text from an error body;
	// nil uses the body's first line.
	Message func(body []byte) string
	// UserAgent is sent when set.
	UserAgent string
	// Logger receives one debug line per request.
	Logger *slog.Logger
	// Now is the clock for RateLimit-Reset headers (nil: time.Now).
	Now func() time.Time
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Provider string
	Method   string
	Path     string
	Status   int
	Message  string // the provider's text, sanitized and bounded
	From     string // where the credentials came from (for 401/403)
}

func (e *StatusError) Error() string {
	msg := ""
	if e.Message != "" {
		msg = ": " + e.Message
	}
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		from := ""
		if e.From != "" {
			from = " from " + e.From
		}
		return fmt.Sprintf("%s: the credentials%s were refused (HTTP %d on %s %s%s)", e.Provider, from, e.Status, e.Method, e.Path, msg)
	}
	return fmt.Sprintf("%s: %s %s: HTTP %d%s", e.Provider, e.Method, e.Path, e.Status, msg)
}

// IsStatus reports whether err is a *StatusError with one of codes.
func IsStatus(err error, codes ...int) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return false
	}
	for _, c := range codes {
		if se.Status == c {
			return true
		}
	}
	return false
}

// ErrRateLimited is wrapped by the error after the retries for 429 are
// used up.
var ErrRateLimited = errors.New("rate limited")

// Do sends method path (with query, relative to Base) with in as JSON
// (nil: no body) and decodes a 2xx JSON answer into out (nil: discarded).
// It retries 429 and 503 answers up to MaxRetries times, waiting what
// Retry-After or RateLimit-Reset/X-RateLimit-Reset ask (at most
// MaxRetryWait each), else with backoff.
func (a *API) Do(ctx context.Context, method, path string, in, out any) error {
	return a.DoHeader(ctx, method, path, nil, in, out)
}

// DoHeader is Do with extra request headers.
func (a *API) DoHeader(ctx context.Context, method, path string, hdr http.Header, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("%s: encode %s %s: %w", a.Provider, method, path, err)
		}
	}
	wait := firstRetryWait
	for attempt := 0; ; attempt++ {
		resp, err := a.send(ctx, method, path, hdr, body)
		if err != nil {
			return err
		}
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
		resp.Body.Close()
		a.log().Debug("dns provider api", "method", method, "path", path, "status", resp.StatusCode)
		if rerr != nil {
			return fmt.Errorf("%s: %s %s: read answer: %w", a.Provider, method, path, rerr)
		}
		if len(data) > MaxResponse {
			return fmt.Errorf("%s: %s %s: answer larger than %d bytes", a.Provider, method, path, MaxResponse)
		}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			d, asked := a.retryAfter(resp.Header)
			if !asked {
				d = wait
				wait *= 2
			}
			if attempt == MaxRetries || d > MaxRetryWait {
				se := a.statusError(method, path, resp.StatusCode, data)
				return fmt.Errorf("%w (%w; server asked to wait %v)", se, ErrRateLimited, d.Round(time.Second))
			}
			a.log().Info("dns provider api asks to slow down", "provider", a.Provider, "status", resp.StatusCode, "wait", d)
			if err := Sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return a.statusError(method, path, resp.StatusCode, data)
		}
		if out == nil || len(bytes.TrimSpace(data)) == 0 {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s: %s %s: malformed answer: %w", a.Provider, method, path, err)
		}
		return nil
	}
}

func (a *API) send(ctx context.Context, method, path string, hdr http.Header, body []byte) (*http.Response, error) {
	u := a.Base.String() + path
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, fmt.Errorf("%s: %s %s: %w", a.Provider, method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if a.UserAgent != "" {
		req.Header.Set("User-Agent", a.UserAgent)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if a.Authorize != nil {
		a.Authorize(req)
	}
	c := a.Client
	if c == nil {
		c = DefaultHTTPClient()
	}
	resp, err := c.Do(req)
	if err != nil {
		// url.Error includes the URL, never headers: no secret in it.
		return nil, fmt.Errorf("%s: %s %s: %w", a.Provider, method, path, err)
	}
	return resp, nil
}

func (a *API) statusError(method, path string, status int, body []byte) *StatusError {
	msg := ""
	if a.Message != nil {
		msg = a.Message(body)
	}
	if msg == "" {
		line, _, _ := strings.Cut(string(body), "\n")
		msg = line
	}
	return &StatusError{Provider: a.Provider, Method: method, Path: path, Status: status,
		Message: Sanitize(msg, 200), From: a.CredentialFrom}
}

// retryAfter reads Retry-After (seconds or an HTTP date), then
// RateLimit-Reset / X-RateLimit-Reset (a Unix time, as DigitalOcean,
// Hetzner and Linode send).
func (a *API) retryAfter(h http.Header) (time.Duration, bool) {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	if v := h.Get("Retry-After"); v != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
			return time.Duration(n) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now()), 0), true
		}
	}
	for _, k := range []string{"RateLimit-Reset", "X-RateLimit-Reset"} {
		if v := h.Get(k); v != "" {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > 0 {
				if n < 1e9 { // seconds from now (IETF draft style)
					return time.Duration(n) * time.Second, true
				}
				return max(time.Unix(n, 0).Sub(now()), 0), true
			}
		}
	}
	return 0, false
}

func (a *API) log() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}

// Sanitize makes hostile text printable on one line: control characters
// escaped, at most n bytes.
func Sanitize(s string, n int) string {
	s = clip(s, n)
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// Sleep waits d or until ctx is done (then it returns ctx.Err()).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// DecodeJSON decodes a provider's JSON answer.
func DecodeJSON(body []byte, v any) error { return json.Unmarshal(body, v) }
