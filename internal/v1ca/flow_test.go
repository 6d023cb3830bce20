package v1ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/miekg/dns"
)

type wireChal struct {
	Type             string   `json:"type"`
	Status           string   `json:"status"`
	URI              string   `json:"uri"`
	Token            string   `json:"token"`
	KeyAuthorization string   `json:"keyAuthorization"`
	Error            *Problem `json:"error"`
}

type wireAz struct {
	Identifier   identifier `json:"identifier"`
	Status       string     `json:"status"`
	Expires      string     `json:"expires"`
	Challenges   []wireChal `json:"challenges"`
	Combinations [][]int    `json:"combinations"`
}

func (c *client) keyAuth(token string) string {
	c.t.Helper()
	ka, err := keyAuthorization(token, &jose.JSONWebKey{Key: c.key.Public()})
	if err != nil {
		c.t.Fatal(err)
	}
	return ka
}

func (c *client) newAuthz(name string) (string, wireAz) {
	c.t.Helper()
	r := c.post(c.url("/acme/new-authz"), map[string]any{"resource": "new-authz", "identifier": map[string]string{"type": "dns", "value": name}})
	want(c.t, r, http.StatusCreated)
	var az wireAz
	r.json(c.t, &az)
	return r.header.Get("Location"), az
}

func chal(t *testing.T, az wireAz, typ string) wireChal {
	t.Helper()
	for _, ch := range az.Challenges {
		if ch.Type == typ {
			return ch
		}
	}
	t.Fatalf("no %s challenge in %+v", typ, az)
	return wireChal{}
}

// accept answers a challenge and polls the authz until it is final.
func (c *client) accept(azURL string, ch wireChal) wireAz {
	c.t.Helper()
	r := c.post(ch.URI, map[string]any{"resource": "challenge", "type": ch.Type, "keyAuthorization": c.keyAuth(ch.Token)})
	want(c.t, r, http.StatusAccepted)
	if r.header.Get("Location") != ch.URI || !strings.Contains(r.header.Get("Link"), "<"+azURL+`>;rel="up"`) {
		c.t.Errorf("challenge POST headers: %v", r.header)
	}
	var got wireChal
	r.json(c.t, &got)
	if got.URI != ch.URI || got.KeyAuthorization != c.keyAuth(ch.Token) {
		c.t.Errorf("challenge POST body: %+v", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r := c.get(http.MethodGet, azURL)
		want(c.t, r, http.StatusOK)
		var az wireAz
		r.json(c.t, &az)
		if az.Status != "pending" {
			return az
		}
		time.Sleep(10 * time.Millisecond) // polling interval, as a v1 client would
	}
	c.t.Fatalf("authorization %s still pending", azURL)
	return wireAz{}
}

func TestIssueRevokeHTTP01(t *testing.T) {
	h := startHTTP01(t)
	s := startCA(t, Config{HTTP01Port: h.port})
	c := newClient(t, s, newRSAKey(t))
	c.register()

	names := []string{"www.example.org", "example.org"}
	for _, name := range names {
		azURL, az := c.newAuthz(name)
		if az.Status != "pending" || len(az.Challenges) != 1 || len(az.Combinations) != 1 || az.Expires == "" {
			t.Fatalf("new authz: %+v", az)
		}
		// A second new-authz returns the pending one (Boulder reuse).
		if again, _ := c.newAuthz(name); again != azURL {
			t.Errorf("pending authz not reused: %s != %s", again, azURL)
		}
		ch := chal(t, az, "http-01")
		if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(ch.Token) {
			t.Errorf("token %q", ch.Token)
		}
		// GET on the challenge answers 202 (node acme-client depends on it).
		if r := c.get(http.MethodGet, ch.URI); r.status != http.StatusAccepted {
			t.Errorf("challenge GET %d", r.status)
		}
		h.set(ch.Token, c.keyAuth(ch.Token))
		if got := c.accept(azURL, ch); got.Status != "valid" || got.Challenges[0].Status != "valid" {
			t.Fatalf("authz after validation: %+v", got)
		}
		// A valid authorization is reused too, still with 201.
		if again, az := c.newAuthz(name); again != azURL || az.Status != "valid" {
			t.Errorf("valid authz not reused: %s %+v", again, az)
		}
	}
	certKey := newECKey(t)
	csr := makeCSR(t, certKey, names...)
	r := c.post(c.url("/acme/new-cert"), map[string]any{"resource": "new-cert", "csr": base64.RawURLEncoding.EncodeToString(csr), "notBefore": "x"})
	want(t, r, http.StatusCreated)
	if r.header.Get("Content-Type") != "application/pkix-cert" {
		t.Errorf("new-cert Content-Type %q", r.header.Get("Content-Type"))
	}
	leaf, err := x509.ParseCertificate(r.body)
	if err != nil {
		t.Fatalf("new-cert body: %v", err)
	}
	certURL := r.header.Get("Location")
	if !regexp.MustCompile(`/acme/cert/[0-9a-f]{36}$`).MatchString(certURL) {
		t.Errorf("cert URL %q", certURL)
	}
	up := regexp.MustCompile(`<([^>]+)>;rel="up"`).FindStringSubmatch(r.header.Get("Link"))
	if up == nil {
		t.Fatalf("no up link: %v", r.header)
	}
	ir := c.get(http.MethodGet, up[1])
	want(t, ir, http.StatusOK)
	inter, err := x509.ParseCertificate(ir.body)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(s.IssuerRootPEM())
	inters := x509.NewCertPool()
	inters.AddCert(inter)
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "example.org", Roots: roots, Intermediates: inters}); err != nil {
		t.Errorf("verify leaf: %v", err)
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d < 89*24*time.Hour || d > 90*24*time.Hour {
		t.Errorf("validity %v", d)
	}
	if gr := c.get(http.MethodGet, certURL); gr.status != 200 || string(gr.body) != string(r.body) {
		t.Errorf("GET cert: %d", gr.status)
	}

	// Another account may not revoke; the certificate key may.
	other := newClient(t, s, newECKey(t))
	other.register()
	revoke := map[string]any{"resource": "revoke-cert", "certificate": base64.RawURLEncoding.EncodeToString(leaf.Raw), "reason": 4}
	if p := other.post(c.url("/acme/revoke-cert"), revoke).problem(t); p.Type != probUnauthorized {
		t.Errorf("revoke by stranger: %+v", p)
	}
	if p := c.post(c.url("/acme/revoke-cert"), map[string]any{"resource": "revoke-cert", "certificate": base64.RawURLEncoding.EncodeToString(leaf.Raw), "reason": 2}).problem(t); p.Type != probMalformed || !strings.Contains(p.Detail, "unsupported revocation reason") {
		t.Errorf("reason 2: %+v", p)
	}
	r = c.postKey(certKey, c.url("/acme/revoke-cert"), revoke)
	want(t, r, http.StatusOK)
	if len(r.body) != 0 {
		t.Errorf("revoke body %q", r.body)
	}
	st, ok := s.Certificate(serialHex(leaf.SerialNumber))
	if !ok || st.Status != "revoked" || st.Reason == nil || *st.Reason != 4 {
		t.Errorf("certificate state %+v", st)
	}
	r = c.post(c.url("/acme/revoke-cert"), revoke)
	if p := r.problem(t); r.status != 409 || p.Type != probMalformed || p.Detail != "Certificate already revoked" {
		t.Errorf("second revoke: %d %+v", r.status, p)
	}
	// Management API over HTTPS.
	mr := c.get(http.MethodGet, c.url("/_testca/certificates/"+serialHex(leaf.SerialNumber)))
	var cs CertState
	mr.json(t, &cs)
	if cs.Status != "revoked" || *cs.Reason != 4 {
		t.Errorf("management cert: %s", mr.body)
	}
	var counts map[string]map[string]int
	c.get(http.MethodGet, c.url("/_testca/requests")).json(t, &counts)
	if counts["new-cert"]["POST"] != 1 || counts["revoke-cert"]["POST"] != 4 {
		t.Errorf("counts: %v", counts)
	}
}

func TestValidationFailure(t *testing.T) {
	h := startHTTP01(t)
	s := startCA(t, Config{HTTP01Port: h.port})
	c := newClient(t, s, newECKey(t))
	c.register()
	azURL, az := c.newAuthz("fail.example.org")
	ch := chal(t, az, "http-01")
	h.set(ch.Token, "wrong")
	got := c.accept(azURL, ch)
	if got.Status != "invalid" || got.Challenges[0].Error == nil || got.Challenges[0].Error.Type != probUnauthorized {
		t.Errorf("failed authz: %+v", got)
	}
	// Wrong keyAuthorization in the POST is refused up front (era "required").
	_, az = c.newAuthz("fail.example.org")
	ch = chal(t, az, "http-01")
	r := c.post(ch.URI, map[string]any{"resource": "challenge", "type": "http-01", "keyAuthorization": "nope"})
	if p := r.problem(t); p.Type != probMalformed || !strings.Contains(p.Detail, "key authorization was incorrect") {
		t.Errorf("bad keyAuthorization: %+v", p)
	}
	// Another registration may not answer it.
	other := newClient(t, s, newECKey(t))
	other.register()
	if p := other.post(ch.URI, map[string]any{"resource": "challenge", "keyAuthorization": other.keyAuth(ch.Token)}).problem(t); p.Type != probUnauthorized {
		t.Errorf("foreign challenge: %+v", p)
	}
}

func TestAuthzDeactivate(t *testing.T) {
	s := startCA(t, Config{})
	c := newClient(t, s, newECKey(t))
	c.register()
	azURL, _ := c.newAuthz("d.example.org")
	r := c.post(azURL, map[string]any{"resource": "authz", "status": "deactivated", "delete": true})
	want(t, r, http.StatusOK)
	var az wireAz
	r.json(t, &az)
	if az.Status != "deactivated" {
		t.Errorf("status %q", az.Status)
	}
	if again, _ := c.newAuthz("d.example.org"); again == azURL {
		t.Error("deactivated authz reused")
	}
}

func TestKeyChange(t *testing.T) {
	s := startCA(t, Config{})
	c := newClient(t, s, newECKey(t))
	reg := c.register()
	newKey := newRSAKey(t)
	inner := func(account string, newJWK crypto.PublicKey) map[string]any {
		payload, _ := json.Marshal(map[string]any{"account": account, "newKey": jose.JSONWebKey{Key: newJWK}})
		signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: newKey}, &jose.SignerOptions{EmbedJWK: true})
		jws, _ := signer.Sign(payload)
		var m map[string]any
		_ = json.Unmarshal([]byte(jws.FullSerialize()), &m)
		m["resource"] = "key-change"
		return m
	}
	if p := c.post(c.url("/acme/key-change"), inner(reg+"x", newKey.Public())).problem(t); p.Detail != "Incorrect account URL provided in payload" {
		t.Errorf("wrong account: %+v", p)
	}
	if p := c.post(c.url("/acme/key-change"), inner(reg, newECKey(t).Public())).problem(t); !strings.Contains(p.Detail, "doesn't match key used to sign inner JWS") {
		t.Errorf("wrong newKey: %+v", p)
	}
	want(t, c.post(c.url("/acme/key-change"), inner(reg, newKey.Public())), http.StatusOK)
	if p := c.post(reg, map[string]any{"resource": "reg"}).problem(t); p.Type != probUnauthorized {
		t.Errorf("old key after roll-over: %+v", p)
	}
	c.key = newKey
	want(t, c.post(reg, map[string]any{"resource": "reg"}), http.StatusAccepted)
}

func TestDNS01(t *testing.T) {
	var mu sync.Mutex
	records := map[string]string{}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, m *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetReply(m)
		mu.Lock()
		if v, ok := records[m.Question[0].Name]; ok {
			resp.Answer = append(resp.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: m.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 1}, Txt: []string{v}})
		}
		mu.Unlock()
		_ = w.WriteMsg(resp)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })

	s := startCA(t, Config{DNSServer: pc.LocalAddr().String()})
	c := newClient(t, s, newECKey(t))
	c.register()
	azURL, az := c.newAuthz("dns.example.org")
	ch := chal(t, az, "dns-01")
	sum := sha256.Sum256([]byte(c.keyAuth(ch.Token)))
	mu.Lock()
	records["_acme-challenge.dns.example.org."] = base64.RawURLEncoding.EncodeToString(sum[:])
	mu.Unlock()
	if got := c.accept(azURL, ch); got.Status != "valid" {
		t.Errorf("dns-01: %+v", got)
	}
	azURL, az = c.newAuthz("nodns.example.org")
	if got := c.accept(azURL, chal(t, az, "dns-01")); got.Status != "invalid" {
		t.Errorf("dns-01 without record: %+v", got)
	}
}

func TestTLSALPN01(t *testing.T) {
	var mu sync.Mutex
	certs := map[string]*tls.Certificate{}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		NextProtos: []string{"acme-tls/1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			mu.Lock()
			defer mu.Unlock()
			return certs[hello.ServerName], nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = conn.(*tls.Conn).Handshake(); conn.Close() }()
		}
	}()
	s := startCA(t, Config{TLSALPN01Port: ln.Addr().(*net.TCPAddr).Port})
	c := newClient(t, s, newECKey(t))
	c.register()
	for _, tc := range []struct {
		name     string
		critical bool
		want     string
	}{{"alpn.example.org", true, "valid"}, {"noncrit.example.org", false, "invalid"}} {
		azURL, az := c.newAuthz(tc.name)
		ch := chal(t, az, "tls-alpn-01")
		mu.Lock()
		certs[tc.name] = alpnCert(t, tc.name, c.keyAuth(ch.Token), tc.critical)
		mu.Unlock()
		if got := c.accept(azURL, ch); got.Status != tc.want {
			t.Errorf("%s: %+v; want %s", tc.name, got, tc.want)
		}
	}
}

func alpnCert(t *testing.T, name, keyAuth string, critical bool) *tls.Certificate {
	t.Helper()
	key := newECKey(t)
	sum := sha256.Sum256([]byte(keyAuth))
	val, _ := asn1.Marshal(sum[:])
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(1),
		Subject:         pkix.Name{CommonName: name},
		DNSNames:        []string{name},
		NotBefore:       time.Now().Add(-time.Hour),
		NotAfter:        time.Now().Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: idPeAcmeIdentifier, Critical: critical, Value: val}},
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
