package client

import (
	"context"
	"sync"
	"time"
)

// validNonce checks the grammar of a Replay-Nonce value (RFC 8555 §6.5.1:
// base64url), with a sane length bound.
func validNonce(s string) bool { return isBase64URL(s, 1, 512) }

// isBase64URL reports whether s is base64url without padding and its
// length is within [min, max].
func isBase64URL(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

const maxPooledNonces = 64

// noncePool keeps nonces from Replay-Nonce headers for the next signed
// requests. Safe for concurrent use.
type noncePool struct {
	mu     sync.Mutex
	nonces []string
	// inflight counts signed requests sent and not yet answered: each
	// answer normally carries the next nonce. changed is closed (and
	// replaced) when a nonce arrives or a request ends.
	inflight int
	changed  chan struct{}
}

// inflightWait bounds how long a signed request waits for the nonce of a
// request in flight before it asks newNonce for one: a CA answering at
// once costs no extra HEAD (an order of N names stays at 3N+6 requests
// with its authorizations fetched in parallel), a slow one no more than
// this wait.
const inflightWait = 100 * time.Millisecond

// put adds a nonce if it is well formed; the oldest is dropped when full.
func (p *noncePool) put(n string) {
	if !validNonce(n) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.nonces) >= maxPooledNonces {
		p.nonces = p.nonces[1:]
	}
	p.nonces = append(p.nonces, n)
	p.notify()
}

func (p *noncePool) notify() {
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}

// begin and end bracket a signed request in flight.
func (p *noncePool) begin() {
	p.mu.Lock()
	p.inflight++
	p.mu.Unlock()
}

func (p *noncePool) end() {
	p.mu.Lock()
	p.inflight--
	p.notify()
	p.mu.Unlock()
}

// awaitInflight returns a pooled nonce, waiting up to inflightWait for one
// from a request in flight; "" when none came (or none is in flight).
func (p *noncePool) awaitInflight(ctx context.Context) string {
	var timer <-chan time.Time
	for {
		p.mu.Lock()
		if n := len(p.nonces); n > 0 {
			nonce := p.nonces[n-1]
			p.nonces = p.nonces[:n-1]
			p.mu.Unlock()
			return nonce
		}
		if p.inflight == 0 {
			p.mu.Unlock()
			return ""
		}
		if p.changed == nil {
			p.changed = make(chan struct{})
		}
		ch := p.changed
		p.mu.Unlock()
		if timer == nil {
			t := time.NewTimer(inflightWait)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-ch:
		case <-timer:
			return ""
		case <-ctx.Done():
			return ""
		}
	}
}

// take returns the newest pooled nonce, or "" when empty.
func (p *noncePool) take() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.nonces) == 0 {
		return ""
	}
	n := p.nonces[len(p.nonces)-1]
	p.nonces = p.nonces[:len(p.nonces)-1]
	return n
}
