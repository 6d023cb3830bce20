package v1ca

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// registration is a v1 account ("registration"); its JSON is Boulder's.
type registration struct {
	ID        int64            `json:"id"`
	Key       *jose.JSONWebKey `json:"key"`
	Contact   []string         `json:"contact,omitempty"`
	Agreement string           `json:"agreement,omitempty"`
	InitialIP string           `json:"initialIp"`
	CreatedAt time.Time        `json:"createdAt"`
	Status    string           `json:"status"`
	thumb     string
}

// snapshot copies the registration for encoding outside the lock.
func (g *registration) snapshot() registration {
	c := *g
	c.Contact = append([]string(nil), g.Contact...)
	return c
}

func (s *Server) regURL(r *http.Request, id int64) string {
	return fmt.Sprintf("%s/acme/reg/%d", origin(r), id)
}

// checkContacts applies Boulder's contact rules (reference §7.1).
func checkContacts(contacts []string) *Problem {
	if len(contacts) > 10 {
		return malformed("too many contacts provided: %d > 10", len(contacts))
	}
	for _, c := range contacts {
		scheme, addr, ok := strings.Cut(c, ":")
		if !ok || scheme != "mailto" {
			return malformed("contact method %s is not supported", scheme)
		}
		a, err := mail.ParseAddress(addr)
		if err != nil || a.Address != addr || a.Name != "" {
			return problem(probInvalidEmail, http.StatusBadRequest, "%q is not a valid e-mail address", addr)
		}
		_, domain, _ := strings.Cut(addr, "@")
		if !strings.Contains(domain, ".") || net.ParseIP(strings.Trim(domain, "[]")) != nil {
			return problem(probInvalidEmail, http.StatusBadRequest, "invalid e-mail domain %q", domain)
		}
	}
	return nil
}

// regLinks adds the Link headers of reg responses.
func (s *Server) regLinks(w http.ResponseWriter, r *http.Request) {
	addLink(w, origin(r)+"/acme/new-authz", "next")
	addLink(w, s.TermsURL(), "terms-of-service")
}

func (s *Server) postNewReg(w http.ResponseWriter, r *http.Request, req *signedRequest) {
	if req.reg != nil {
		w.Header().Set("Location", s.regURL(r, req.reg.ID))
		s.writeProblem(w, r, problem(probMalformed, http.StatusConflict, "Registration key is already in use"))
		return
	}
	if s.takeFault(FaultNoNewReg) {
		s.writeProblem(w, r, unauthorized("Account creation on ACMEv1 is disabled. Please upgrade your ACME client to a version that supports ACMEv2 / RFC 8555."))
		return
	}
	if s.rateLimited(w, r) {
		return
	}
	var in struct {
		Contact   []string `json:"contact"`
		Agreement string   `json:"agreement"`
	}
	if p := req.decode(&in); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	if p := checkContacts(in.Contact); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	s.mu.Lock()
	if terms := s.termsURLLocked(); in.Agreement != "" && in.Agreement != terms {
		s.mu.Unlock()
		s.writeProblem(w, r, malformed("Provided agreement URL [%s] does not match current agreement URL [%s]", in.Agreement, terms))
		return
	}
	if id, ok := s.regByKey[req.thumb]; ok { // registered concurrently
		s.mu.Unlock()
		w.Header().Set("Location", s.regURL(r, id))
		s.writeProblem(w, r, problem(probMalformed, http.StatusConflict, "Registration key is already in use"))
		return
	}
	reg := &registration{
		ID:        s.nextRegID,
		Key:       req.jwk,
		Contact:   in.Contact,
		Agreement: in.Agreement,
		InitialIP: host,
		CreatedAt: s.now().UTC().Truncate(time.Second),
		Status:    "valid",
		thumb:     req.thumb,
	}
	s.nextRegID++
	s.regs[reg.ID] = reg
	s.regByKey[req.thumb] = reg.ID
	out := reg.snapshot()
	s.mu.Unlock()
	s.log.Info("registration created", "reg_id", reg.ID)
	w.Header().Set("Location", s.regURL(r, reg.ID))
	s.regLinks(w, r)
	s.writeJSON(w, r, http.StatusCreated, out)
}

func (s *Server) postReg(w http.ResponseWriter, r *http.Request, req *signedRequest, idStr string) {
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil || id <= 0 {
		s.writeProblem(w, r, malformed("Registration ID must be an integer"))
		return
	}
	if req.reg.ID != id {
		s.writeProblem(w, r, unauthorized("Request signing key did not match registration key"))
		return
	}
	var in struct {
		Contact   *[]string `json:"contact"`
		Agreement string    `json:"agreement"`
		Status    string    `json:"status"`
	}
	if p := req.decode(&in); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	if in.Contact != nil {
		if p := checkContacts(*in.Contact); p != nil {
			s.writeProblem(w, r, p)
			return
		}
	}
	s.mu.Lock()
	reg := req.reg
	if in.Status != "" && in.Status != reg.Status {
		if in.Status != "deactivated" {
			s.mu.Unlock()
			s.writeProblem(w, r, malformed("Invalid value provided for status field"))
			return
		}
		reg.Status = "deactivated"
		out := reg.snapshot()
		s.mu.Unlock()
		s.log.Info("registration deactivated", "reg_id", id)
		s.writeJSON(w, r, http.StatusOK, out)
		return
	}
	if terms := s.termsURLLocked(); in.Agreement != "" && in.Agreement != terms && in.Agreement != reg.Agreement {
		s.mu.Unlock()
		s.writeProblem(w, r, malformed("Provided agreement URL [%s] does not match current agreement URL [%s]", in.Agreement, terms))
		return
	}
	if in.Agreement != "" {
		reg.Agreement = in.Agreement
	}
	if in.Contact != nil {
		reg.Contact = append([]string(nil), (*in.Contact)...)
	}
	out := reg.snapshot()
	s.mu.Unlock()
	s.regLinks(w, r)
	s.writeJSON(w, r, http.StatusAccepted, out)
}

// agreedLocked reports whether reg may act under the current terms: any
// agreement counts, as on Boulder, unless the new-terms fault demands the
// current one. Caller holds s.mu.
func (s *Server) agreedLocked(reg *registration) bool {
	if reg.Agreement == "" {
		return false
	}
	return !s.enforceTerms || reg.Agreement == s.termsURLLocked()
}

func (s *Server) checkAgreement(reg *registration, detail string) *Problem {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.agreedLocked(reg) {
		return unauthorized("%s", detail)
	}
	return nil
}

const (
	mustAgree          = "Must agree to subscriber agreement before any further actions"
	mustAgreeChallenge = "Registration didn't agree to subscriber agreement before any further actions"
)

// rateLimited answers 429 when a ratelimit fault is armed.
func (s *Server) rateLimited(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case s.takeFault(FaultRateLimit):
		w.Header().Set("Retry-After", s.retryAfterHeader())
	case s.takeFault(FaultRateLimitBare):
	default:
		return false
	}
	s.writeProblem(w, r, problem(probRateLimited, http.StatusTooManyRequests, "Error creating new %s :: too many requests (injected fault)", strings.TrimPrefix(r.URL.Path, "/acme/")))
	return true
}

// postKeyChange rolls the account key (v1 format, reference §7.5).
func (s *Server) postKeyChange(w http.ResponseWriter, r *http.Request, req *signedRequest) {
	inner, err := jose.ParseSigned(string(req.payload), parseAlgs)
	if err != nil || len(inner.Signatures) != 1 {
		s.writeProblem(w, r, malformed("Unable to parse inner JWS"))
		return
	}
	sig := inner.Signatures[0]
	newJWK := sig.Header.JSONWebKey
	if newJWK == nil || !newJWK.Valid() || !newJWK.IsPublic() {
		s.writeProblem(w, r, malformed("No or invalid JWK in inner JWS header"))
		return
	}
	if err := checkKeyPolicy(newJWK.Key); err != nil {
		s.writeProblem(w, r, malformed("Invalid new key: %v", err))
		return
	}
	if sig.Protected.Algorithm != algForKey(newJWK.Key) {
		s.writeProblem(w, r, malformed("signature type '%s' in inner JWS header is not supported for this key", sig.Protected.Algorithm))
		return
	}
	payload, err := inner.Verify(newJWK)
	if err != nil {
		s.writeProblem(w, r, malformed("Inner JWS does not verify with embedded JWK"))
		return
	}
	var in struct {
		Account string           `json:"account"`
		NewKey  *jose.JSONWebKey `json:"newKey"`
	}
	if err := json.Unmarshal(payload, &in); err != nil {
		s.writeProblem(w, r, malformed("Unable to unmarshal key-change authorization"))
		return
	}
	if in.Account != s.regURL(r, req.reg.ID) {
		s.writeProblem(w, r, malformed("Incorrect account URL provided in payload"))
		return
	}
	newThumb, err := thumbprint(newJWK)
	if err != nil || in.NewKey == nil || !in.NewKey.Valid() {
		s.writeProblem(w, r, malformed("New JWK in inner payload doesn't match key used to sign inner JWS"))
		return
	}
	if t, err := thumbprint(in.NewKey); err != nil || t != newThumb {
		s.writeProblem(w, r, malformed("New JWK in inner payload doesn't match key used to sign inner JWS"))
		return
	}
	s.mu.Lock()
	if other, ok := s.regByKey[newThumb]; ok && other != req.reg.ID {
		s.mu.Unlock()
		s.writeProblem(w, r, internalError("Unable to update registration"))
		return
	}
	reg := req.reg
	delete(s.regByKey, reg.thumb)
	reg.Key, reg.thumb = newJWK, newThumb
	s.regByKey[newThumb] = reg.ID
	out := reg.snapshot()
	s.mu.Unlock()
	s.log.Info("registration key changed", "reg_id", reg.ID)
	s.writeJSON(w, r, http.StatusOK, out)
}
