package v1ca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// KeyAuthMode is how a challenge POST's keyAuthorization is treated; Boulder
// changed this over time (reference §9.3).
type KeyAuthMode int

const (
	// KeyAuthRequired: must be present and correct (Boulder to 2018-03-06).
	KeyAuthRequired KeyAuthMode = iota
	// KeyAuthOptional: checked only when present (2018-03-06 to 2018-11-28).
	KeyAuthOptional
	// KeyAuthIgnored: never looked at (after 2018-11-28).
	KeyAuthIgnored
)

// Config configures a Server. The zero value of every field but Listen is
// usable.
type Config struct {
	// Listen is the loopback address to serve HTTPS on, e.g. "127.0.0.1:0".
	// Anything not on loopback is refused.
	Listen string
	// HTTP01Port is the port on 127.0.0.1 where http-01 is validated;
	// 0 means http-01 is not offered.
	HTTP01Port int
	// TLSALPN01Port is the port on 127.0.0.1 where tls-alpn-01 is validated;
	// 0 means tls-alpn-01 is not offered.
	TLSALPN01Port int
	// DNSServer is the loopback host:port asked for dns-01 TXT records;
	// "" means dns-01 is not offered.
	DNSServer string
	// Faults are armed at start, as with SetFault(name, 0).
	Faults []string
	// NoMeta omits the directory's "meta" object (and the random key), as
	// v1 servers before May 2017 did.
	NoMeta bool
	// Validity of issued certificates; 0 means 90 days.
	Validity time.Duration
	// KeyAuth is the keyAuthorization era; default KeyAuthRequired.
	KeyAuth KeyAuthMode
	// ValidationTimeout bounds one challenge validation; 0 means 10 s.
	ValidationTimeout time.Duration
	// Logger receives request and validation logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is a legacy ACME v1 CA. It is safe for concurrent use.
type Server struct {
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	nonces    *nonceStore
	issuer    *authority
	httpsRoot []byte
	tlsCert   tls.Certificate
	greaseKey string

	mu           sync.Mutex
	termsVersion int
	enforceTerms bool
	faults       map[string]int // fault → remaining uses (-1: until cleared)
	retryAfter   time.Duration
	counts       map[string]map[string]int
	regs         map[int64]*registration
	regByKey     map[string]int64
	nextRegID    int64
	authzs       map[string]*authorization
	certs        map[string]*certificate
	nextChallID  int64

	ln       net.Listener
	srv      *http.Server
	baseURL  string // https://host:port of the listener (terms URL base)
	runCtx   context.Context
	stop     context.CancelFunc
	work     sync.WaitGroup // validations in flight
	served   chan error
	downOnce sync.Once
	downErr  error
}

// ErrNotLoopback is returned for a listen or DNS address off loopback.
var ErrNotLoopback = errors.New("address is not on loopback")

// New builds a Server: it generates the HTTPS and issuing hierarchies but
// does not listen yet (see Start).
func New(cfg Config) (*Server, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if err := checkLoopback(cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen address %q: %w", cfg.Listen, err)
	}
	if cfg.DNSServer != "" {
		if err := checkLoopback(cfg.DNSServer); err != nil {
			return nil, fmt.Errorf("dns server %q: %w", cfg.DNSServer, err)
		}
	}
	for _, p := range []int{cfg.HTTP01Port, cfg.TLSALPN01Port} {
		if p < 0 || p > 65535 {
			return nil, fmt.Errorf("challenge port %d out of range", p)
		}
	}
	if cfg.HTTP01Port == 0 && cfg.TLSALPN01Port == 0 && cfg.DNSServer == "" {
		return nil, errors.New("no challenge type configured: set an http-01 port, a tls-alpn-01 port or a DNS server")
	}
	if cfg.Validity == 0 {
		cfg.Validity = 90 * 24 * time.Hour
	}
	if cfg.Validity < time.Minute {
		return nil, fmt.Errorf("validity %v too short", cfg.Validity)
	}
	if cfg.ValidationTimeout == 0 {
		cfg.ValidationTimeout = 10 * time.Second
	}
	s := &Server{
		cfg:          cfg,
		log:          cfg.Logger,
		now:          cfg.Now,
		nonces:       newNonceStore(),
		termsVersion: 1,
		faults:       make(map[string]int),
		retryAfter:   60 * time.Second,
		counts:       make(map[string]map[string]int),
		regs:         make(map[int64]*registration),
		regByKey:     make(map[string]int64),
		nextRegID:    1,
		authzs:       make(map[string]*authorization),
		certs:        make(map[string]*certificate),
		nextChallID:  1,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	// Validations run under runCtx, cancelled by Shutdown.
	s.runCtx, s.stop = context.WithCancel(context.Background())
	for _, f := range cfg.Faults {
		if err := s.SetFault(f, 0); err != nil {
			return nil, err
		}
	}
	now := s.now()
	var err error
	if s.issuer, err = newIssuingAuthority(now); err != nil {
		return nil, fmt.Errorf("issuing CA: %w", err)
	}
	rootDER, leafDER, leafKey, err := newHTTPSIdentity(now)
	if err != nil {
		return nil, fmt.Errorf("HTTPS identity: %w", err)
	}
	s.httpsRoot = rootDER
	s.tlsCert = tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}
	if s.greaseKey, err = randomToken(8); err != nil {
		return nil, err
	}
	return s, nil
}

func checkLoopback(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return ErrNotLoopback
	}
	return nil
}

// Start listens on cfg.Listen and serves in the background until ctx is done
// or Shutdown is called.
func (s *Server) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return fmt.Errorf("listen on %v: %w", ln.Addr(), ErrNotLoopback)
	}
	s.ln = ln
	s.baseURL = "https://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{s.tlsCert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.served = make(chan error, 1)
	go func() { s.served <- s.srv.ServeTLS(ln, "", "") }()
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = s.Shutdown(sctx)
		case <-s.runCtx.Done():
		}
	}()
	s.log.Info("v1 test CA listening", "directory", s.DirectoryURL())
	return nil
}

// Shutdown stops serving, cancels validations in flight and waits for them.
// Later calls return the first call's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.downOnce.Do(func() { s.downErr = s.shutdown(ctx) })
	return s.downErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.stop()
	var err error
	if s.srv != nil {
		err = s.srv.Shutdown(ctx)
	}
	done := make(chan struct{})
	go func() { s.work.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("wait for validations: %w", ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if s.srv == nil {
		return nil
	}
	if serr := <-s.served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serr)
	}
	return nil
}

// DirectoryURL is the directory's URL (valid after Start).
func (s *Server) DirectoryURL() string { return s.baseURL + "/directory" }

// BaseURL is https://host:port of the listener (valid after Start).
func (s *Server) BaseURL() string { return s.baseURL }

// HTTPSRootPEM is the PEM root that signed the CA's HTTPS certificate.
func (s *Server) HTTPSRootPEM() []byte { return pemCert(s.httpsRoot) }

// IssuerRootPEM is the PEM root of the certificates the CA issues.
func (s *Server) IssuerRootPEM() []byte { return pemCert(s.issuer.rootDER) }

// IssuerIntermediate is the intermediate certificate served at issuer-cert.
func (s *Server) IssuerIntermediate() *x509.Certificate { return s.issuer.inter }

// HTTPClient returns a client that trusts the CA's HTTPS root (for tests).
func (s *Server) HTTPClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.HTTPSRootPEM())
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Proxy: nil},
	}
}

// termsURL is the current subscriber agreement URL. Caller holds s.mu.
func (s *Server) termsURLLocked() string {
	return fmt.Sprintf("%s/documents/subscriber-agreement-v%d.txt", s.baseURL, s.termsVersion)
}

// TermsURL is the current subscriber agreement URL.
func (s *Server) TermsURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.termsURLLocked()
}

// Handler serves the ACME v1 API and the /_testca/ management API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/_testca/", s.handleManagement)
	mux.HandleFunc("/documents/", s.handleTermsDocument)
	mux.HandleFunc("/terms", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, s.TermsURL(), http.StatusFound)
	})
	mux.HandleFunc("/", s.handleACME)
	return mux
}

func (s *Server) handleTermsDocument(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	cur := s.termsURLLocked()
	s.mu.Unlock()
	if !strings.HasSuffix(cur, r.URL.Path) && !strings.HasPrefix(r.URL.Path, "/documents/subscriber-agreement-v") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "acmectl test CA subscriber agreement (%s). Test use only; nothing issued here is trusted.\n", r.URL.Path)
}

// endpoint describes one ACME route.
type endpoint struct {
	name     string // counter key and resource name
	get      bool   // GET/HEAD allowed
	post     bool
	resource string // expected "resource" in POST payloads
}

// route maps a path to its endpoint and the path's trailing ids.
func route(path string) (endpoint, []string, bool) {
	switch path {
	case "/directory":
		return endpoint{name: "directory", get: true}, nil, true
	case "/acme/new-reg":
		return endpoint{name: "new-reg", post: true, resource: "new-reg"}, nil, true
	case "/acme/new-authz":
		return endpoint{name: "new-authz", post: true, resource: "new-authz"}, nil, true
	case "/acme/new-cert":
		return endpoint{name: "new-cert", post: true, resource: "new-cert"}, nil, true
	case "/acme/revoke-cert":
		return endpoint{name: "revoke-cert", post: true, resource: "revoke-cert"}, nil, true
	case "/acme/key-change":
		return endpoint{name: "key-change", post: true, resource: "key-change"}, nil, true
	case "/acme/issuer-cert":
		return endpoint{name: "issuer-cert", get: true}, nil, true
	}
	rest, ok := strings.CutPrefix(path, "/acme/")
	if !ok {
		return endpoint{}, nil, false
	}
	parts := strings.Split(rest, "/")
	switch {
	case parts[0] == "reg" && len(parts) == 2:
		return endpoint{name: "reg", post: true, resource: "reg"}, parts[1:], true
	case parts[0] == "authz" && len(parts) == 2:
		return endpoint{name: "authz", get: true, post: true, resource: "authz"}, parts[1:], true
	case parts[0] == "challenge" && len(parts) == 3:
		return endpoint{name: "challenge", get: true, post: true, resource: "challenge"}, parts[1:], true
	case parts[0] == "cert" && len(parts) == 2:
		return endpoint{name: "cert", get: true}, parts[1:], true
	}
	return endpoint{}, nil, false
}

// maxBody is Boulder's POST body limit (2020+).
const maxBody = 50000

func (s *Server) handleACME(w http.ResponseWriter, r *http.Request) {
	ep, ids, ok := route(r.URL.Path)
	if !ok {
		// Boulder's index page and unknown paths carried no nonce.
		if r.URL.Path == "/" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "acmectl legacy ACME v1 test CA. Directory: %s/directory\n", origin(r))
			return
		}
		http.NotFound(w, r)
		return
	}
	s.count(ep.name, r.Method)
	h := w.Header()
	h.Set("Cache-Control", "public, max-age=0, no-cache")
	if n, err := s.nonces.issue(); err == nil {
		h.Set("Replay-Nonce", n)
	}
	if s.takeFault("5xx") {
		s.writeProblem(w, r, internalError("injected fault: 5xx"))
		return
	}
	var allow []string
	if ep.get {
		allow = append(allow, "GET", "HEAD")
	}
	if ep.post {
		allow = append(allow, "POST")
	}
	switch {
	case (r.Method == http.MethodGet || r.Method == http.MethodHead) && ep.get:
		s.serveGET(w, r, ep, ids)
	case r.Method == http.MethodPost && ep.post:
		s.servePOST(w, r, ep, ids)
	default:
		h.Set("Allow", strings.Join(allow, ", "))
		s.writeProblem(w, r, problem(probMalformed, http.StatusMethodNotAllowed, "Method not allowed"))
	}
}

func (s *Server) serveGET(w http.ResponseWriter, r *http.Request, ep endpoint, ids []string) {
	switch ep.name {
	case "directory":
		s.getDirectory(w, r)
	case "issuer-cert":
		w.Header().Set("Content-Type", "application/pkix-cert")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(s.issuer.interDER)
		}
	case "authz":
		s.getAuthz(w, r, ids[0])
	case "challenge":
		s.getChallenge(w, r, ids[0], ids[1])
	case "cert":
		s.getCert(w, r, ids[0])
	}
}

func (s *Server) servePOST(w http.ResponseWriter, r *http.Request, ep endpoint, ids []string) {
	req, prob := s.verifyPOST(r, ep)
	if prob != nil {
		s.writeProblem(w, r, prob)
		return
	}
	if req.reg != nil {
		w.Header().Set("Boulder-Requester", fmt.Sprint(req.reg.ID))
	}
	switch ep.name {
	case "new-reg":
		s.postNewReg(w, r, req)
	case "reg":
		s.postReg(w, r, req, ids[0])
	case "new-authz":
		s.postNewAuthz(w, r, req)
	case "authz":
		s.postAuthz(w, r, req, ids[0])
	case "challenge":
		s.postChallenge(w, r, req, ids[0], ids[1])
	case "new-cert":
		s.postNewCert(w, r, req)
	case "revoke-cert":
		s.postRevoke(w, r, req)
	case "key-change":
		s.postKeyChange(w, r, req)
	}
}

// origin is scheme://host of the request, for absolute URLs (reference §3.2).
func origin(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

func (s *Server) getDirectory(w http.ResponseWriter, r *http.Request) {
	o := origin(r)
	dir := map[string]any{
		"new-reg":     o + "/acme/new-reg",
		"new-authz":   o + "/acme/new-authz",
		"new-cert":    o + "/acme/new-cert",
		"revoke-cert": o + "/acme/revoke-cert",
	}
	// certbot < 0.6 got only the four original keys (reference §4).
	if !strings.HasPrefix(r.UserAgent(), "LetsEncryptPythonClient") {
		dir["key-change"] = o + "/acme/key-change"
		if !s.cfg.NoMeta {
			dir["meta"] = map[string]any{
				"terms-of-service": s.TermsURL(),
				"website":          o + "/",
				"caaIdentities":    []string{"acmectl-testca.invalid"},
			}
			dir[s.greaseKey] = "https://community.letsencrypt.org/t/adding-random-entries-to-the-directory/33417"
		}
	}
	s.writeJSON(w, r, http.StatusOK, dir)
}

func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		s.writeProblem(w, r, internalError("encode response: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	s.log.Debug("problem", "method", r.Method, "path", r.URL.Path, "type", p.Type, "status", p.Status, "detail", p.Detail)
	b, _ := json.MarshalIndent(p, "", "  ")
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

func (s *Server) count(ep, method string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.counts[ep]
	if m == nil {
		m = make(map[string]int)
		s.counts[ep] = m
	}
	m[method]++
}

func addLink(w http.ResponseWriter, url, rel string) {
	w.Header().Add("Link", fmt.Sprintf("<%s>;rel=%q", url, rel))
}
