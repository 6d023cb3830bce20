// Package client is acmectl's ACME protocol core: the directory, JWS
// signing, nonces, accounts, the order workflow and revocation, for RFC 8555
// and (in the v1*.go files, deletable as a whole) the legacy pre-IETF ACME
// that Boulder served at its v1 endpoints. The dialect is chosen once from
// the directory, behind the unexported dialect interface.
//
// Every byte from the server is treated as hostile: bodies are size-capped,
// URLs must be https (http only when the directory itself is http on
// loopback), tokens and identifiers are checked against their grammar, and
// certificates are verified against the order before they are returned.
//
// A Client is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Config's zero values.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxRetryAfter  = 24 * time.Hour
	DefaultMaxBody        = 1 << 20 // 1 MiB: certificate chains are the largest bodies
	maxBadNonceRetries    = 24
	maxTransientRetries   = 3
)

// Config configures a Client. Only DirectoryURL is required.
type Config struct {
	DirectoryURL string
	// Version forces a dialect: "auto" (or ""), "1" or "2".
	Version string
	// HTTPClient is used for all requests; nil builds one from RootCAs.
	// Redirects are never followed for signed requests.
	HTTPClient *http.Client
	// RootCAs replaces the system roots when HTTPClient is nil.
	RootCAs *x509.CertPool
	// ExtraRoots (--ca-bundle), when HTTPClient and RootCAs are nil, are
	// trusted besides the system roots, which are then loaded only if a
	// chain does not verify against ExtraRoots alone
	// (NewHTTPClientExtraRoots).
	ExtraRoots []*x509.Certificate

	UserAgent string
	Logger    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RequestTimeout bounds one HTTP exchange; MaxRetryAfter clamps every
	// Retry-After; MaxBody caps every response body.
	RequestTimeout time.Duration
	MaxRetryAfter  time.Duration
	MaxBody        int64
	// OrderTimeout bounds one Obtain (every poll and wait of the order);
	// zero means DefaultOrderTimeout.
	OrderTimeout time.Duration
	// Failpoint, if set, is called at named steps of the workflow (tests
	// use it to pause or kill the process there). See failpoint names in
	// order.go.
	Failpoint func(ctx context.Context, name string)
}

// Client talks to one ACME server.
type Client struct {
	cfg    Config
	http   *http.Client
	log    *slog.Logger
	now    func() time.Time
	nonces noncePool

	// loopbackHTTP is true when the directory itself is http:// on a
	// loopback address, the one case plain http is allowed.
	loopbackHTTP bool
	dirURL       *url.URL

	dirOnce sync.Mutex
	dir     *Directory
	d       dialect

	requests atomic.Int64

	// sleep waits between retries (sleepCtx; tests record the waits).
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a Client. It does no I/O: the directory is fetched by the
// first call that needs it.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.DirectoryURL)
	if err != nil || u.Host == "" || !u.IsAbs() {
		return nil, &ConfigError{fmt.Sprintf("directory URL %q is not an absolute URL", cfg.DirectoryURL)}
	}
	if u.User != nil {
		return nil, &ConfigError{"directory URL must not contain user information"}
	}
	c := &Client{cfg: cfg, dirURL: u, sleep: sleepCtx}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return nil, &ConfigError{fmt.Sprintf("directory URL %s: plain http is allowed only on loopback (RFC 8555 §6.1)", cfg.DirectoryURL)}
		}
		c.loopbackHTTP = true
	default:
		return nil, &ConfigError{fmt.Sprintf("directory URL %s: scheme must be https", cfg.DirectoryURL)}
	}
	switch cfg.Version {
	case "", "auto", "1", "2":
	default:
		return nil, &ConfigError{fmt.Sprintf("ACME version %q: want auto, 1 or 2", cfg.Version)}
	}
	c.log = cfg.Logger
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.now = cfg.Now
	if c.now == nil {
		c.now = time.Now
	}
	if c.cfg.RequestTimeout <= 0 {
		c.cfg.RequestTimeout = DefaultRequestTimeout
	}
	if c.cfg.MaxRetryAfter <= 0 {
		c.cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if c.cfg.MaxBody <= 0 {
		c.cfg.MaxBody = DefaultMaxBody
	}
	if c.cfg.OrderTimeout <= 0 {
		c.cfg.OrderTimeout = DefaultOrderTimeout
	}
	if c.cfg.UserAgent == "" {
		c.cfg.UserAgent = "acmectl"
	}
	c.http = cfg.HTTPClient
	if c.http == nil && cfg.RootCAs == nil && len(cfg.ExtraRoots) > 0 {
		c.http = NewHTTPClientExtraRoots(cfg.ExtraRoots)
	}
	if c.http == nil {
		c.http = NewHTTPClient(cfg.RootCAs)
	}
	return c, nil
}

// NewHTTPClient returns an HTTP client for ACME: TLS 1.2+ verified against
// roots (nil: system roots), proxies from the environment, kept-alive
// connections, and no redirects.
func NewHTTPClient(roots *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 8
	tr.ResponseHeaderTimeout = DefaultRequestTimeout
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Requests is the number of HTTP requests this client has sent.
func (c *Client) Requests() int64 { return c.requests.Load() }

// DirectoryURL is the configured directory URL.
func (c *Client) DirectoryURL() string { return c.cfg.DirectoryURL }

func (c *Client) failpoint(ctx context.Context, name string) {
	if c.cfg.Failpoint != nil {
		c.cfg.Failpoint(ctx, name)
	}
}

func isLoopbackHost(h string) bool {
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func isPrivateHost(h string) bool {
	if isLoopbackHost(h) {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && (ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsLinkLocalMulticast())
}

// checkURL vets a URL that came from the server before any use.
func (c *Client) checkURL(raw, what string) (*url.URL, error) {
	bad := func(why string) error {
		return &ProtocolError{URL: c.cfg.DirectoryURL, What: fmt.Sprintf("%s URL %q %s", what, Sanitize(raw, 200), why)}
	}
	if raw == "" {
		return nil, bad("is missing")
	}
	if len(raw) > 2048 {
		return nil, bad("is too long")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, bad("does not parse")
	}
	if !u.IsAbs() || u.Host == "" {
		return nil, bad("is not absolute")
	}
	if u.User != nil {
		return nil, bad("contains user information")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !c.loopbackHTTP || !isLoopbackHost(u.Hostname()) {
			return nil, bad("is not https")
		}
	default:
		return nil, bad("is not https")
	}
	if isPrivateHost(u.Hostname()) && !isPrivateHost(c.dirURL.Hostname()) {
		return nil, bad("points to a private or loopback address while the directory is public")
	}
	return u, nil
}

// response is a size-capped HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
	url    string
}

func (r *response) location() string { return r.header.Get("Location") }

// do sends one request, reads the capped body and feeds the nonce pool.
// Network errors and timeouts come back as *TemporaryError.
func (c *Client) do(ctx context.Context, method, rawURL string, body []byte, contentType, accept string) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, rawURL, err)
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.Header.Set("Accept-Language", "en")
	c.requests.Add(1)
	start := c.now()
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := context.Cause(ctx); errors.Is(ctxErr, context.Canceled) && errors.Is(err, context.Canceled) {
			return nil, err
		}
		// The machine's trust or the URL is wrong, not the CA's state: a
		// configuration error, not worth retrying.
		var cerr *tls.CertificateVerificationError
		if errors.As(err, &cerr) {
			return nil, &ConfigError{Msg: fmt.Sprintf("%s %s: the server's TLS certificate is not trusted (%s): add the CA's root with --ca-bundle FILE", method, Sanitize(rawURL, 200), Sanitize(cerr.Err.Error(), 200))}
		}
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
			return nil, &ConfigError{Msg: fmt.Sprintf("%s %s: the server does not speak TLS on that port (is the URL http://, or the port wrong?)", method, Sanitize(rawURL, 200))}
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, &TemporaryError{Err: fmt.Errorf("%s %s: %w", method, Sanitize(rawURL, 200), err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBody+1))
	if err == nil && ctx.Err() != nil {
		// Our own deadline or cancellation may cut a body short without a
		// read error (the server ends its answer when the connection
		// goes): that body is not the server's, so not its protocol error.
		err = context.Cause(ctx)
	}
	if err != nil {
		var te *TemporaryError
		if errors.As(err, &te) {
			return nil, err // the order's deadline, with its own message
		}
		return nil, &TemporaryError{Err: fmt.Errorf("%s %s: reading response: %w", method, Sanitize(rawURL, 200), err)}
	}
	if int64(len(data)) > c.cfg.MaxBody {
		return nil, &ProtocolError{URL: rawURL, What: fmt.Sprintf("response body larger than %d bytes", c.cfg.MaxBody)}
	}
	if n := resp.Header.Get("Replay-Nonce"); n != "" {
		c.nonces.put(n)
	}
	c.log.Debug("http", "method", method, "url", rawURL, "status", resp.StatusCode, "bytes", len(data), "took", c.now().Sub(start))
	return &response{status: resp.StatusCode, header: resp.Header, body: data, url: rawURL}, nil
}

// get fetches an unauthenticated resource (directory, newNonce), retrying
// transient failures a few times with a short backoff.
func (c *Client) get(ctx context.Context, rawURL, accept string) (*response, error) {
	var lastErr error
	for attempt := range maxTransientRetries {
		if attempt > 0 {
			if err := c.waitRetry(ctx, attempt, lastErr); err != nil {
				return nil, err
			}
		}
		resp, err := c.do(ctx, http.MethodGet, rawURL, nil, "", accept)
		if err != nil {
			lastErr = err
			var te *TemporaryError
			if errors.As(err, &te) {
				continue
			}
			return nil, err
		}
		if resp.status >= 500 {
			lastErr = c.problemError(resp)
			continue
		}
		if resp.status >= 300 {
			return nil, c.problemError(resp)
		}
		return resp, nil
	}
	return nil, lastErr
}

// problemError turns an error response into a *Problem, wrapped in a
// *TemporaryError for 5xx and 429.
func (c *Client) problemError(resp *response) error {
	p := parseProblem(resp.status, resp.body, resp.url)
	if resp.status >= 300 && resp.status < 400 {
		p.Detail = fmt.Sprintf("unexpected redirect (HTTP %d); redirects are not followed", resp.status)
		return &ProtocolError{URL: resp.url, What: p.Detail}
	}
	p.RetryAfter = parseRetryAfter(resp.header.Get("Retry-After"), c.now(), c.cfg.MaxRetryAfter)
	if u, ok := pausedProblem(p, resp.header.Get("Retry-After") != ""); ok {
		return &PausedError{Problem: p, UnpauseURL: u}
	}
	if ag := accountGone(p); ag != nil && resp.status < 500 {
		return ag
	}
	if resp.status >= 500 || resp.status == http.StatusTooManyRequests || p.Has(ProblemRateLimited) {
		return &TemporaryError{Err: p, RetryAfter: p.RetryAfter}
	}
	return p
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// waitRetry waits before retry attempt n of a transient failure, or returns
// lastErr when the server asked for more than an in-run wait
// (MaxInRunRetryAfter) or for a time past the context's deadline.
func (c *Client) waitRetry(ctx context.Context, attempt int, lastErr error) error {
	if ra := RetryAfterOf(lastErr); !ra.IsZero() {
		if ra.Sub(c.now()) > MaxInRunRetryAfter {
			return lastErr
		}
		if dl, ok := ctx.Deadline(); ok && ra.After(dl) {
			return lastErr
		}
	}
	return c.sleep(ctx, backoffDelay(attempt, lastErr, c.now()))
}

// MaxInRunRetryAfter is the longest Retry-After a run waits for before
// retrying an idempotent request (directory, nonce, POST-as-GET) after a
// transient failure. Boulder (Let's Encrypt) sends "Retry-After: 60" with
// every 500, so a transient 500 while polling costs a minute, not the run;
// a longer wish ends the run and is recorded for the next one.
const MaxInRunRetryAfter = 2 * time.Minute

// backoffDelay is the wait before retry attempt n (1-based) after err:
// the server's Retry-After when it gave one (at most MaxInRunRetryAfter),
// else 200 ms doubling.
func backoffDelay(attempt int, err error, now time.Time) time.Duration {
	if ra := RetryAfterOf(err); !ra.IsZero() {
		return min(ra.Sub(now), MaxInRunRetryAfter)
	}
	return time.Duration(200<<(attempt-1)) * time.Millisecond
}
