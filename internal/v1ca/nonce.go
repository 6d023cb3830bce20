package v1ca

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
)

// maxNonces bounds the nonces remembered; the oldest are forgotten first
// (and then answered with badNonce, as an expired nonce on Boulder was).
const maxNonces = 10000

// nonceStore hands out single-use nonces.
type nonceStore struct {
	mu    sync.Mutex
	live  map[string]struct{}
	order []string // FIFO of issued nonces, for eviction
}

func newNonceStore() *nonceStore { return &nonceStore{live: make(map[string]struct{})} }

func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (s *nonceStore) issue() (string, error) {
	n, err := randomToken(16)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live[n] = struct{}{}
	s.order = append(s.order, n)
	for len(s.order) > maxNonces {
		delete(s.live, s.order[0])
		s.order = s.order[1:]
	}
	return n, nil
}

// redeem reports whether n was issued and not used yet, and uses it up.
func (s *nonceStore) redeem(n string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.live[n]; !ok {
		return false
	}
	delete(s.live, n)
	return true
}
