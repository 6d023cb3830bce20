package v1ca

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	pendingAuthzLifetime = 7 * 24 * time.Hour
	validAuthzLifetime   = 30 * 24 * time.Hour
	// reuseMargin: a valid authorization is reused only while it is good
	// for at least this long (Boulder: about a day).
	reuseMargin = 24 * time.Hour
)

type identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type validationRecord struct {
	URL               string   `json:"url,omitempty"`
	Hostname          string   `json:"hostname"`
	Port              string   `json:"port"`
	AddressesResolved []string `json:"addressesResolved"`
	AddressUsed       string   `json:"addressUsed"`
}

type challenge struct {
	ID               int64              `json:"-"`
	Type             string             `json:"type"`
	Status           string             `json:"status"`
	URI              string             `json:"uri"`
	Token            string             `json:"token"`
	KeyAuthorization string             `json:"keyAuthorization,omitempty"`
	ValidationRecord []validationRecord `json:"validationRecord,omitempty"`
	Error            *Problem           `json:"error,omitempty"`
	Validated        *time.Time         `json:"validated,omitempty"`
}

type authorization struct {
	ID          string
	RegID       int64
	Identifier  identifier
	Status      string
	Expires     time.Time
	Challenges  []*challenge
	processing  bool // a validation is running
	deactivated bool
}

// wireAuthz is the JSON form of an authorization (no id/url members on v1).
type wireAuthz struct {
	Identifier   identifier  `json:"identifier"`
	Status       string      `json:"status"`
	Expires      *time.Time  `json:"expires,omitempty"`
	Challenges   []challenge `json:"challenges"`
	Combinations [][]int     `json:"combinations"`
}

// wireLocked renders az with absolute URIs for origin o. Caller holds s.mu.
func (s *Server) wireLocked(az *authorization, o string) wireAuthz {
	out := wireAuthz{Identifier: az.Identifier, Status: az.Status}
	if az.Status == "pending" || az.Status == "valid" {
		e := az.Expires
		out.Expires = &e
	}
	for i, ch := range az.Challenges {
		c := *ch
		c.URI = fmt.Sprintf("%s/acme/challenge/%s/%d", o, az.ID, ch.ID)
		c.ValidationRecord = append([]validationRecord(nil), ch.ValidationRecord...)
		out.Challenges = append(out.Challenges, c)
		out.Combinations = append(out.Combinations, []int{i})
	}
	return out
}

// checkName applies v1 name policy (reference §8.1, §13): DNS names only,
// no wildcards, no IP addresses, at least two labels, LDH syntax.
func checkName(name string) *Problem {
	if name == "" {
		return malformed("Invalid identifier: empty DNS name")
	}
	if strings.HasPrefix(name, "*.") {
		return malformed("Wildcard names not supported")
	}
	if net.ParseIP(strings.Trim(name, "[]")) != nil {
		return malformed("Policy forbids issuing for name %q: the ACME server can not issue a certificate for an IP address", name)
	}
	if len(name) > 253 {
		return malformed("Policy forbids issuing for name %q: DNS name is too long", name)
	}
	if strings.HasSuffix(name, ".") {
		return malformed("Policy forbids issuing for name %q: DNS name ends in a period", name)
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return malformed("Policy forbids issuing for name %q: DNS name does not have enough labels", name)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return malformed("Policy forbids issuing for name %q: DNS name has an empty or too long label", name)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return malformed("Policy forbids issuing for name %q: DNS label starts or ends with a hyphen", name)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return malformed("Policy forbids issuing for name %q: DNS name contains an invalid character", name)
			}
		}
	}
	if _, err := strconv.Atoi(labels[len(labels)-1]); err == nil {
		return malformed("Policy forbids issuing for name %q: DNS name does not end in a TLD", name)
	}
	return nil
}

// challengeTypesLocked lists what new authorizations offer, in Boulder's
// pre-shuffle order (http-01, tls-alpn-01, dns-01), limited to the types
// this CA can validate.
func (s *Server) challengeTypes() []string {
	var types []string
	if s.cfg.HTTP01Port != 0 {
		types = append(types, "http-01")
	}
	if s.cfg.TLSALPN01Port != 0 {
		types = append(types, "tls-alpn-01")
	}
	if s.cfg.DNSServer != "" {
		types = append(types, "dns-01")
	}
	return types
}

func (s *Server) postNewAuthz(w http.ResponseWriter, r *http.Request, req *signedRequest) {
	if p := s.checkAgreement(req.reg, mustAgree); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	var in struct {
		Identifier *identifier `json:"identifier"`
	}
	if p := req.decode(&in); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	if in.Identifier == nil {
		s.writeProblem(w, r, malformed("Invalid identifier: missing"))
		return
	}
	if in.Identifier.Type != "dns" {
		s.writeProblem(w, r, malformed("Invalid identifier type: %q", in.Identifier.Type))
		return
	}
	name := strings.ToLower(in.Identifier.Value)
	if p := checkName(name); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	if s.rateLimited(w, r) {
		return
	}
	now := s.now()
	o := origin(r)
	s.mu.Lock()
	// Reuse (reference §8.1): a valid authorization good for more than a
	// day, else a pending one.
	var reuse *authorization
	for _, az := range s.authzs {
		if az.RegID != req.reg.ID || az.Identifier.Value != name || !az.Expires.After(now) {
			continue
		}
		if az.Status == "valid" && az.Expires.After(now.Add(reuseMargin)) {
			reuse = az
			break
		}
		if az.Status == "pending" && reuse == nil {
			reuse = az
		}
	}
	az := reuse
	if az == nil {
		id, err := randomToken(32)
		if err != nil {
			s.mu.Unlock()
			s.writeProblem(w, r, internalError("Error creating new authz"))
			return
		}
		az = &authorization{
			ID: id, RegID: req.reg.ID, Identifier: identifier{Type: "dns", Value: name},
			Status: "pending", Expires: now.Add(pendingAuthzLifetime).UTC(),
		}
		for _, typ := range s.challengeTypes() {
			tok, err := randomToken(32)
			if err != nil {
				s.mu.Unlock()
				s.writeProblem(w, r, internalError("Error creating new authz"))
				return
			}
			az.Challenges = append(az.Challenges, &challenge{ID: s.nextChallID, Type: typ, Status: "pending", Token: tok})
			s.nextChallID++
		}
		s.authzs[id] = az
	}
	out := s.wireLocked(az, o)
	s.mu.Unlock()
	w.Header().Set("Location", o+"/acme/authz/"+az.ID)
	addLink(w, o+"/acme/new-cert", "next")
	s.writeJSON(w, r, http.StatusCreated, out)
}

// lookupAuthz finds an authorization for GET or POST. Caller holds s.mu.
func (s *Server) lookupAuthzLocked(id string) (*authorization, *Problem) {
	if id == "" || len(id) > 128 {
		return nil, malformed("Invalid authorization ID")
	}
	az, ok := s.authzs[id]
	if !ok {
		return nil, notFound("No such authorization")
	}
	if !az.Expires.After(s.now()) && az.Status != "invalid" && az.Status != "deactivated" {
		return nil, notFound("Expired authorization")
	}
	return az, nil
}

func (s *Server) getAuthz(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	az, p := s.lookupAuthzLocked(id)
	if p != nil {
		s.mu.Unlock()
		s.writeProblem(w, r, p)
		return
	}
	out := s.wireLocked(az, origin(r))
	s.mu.Unlock()
	addLink(w, origin(r)+"/acme/new-cert", "next")
	s.writeJSON(w, r, http.StatusOK, out)
}

// postAuthz deactivates an authorization (reference §8.4).
func (s *Server) postAuthz(w http.ResponseWriter, r *http.Request, req *signedRequest, id string) {
	var in struct {
		Status string `json:"status"`
	}
	if p := req.decode(&in); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	s.mu.Lock()
	az, p := s.lookupAuthzLocked(id)
	switch {
	case p != nil:
	case az.RegID != req.reg.ID:
		p = unauthorized("Unable to deactivate authorization: registration ID doesn't match registration ID in authorization")
	case in.Status != "deactivated":
		p = malformed("Invalid status value")
	case az.Status != "pending" && az.Status != "valid":
		p = malformed("Only valid and pending authorizations can be deactivated")
	}
	if p != nil {
		s.mu.Unlock()
		s.writeProblem(w, r, p)
		return
	}
	az.Status = "deactivated"
	out := s.wireLocked(az, origin(r))
	s.mu.Unlock()
	addLink(w, origin(r)+"/acme/new-cert", "next")
	s.writeJSON(w, r, http.StatusOK, out)
}

func (s *Server) lookupChallengeLocked(authzID, chID string) (*authorization, *challenge, *Problem) {
	az, p := s.lookupAuthzLocked(authzID)
	if p != nil {
		return nil, nil, p
	}
	n, err := strconv.ParseInt(chID, 10, 64)
	if err != nil {
		return nil, nil, notFound("No such challenge")
	}
	for _, ch := range az.Challenges {
		if ch.ID == n {
			return az, ch, nil
		}
	}
	return nil, nil, notFound("No such challenge")
}

// challengeResponse writes a challenge with its 202, Location and up Link.
func (s *Server) challengeResponseLocked(w http.ResponseWriter, r *http.Request, az *authorization, ch *challenge) {
	o := origin(r)
	c := *ch
	c.URI = fmt.Sprintf("%s/acme/challenge/%s/%d", o, az.ID, ch.ID)
	c.ValidationRecord = append([]validationRecord(nil), ch.ValidationRecord...)
	b, err := json.MarshalIndent(c, "", "  ")
	s.mu.Unlock()
	if err != nil {
		s.writeProblem(w, r, internalError("encode challenge"))
		return
	}
	w.Header().Set("Location", c.URI)
	addLink(w, o+"/acme/authz/"+az.ID, "up")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

func (s *Server) getChallenge(w http.ResponseWriter, r *http.Request, authzID, chID string) {
	s.mu.Lock()
	az, ch, p := s.lookupChallengeLocked(authzID, chID)
	if p != nil {
		s.mu.Unlock()
		s.writeProblem(w, r, p)
		return
	}
	s.challengeResponseLocked(w, r, az, ch) // unlocks
}

func (s *Server) postChallenge(w http.ResponseWriter, r *http.Request, req *signedRequest, authzID, chID string) {
	if p := s.checkAgreement(req.reg, mustAgreeChallenge); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	var in struct {
		Type             string  `json:"type"`
		KeyAuthorization *string `json:"keyAuthorization"`
	}
	if p := req.decode(&in); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	s.mu.Lock()
	az, ch, p := s.lookupChallengeLocked(authzID, chID)
	if p == nil && az.RegID != req.reg.ID {
		p = unauthorized("User registration ID doesn't match registration ID in authorization")
	}
	if p != nil {
		s.mu.Unlock()
		s.writeProblem(w, r, p)
		return
	}
	if az.Status == "valid" || az.processing {
		// Nothing is re-validated; the challenge comes back unchanged.
		s.challengeResponseLocked(w, r, az, ch)
		return
	}
	if az.Status != "pending" || ch.Status != "pending" {
		s.mu.Unlock()
		s.writeProblem(w, r, malformed("Unable to update challenge :: challenge is not pending"))
		return
	}
	reg := s.regs[az.RegID]
	expected, err := keyAuthorization(ch.Token, reg.Key)
	if err != nil {
		s.mu.Unlock()
		s.writeProblem(w, r, internalError("compute key authorization"))
		return
	}
	switch s.cfg.KeyAuth {
	case KeyAuthRequired:
		if in.KeyAuthorization == nil || *in.KeyAuthorization != expected {
			s.mu.Unlock()
			s.writeProblem(w, r, malformed("Unable to update challenge :: provided key authorization was incorrect"))
			return
		}
	case KeyAuthOptional:
		if in.KeyAuthorization != nil && *in.KeyAuthorization != expected {
			s.mu.Unlock()
			s.writeProblem(w, r, malformed("Unable to update challenge :: provided key authorization was incorrect"))
			return
		}
	}
	ch.KeyAuthorization = expected
	az.processing = true
	job := validationJob{authzID: az.ID, chID: ch.ID, typ: ch.Type, name: az.Identifier.Value, token: ch.Token, keyAuth: expected}
	s.work.Add(1)
	s.challengeResponseLocked(w, r, az, ch) // unlocks
	go s.validate(job)
}
