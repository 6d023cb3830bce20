package v1ca

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ManagementPrefix is where the management API lives on the ACME listener.
const ManagementPrefix = "/_testca/"

// State is what the management API reports (GET /_testca/state).
type State struct {
	DirectoryURL  string                    `json:"directory_url"`
	TermsURL      string                    `json:"terms_of_service"`
	EnforceTerms  bool                      `json:"enforce_current_terms"`
	Requests      map[string]map[string]int `json:"requests"` // endpoint → method → count
	Faults        []FaultState              `json:"faults"`
	Registrations []RegState                `json:"registrations"`
	Certificates  []CertState               `json:"certificates"`
}

// RegState is one registration as the management API shows it.
type RegState struct {
	ID         int64     `json:"id"`
	Status     string    `json:"status"`
	Contact    []string  `json:"contact"`
	Agreement  string    `json:"agreement"`
	Thumbprint string    `json:"key_thumbprint"`
	CreatedAt  time.Time `json:"created_at"`
}

// CertState is one issued certificate as the management API shows it.
type CertState struct {
	Serial    string     `json:"serial"`
	Names     []string   `json:"names"`
	RegID     int64      `json:"registration_id"`
	NotAfter  time.Time  `json:"not_after"`
	Status    string     `json:"status"` // "valid" or "revoked"
	Reason    *int       `json:"reason,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Snapshot returns the CA's state (what GET /_testca/state serves).
func (s *Server) Snapshot() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{
		DirectoryURL: s.DirectoryURL(),
		TermsURL:     s.termsURLLocked(),
		EnforceTerms: s.enforceTerms,
		Requests:     make(map[string]map[string]int, len(s.counts)),
		Faults:       s.armedFaultsLocked(),
	}
	for ep, m := range s.counts {
		c := make(map[string]int, len(m))
		for k, v := range m {
			c[k] = v
		}
		st.Requests[ep] = c
	}
	for _, g := range s.regs {
		st.Registrations = append(st.Registrations, RegState{
			ID: g.ID, Status: g.Status, Contact: append([]string(nil), g.Contact...),
			Agreement: g.Agreement, Thumbprint: g.thumb, CreatedAt: g.CreatedAt,
		})
	}
	sort.Slice(st.Registrations, func(i, j int) bool { return st.Registrations[i].ID < st.Registrations[j].ID })
	for _, c := range s.certs {
		st.Certificates = append(st.Certificates, certState(c))
	}
	sort.Slice(st.Certificates, func(i, j int) bool { return st.Certificates[i].Serial < st.Certificates[j].Serial })
	return st
}

func certState(c *certificate) CertState {
	cs := CertState{Serial: c.Serial, Names: append([]string(nil), c.Names...), RegID: c.RegID, NotAfter: c.NotAfter, Status: "valid"}
	if c.Revoked {
		reason, at := c.Reason, c.RevokedAt
		cs.Status, cs.Reason, cs.RevokedAt = "revoked", &reason, &at
	}
	return cs
}

// Certificate reports one issued certificate by lower-case hex serial.
func (s *Server) Certificate(serial string) (CertState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.certs[strings.ToLower(serial)]
	if !ok {
		return CertState{}, false
	}
	return certState(c), true
}

// RequestCount is how many requests with method reached endpoint (e.g.
// "new-reg", "directory", "challenge"); method "" sums all methods.
func (s *Server) RequestCount(endpoint, method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if method != "" {
		return s.counts[endpoint][method]
	}
	n := 0
	for _, v := range s.counts[endpoint] {
		n += v
	}
	return n
}

type faultRequest struct {
	Name              string `json:"name"`
	Count             int    `json:"count"`
	RetryAfterSeconds int    `json:"retry_after_seconds"`
}

func (s *Server) handleManagement(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, ManagementPrefix)
	parts := strings.Split(rest, "/")
	send := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		b, _ := json.MarshalIndent(v, "", "  ")
		_, _ = w.Write(append(b, '\n'))
	}
	fail := func(status int, msg string) { send(status, map[string]string{"error": msg}) }
	get := r.Method == http.MethodGet
	switch {
	case get && rest == "state":
		send(http.StatusOK, s.Snapshot())
	case get && rest == "requests":
		send(http.StatusOK, s.Snapshot().Requests)
	case get && rest == "registrations":
		send(http.StatusOK, s.Snapshot().Registrations)
	case get && len(parts) == 2 && parts[0] == "registrations":
		id, _ := strconv.ParseInt(parts[1], 10, 64)
		for _, g := range s.Snapshot().Registrations {
			if g.ID == id {
				send(http.StatusOK, g)
				return
			}
		}
		fail(http.StatusNotFound, "no such registration")
	case get && rest == "certificates":
		send(http.StatusOK, s.Snapshot().Certificates)
	case get && len(parts) == 2 && parts[0] == "certificates":
		if c, ok := s.Certificate(parts[1]); ok {
			send(http.StatusOK, c)
			return
		}
		fail(http.StatusNotFound, "no such certificate")
	case get && rest == "faults":
		send(http.StatusOK, s.Snapshot().Faults)
	case r.Method == http.MethodPost && rest == "faults":
		var fr faultRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&fr); err != nil {
			fail(http.StatusBadRequest, "body must be JSON {\"name\":…, \"count\":…, \"retry_after_seconds\":…}")
			return
		}
		if fr.RetryAfterSeconds > 0 {
			s.SetRetryAfter(time.Duration(fr.RetryAfterSeconds) * time.Second)
		}
		if err := s.SetFault(fr.Name, fr.Count); err != nil {
			fail(http.StatusBadRequest, err.Error())
			return
		}
		send(http.StatusOK, s.Snapshot().Faults)
	case r.Method == http.MethodDelete && len(parts) == 2 && parts[0] == "faults":
		if err := s.ClearFault(parts[1]); err != nil {
			var uf *UnknownFaultError
			if errors.As(err, &uf) {
				fail(http.StatusNotFound, err.Error())
				return
			}
			fail(http.StatusBadRequest, err.Error())
			return
		}
		send(http.StatusOK, s.Snapshot().Faults)
	case get && rest == "roots/issuer":
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(s.IssuerRootPEM())
	case get && rest == "roots/https":
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(s.HTTPSRootPEM())
	default:
		fail(http.StatusNotFound, "unknown management endpoint (see the v1ca package documentation)")
	}
}
