package v1ca

import (
	"fmt"
	"net/http"
)

// v1 problem types (urn:acme:error:*, draft-01 namespace). Reference §12.
const (
	errNS              = "urn:acme:error:"
	probMalformed      = errNS + "malformed"
	probBadNonce       = errNS + "badNonce"
	probUnauthorized   = errNS + "unauthorized"
	probRateLimited    = errNS + "rateLimited"
	probServerInternal = errNS + "serverInternal"
	probInvalidEmail   = errNS + "invalidEmail"
	probConnection     = errNS + "connection"
	probTLS            = errNS + "tls"
	probDNS            = errNS + "dns"
)

// Problem is a v1 problem document. It is what the CA sends with
// Content-Type application/problem+json.
type Problem struct {
	Type   string `json:"type"`
	Detail string `json:"detail"`
	Status int    `json:"status"`
}

func (p *Problem) Error() string { return fmt.Sprintf("%s (%d): %s", p.Type, p.Status, p.Detail) }

func problem(typ string, status int, format string, args ...any) *Problem {
	return &Problem{Type: typ, Status: status, Detail: fmt.Sprintf(format, args...)}
}

func malformed(format string, args ...any) *Problem {
	return problem(probMalformed, http.StatusBadRequest, format, args...)
}

func unauthorized(format string, args ...any) *Problem {
	return problem(probUnauthorized, http.StatusForbidden, format, args...)
}

func notFound(format string, args ...any) *Problem {
	return problem(probMalformed, http.StatusNotFound, format, args...)
}

func internalError(format string, args ...any) *Problem {
	return problem(probServerInternal, http.StatusInternalServerError, format, args...)
}
