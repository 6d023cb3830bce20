package v1ca

import (
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Fault names understood by SetFault and the --fault flag.
const (
	// FaultBadNonceOnce answers the next signed request with badNonce.
	FaultBadNonceOnce = "badnonce-once"
	// FaultRateLimit answers new-reg, new-authz and new-cert with 429
	// rateLimited and a Retry-After header, until cleared.
	FaultRateLimit = "ratelimit"
	// FaultRateLimitBare is FaultRateLimit without Retry-After, as Boulder's
	// v1 actually answered.
	FaultRateLimitBare = "ratelimit-no-retry-after"
	// Fault5xx answers the next ACME request with 500 serverInternal.
	Fault5xx = "5xx"
	// FaultNewTerms publishes a new subscriber agreement URL and refuses
	// registrations that agreed to an older one until they agree again.
	FaultNewTerms = "new-terms"
	// FaultNewTermsLenient publishes a new agreement URL but, as Boulder
	// did, keeps accepting registrations that agreed to any earlier one.
	FaultNewTermsLenient = "new-terms-lenient"
	// FaultNoNewReg refuses new-reg with 403, as Let's Encrypt did from
	// November 2019, until cleared.
	FaultNoNewReg = "no-new-reg"
)

// KnownFaults lists the fault names, sorted.
func KnownFaults() []string {
	return []string{Fault5xx, FaultBadNonceOnce, FaultNewTerms, FaultNewTermsLenient, FaultNoNewReg, FaultRateLimit, FaultRateLimitBare}
}

// UnknownFaultError reports a fault name SetFault does not know.
type UnknownFaultError struct{ Name string }

func (e *UnknownFaultError) Error() string {
	return fmt.Sprintf("unknown fault %q (known: %v)", e.Name, KnownFaults())
}

// SetFault arms a fault. count is how many requests it affects: 0 means the
// fault's default (1 for badnonce-once and 5xx, until cleared for
// ratelimit*, no-new-reg); negative means until cleared. new-terms and
// new-terms-lenient act at once (count is ignored).
func (s *Server) SetFault(name string, count int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch name {
	case FaultBadNonceOnce, Fault5xx:
		if count == 0 {
			count = 1
		}
	case FaultRateLimit, FaultRateLimitBare, FaultNoNewReg:
		if count == 0 {
			count = -1
		}
	case FaultNewTerms:
		s.termsVersion++
		s.enforceTerms = true
		return nil
	case FaultNewTermsLenient:
		s.termsVersion++
		return nil
	default:
		return &UnknownFaultError{Name: name}
	}
	if count < 0 {
		count = -1
	}
	s.faults[name] = count
	return nil
}

// ClearFault disarms a fault; clearing new-terms stops enforcing the
// current agreement (the URL stays).
func (s *Server) ClearFault(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch name {
	case FaultNewTerms:
		s.enforceTerms = false
	case FaultNewTermsLenient:
	case FaultBadNonceOnce, Fault5xx, FaultRateLimit, FaultRateLimitBare, FaultNoNewReg:
		delete(s.faults, name)
	default:
		return &UnknownFaultError{Name: name}
	}
	return nil
}

// SetRetryAfter sets the Retry-After the ratelimit fault sends (rounded
// up to whole seconds, at least 1).
func (s *Server) SetRetryAfter(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryAfter = d
}

func (s *Server) retryAfterHeader() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := int((s.retryAfter + time.Second - 1) / time.Second)
	return strconv.Itoa(max(sec, 1))
}

// takeFault reports whether the fault is armed and uses one of its counts.
func (s *Server) takeFault(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.faults[name]
	if !ok {
		return false
	}
	switch {
	case n < 0:
	case n <= 1:
		delete(s.faults, name)
	default:
		s.faults[name] = n - 1
	}
	return true
}

// armedFaults is the fault table for the management API. Caller holds s.mu.
func (s *Server) armedFaultsLocked() []FaultState {
	var out []FaultState
	for name, n := range s.faults {
		out = append(out, FaultState{Name: name, Remaining: n})
	}
	if s.enforceTerms {
		out = append(out, FaultState{Name: FaultNewTerms, Remaining: -1})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// FaultState is one armed fault; Remaining -1 means until cleared.
type FaultState struct {
	Name      string `json:"name"`
	Remaining int    `json:"remaining"`
}
