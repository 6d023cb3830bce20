// Package tlsalpn01 solves tls-alpn-01 challenges (RFC 8737, and RFC 8738
// for IP identifiers) with a built-in TLS listener (--tls-alpn-01).
package tlsalpn01

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/internal/listen"
)

// DefaultAddr is where Server listens when given no address: port 443 on all
// IPv4 and IPv6 addresses.
const DefaultAddr = ":443"

// Limits of the responder (see Serve). A CA connects, sends its ClientHello
// at once and is done within milliseconds; anything else is not a CA.
const (
	// helloTimeout bounds the wait for the ClientHello after accept.
	helloTimeout = 3 * time.Second
	// handshakeTimeout bounds one connection from accept to close.
	handshakeTimeout = 10 * time.Second
	// quietAge is how long a connection may send nothing before it may be
	// closed to make room for a new one.
	quietAge = time.Second
	// maxConnsPerSource and maxConns are where the responder starts closing
	// quiet connections, of one IPv4 address or IPv6 /64 and of all
	// sources; maxConnsHard is where it closes one whatever its age.
	maxConnsPerSource = 64
	maxConns          = 256
	maxConnsHard      = 1024
)

// ListenError is returned by Present when a listener cannot be opened. Err
// is the cause (errors.Is(err, syscall.EADDRINUSE) for a port in use).
type ListenError = listen.Error

// Server is the tls-alpn-01 responder. It implements challenges.Solver and
// is safe for concurrent use.
//
// Its listeners are opened by the first Present and closed when the last
// presented challenge is cleaned up, so one set of listeners serves all the
// authorizations of an order. It completes only TLS handshakes that offer
// the ALPN protocol acme-tls/1 and name, in SNI, an identifier currently
// presented; it answers with that challenge's certificate (see Certificate)
// and closes the connection after the handshake (RFC 8737 §3). Any other
// handshake fails.
type Server struct {
	addrs  []string
	logger *slog.Logger
	limits limits

	mu      sync.Mutex
	byToken map[string]*entry // guarded by mu
	bySNI   map[string]*entry // the latest presented entry per SNI name; guarded by mu
	live    *listeners        // nil when not listening; guarded by mu
}

type entry struct {
	token, keyAuth, sni string
	cert                *tls.Certificate
	refs                int
}

// listeners is one generation of open listeners.
type listeners struct {
	lns    []net.Listener
	ctx    context.Context // cancelled when the generation is closed
	cancel context.CancelFunc
	wg     sync.WaitGroup
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
		addrs:   append([]string(nil), addrs...),
		logger:  logger,
		limits:  defaultLimits(),
		byToken: make(map[string]*entry),
		bySNI:   make(map[string]*entry),
	}
}

// Present generates the challenge certificate for ch (a fresh P-256 key) and
// serves it, opening the listeners if none are open. It returns a
// *ListenError when an address cannot be bound (then nothing stays open for
// this call), and an error for a wildcard or an unusable identifier.
func (s *Server) Present(ctx context.Context, ch challenges.Challenge) error {
	if ch.Token == "" {
		return errors.New("tls-alpn-01: empty token")
	}
	sni, err := ServerName(ch.Identifier)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if e, ok := s.byToken[ch.Token]; ok {
		defer s.mu.Unlock()
		if e.keyAuth != ch.KeyAuthorization || e.sni != sni {
			return fmt.Errorf("tls-alpn-01: token %s already presented for another challenge", ch.Token)
		}
		e.refs++
		return nil
	}
	s.mu.Unlock()

	cert, err := Certificate(ch) // outside the lock: key generation
	if err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byToken[ch.Token]; ok { // presented concurrently meanwhile
		if e.keyAuth != ch.KeyAuthorization || e.sni != sni {
			return fmt.Errorf("tls-alpn-01: token %s already presented for another challenge", ch.Token)
		}
		e.refs++
		return nil
	}
	if s.live == nil {
		live, err := s.listen(ctx)
		if err != nil {
			return err
		}
		s.live = live
	}
	e := &entry{token: ch.Token, keyAuth: ch.KeyAuthorization, sni: sni, cert: cert, refs: 1}
	if old, ok := s.bySNI[sni]; ok {
		s.logger.Warn("tls-alpn-01 name presented twice; serving the newer challenge",
			"domain", ch.Identifier.Value, "old_token", old.token, "token", ch.Token)
	}
	s.byToken[ch.Token] = e
	s.bySNI[sni] = e
	s.logger.Debug("tls-alpn-01 challenge presented", "domain", ch.Identifier.Value, "sni", sni, "token", ch.Token)
	return nil
}

// CleanUp stops serving ch's certificate. When no presented challenge
// remains, it closes the listeners, aborts handshakes in flight and waits for
// their goroutines. It is a no-op for a challenge that was not presented.
func (s *Server) CleanUp(_ context.Context, ch challenges.Challenge) error {
	s.mu.Lock()
	e, ok := s.byToken[ch.Token]
	if !ok || e.keyAuth != ch.KeyAuthorization {
		s.mu.Unlock()
		return nil
	}
	e.refs--
	if e.refs > 0 {
		s.mu.Unlock()
		return nil
	}
	delete(s.byToken, e.token)
	if s.bySNI[e.sni] == e {
		delete(s.bySNI, e.sni)
		// Fall back to another challenge still presented for the name.
		for _, other := range s.byToken {
			if other.sni == e.sni {
				s.bySNI[e.sni] = other
				break
			}
		}
	}
	s.logger.Debug("tls-alpn-01 challenge cleaned up", "domain", ch.Identifier.Value, "token", ch.Token)
	var live *listeners
	if len(s.byToken) == 0 {
		live = s.detach()
	}
	s.mu.Unlock()
	if live != nil {
		live.wg.Wait()
	}
	return nil
}

// Close forgets every presented challenge, closes the listeners and aborts
// handshakes in flight. The Server stays usable: a later Present opens new
// listeners. ctx is unused (handshakes are aborted, not awaited); it keeps
// the signature of http01.Server.Close.
func (s *Server) Close(_ context.Context) error {
	s.mu.Lock()
	clear(s.byToken)
	clear(s.bySNI)
	live := s.detach()
	s.mu.Unlock()
	if live != nil {
		live.wg.Wait()
	}
	return nil
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

// TLSConfig returns the configuration the listeners use, for serving the
// same challenges from another TLS listener: TLS 1.2 or later, ALPN
// acme-tls/1 only, and GetCertificate.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{Protocol},
		GetCertificate: s.GetCertificate,
	}
}

// GetCertificate returns the challenge certificate for hello's SNI name, or
// an error (failing the handshake) when hello does not offer acme-tls/1 or
// names no presented identifier. It does no I/O.
func (s *Server) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if !slices.Contains(hello.SupportedProtos, Protocol) {
		return nil, fmt.Errorf("tls-alpn-01: client did not offer ALPN %s", Protocol)
	}
	sni := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.bySNI[sni]
	if !ok {
		return nil, fmt.Errorf("tls-alpn-01: no challenge presented for server name %q", hello.ServerName)
	}
	return e.cert, nil
}

// listen opens every configured address. Called with s.mu held; the binds
// are quick syscalls. On error, the listeners already opened are closed.
func (s *Server) listen(ctx context.Context) (*listeners, error) {
	lns, err := listen.All(ctx, s.addrs, "tls-alpn-01", "is a TLS server running there? use --tls-alpn-01-addr or another challenge")
	if err != nil {
		return nil, err
	}
	// The listeners outlive the Present call: not derived from ctx.
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	live := &listeners{lns: lns, ctx: lctx, cancel: cancel}
	cfg := s.TLSConfig()
	for _, ln := range lns {
		s.logger.Info("tls-alpn-01 listener started", "addr", ln.Addr().String())
		live.wg.Go(func() { serve(lctx, ln, cfg, s.logger, s.limits) })
	}
	return live, nil
}

// detach closes the current listeners (so the ports are free when it
// returns) and aborts their handshakes. Called with s.mu held; the caller
// waits on the returned generation's wg after unlocking.
func (s *Server) detach() *listeners {
	live := s.live
	s.live = nil
	if live == nil {
		return nil
	}
	live.cancel()
	for _, ln := range live.lns {
		_ = ln.Close()
		s.logger.Info("tls-alpn-01 listener stopped", "addr", ln.Addr().String())
	}
	return live
}
