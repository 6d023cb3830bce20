package client

import (
	"regexp"
	"sync"
)

// validNonce is the grammar of a Replay-Nonce value (RFC 8555 §6.5.1:
// base64url), with a sane length bound.
var validNonce = regexp.MustCompile(`^[A-Za-z0-9_-]{1,512}$`)

const maxPooledNonces = 64

// noncePool keeps nonces from Replay-Nonce headers for the next signed
// requests. Safe for concurrent use.
type noncePool struct {
	mu     sync.Mutex
	nonces []string
}

// put adds a nonce if it is well formed; the oldest is dropped when full.
func (p *noncePool) put(n string) {
	if !validNonce.MatchString(n) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.nonces) >= maxPooledNonces {
		p.nonces = p.nonces[1:]
	}
	p.nonces = append(p.nonces, n)
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
