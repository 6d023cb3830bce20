package v1ca

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"
)

// certificate is one issued end-entity certificate.
type certificate struct {
	Serial    string
	DER       []byte
	Names     []string
	RegID     int64
	NotAfter  time.Time
	Revoked   bool
	Reason    int
	RevokedAt time.Time
}

var serialRE = regexp.MustCompile(`^[0-9a-f]{36}$`)

func serialHex(n *big.Int) string { return fmt.Sprintf("%036x", n) }

// decodeB64 accepts base64url with or without padding.
func decodeB64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// csrNames checks a CSR as Boulder did (reference §10.1) and returns its
// lower-cased, de-duplicated, sorted names and the CN to use.
func csrNames(csr *x509.CertificateRequest, accountThumb string) ([]string, string, *Problem) {
	if err := csr.CheckSignature(); err != nil {
		return nil, "", malformed("Error creating new cert :: invalid signature on CSR")
	}
	if err := checkKeyPolicy(csr.PublicKey); err != nil {
		return nil, "", malformed("Error creating new cert :: invalid public key in CSR: %v", err)
	}
	if t, err := publicKeyThumbprint(csr.PublicKey); err == nil && t == accountThumb {
		return nil, "", malformed("Error creating new cert :: certificate public key must be different than account key")
	}
	if len(csr.IPAddresses)+len(csr.EmailAddresses)+len(csr.URIs) > 0 {
		return nil, "", malformed("Error creating new cert :: CSR contains one or more forbidden identifiers (IP addresses, e-mail addresses or URIs)")
	}
	cn := strings.ToLower(csr.Subject.CommonName)
	if len(cn) > 64 {
		return nil, "", malformed("Error creating new cert :: CN was longer than 64 bytes")
	}
	set := map[string]bool{}
	if cn != "" {
		set[cn] = true
	}
	for _, n := range csr.DNSNames {
		set[strings.ToLower(n)] = true
	}
	if len(set) == 0 {
		return nil, "", malformed("Error creating new cert :: CSR has no names in it")
	}
	if len(set) > 100 {
		return nil, "", malformed("Error creating new cert :: CSR contains more than 100 DNS names")
	}
	names := make([]string, 0, len(set))
	for n := range set {
		if p := checkName(n); p != nil {
			p.Detail = "Error creating new cert :: " + p.Detail
			return nil, "", p
		}
		names = append(names, n)
	}
	sort.Strings(names)
	if cn == "" {
		for _, n := range csr.DNSNames {
			if len(n) <= 64 {
				cn = strings.ToLower(n)
				break
			}
		}
	}
	return names, cn, nil
}

func (s *Server) postNewCert(w http.ResponseWriter, r *http.Request, req *signedRequest) {
	if p := s.checkAgreement(req.reg, mustAgree); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	var in struct {
		CSR string `json:"csr"`
	}
	if p := req.decode(&in); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	der, err := decodeB64(in.CSR)
	if err != nil || len(der) == 0 {
		s.writeProblem(w, r, malformed("Error unmarshaling certificate request"))
		return
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		s.writeProblem(w, r, malformed("Error parsing certificate request: %v", err))
		return
	}
	names, cn, p := csrNames(csr, req.thumb)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	if s.rateLimited(w, r) {
		return
	}
	now := s.now()
	s.mu.Lock()
	var missing []string
	for _, n := range names {
		if !s.hasValidAuthzLocked(req.reg.ID, n, now) {
			missing = append(missing, n)
		}
	}
	s.mu.Unlock()
	if len(missing) > 0 {
		s.writeProblem(w, r, unauthorized("Error creating new cert :: authorizations for these names not found or expired: %s", strings.Join(missing, ", ")))
		return
	}
	serial, err := newSerial()
	if err != nil {
		s.writeProblem(w, r, internalError("Error creating new cert"))
		return
	}
	notBefore := now.Add(-time.Hour).UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		DNSNames:              names,
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(s.cfg.Validity - time.Second),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IssuingCertificateURL: []string{origin(r) + "/acme/issuer-cert"},
	}
	if _, ok := csr.PublicKey.(*rsa.PublicKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, s.issuer.inter, csr.PublicKey, s.issuer.interKey)
	if err != nil {
		s.writeProblem(w, r, internalError("Error creating new cert :: %v", err))
		return
	}
	c := &certificate{Serial: serialHex(serial), DER: certDER, Names: names, RegID: req.reg.ID, NotAfter: tmpl.NotAfter}
	s.mu.Lock()
	s.certs[c.Serial] = c
	s.mu.Unlock()
	s.log.Info("certificate issued", "serial", c.Serial, "domains", names, "reg_id", req.reg.ID)
	o := origin(r)
	w.Header().Set("Location", o+"/acme/cert/"+c.Serial)
	addLink(w, o+"/acme/issuer-cert", "up")
	w.Header().Set("Content-Type", "application/pkix-cert")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(certDER)
}

// hasValidAuthzLocked: reg holds a valid, unexpired authorization for name.
func (s *Server) hasValidAuthzLocked(regID int64, name string, now time.Time) bool {
	for _, az := range s.authzs {
		if az.RegID == regID && az.Identifier.Value == name && az.Status == "valid" && az.Expires.After(now) {
			return true
		}
	}
	return false
}

func (s *Server) getCert(w http.ResponseWriter, r *http.Request, serial string) {
	s.mu.Lock()
	var c *certificate
	if serialRE.MatchString(serial) {
		c = s.certs[serial]
	}
	s.mu.Unlock()
	if c == nil {
		s.writeProblem(w, r, notFound("Certificate not found"))
		return
	}
	addLink(w, origin(r)+"/acme/issuer-cert", "up")
	w.Header().Set("Content-Type", "application/pkix-cert")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(c.DER)
	}
}

// allowedReasons are the revocation reasons v1 accepted (reference §11).
var allowedReasons = map[int]bool{0: true, 1: true, 3: true, 4: true, 5: true}

func (s *Server) postRevoke(w http.ResponseWriter, r *http.Request, req *signedRequest) {
	var in struct {
		Certificate string `json:"certificate"`
		Reason      *int   `json:"reason"`
	}
	if p := req.decode(&in); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	der, err := decodeB64(in.Certificate)
	if err != nil || len(der) == 0 {
		s.writeProblem(w, r, malformed("Unable to decode certificate"))
		return
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		s.writeProblem(w, r, malformed("Unable to parse certificate DER"))
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.certs[serialHex(parsed.SerialNumber)]
	var p *Problem
	switch {
	case c == nil || !bytes.Equal(c.DER, der):
		p = notFound("No such certificate")
	case !now.Before(c.NotAfter):
		p = unauthorized("Certificate is expired")
	case c.Revoked:
		p = problem(probMalformed, http.StatusConflict, "Certificate already revoked")
	case in.Reason != nil && !allowedReasons[*in.Reason]:
		p = malformed("unsupported revocation reason code provided: %d. Supported reasons: 0 (unspecified), 1 (keyCompromise), 3 (affiliationChanged), 4 (superseded), 5 (cessationOfOperation)", *in.Reason)
	}
	if p == nil {
		// The certificate key, the issuing registration, or a registration
		// holding valid authorizations for every name may revoke.
		certThumb, _ := publicKeyThumbprint(parsed.PublicKey)
		ok := certThumb == req.thumb
		if !ok && req.reg != nil {
			ok = req.reg.ID == c.RegID
			if !ok {
				ok = true
				for _, n := range c.Names {
					if !s.hasValidAuthzLocked(req.reg.ID, n, now) {
						ok = false
						break
					}
				}
			}
		}
		if !ok {
			p = unauthorized("The key ID specified in the revocation request does not hold valid authorizations for all names in the certificate.")
		}
	}
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	c.Revoked, c.RevokedAt = true, now.UTC()
	if in.Reason != nil {
		c.Reason = *in.Reason
	}
	s.log.Info("certificate revoked", "serial", c.Serial, "reason", c.Reason)
	w.WriteHeader(http.StatusOK)
}
