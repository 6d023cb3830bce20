package client

import "sync"

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
}

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
