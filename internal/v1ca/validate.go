package v1ca

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/miekg/dns"
)

// keyAuthorization is token "." base64url(JWK thumbprint) (reference §9.1).
func keyAuthorization(token string, key *jose.JSONWebKey) (string, error) {
	t, err := thumbprint(key)
	if err != nil {
		return "", err
	}
	return token + "." + t, nil
}

type validationJob struct {
	authzID, typ, name, token, keyAuth string
	chID                               int64
}

// validate runs one challenge validation and records the result. Every
// name resolves to 127.0.0.1; nothing but loopback is dialled.
func (s *Server) validate(job validationJob) {
	defer s.work.Done()
	ctx, cancel := context.WithTimeout(s.runCtx, s.cfg.ValidationTimeout)
	defer cancel()
	var (
		recs []validationRecord
		prob *Problem
	)
	switch job.typ {
	case "http-01":
		recs, prob = s.validateHTTP01(ctx, job)
	case "tls-alpn-01":
		recs, prob = s.validateTLSALPN01(ctx, job)
	case "dns-01":
		recs = []validationRecord{{Hostname: job.name}}
		prob = s.validateDNS01(ctx, job)
	default:
		prob = internalError("unknown challenge type %s", job.typ)
	}
	now := s.now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	az := s.authzs[job.authzID]
	if az == nil {
		return
	}
	az.processing = false
	if az.Status != "pending" { // deactivated meanwhile
		return
	}
	for _, ch := range az.Challenges {
		if ch.ID != job.chID {
			continue
		}
		ch.ValidationRecord = recs
		if prob == nil {
			ch.Status = "valid"
			ch.Validated = &now
		} else {
			ch.Status = "invalid"
			ch.Error = prob
		}
	}
	if prob == nil {
		az.Status = "valid"
		az.Expires = now.Add(validAuthzLifetime)
		s.log.Info("authorization valid", "domain", job.name, "challenge_type", job.typ)
		return
	}
	// Since 2018-03 Boulder showed every challenge of an invalid authz as invalid.
	az.Status = "invalid"
	for _, ch := range az.Challenges {
		ch.Status = "invalid"
	}
	s.log.Info("authorization invalid", "domain", job.name, "challenge_type", job.typ, "detail", prob.Detail)
}

func validationError(typ, format string, args ...any) *Problem {
	status := http.StatusBadRequest
	if typ == probUnauthorized {
		status = http.StatusForbidden
	}
	return problem(typ, status, format, args...)
}

// loopbackDialer dials 127.0.0.1 on the given port whatever the host asked.
func loopbackDial(port int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if p != strconv.Itoa(port) {
			return nil, fmt.Errorf("refusing to dial port %s (only the configured port %d)", p, port)
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", p))
	}
}

const maxHTTP01Body = 128

func (s *Server) validateHTTP01(ctx context.Context, job validationJob) ([]validationRecord, *Problem) {
	port := s.cfg.HTTP01Port
	host := job.name
	if port != 80 {
		host = net.JoinHostPort(job.name, strconv.Itoa(port))
	}
	url := "http://" + host + "/.well-known/acme-challenge/" + job.token
	rec := validationRecord{URL: url, Hostname: job.name, Port: strconv.Itoa(port), AddressesResolved: []string{"127.0.0.1"}, AddressUsed: "127.0.0.1"}
	recs := []validationRecord{rec}
	client := &http.Client{
		Transport: &http.Transport{DialContext: loopbackDial(port), DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("too many redirects")
			}
			if req.URL.Scheme != "http" {
				return fmt.Errorf("redirect to scheme %q not followed by this test CA", req.URL.Scheme)
			}
			p := req.URL.Port()
			if p == "" {
				p = "80"
			}
			recs = append(recs, validationRecord{URL: req.URL.String(), Hostname: req.URL.Hostname(), Port: p, AddressesResolved: []string{"127.0.0.1"}, AddressUsed: "127.0.0.1"})
			if net.ParseIP(req.URL.Hostname()) != nil {
				return errors.New("redirect to a bare IP address")
			}
			return nil
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return recs, validationError(probConnection, "Could not build request for %s", url)
	}
	req.Header.Set("User-Agent", "acmectl-testca validation (Boulder v1 compatible)")
	req.Header.Set("Accept", "*/*")
	res, err := client.Do(req)
	if err != nil {
		return recs, validationError(probConnection, "Could not connect to %s: %v", job.name, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxHTTP01Body+1))
	if err != nil {
		return recs, validationError(probConnection, "Error reading HTTP response body from %s: %v", url, err)
	}
	if res.StatusCode != http.StatusOK {
		return recs, validationError(probUnauthorized, "Invalid response from %s: %d", url, res.StatusCode)
	}
	got := strings.TrimSpace(string(body))
	if len(body) > maxHTTP01Body || subtle.ConstantTimeCompare([]byte(got), []byte(job.keyAuth)) != 1 {
		return recs, validationError(probUnauthorized, "The key authorization file from the server did not match this challenge %q != %q", job.keyAuth, truncate(got, 64))
	}
	return recs, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// idPeAcmeIdentifier is RFC 8737's extension OID.
var idPeAcmeIdentifier = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}

func (s *Server) validateTLSALPN01(ctx context.Context, job validationJob) ([]validationRecord, *Problem) {
	port := strconv.Itoa(s.cfg.TLSALPN01Port)
	recs := []validationRecord{{Hostname: job.name, Port: port, AddressesResolved: []string{"127.0.0.1"}, AddressUsed: "127.0.0.1"}}
	d := &tls.Dialer{Config: &tls.Config{
		ServerName:         job.name,
		NextProtos:         []string{"acme-tls/1"},
		InsecureSkipVerify: true, // the certificate is checked below, not against roots
		MinVersion:         tls.VersionTLS12,
	}}
	conn, err := d.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return recs, validationError(probConnection, "Error getting validation data from %s: %v", job.name, err)
	}
	defer conn.Close()
	cs := conn.(*tls.Conn).ConnectionState()
	if cs.NegotiatedProtocol != "acme-tls/1" {
		return recs, validationError(probUnauthorized, "Cannot negotiate ALPN protocol \"acme-tls/1\" for tls-alpn-01 challenge")
	}
	if len(cs.PeerCertificates) == 0 {
		return recs, validationError(probUnauthorized, "No certificates presented for tls-alpn-01 challenge")
	}
	leaf := cs.PeerCertificates[0]
	if len(leaf.DNSNames) != 1 || !strings.EqualFold(leaf.DNSNames[0], job.name) ||
		len(leaf.IPAddresses)+len(leaf.EmailAddresses)+len(leaf.URIs) != 0 {
		return recs, validationError(probUnauthorized, "Incorrect validation certificate for tls-alpn-01 challenge. Requested %s from %s. Received certificate containing %v", job.name, recs[0].AddressUsed, leaf.DNSNames)
	}
	want := sha256.Sum256([]byte(job.keyAuth))
	for _, ext := range leaf.Extensions {
		if !ext.Id.Equal(idPeAcmeIdentifier) {
			continue
		}
		if !ext.Critical {
			return recs, validationError(probUnauthorized, "Incorrect validation certificate for tls-alpn-01 challenge. acmeValidationV1 extension not critical")
		}
		var got []byte
		rest, err := asn1.Unmarshal(ext.Value, &got)
		if err != nil || len(rest) != 0 || subtle.ConstantTimeCompare(got, want[:]) != 1 {
			return recs, validationError(probUnauthorized, "Incorrect validation certificate for tls-alpn-01 challenge. Invalid acmeValidationV1 extension value")
		}
		return recs, nil
	}
	return recs, validationError(probUnauthorized, "Incorrect validation certificate for tls-alpn-01 challenge. Missing acmeValidationV1 extension")
}

func (s *Server) validateDNS01(ctx context.Context, job validationJob) *Problem {
	sum := sha256.Sum256([]byte(job.keyAuth))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	qname := dns.Fqdn("_acme-challenge." + job.name)
	m := new(dns.Msg)
	m.SetQuestion(qname, dns.TypeTXT)
	m.RecursionDesired = true
	m.SetEdns0(4096, false)
	c := &dns.Client{Net: "udp"}
	in, _, err := c.ExchangeContext(ctx, m, s.cfg.DNSServer)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, s.cfg.DNSServer)
	}
	if err != nil {
		return validationError(probDNS, "DNS problem: query timed out or failed looking up TXT for %s: %v", strings.TrimSuffix(qname, "."), err)
	}
	if in.Rcode != dns.RcodeSuccess {
		return validationError(probDNS, "DNS problem: %s looking up TXT for %s", dns.RcodeToString[in.Rcode], strings.TrimSuffix(qname, "."))
	}
	var found []string
	for _, rr := range in.Answer {
		txt, ok := rr.(*dns.TXT)
		if !ok {
			continue
		}
		v := strings.Join(txt.Txt, "")
		if subtle.ConstantTimeCompare([]byte(v), []byte(want)) == 1 {
			return nil
		}
		found = append(found, truncate(v, 64))
	}
	if len(found) == 0 {
		return validationError(probUnauthorized, "No TXT record found at %s", strings.TrimSuffix(qname, "."))
	}
	return validationError(probUnauthorized, "Incorrect TXT record %q found at %s", found[0], strings.TrimSuffix(qname, "."))
}
