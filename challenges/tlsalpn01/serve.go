package tlsalpn01

import (
	"container/list"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// limits are the responder's bounds (defaultLimits; tests shorten them).
type limits struct {
	hello, handshake, quiet time.Duration
	perSource, total, hard  int
}

func defaultLimits() limits {
	return limits{hello: helloTimeout, handshake: handshakeTimeout, quiet: quietAge,
		perSource: maxConnsPerSource, total: maxConns, hard: maxConnsHard}
}

// Serve answers tls-alpn-01 validations on ln until ln is closed or ctx
// ends, then closes the connections still open and returns once their
// goroutines are done. Each connection gets one TLS handshake under cfg
// (whose GetCertificate picks the challenge certificate; see TLSConfig) and
// is closed after it (RFC 8737 §3).
//
// Serve never turns away a new connection because others hold slots. A
// connection must deliver its ClientHello within 3 s of accept and finish
// within 10 s. A connection that has been open 1 s and sent nothing (no
// byte read, none waiting in the socket) is "quiet": when 64 connections
// from the new one's source (IPv4 address or IPv6 /64) are open, the oldest
// quiet one of that source is closed to make room; when 256 are open in
// all, the oldest quiet one of any source. Past 1024, the oldest connection
// without a ClientHello, else the oldest, is closed whatever its age. A CA
// sends its ClientHello at once, so idle or trickling connections from
// anyone cannot keep its validations out, while a burst of real validations
// (many names of one order) is not cut short.
//
// Server uses Serve for its own listeners; another listener (such as a
// fleet responder's) gets the same protection by calling it.
func Serve(ctx context.Context, ln net.Listener, cfg *tls.Config, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	serve(ctx, ln, cfg, logger, defaultLimits())
}

func serve(ctx context.Context, ln net.Listener, cfg *tls.Config, logger *slog.Logger, lim limits) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tab := newConnTable(lim)
	cfg = tab.wrapConfig(cfg)
	var wg sync.WaitGroup
	defer wg.Wait()
	// Accept returns when ln is closed; closing it when ctx ends covers a
	// caller that only cancels.
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				cancel() // aborts the handshakes in flight
				return
			}
			// Temporary trouble such as too many open files: retry with
			// backoff, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			logger.Warn("tls-alpn-01 accept", "addr", ln.Addr().String(), "error", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		c, evicted := tab.admit(conn)
		for _, e := range evicted {
			logger.Debug("tls-alpn-01 connection limit reached; closing an older connection",
				"remote", e.conn.RemoteAddr().String(), "client_hello", e.hello, "age", time.Since(e.accepted))
			_ = e.conn.Close()
		}
		wg.Go(func() {
			defer tab.release(c)
			handshake(ctx, c.conn, cfg, lim, logger)
		})
	}
}

// handshake completes one TLS handshake and closes the connection: after it,
// the CA sends nothing more (RFC 8737 §3). The ClientHello must arrive within
// lim.hello (wrapConfig extends the deadline once it has).
func handshake(ctx context.Context, conn net.Conn, cfg *tls.Config, lim limits, logger *slog.Logger) {
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, lim.handshake)
	defer cancel()
	_ = conn.SetDeadline(time.Now().Add(min(lim.hello, lim.handshake)))
	tc := tls.Server(conn, cfg)
	err := tc.HandshakeContext(ctx)
	st := tc.ConnectionState()
	if err != nil {
		logger.Debug("tls-alpn-01 handshake refused", "remote", conn.RemoteAddr().String(), "sni", st.ServerName, "error", err)
		return
	}
	logger.Debug("tls-alpn-01 handshake answered", "remote", conn.RemoteAddr().String(), "sni", st.ServerName,
		"alpn", st.NegotiatedProtocol)
	_ = tc.Close()
}

// connTable tracks the open connections of one listener in accept order.
type connTable struct {
	lim limits

	mu       sync.Mutex
	order    list.List // of *tracked, oldest first; guarded by mu
	byConn   map[net.Conn]*tracked
	bySource map[netip.Prefix]int
}

type tracked struct {
	conn     *countingConn
	accepted time.Time
	source   netip.Prefix
	hello    bool          // ClientHello received; guarded by connTable.mu
	elem     *list.Element // nil once removed; guarded by connTable.mu
}

// quiet reports whether c has sent nothing (no byte read, none waiting in
// the socket) for at least age.
func (c *tracked) quiet(now time.Time, age time.Duration) bool {
	return !c.hello && now.Sub(c.accepted) >= age && !c.conn.read.Load() && !pending(c.conn.Conn)
}

// countingConn records whether any byte was read from the peer.
type countingConn struct {
	net.Conn
	read atomic.Bool
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.read.Store(true)
	}
	return n, err
}

func newConnTable(lim limits) *connTable {
	return &connTable{lim: lim, byConn: make(map[net.Conn]*tracked), bySource: make(map[netip.Prefix]int)}
}

// sourceOf is the per-source key of a remote address: the IPv4 address or
// the IPv6 /64 (one host usually holds a whole /64).
func sourceOf(a net.Addr) netip.Prefix {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return netip.Prefix{}
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// admit records conn and returns the connections evicted to make room for
// it (removed from the table; the caller closes them).
func (t *connTable) admit(conn net.Conn) (*tracked, []*tracked) {
	now := time.Now()
	c := &tracked{conn: &countingConn{Conn: conn}, accepted: now, source: sourceOf(conn.RemoteAddr())}
	t.mu.Lock()
	defer t.mu.Unlock()
	var evicted []*tracked
	evict := func(v *tracked) {
		if v != nil {
			t.remove(v)
			evicted = append(evicted, v)
		}
	}
	quiet := func(o *tracked) bool { return o.quiet(now, t.lim.quiet) }
	if t.bySource[c.source] >= t.lim.perSource {
		evict(t.oldest(func(o *tracked) bool { return o.source == c.source && quiet(o) }))
	}
	if t.order.Len() >= t.lim.total {
		evict(t.oldest(quiet))
	}
	if t.order.Len() >= t.lim.hard {
		v := t.oldest(func(o *tracked) bool { return !o.hello })
		if v == nil {
			v = t.oldest(func(*tracked) bool { return true })
		}
		evict(v)
	}
	c.elem = t.order.PushBack(c)
	t.byConn[c.conn] = c
	t.bySource[c.source]++
	return c, evicted
}

// oldest is the oldest connection for which match holds, or nil. Called
// with t.mu held.
func (t *connTable) oldest(match func(*tracked) bool) *tracked {
	for e := t.order.Front(); e != nil; e = e.Next() {
		if o := e.Value.(*tracked); match(o) {
			return o
		}
	}
	return nil
}

// remove drops c from the table. Called with t.mu held.
func (t *connTable) remove(c *tracked) {
	if c.elem == nil {
		return
	}
	t.order.Remove(c.elem)
	c.elem = nil
	delete(t.byConn, c.conn)
	if t.bySource[c.source]--; t.bySource[c.source] <= 0 {
		delete(t.bySource, c.source)
	}
}

// release drops c when its handshake is over (a no-op if it was evicted).
func (t *connTable) release(c *tracked) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.remove(c)
}

// sawHello marks conn's ClientHello as received and gives it the rest of
// the handshake time.
func (t *connTable) sawHello(conn net.Conn) {
	t.mu.Lock()
	c, ok := t.byConn[conn]
	if ok {
		c.hello = true
	}
	t.mu.Unlock()
	if ok {
		_ = conn.SetDeadline(c.accepted.Add(t.lim.handshake))
	}
}

// wrapConfig returns a copy of cfg that reports each ClientHello to t
// before cfg's own GetConfigForClient, if any.
func (t *connTable) wrapConfig(cfg *tls.Config) *tls.Config {
	cfg = cfg.Clone()
	next := cfg.GetConfigForClient
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		t.sawHello(hello.Conn)
		if next != nil {
			return next(hello)
		}
		return nil, nil
	}
	return cfg
}
