// Package http01 solves http-01 challenges (RFC 8555 §8.3): Server is the
// built-in standalone responder (--http-01) and Webroot writes the answers
// into the document root of an existing web server (--webroot).
package http01

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/internal/listen"
)

// DefaultAddr is where Server listens when given no address: port 80 on all
// IPv4 and IPv6 addresses.
const DefaultAddr = ":80"

// pathPrefix is the URL path under which the CA fetches answers
// (RFC 8555 §8.3).
const pathPrefix = "/.well-known/acme-challenge/"

// Limits of the standalone responder. A CA sends one small GET per
// validation attempt, so anything slow or large is not a CA.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 10 * time.Second
	idleTimeout       = 30 * time.Second
	maxHeaderBytes    = 8 << 10
	// shutdownGrace bounds how long the last CleanUp waits for requests in
	// flight (a CA's is answered in milliseconds) before it closes the
	// connections still open, so slow clients cannot hold it up.
	shutdownGrace = time.Second
)

// ListenError is returned by Present when a listener cannot be opened. Err
// is the cause (errors.Is(err, syscall.EADDRINUSE) for a port in use).
type ListenError = listen.Error

// Server is the standalone http-01 responder. It implements
// challenges.Solver and is safe for concurrent use.
//
// Its listeners are opened by the first Present and closed when the last
// presented challenge is cleaned up, so one set of listeners serves all the
// authorizations of an order (a CA may send several concurrent validation
// requests per challenge: Pebble sends three). It answers only
// GET and HEAD /.well-known/acme-challenge/<token> for tokens currently
// presented; everything else is 404.
type Server struct {
	addrs  []string
	logger *slog.Logger

	mu     sync.Mutex
	tokens map[string]*answer // token → answer; guarded by mu
	live   *listeners         // nil when not listening; guarded by mu
}

type answer struct {
	keyAuth string
	refs    int // Present calls not yet cleaned up
}

// listeners is one generation of open listeners and their http.Server.
type listeners struct {
	srv  *http.Server
	lns  []net.Listener
	done sync.WaitGroup // Serve goroutines
}

var _ challenges.Solver = (*Server)(nil)

// NewServer returns a Server that will listen on addrs (host:port; an empty
// host means all IPv4 and IPv6 addresses), or on DefaultAddr when addrs is
// empty. It does no I/O. A nil logger discards.
func NewServer(addrs []string, logger *slog.Logger) *Server {
	if len(addrs) == 0 {
		addrs = []string{DefaultAddr}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		addrs:  append([]string(nil), addrs...),
		logger: logger,
		tokens: make(map[string]*answer),
	}
}

// Present makes the server answer ch.Token with ch.KeyAuthorization, opening
// the listeners if none are open. It returns a *ListenError when an address
// cannot be bound (then nothing stays open for this call), and an error for a
// token that is not base64url.
func (s *Server) Present(ctx context.Context, ch challenges.Challenge) error {
	if !validToken(ch.Token) {
		return fmt.Errorf("http-01: refusing token %q: not base64url", ch.Token)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.tokens[ch.Token]; ok {
		if a.keyAuth != ch.KeyAuthorization {
			return fmt.Errorf("http-01: token %s already presented with another key authorization", ch.Token)
		}
		a.refs++
		return nil
	}
	if s.live == nil {
		live, err := s.listen(ctx)
		if err != nil {
			return err
		}
		s.live = live
	}
	s.tokens[ch.Token] = &answer{keyAuth: ch.KeyAuthorization, refs: 1}
	s.logger.Debug("http-01 challenge presented", "token", ch.Token, "domain", ch.Identifier.Value)
	return nil
}

// CleanUp stops answering ch.Token. When no presented challenge remains, it
// closes the listeners, waits briefly (at most a second, bounded by ctx) for
// requests in flight and closes the connections still open. It is a no-op
// for a challenge that was not presented. It returns no error: nothing it
// does can fail (closing a listener twice is not an error).
func (s *Server) CleanUp(ctx context.Context, ch challenges.Challenge) error {
	s.mu.Lock()
	a, ok := s.tokens[ch.Token]
	if !ok || a.keyAuth != ch.KeyAuthorization {
		s.mu.Unlock()
		return nil
	}
	a.refs--
	if a.refs > 0 {
		s.mu.Unlock()
		return nil
	}
	delete(s.tokens, ch.Token)
	s.logger.Debug("http-01 challenge cleaned up", "token", ch.Token, "domain", ch.Identifier.Value)
	var live *listeners
	if len(s.tokens) == 0 {
		live = s.detach()
	}
	s.mu.Unlock()
	return s.shutdown(ctx, live)
}

// Close forgets every presented challenge and closes the listeners and
// connections as CleanUp does. The Server stays usable: a later Present
// opens new listeners.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	clear(s.tokens)
	live := s.detach()
	s.mu.Unlock()
	return s.shutdown(ctx, live)
}

// Addrs returns the addresses currently listened on (with the real port when
// one was configured as 0), or nil when no listener is open.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live == nil {
		return nil
	}
	out := make([]net.Addr, len(s.live.lns))
	for i, ln := range s.live.lns {
		out[i] = ln.Addr()
	}
	return out
}

// Lookup returns the key authorization to serve for token, if that token is
// currently presented. It does no I/O and matches LookupFunc.
func (s *Server) Lookup(_ context.Context, token string) (keyAuth string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.tokens[token]
	if !ok {
		return "", false
	}
	return a.keyAuth, true
}

// Handler returns the http.Handler the listeners serve, for mounting the
// same answers in another server.
func (s *Server) Handler() http.Handler {
	return NewHandler(s.Lookup, s.logger)
}

// listen opens every configured address. Called with s.mu held; the binds
// are quick syscalls. On error, the listeners already opened are closed.
func (s *Server) listen(ctx context.Context) (*listeners, error) {
	lns, err := listen.All(ctx, s.addrs, "http-01", "is a web server running there? use --webroot or --http-01-addr")
	if err != nil {
		return nil, err
	}
	live := &listeners{lns: lns}
	live.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
	}
	live.srv.SetKeepAlivesEnabled(false)
	for _, ln := range live.lns {
		s.logger.Info("http-01 listener started", "addr", ln.Addr().String())
		live.done.Add(1)
		go func() {
			defer live.done.Done()
			err := live.srv.Serve(ln)
			if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				s.logger.Warn("http-01 listener stopped", "addr", ln.Addr().String(), "error", err)
			}
		}()
	}
	return live, nil
}

// detach closes the current listeners (so the ports are free when it
// returns) and returns them for shutdown. Called with s.mu held.
func (s *Server) detach() *listeners {
	live := s.live
	s.live = nil
	if live == nil {
		return nil
	}
	for _, ln := range live.lns {
		_ = ln.Close()
		s.logger.Info("http-01 listener stopped", "addr", ln.Addr().String())
	}
	return live
}

// shutdown waits for the requests in flight on live (already closed for new
// connections) for up to shutdownGrace or until ctx ends, then closes the
// connections left, and waits for the Serve goroutines. Called without s.mu,
// since handlers take it. Cutting off a connection is not an error: its
// token is no longer presented, so it could only get a 404.
func (s *Server) shutdown(ctx context.Context, live *listeners) error {
	if live == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, shutdownGrace)
	defer cancel()
	if err := live.srv.Shutdown(ctx); err != nil {
		s.logger.Debug("http-01 closing connections still open", "error", err)
		_ = live.srv.Close()
	}
	live.done.Wait()
	return nil
}

// LookupFunc returns the key authorization for a token being presented.
type LookupFunc func(ctx context.Context, token string) (keyAuth string, ok bool)

// NewHandler returns the http-01 responder: GET and HEAD on
// /.well-known/acme-challenge/<token> answer lookup's key authorization as
// text/plain; every other request (other paths, methods, unknown tokens) gets
// 404. A nil logger discards.
func NewHandler(lookup LookupFunc, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, isChallenge := strings.CutPrefix(r.URL.Path, pathPrefix)
		keyAuth, ok := "", false
		if isChallenge && (r.Method == http.MethodGet || r.Method == http.MethodHead) && validToken(token) {
			keyAuth, ok = lookup(r.Context(), token)
		}
		logger.Debug("http-01 request", "method", r.Method, "host", r.Host, "path", r.URL.Path,
			"remote", r.RemoteAddr, "user_agent", r.UserAgent(), "found", ok)
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte("404 not found\n"))
			return
		}
		_, _ = w.Write([]byte(keyAuth))
	})
}

// validToken reports whether t is a non-empty base64url string without
// padding (RFC 8555 §8.1), so safe as a file name and URL path segment.
func validToken(t string) bool {
	if t == "" || len(t) > 512 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
