package fleet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/http01"
	"github.com/acmectl/acmectl/challenges/tlsalpn01"
	"github.com/acmectl/acmectl/internal/fleet/kv"
)

// Publisher is a challenges.Solver for http-01 or tls-alpn-01 that
// publishes the answer in etcd (attached to the order's lock lease,
// conditioned on holding the lock, and authenticated with a MAC under the
// storage key) so that the responder on whichever host the CA reaches can
// answer. It also tries to open a local responder
// on Addrs; an address already in use (typically by this host's daemon,
// which answers from etcd too) is not an error.
type Publisher struct {
	Type  string // challenges.HTTP01 or challenges.TLSALPN01
	Lock  *Lock
	Addrs []string // local listen addresses; may be empty
	Log   *slog.Logger

	mu    sync.Mutex
	local *Responder
	refs  int
}

var _ challenges.Solver = (*Publisher)(nil)

func (p *Publisher) log() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Log
}

// Present publishes the answer and opens the local responder if it can.
func (p *Publisher) Present(ctx context.Context, ch challenges.Challenge) error {
	k, v, err := p.Lock.f.answerKey(p.Type, ch)
	if err != nil {
		return err
	}
	if err := p.Lock.Txn(ctx, kv.PutWithLockLease(k, v)); err != nil {
		return fmt.Errorf("%s: publish answer: %w", p.Type, err)
	}
	p.log().Debug("challenge published in etcd", "challenge_type", p.Type, "domain", ch.Identifier.Value)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refs++
	if p.local == nil {
		addrs := slices.DeleteFunc(slices.Clone(p.Addrs), func(a string) bool { return a == fleetOnlyAddr })
		if len(addrs) > 0 {
			r := &Responder{Fleet: p.Lock.f, Log: p.Log}
			if p.Type == challenges.HTTP01 {
				r.HTTPAddrs = addrs
			} else {
				r.TLSALPNAddrs = addrs
			}
			if err := r.Start(ctx); err != nil {
				if !errors.Is(err, syscall.EADDRINUSE) {
					p.log().Warn("local responder not started; relying on other hosts", "challenge_type", p.Type, "err", err)
				}
			} else {
				p.local = r
			}
		}
	}
	return nil
}

// CleanUp withdraws the answer (the lease would remove it anyway).
func (p *Publisher) CleanUp(ctx context.Context, ch challenges.Challenge) error {
	k, _, err := p.Lock.f.answerKey(p.Type, ch)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.refs--
	var r *Responder
	if p.refs <= 0 && p.local != nil {
		r, p.local = p.local, nil
	}
	p.mu.Unlock()
	if r != nil {
		r.Close()
	}
	// Not conditioned on the lock: removing our own answer is always fine.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := p.Lock.f.kv.Delete(cctx, k); err != nil {
		return fmt.Errorf("%s: withdraw answer: %w", p.Type, err)
	}
	return nil
}

// http01Lookup returns the key authorization published for token, for
// http01.NewHandler.
func (c *answerCache) http01Lookup(ctx context.Context, token string) (string, bool) {
	if !validToken(token) {
		return "", false
	}
	a, ok := c.lookup(ctx, c.f.key("challenges", "http-01", token))
	if !ok {
		return "", false
	}
	return a.KeyAuth, true
}

// getCertificate answers a tls-alpn-01 handshake from the answer published
// for the SNI name, building the challenge certificate locally (RFC 8737
// §3).
func (c *answerCache) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if !slices.Contains(hello.SupportedProtos, tlsalpn01.Protocol) {
		return nil, fmt.Errorf("tls-alpn-01: client did not offer ALPN %s", tlsalpn01.Protocol)
	}
	sni := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if sni == "" || len(sni) > 253 || strings.Trim(sni, "abcdefghijklmnopqrstuvwxyz0123456789-.") != "" {
		return nil, errors.New("tls-alpn-01: bad server name")
	}
	a, ok := c.lookup(hello.Context(), c.f.key("challenges", "tls-alpn-01", sni))
	if !ok {
		return nil, fmt.Errorf("tls-alpn-01: no challenge presented for %q", sni)
	}
	return tlsalpn01.Certificate(challenges.Challenge{Type: challenges.TLSALPN01,
		Identifier: challenges.Identifier{Type: a.Type, Value: a.Value}, KeyAuthorization: a.KeyAuth})
}

// Responder is a host's built-in challenge responder in fleet mode: it
// answers http-01 and tls-alpn-01 from what any host published in etcd,
// held in a cache a watch keeps current (answerCache: no etcd read per
// request), and serves only answers authenticated by the storage key.
type Responder struct {
	Fleet        *Fleet
	HTTPAddrs    []string
	TLSALPNAddrs []string
	Log          *slog.Logger

	mu      sync.Mutex
	lns     []net.Listener
	srvs    []*http.Server
	cancels []context.CancelFunc
	cache   *answerCache // of the last Start
	wg      sync.WaitGroup
}

// Start opens every address; on error nothing stays open and the error
// wraps the listen error (errors.Is syscall.EADDRINUSE for a port in use).
func (r *Responder) Start(ctx context.Context) error {
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var lc net.ListenConfig
	var opened []net.Listener
	fail := func(addr string, err error) error {
		for _, l := range opened {
			_ = l.Close()
		}
		return fmt.Errorf("fleet responder: listen on %s: %w", addr, err)
	}
	type plan struct {
		ln  net.Listener
		tls bool
	}
	var plans []plan
	for _, a := range r.HTTPAddrs {
		ln, err := lc.Listen(ctx, "tcp", a)
		if err != nil {
			return fail(a, err)
		}
		opened = append(opened, ln)
		plans = append(plans, plan{ln, false})
	}
	for _, a := range r.TLSALPNAddrs {
		ln, err := lc.Listen(ctx, "tcp", a)
		if err != nil {
			return fail(a, err)
		}
		opened = append(opened, ln)
		plans = append(plans, plan{ln, true})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// The listeners outlive Start's ctx (a Present's, for the publisher's
	// own responder): they end with Close.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancels = append(r.cancels, cancel)
	cache := newAnswerCache(r.Fleet, log)
	r.cache = cache
	if r.Fleet.sealer == nil && len(plans) > 0 {
		log.Warn("fleet responder serves challenge answers unauthenticated (no --storage-key-file): anyone with etcd write access can get certificates for this fleet's names")
	}
	if len(plans) > 0 {
		r.wg.Go(func() { cache.run(sctx) })
	}
	for _, p := range plans {
		r.lns = append(r.lns, p.ln)
		ln := p.ln
		if p.tls {
			// tlsalpn01.Serve never turns away a CA because idle
			// connections hold slots (issue 14 item 10).
			cfg := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{tlsalpn01.Protocol}, GetCertificate: cache.getCertificate}
			r.wg.Go(func() { tlsalpn01.Serve(sctx, ln, cfg, log) })
			log.Info("fleet tls-alpn-01 responder started", "addr", ln.Addr().String())
			continue
		}
		srv := &http.Server{
			Handler:           http01.NewHandler(cache.http01Lookup, log),
			ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
			WriteTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second, MaxHeaderBytes: 8 << 10,
		}
		r.srvs = append(r.srvs, srv)
		r.wg.Go(func() { _ = srv.Serve(ln) })
		log.Info("fleet http-01 responder started", "addr", ln.Addr().String())
	}
	return nil
}

// Addrs are the bound addresses.
func (r *Responder) Addrs() []net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []net.Addr
	for _, l := range r.lns {
		out = append(out, l.Addr())
	}
	return out
}

// Close stops the responder and waits for its goroutines.
func (r *Responder) Close() {
	r.mu.Lock()
	srvs, lns, cancels := r.srvs, r.lns, r.cancels
	r.srvs, r.lns, r.cancels = nil, nil, nil
	r.mu.Unlock()
	for _, c := range cancels {
		c()
	}
	for _, s := range srvs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.Shutdown(ctx)
		cancel()
	}
	for _, l := range lns {
		_ = l.Close()
	}
	r.wg.Wait()
}

func validToken(t string) bool {
	if t == "" || len(t) > 512 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
