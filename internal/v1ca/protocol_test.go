package v1ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func TestNonceOnEveryResponse(t *testing.T) {
	s := startCA(t, Config{})
	c := newClient(t, s, newECKey(t))
	seen := map[string]bool{}
	check := func(name string, r *response, status int) {
		t.Helper()
		if r.status != status {
			t.Errorf("%s: status %d; want %d (%s)", name, r.status, status, r.body)
		}
		n := r.header.Get("Replay-Nonce")
		if n == "" {
			t.Errorf("%s: no Replay-Nonce", name)
		}
		if seen[n] {
			t.Errorf("%s: nonce %q repeated", name, n)
		}
		seen[n] = true
		if _, err := base64.RawURLEncoding.DecodeString(n); err != nil {
			t.Errorf("%s: nonce %q not base64url", name, n)
		}
		if cc := r.header.Get("Cache-Control"); cc != "public, max-age=0, no-cache" {
			t.Errorf("%s: Cache-Control %q", name, cc)
		}
	}
	check("GET directory", c.get(http.MethodGet, c.url("/directory")), 200)
	check("HEAD directory", c.get(http.MethodHead, c.url("/directory")), 200)
	r := c.get(http.MethodHead, c.url("/acme/new-reg"))
	check("HEAD new-reg", r, 405)
	if got := r.header.Get("Allow"); got != "POST" {
		t.Errorf("HEAD new-reg Allow = %q; want POST", got)
	}
	r = c.get(http.MethodGet, c.url("/acme/new-cert"))
	check("GET new-cert", r, 405)
	if p := r.problem(t); p.Type != probMalformed {
		t.Errorf("405 type %q", p.Type)
	}
	check("GET unknown authz", c.get(http.MethodGet, c.url("/acme/authz/nope")), 404)
	check("GET unknown cert", c.get(http.MethodGet, c.url("/acme/cert/00")), 404)
	check("HEAD issuer-cert", c.get(http.MethodHead, c.url("/acme/issuer-cert")), 200)
	check("POST garbage", c.postRaw(c.url("/acme/new-reg"), []byte("{")), 400)
	check("POST new-reg", c.post(c.url("/acme/new-reg"), map[string]any{"resource": "new-reg"}), 201)
	if err := s.SetFault(Fault5xx, 0); err != nil {
		t.Fatal(err)
	}
	check("5xx fault", c.get(http.MethodGet, c.url("/directory")), 500)
}

func TestBadNonce(t *testing.T) {
	s := startCA(t, Config{})
	c := newClient(t, s, newECKey(t))
	n, _ := c.Nonce()
	body := c.sign(c.key, []byte(`{"resource":"new-reg"}`), false)
	// No nonce at all.
	if p := c.postRaw(c.url("/acme/new-reg"), body).problem(t); p.Type != probBadNonce || p.Detail != "JWS has no anti-replay nonce" {
		t.Errorf("no nonce: %+v", p)
	}
	// Use one nonce twice.
	c.nonce = ""
	fixed := fixedNonce(n)
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: c.key}, &jose.SignerOptions{EmbedJWK: true, NonceSource: fixed})
	jws, _ := signer.Sign([]byte(`{"resource":"new-reg"}`))
	want(t, c.postRaw(c.url("/acme/new-reg"), []byte(jws.FullSerialize())), http.StatusCreated)
	jws, _ = signer.Sign([]byte(`{"resource":"reg"}`))
	r := c.postRaw(c.url("/acme/new-reg"), []byte(jws.FullSerialize()))
	p := r.problem(t)
	if r.status != 400 || p.Type != probBadNonce || !strings.Contains(p.Detail, "invalid anti-replay nonce "+n) {
		t.Errorf("reused nonce: %d %+v", r.status, p)
	}
	// An invented nonce.
	signer, _ = jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: c.key}, &jose.SignerOptions{EmbedJWK: true, NonceSource: fixedNonce("AAAAAAAAAAAAAAAAAAAAAA")})
	jws, _ = signer.Sign([]byte(`{"resource":"new-reg"}`))
	if p := c.postRaw(c.url("/acme/new-reg"), []byte(jws.FullSerialize())).problem(t); p.Type != probBadNonce {
		t.Errorf("invented nonce: %+v", p)
	}
}

type fixedNonce string

func (f fixedNonce) Nonce() (string, error) { return string(f), nil }

func TestResourceField(t *testing.T) {
	s := startCA(t, Config{})
	c := newClient(t, s, newECKey(t))
	tests := []struct {
		name    string
		url     string
		payload any
		detail  string
	}{
		{"wrong resource", "/acme/new-reg", map[string]any{"resource": "new-authz"}, "JWS resource payload does not match the HTTP resource: new-authz != new-reg"},
		{"missing resource", "/acme/new-reg", map[string]any{"contact": []string{}}, "Request payload does not specify a resource"},
		{"not JSON object", "/acme/new-reg", "just a string", "Request payload did not parse as JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.post(c.url(tc.url), tc.payload)
			p := r.problem(t)
			if r.status != 400 || p.Type != probMalformed || p.Detail != tc.detail {
				t.Errorf("got %d %+v; want 400 malformed %q", r.status, p, tc.detail)
			}
		})
	}
	// For a registered key, resource on reg URL must be "reg".
	reg := c.register()
	r := c.post(reg, map[string]any{"resource": "new-reg"})
	if p := r.problem(t); p.Detail != "JWS resource payload does not match the HTTP resource: new-reg != reg" {
		t.Errorf("reg with resource new-reg: %+v", p)
	}
}

func TestVerificationOrder(t *testing.T) {
	s := startCA(t, Config{})
	c := newClient(t, s, newECKey(t))
	// Unknown key on new-authz: 403 before the (missing) nonce is looked at.
	body := c.sign(c.key, []byte(`{"resource":"new-authz"}`), false)
	r := c.postRaw(c.url("/acme/new-authz"), body)
	if p := r.problem(t); r.status != 403 || p.Type != probUnauthorized || p.Detail != "No registration exists matching provided key" {
		t.Errorf("unknown key: %d %+v", r.status, p)
	}
	// A kid-only JWS (RFC 8555 style) has no JWK.
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: c.key}, &jose.SignerOptions{NonceSource: c, ExtraHeaders: map[jose.HeaderKey]any{"kid": "https://x/acct/1"}})
	jws, _ := signer.Sign([]byte(`{"resource":"new-reg"}`))
	if p := c.postRaw(c.url("/acme/new-reg"), []byte(jws.FullSerialize())).problem(t); p.Detail != "No JWK in JWS header" {
		t.Errorf("kid only: %+v", p)
	}
	// Bad signature: flip a byte of the signature.
	var flat map[string]string
	_ = json.Unmarshal(c.sign(c.key, []byte(`{"resource":"new-reg"}`), true), &flat)
	sig, _ := base64.RawURLEncoding.DecodeString(flat["signature"])
	sig[0] ^= 0xff
	flat["signature"] = base64.RawURLEncoding.EncodeToString(sig)
	b, _ := json.Marshal(flat)
	if p := c.postRaw(c.url("/acme/new-reg"), b).problem(t); p.Detail != "JWS verification error" {
		t.Errorf("bad signature: %+v", p)
	}
	// Deactivated registration.
	reg := c.register()
	want(t, c.post(reg, map[string]any{"resource": "reg", "status": "deactivated"}), http.StatusOK)
	if p := c.post(reg, map[string]any{"resource": "reg"}).problem(t); p.Detail != "Registration is not valid, has status 'deactivated'" {
		t.Errorf("deactivated: %+v", p)
	}
	// Unprotected "header" member with alg+jwk as dehydrated sends: tolerated.
	d := newClient(t, s, newRSAKey(t))
	_ = json.Unmarshal(d.sign(d.key, []byte(`{"resource":"new-reg"}`), true), &flat)
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: d.key.Public()})
	withHeader := fmt.Sprintf(`{"header":{"alg":"RS256","jwk":%s},"protected":%q,"payload":%q,"signature":%q}`, jwk, flat["protected"], flat["payload"], flat["signature"])
	want(t, d.postRaw(d.url("/acme/new-reg"), []byte(withHeader)), http.StatusCreated)
}

func TestProblemTypes(t *testing.T) {
	s := startCA(t, Config{})
	c := newClient(t, s, newECKey(t))
	reg := c.register()

	// 409 + Location for a key already registered.
	r := c.post(c.url("/acme/new-reg"), map[string]any{"resource": "new-reg"})
	if p := r.problem(t); r.status != 409 || p.Type != probMalformed || p.Detail != "Registration key is already in use" || r.header.Get("Location") != reg {
		t.Errorf("409: %d %+v Location %q", r.status, p, r.header.Get("Location"))
	}
	// 411 without Content-Length (chunked body).
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, c.url("/acme/new-reg"), strings.NewReader("{}"))
	req.ContentLength = -1
	req.TransferEncoding = []string{"chunked"}
	r = c.do(req)
	if p := r.problem(t); r.status != 411 || p.Type != probMalformed {
		t.Errorf("411: %d %+v", r.status, p)
	}
	// 403 for an oversized body.
	r = c.postRaw(c.url("/acme/new-reg"), bytes.Repeat([]byte("x"), maxBody+1))
	if p := r.problem(t); r.status != 403 || p.Type != probUnauthorized || p.Detail != "request body too large" {
		t.Errorf("too large: %d %+v", r.status, p)
	}
	// invalidEmail and unsupported contact scheme.
	d := newClient(t, s, newECKey(t))
	if p := d.post(d.url("/acme/new-reg"), map[string]any{"resource": "new-reg", "contact": []string{"mailto:not an address"}}).problem(t); p.Type != probInvalidEmail {
		t.Errorf("bad email: %+v", p)
	}
	if p := d.post(d.url("/acme/new-reg"), map[string]any{"resource": "new-reg", "contact": []string{"tel:+1555"}}).problem(t); p.Type != probMalformed || p.Detail != "contact method tel is not supported" {
		t.Errorf("tel: %+v", p)
	}
	// new-authz policy: wildcard, IP, non-dns type.
	for _, tc := range []struct{ typ, value, detail string }{
		{"dns", "*.example.org", "Wildcard names not supported"},
		{"dns", "127.0.0.1", "IP address"},
		{"ip", "127.0.0.1", "Invalid identifier type"},
		{"dns", "localhost", "not have enough labels"},
	} {
		r := c.post(c.url("/acme/new-authz"), map[string]any{"resource": "new-authz", "identifier": map[string]string{"type": tc.typ, "value": tc.value}})
		if p := r.problem(t); r.status != 400 || p.Type != probMalformed || !strings.Contains(p.Detail, tc.detail) {
			t.Errorf("new-authz %s %s: %d %+v", tc.typ, tc.value, r.status, p)
		}
	}
	// Wrong registration in the reg URL; non-numeric id.
	if p := c.post(c.url("/acme/reg/999"), map[string]any{"resource": "reg"}).problem(t); p.Type != probUnauthorized {
		t.Errorf("other reg: %+v", p)
	}
	if p := c.post(c.url("/acme/reg/abc"), map[string]any{"resource": "reg"}).problem(t); p.Type != probMalformed {
		t.Errorf("bad reg id: %+v", p)
	}
	// new-cert without authorizations: 403 listing the names.
	csr := makeCSR(t, newECKey(t), "a.example.org", "b.example.org")
	r = c.post(c.url("/acme/new-cert"), map[string]any{"resource": "new-cert", "csr": base64.RawURLEncoding.EncodeToString(csr)})
	if p := r.problem(t); r.status != 403 || !strings.Contains(p.Detail, "authorizations for these names not found or expired: a.example.org, b.example.org") {
		t.Errorf("new-cert unauthorized: %d %+v", r.status, p)
	}
	// CSR with the account key.
	csr = makeCSR(t, c.key, "a.example.org")
	if p := c.post(c.url("/acme/new-cert"), map[string]any{"resource": "new-cert", "csr": base64.RawURLEncoding.EncodeToString(csr)}).problem(t); p.Type != probMalformed || !strings.Contains(p.Detail, "account key") {
		t.Errorf("account-key CSR: %+v", p)
	}
	// ES384 account keys are accepted.
	e := newClient(t, s, mustP384(t))
	want(t, e.post(e.url("/acme/new-reg"), map[string]any{"resource": "new-reg"}), http.StatusCreated)
}

func mustP384(t *testing.T) crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func makeCSR(t *testing.T, key crypto.Signer, names ...string) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestTermsAgreement(t *testing.T) {
	s := startCA(t, Config{})
	c := newClient(t, s, newECKey(t))
	newAuthz := func() *response {
		return c.post(c.url("/acme/new-authz"), map[string]any{"resource": "new-authz", "identifier": map[string]string{"type": "dns", "value": "www.example.org"}})
	}
	r := c.post(c.url("/acme/new-reg"), map[string]any{"resource": "new-reg"})
	want(t, r, http.StatusCreated)
	reg := r.header.Get("Location")
	terms := s.TermsURL()
	if links := strings.Join(r.header.Values("Link"), ","); !strings.Contains(links, "<"+terms+`>;rel="terms-of-service"`) || !strings.Contains(links, `/acme/new-authz>;rel="next"`) {
		t.Errorf("new-reg links: %s", links)
	}
	var body map[string]any
	r.json(t, &body)
	if body["id"] != float64(1) || body["status"] != "valid" || body["agreement"] != nil {
		t.Errorf("new-reg body: %v", body)
	}
	if p := newAuthz().problem(t); p.Type != probUnauthorized || p.Detail != mustAgree {
		t.Errorf("new-authz before agreeing: %+v", p)
	}
	if p := c.post(reg, map[string]any{"resource": "reg", "agreement": "https://example.org/other"}).problem(t); p.Type != probMalformed || !strings.Contains(p.Detail, "does not match current agreement URL") {
		t.Errorf("wrong agreement: %+v", p)
	}
	r = c.post(reg, map[string]any{"resource": "reg", "agreement": terms})
	want(t, r, http.StatusAccepted)
	if r.header.Get("Location") != "" {
		t.Errorf("reg update has Location %q", r.header.Get("Location"))
	}
	want(t, newAuthz(), http.StatusCreated)

	// Lenient ToS change (Boulder): the old agreement stays good.
	if err := s.SetFault(FaultNewTermsLenient, 0); err != nil {
		t.Fatal(err)
	}
	if s.TermsURL() == terms {
		t.Fatal("terms URL unchanged after new-terms-lenient")
	}
	want(t, newAuthz(), http.StatusCreated)

	// Enforced ToS change: old agreement refused until the new one is posted.
	if err := s.SetFault(FaultNewTerms, 0); err != nil {
		t.Fatal(err)
	}
	if p := newAuthz().problem(t); p.Detail != mustAgree {
		t.Errorf("after new-terms: %+v", p)
	}
	var dir map[string]any
	c.get(http.MethodGet, c.url("/directory")).json(t, &dir)
	newTerms := dir["meta"].(map[string]any)["terms-of-service"].(string)
	if newTerms != s.TermsURL() {
		t.Errorf("directory terms %q; want %q", newTerms, s.TermsURL())
	}
	want(t, c.post(reg, map[string]any{"resource": "reg", "agreement": newTerms}), http.StatusAccepted)
	want(t, newAuthz(), http.StatusCreated)
}

func TestDirectoryNoMeta(t *testing.T) {
	s := startCA(t, Config{NoMeta: true})
	c := newClient(t, s, newECKey(t))
	var dir map[string]any
	c.get(http.MethodGet, c.url("/directory")).json(t, &dir)
	if _, ok := dir["meta"]; ok || len(dir) != 5 {
		t.Errorf("directory with NoMeta: %v", dir)
	}
	// The terms Link still comes with new-reg, as on pre-2017 Boulder.
	r := c.post(c.url("/acme/new-reg"), map[string]any{"resource": "new-reg"})
	if !strings.Contains(strings.Join(r.header.Values("Link"), ","), "terms-of-service") {
		t.Errorf("no terms Link: %v", r.header)
	}
}

func TestFaults(t *testing.T) {
	s := startCA(t, Config{Faults: []string{FaultBadNonceOnce}})
	c := newClient(t, s, newECKey(t))
	r := c.post(c.url("/acme/new-reg"), map[string]any{"resource": "new-reg"})
	if p := r.problem(t); p.Type != probBadNonce {
		t.Errorf("badnonce-once: %+v", p)
	}
	reg := c.register() // the retry works
	s.SetRetryAfter(7 * time.Second)
	if err := s.SetFault(FaultRateLimit, 2); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		r = c.post(c.url("/acme/new-authz"), map[string]any{"resource": "new-authz", "identifier": map[string]string{"type": "dns", "value": "x.example.org"}})
		if p := r.problem(t); r.status != 429 || p.Type != probRateLimited || r.header.Get("Retry-After") != "7" {
			t.Errorf("ratelimit %d: %d %+v Retry-After %q", i, r.status, p, r.header.Get("Retry-After"))
		}
	}
	want(t, c.post(c.url("/acme/new-authz"), map[string]any{"resource": "new-authz", "identifier": map[string]string{"type": "dns", "value": "x.example.org"}}), http.StatusCreated)
	if err := s.SetFault(FaultRateLimitBare, 1); err != nil {
		t.Fatal(err)
	}
	r = c.post(c.url("/acme/new-authz"), map[string]any{"resource": "new-authz", "identifier": map[string]string{"type": "dns", "value": "x.example.org"}})
	if r.status != 429 || r.header.Get("Retry-After") != "" {
		t.Errorf("ratelimit-no-retry-after: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	if err := s.SetFault(Fault5xx, 0); err != nil {
		t.Fatal(err)
	}
	r = c.post(reg, map[string]any{"resource": "reg"})
	if p := r.problem(t); r.status != 500 || p.Type != probServerInternal {
		t.Errorf("5xx: %d %+v", r.status, p)
	}
	want(t, c.post(reg, map[string]any{"resource": "reg"}), http.StatusAccepted)
	if err := s.SetFault(FaultNoNewReg, 0); err != nil {
		t.Fatal(err)
	}
	d := newClient(t, s, newECKey(t))
	if r := d.post(d.url("/acme/new-reg"), map[string]any{"resource": "new-reg"}); r.status != 403 {
		t.Errorf("no-new-reg: %d", r.status)
	}
	var ue *UnknownFaultError
	if err := s.SetFault("bogus", 0); err == nil || !asUnknown(err, &ue) {
		t.Errorf("SetFault(bogus) = %v", err)
	}
}

func asUnknown(err error, target **UnknownFaultError) bool {
	e, ok := err.(*UnknownFaultError)
	*target = e
	return ok
}
