package hostile

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// reply is one response of the fake CA before it is written. Handlers fill
// it in good mode; a case's mutator may change it (or take over with raw)
// once the CA turned hostile.
type reply struct {
	status int
	header http.Header
	obj    map[string]any // marshalled into body when body is nil
	body   []byte
	raw    func(w http.ResponseWriter, r *http.Request)
}

// mutator turns a good reply of one endpoint kind into a hostile one.
type mutator func(f *fakeCA, r *http.Request, rep *reply)

type fakeOrder struct {
	id       string
	ids      []map[string]string
	authzOK  []bool
	tokens   []string
	status   string // "" while computed from the authorizations; then processing/valid
	csr      *x509.CertificateRequest
	chainPEM []byte
	acct     string // URL of the account that created it
}

// fakeCA is a scriptable ACME CA on 127.0.0.1 (TLS). In good mode it issues
// real certificates without validating challenges (any POST to a challenge
// makes its authorization valid). After hostile() the mutators installed by
// a case apply to their endpoint kinds: dir, nonce, new-acct, acct,
// new-order, order, authz, chall, finalize, cert, and "*" for every reply.
type fakeCA struct {
	t   testing.TB
	srv *httptest.Server
	URL string

	tlsRootPEM []byte // what --ca-bundle trusts
	tlsRoot    *x509.Certificate
	tlsRootKey *ecdsa.PrivateKey
	goodTLS    tls.Certificate
	tlsCert    *tls.Certificate // served now (swappable)

	root, inter       *x509.Certificate
	rootKey, interKey *ecdsa.PrivateKey

	mu        sync.Mutex
	isHostile bool
	muts      map[string]mutator
	nonces    map[string]bool
	accounts  map[string]*jose.JSONWebKey
	orders    map[string]*fakeOrder
	seq       int
	counts    map[string]int
	algs      map[string]int

	// boulder makes the CA answer like Boulder (Let's Encrypt) where it
	// differs from the plain fake: ARI in the directory and its random
	// key, replaces checked against the certificate's account, must-staple
	// refused at finalize.
	boulder   bool
	certAcct  map[string]string // serial (lowercase hex) → account URL
	keyAcct   map[string]string // key id of a rolled-over-to key → account URL
	orderReqs []map[string]any  // every newOrder payload, in order
	revokes   []map[string]any  // every revocation payload (+ signed_with_account)
	// gone: account URL → "lost" (the CA's database was reset) or
	// "deactivated"; answered as Boulder does (wfe2 lookupJWK, NewAccount).
	gone map[string]string
}

func newFakeCA(t testing.TB) *fakeCA {
	t.Helper()
	f := &fakeCA{t: t, muts: map[string]mutator{}, nonces: map[string]bool{}, accounts: map[string]*jose.JSONWebKey{},
		orders: map[string]*fakeOrder{}, counts: map[string]int{}, algs: map[string]int{}, certAcct: map[string]string{}, keyAcct: map[string]string{}, gone: map[string]string{}}
	// HTTPS identity.
	tlsRoot, tlsRootKey := newCA(t, "hostile fake CA HTTPS root", nil, nil)
	f.tlsRootPEM, f.tlsRoot, f.tlsRootKey = pemOf(tlsRoot.Raw), tlsRoot, tlsRootKey
	f.goodTLS = tlsLeaf(t, tlsRoot, tlsRootKey, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	f.tlsCert = &f.goodTLS
	// Issuing hierarchy.
	f.root, f.rootKey = newCA(t, "hostile fake issuing root", nil, nil)
	f.inter, f.interKey = newCA(t, "hostile fake intermediate", f.root, f.rootKey)

	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.TLS = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.tlsCert, nil
	}}
	f.srv.EnableHTTP2 = false
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()
	// StartTLS adds httptest's own certificate, which would win for
	// clients without SNI (an IP address): serve ours only.
	f.srv.TLS.Certificates = nil
	t.Cleanup(f.srv.Close)
	f.URL = f.srv.URL
	return f
}

// DirURL is the directory URL.
func (f *fakeCA) DirURL() string { return f.URL + "/dir" }

// bundle writes the HTTPS root for --ca-bundle.
func (f *fakeCA) bundle(dir string) string {
	p := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p, f.tlsRootPEM, 0o644); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// hostile turns on the mutators.
func (f *fakeCA) hostile(muts map[string]mutator) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.isHostile = true
	f.counts = map[string]int{} // cases count the hostile run only
	f.orderReqs = nil
	for k, m := range muts {
		f.muts[k] = m
	}
}

// setTLS swaps the served HTTPS certificate.
func (f *fakeCA) setTLS(c tls.Certificate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tlsCert = &c
}

// count returns a server-side counter: "total", "POST new-order", "POST order", …
func (f *fakeCA) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[key]
}

func (f *fakeCA) algSeen() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.algs {
		out[k] = v
	}
	return out
}

func (f *fakeCA) newNonce() string {
	b := make([]byte, 16)
	rand.Read(b)
	n := base64.RawURLEncoding.EncodeToString(b)
	f.nonces[n] = true
	return n
}

func kindOf(path string) (kind, id string) {
	parts := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 2)
	kind = parts[0]
	if len(parts) == 2 {
		id = parts[1]
	}
	return kind, id
}

func (f *fakeCA) serve(w http.ResponseWriter, r *http.Request) {
	kind, id := kindOf(r.URL.Path)
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	f.mu.Lock()
	f.counts["total"]++
	f.counts[r.Method+" "+kind]++
	rep := &reply{status: http.StatusOK, header: http.Header{}}
	if kind != "dir" {
		rep.header.Set("Replay-Nonce", f.newNonce())
	}
	f.handle(r, kind, id, body, rep)
	var muts []mutator
	if f.isHostile {
		if m := f.muts[kind]; m != nil {
			muts = append(muts, m)
		}
		if m := f.muts["*"]; m != nil {
			muts = append(muts, m)
		}
	}
	f.mu.Unlock()
	for _, m := range muts {
		m(f, r, rep)
	}
	if rep.raw != nil {
		rep.raw(w, r)
		return
	}
	if rep.body == nil && rep.obj != nil {
		rep.body, _ = json.Marshal(rep.obj)
		if rep.header.Get("Content-Type") == "" {
			rep.header.Set("Content-Type", "application/json")
		}
	}
	for k, vs := range rep.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(rep.status)
	w.Write(rep.body)
}

func problemObj(typ, detail string, status int) map[string]any {
	return map[string]any{"type": "urn:ietf:params:acme:error:" + typ, "detail": detail, "status": status}
}

func (rep *reply) problem(status int, typ, detail string) {
	rep.status = status
	rep.obj = problemObj(typ, detail, status)
	rep.body = nil
	rep.header.Set("Content-Type", "application/problem+json")
}

// handle computes the good reply. Called with f.mu held.
func (f *fakeCA) handle(r *http.Request, kind, id string, body []byte, rep *reply) {
	u := f.URL
	switch kind {
	case "dir":
		rep.obj = map[string]any{
			"newNonce": u + "/nonce", "newAccount": u + "/new-acct", "newOrder": u + "/new-order",
			"revokeCert": u + "/revoke", "keyChange": u + "/key-change",
			"meta": map[string]any{"termsOfService": u + "/tos"},
		}
		if f.boulder {
			rep.obj["renewalInfo"] = u + "/ari"
			rep.obj["kE1sSt0cHJs"] = "https://community.letsencrypt.org/t/adding-random-entries-to-the-directory/33417"
			rep.obj["meta"] = map[string]any{"termsOfService": u + "/tos", "profiles": map[string]string{ // Let's Encrypt's
				"classic": "https://letsencrypt.org/docs/profiles#classic", "shortlived": "https://letsencrypt.org/docs/profiles#shortlived",
				"tlsserver": "https://letsencrypt.org/docs/profiles#tlsserver"}}
		}
		return
	case "nonce":
		rep.status = http.StatusOK
		if r.Method == http.MethodGet {
			rep.status = http.StatusNoContent
		}
		return
	}
	if r.Method != http.MethodPost {
		rep.problem(405, "malformed", "POST only")
		return
	}
	payload, kid, err := f.verify(r, body, kind == "new-acct" || kind == "revoke")
	if err != nil {
		if strings.Contains(err.Error(), "nonce") {
			rep.problem(400, "badNonce", err.Error())
		} else {
			rep.problem(400, "malformed", err.Error())
		}
		return
	}
	if g := f.gone[kid]; g != "" && kind != "new-acct" && kind != "revoke" {
		if g == "lost" {
			rep.problem(400, "accountDoesNotExist", fmt.Sprintf("Unable to validate JWS :: Account %q not found", kid))
		} else {
			rep.problem(403, "unauthorized", fmt.Sprintf("Unable to validate JWS :: Account is not valid, has status %q", g))
		}
		return
	}
	var acctReq struct {
		OnlyReturnExisting bool     `json:"onlyReturnExisting"`
		Contact            []string `json:"contact"`
		Status             string   `json:"status"`
	}
	json.Unmarshal(payload, &acctReq)
	switch kind {
	case "new-acct":
		acct := u + "/acct/" + kid
		if owner, ok := f.keyAcct[kid]; ok && f.gone[owner] == "" { // a key rolled over (or registered again) to: its account
			rep.header.Set("Location", owner)
			rep.obj = map[string]any{"status": "valid"}
			return
		}
		if _, known := f.keyAcct["acct:"+acct]; known && acctReq.OnlyReturnExisting { // rolled away from
			rep.problem(400, "accountDoesNotExist", "No account exists with the provided key")
			return
		}
		switch f.gone[f.keyAcct[kid]] + f.gone[acct] {
		case "deactivated", "deactivatedlost", "lostdeactivated":
			rep.problem(403, "unauthorized", "An account with the provided public key exists but is deactivated")
			return
		case "lost", "lostlost":
			if acctReq.OnlyReturnExisting {
				rep.problem(400, "accountDoesNotExist", "No account exists with the provided key")
				return
			}
			// Registered again after the reset: a new account ID.
			f.seq++
			acct = fmt.Sprintf("%s/acct/%s-%d", u, kid, f.seq)
			f.accounts[acct] = f.accounts[u+"/acct/"+kid]
			f.keyAcct[kid] = acct
		}
		rep.status = http.StatusCreated
		rep.header.Set("Location", acct)
		rep.obj = map[string]any{"status": "valid", "contact": acctReq.Contact}
		if f.boulder { // contacts are neither kept nor returned (wfe2, since 2025)
			delete(rep.obj, "contact")
		}
	case "acct":
		if acctReq.Status == "deactivated" {
			f.gone[kid] = "deactivated"
			rep.obj = map[string]any{"status": "deactivated"}
			return
		}
		rep.obj = map[string]any{"status": "valid"}
		if acctReq.Contact != nil && !f.boulder { // Boulder ignores a contact update
			rep.obj["contact"] = acctReq.Contact
		}
	case "revoke":
		var rv map[string]any
		json.Unmarshal(payload, &rv)
		rv["signed_with_account"] = kid != "" && strings.Contains(kid, "/acct/")
		f.revokes = append(f.revokes, rv)
		rep.status = http.StatusOK
	case "key-change":
		// RFC 8555 §7.3.5: the inner JWS is signed by the new key.
		inner, err := jose.ParseSigned(string(payload), []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.RS256})
		if err != nil || len(inner.Signatures) != 1 || inner.Signatures[0].Protected.JSONWebKey == nil {
			rep.problem(400, "malformed", "Unable to validate JWS :: inner JWS")
			return
		}
		newKey := inner.Signatures[0].Protected.JSONWebKey
		if _, err := inner.Verify(newKey); err != nil {
			rep.problem(400, "malformed", "Unable to validate JWS :: inner JWS signature")
			return
		}
		tp, _ := newKey.Thumbprint(crypto.SHA256)
		f.accounts[kid] = newKey
		f.keyAcct[base64.RawURLEncoding.EncodeToString(tp)[:12]] = kid
		f.keyAcct["acct:"+kid] = kid // its first key no longer finds it
		rep.obj = map[string]any{"status": "valid"}
	case "new-order":
		var req struct {
			Identifiers []map[string]string `json:"identifiers"`
			Replaces    string              `json:"replaces"`
		}
		if err := json.Unmarshal(payload, &req); err != nil || len(req.Identifiers) == 0 {
			rep.problem(400, "malformed", "bad newOrder payload")
			return
		}
		var raw map[string]any
		json.Unmarshal(payload, &raw)
		f.orderReqs = append(f.orderReqs, raw)
		if f.boulder && req.Replaces != "" {
			// wfe2 validateReplacementOrder / orderMatchesReplacement.
			_, serial, _ := strings.Cut(req.Replaces, ".")
			sb, _ := base64.RawURLEncoding.DecodeString(serial)
			owner, ok := f.certAcct[new(big.Int).SetBytes(sb).Text(16)]
			switch {
			case !ok:
				rep.problem(404, "malformed", fmt.Sprintf("Could not validate ARI 'replaces' field :: while checking that this order is a replacement: request included `replaces` field, but no current certificate with serial %q exists", serial))
				return
			case owner != kid:
				rep.problem(403, "unauthorized", "Could not validate ARI 'replaces' field :: while checking that this order is a replacement: requester account did not request the certificate being replaced by this order")
				return
			}
		}
		f.seq++
		o := &fakeOrder{id: fmt.Sprint(f.seq), ids: req.Identifiers, acct: kid}
		for range req.Identifiers {
			o.authzOK = append(o.authzOK, false)
			tb := make([]byte, 32)
			rand.Read(tb)
			o.tokens = append(o.tokens, base64.RawURLEncoding.EncodeToString(tb))
		}
		f.orders[o.id] = o
		rep.status = http.StatusCreated
		rep.header.Set("Location", u+"/order/"+o.id)
		rep.obj = f.orderObj(o)
	case "order":
		o := f.orders[id]
		if o == nil {
			rep.problem(404, "malformed", "no such order")
			return
		}
		rep.obj = f.orderObj(o)
	case "authz", "chall":
		oid, idx, ok := strings.Cut(id, "-")
		o := f.orders[oid]
		var i int
		if _, err := fmt.Sscan(idx, &i); !ok || o == nil || err != nil || i < 0 || i >= len(o.ids) {
			rep.problem(404, "malformed", "no such authorization")
			return
		}
		if kind == "chall" {
			o.authzOK[i] = true
			rep.obj = f.challObj(o, i)
			return
		}
		rep.obj = f.authzObj(o, i)
	case "finalize":
		o := f.orders[id]
		if o == nil || f.orderStatus(o) != "ready" {
			rep.problem(403, "orderNotReady", "order is not ready")
			return
		}
		var req struct {
			CSR string `json:"csr"`
		}
		json.Unmarshal(payload, &req)
		der, err := base64.RawURLEncoding.DecodeString(req.CSR)
		if err != nil {
			rep.problem(400, "badCSR", "csr is not base64url")
			return
		}
		csr, err := x509.ParseCertificateRequest(der)
		if err != nil {
			rep.problem(400, "badCSR", "csr does not parse")
			return
		}
		if f.boulder {
			for _, ext := range csr.Extensions {
				if ext.Id.String() == "1.3.6.1.5.5.7.1.24" { // ra.go containsMustStaple; the order stays ready
					rep.problem(403, "unauthorized", "Error finalizing order :: OCSP must-staple extension is no longer available: see https://letsencrypt.org/2024/12/05/ending-ocsp")
					return
				}
			}
		}
		o.csr = csr
		o.chainPEM = f.issue(csr.PublicKey, csr.DNSNames, csr.IPAddresses, leafOpts{})
		if b, _ := pem.Decode(o.chainPEM); b != nil {
			if leaf, err := x509.ParseCertificate(b.Bytes); err == nil {
				f.certAcct[leaf.SerialNumber.Text(16)] = o.acct
			}
		}
		o.status = "valid"
		rep.obj = f.orderObj(o)
	case "cert":
		o := f.orders[id]
		if o == nil || o.chainPEM == nil {
			rep.problem(404, "malformed", "no such certificate")
			return
		}
		rep.header.Set("Content-Type", "application/pem-certificate-chain")
		rep.body = o.chainPEM
	default:
		rep.problem(404, "malformed", "unknown endpoint")
	}
}

func (f *fakeCA) orderStatus(o *fakeOrder) string {
	if o.status != "" {
		return o.status
	}
	for _, ok := range o.authzOK {
		if !ok {
			return "pending"
		}
	}
	return "ready"
}

func (f *fakeCA) orderObj(o *fakeOrder) map[string]any {
	var authzs []string
	for i := range o.ids {
		authzs = append(authzs, fmt.Sprintf("%s/authz/%s-%d", f.URL, o.id, i))
	}
	obj := map[string]any{
		"status": f.orderStatus(o), "expires": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339),
		"identifiers": o.ids, "authorizations": authzs, "finalize": f.URL + "/finalize/" + o.id,
	}
	if o.chainPEM != nil {
		obj["certificate"] = f.URL + "/cert/" + o.id
	}
	return obj
}

func (f *fakeCA) challObj(o *fakeOrder, i int) map[string]any {
	st := "pending"
	if o.authzOK[i] {
		st = "valid"
	}
	return map[string]any{"type": "http-01", "url": fmt.Sprintf("%s/chall/%s-%d", f.URL, o.id, i), "token": o.tokens[i], "status": st}
}

func (f *fakeCA) authzObj(o *fakeOrder, i int) map[string]any {
	st := "pending"
	if o.authzOK[i] {
		st = "valid"
	}
	return map[string]any{
		"status": st, "identifier": o.ids[i], "expires": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339),
		"challenges": []any{f.challObj(o, i)},
	}
}

// verify checks a JWS request: signature, nonce, url; returns the payload
// and the account id (new one for newAccount).
func (f *fakeCA) verify(r *http.Request, body []byte, newAcct bool) ([]byte, string, error) {
	jws, err := jose.ParseSigned(string(body), []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.RS256})
	if err != nil {
		return nil, "", fmt.Errorf("JWS: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, "", fmt.Errorf("JWS: want one signature")
	}
	h := jws.Signatures[0].Protected
	f.algs[h.Algorithm]++
	if !f.nonces[h.Nonce] {
		return nil, "", fmt.Errorf("unknown nonce")
	}
	delete(f.nonces, h.Nonce)
	if got, want := h.ExtraHeaders["url"], f.URL+r.URL.Path; got != want {
		return nil, "", fmt.Errorf("JWS url %v, request to %s", got, want)
	}
	var key *jose.JSONWebKey
	kid := ""
	if newAcct && h.KeyID == "" { // newAccount, or a revocation signed with the certificate key
		if h.JSONWebKey == nil {
			return nil, "", fmt.Errorf("newAccount needs a jwk")
		}
		key = h.JSONWebKey
		tp, _ := key.Thumbprint(crypto.SHA256)
		kid = base64.RawURLEncoding.EncodeToString(tp)[:12]
		if _, ok := f.accounts[f.URL+"/acct/"+kid]; !ok { // never re-key a rolled-over account
			f.accounts[f.URL+"/acct/"+kid] = key
		}
	} else {
		key = f.accounts[h.KeyID]
		if key == nil {
			return nil, "", fmt.Errorf("unknown account %q", h.KeyID)
		}
		kid = h.KeyID
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, "", fmt.Errorf("JWS signature: %v", err)
	}
	return payload, kid, nil
}

// leafOpts shape a (possibly bad) certificate.
type leafOpts struct {
	notBefore, notAfter time.Time
	isCA                bool
	eku                 []x509.ExtKeyUsage
}

// issue returns leaf+intermediate PEM for pub and names.
func (f *fakeCA) issue(pub crypto.PublicKey, dns []string, ips []net.IP, o leafOpts) []byte {
	f.t.Helper()
	if o.notBefore.IsZero() {
		o.notBefore = time.Now().Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().Add(90 * 24 * time.Hour)
	}
	if o.eku == nil {
		o.eku = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(), NotBefore: o.notBefore, NotAfter: o.notAfter,
		DNSNames: dns, IPAddresses: ips, ExtKeyUsage: o.eku, KeyUsage: x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: o.isCA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.inter, pub, f.interKey)
	if err != nil {
		f.t.Fatal(err)
	}
	return append(pemOf(der), pemOf(f.inter.Raw)...)
}

// newOrders returns the newOrder payloads received so far.
func (f *fakeCA) newOrders() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.orderReqs...)
}

// revocations returns the revocation requests received so far.
func (f *fakeCA) revocations() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.revokes...)
}

// loseAccounts forgets every account, as a database reset does.
func (f *fakeCA) loseAccounts() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for a := range f.accounts {
		f.gone[a] = "lost"
	}
}

// deactivateAccounts deactivates every account (as if from elsewhere).
func (f *fakeCA) deactivateAccounts() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for a := range f.accounts {
		f.gone[a] = "deactivated"
	}
}

// setBoulder switches Boulder's behaviours on or off.
func (f *fakeCA) setBoulder(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.boulder = on
}

// orderCSR returns the CSR of the latest finalized order (for mutators
// building bad certificates).
func (f *fakeCA) latest() *fakeOrder {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.orders[fmt.Sprint(f.seq)]
}

func randSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n.Add(n, big.NewInt(1))
}

func pemOf(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// newCA makes a CA certificate (self-signed when parent is nil).
func newCA(t testing.TB, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	signer, signKey := tmpl, key
	if parent != nil {
		signer, signKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

// tlsLeaf makes an HTTPS server certificate signed by ca.
func tlsLeaf(t testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, dns []string, ips []net.IP) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(), Subject: pkix.Name{CommonName: "fake CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: dns, IPAddresses: ips, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
