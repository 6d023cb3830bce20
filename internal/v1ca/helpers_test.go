package v1ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// startCA starts a Server on 127.0.0.1:0 and stops it at cleanup.
func startCA(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.HTTP01Port == 0 && cfg.TLSALPN01Port == 0 && cfg.DNSServer == "" {
		cfg.HTTP01Port = 1 // offered, never reached in these tests
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context5s()
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// client is a minimal hand-rolled v1 client for protocol tests.
type client struct {
	t     *testing.T
	s     *Server
	hc    *http.Client
	key   crypto.Signer
	mu    sync.Mutex
	nonce string
}

func newECKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newRSAKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newClient(t *testing.T, s *Server, key crypto.Signer) *client {
	return &client{t: t, s: s, hc: s.HTTPClient(), key: key}
}

func (c *client) url(path string) string { return c.s.BaseURL() + path }

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) problem(t *testing.T) Problem {
	t.Helper()
	var p Problem
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q; want application/problem+json (status %d, body %s)", ct, r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %q: %v", r.body, err)
	}
	if p.Status != r.status {
		t.Errorf("problem status %d != HTTP status %d", p.Status, r.status)
	}
	return p
}

func (r *response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (c *client) do(req *http.Request) *response {
	c.t.Helper()
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	if n := res.Header.Get("Replay-Nonce"); n != "" {
		c.mu.Lock()
		c.nonce = n
		c.mu.Unlock()
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}
}

func (c *client) get(method, url string) *response {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), method, url, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(req)
}

// Nonce implements jose.NonceSource from the last response (or HEAD directory).
func (c *client) Nonce() (string, error) {
	c.mu.Lock()
	n := c.nonce
	c.nonce = ""
	c.mu.Unlock()
	if n != "" {
		return n, nil
	}
	r := c.get(http.MethodHead, c.url("/directory"))
	c.mu.Lock()
	defer c.mu.Unlock()
	n, c.nonce = c.nonce, ""
	_ = r
	return n, nil
}

func algFor(key crypto.Signer) jose.SignatureAlgorithm {
	if _, ok := key.(*rsa.PrivateKey); ok {
		return jose.RS256
	}
	if k := key.(*ecdsa.PrivateKey); k.Curve == elliptic.P384() {
		return jose.ES384
	}
	return jose.ES256
}

// sign makes a flattened JWS of payload with key (nonce from c when withNonce).
func (c *client) sign(key crypto.Signer, payload []byte, withNonce bool) []byte {
	c.t.Helper()
	opts := &jose.SignerOptions{EmbedJWK: true}
	if withNonce {
		opts.NonceSource = c
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: algFor(key), Key: key}, opts)
	if err != nil {
		c.t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		c.t.Fatal(err)
	}
	return []byte(jws.FullSerialize())
}

func (c *client) postRaw(url string, body []byte) *response {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/jose+json")
	return c.do(req)
}

// post signs v (a map or struct) with c.key and POSTs it.
func (c *client) post(url string, v any) *response {
	c.t.Helper()
	return c.postKey(c.key, url, v)
}

func (c *client) postKey(key crypto.Signer, url string, v any) *response {
	c.t.Helper()
	payload, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.postRaw(url, c.sign(key, payload, true))
}

func want(t *testing.T, r *response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d; want %d; body %s", r.status, status, r.body)
	}
}

// register creates a registration that agreed to the current terms.
func (c *client) register() string {
	c.t.Helper()
	r := c.post(c.url("/acme/new-reg"), map[string]any{"resource": "new-reg", "contact": []string{"mailto:ops@example.org"}, "agreement": c.s.TermsURL()})
	want(c.t, r, http.StatusCreated)
	return r.header.Get("Location")
}

// http01Responder serves key authorizations on 127.0.0.1:0.
type http01Responder struct {
	mu    sync.Mutex
	files map[string]string
	port  int
}

func startHTTP01(t *testing.T) *http01Responder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &http01Responder{files: map[string]string{}, port: ln.Addr().(*net.TCPAddr).Port}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		v, ok := h.files[strings.TrimPrefix(r.URL.Path, "/.well-known/acme-challenge/")]
		h.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, v+"\n")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return h
}

func (h *http01Responder) set(token, keyAuth string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.files[token] = keyAuth
}
