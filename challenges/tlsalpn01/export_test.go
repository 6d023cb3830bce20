package tlsalpn01

import "time"

// SetLimits replaces s's connection limits (before its first Present).
func SetLimits(s *Server, hello, quiet time.Duration, perSource, total, hard int) {
	s.limits = limits{hello: hello, handshake: handshakeTimeout, quiet: quiet, perSource: perSource, total: total, hard: hard}
}
