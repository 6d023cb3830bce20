package hostile

import (
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hcase is one malicious server behaviour.
type hcase struct {
	name string
	// muts apply once the good obtain is done.
	muts map[string]mutator
	// before, if set, runs after the good obtain and before the hostile run.
	before func(t *testing.T, l *lab)
	// args replace or extend the hostile run's arguments.
	args func(l *lab) []string
	code int    // exact exit code
	want string // in the one error line
	// maxTime bounds the hostile run (default 10 s).
	maxTime time.Duration
	// check makes case-specific assertions.
	check func(t *testing.T, l *lab, r result)
}

// Mutator helpers.

func set(key string, val any) mutator {
	return func(_ *fakeCA, _ *http.Request, rep *reply) { rep.obj[key] = val }
}

func body(status int, b []byte) mutator {
	return func(_ *fakeCA, _ *http.Request, rep *reply) {
		rep.status, rep.body, rep.obj = status, b, nil
	}
}

func prob(status int, typ, detail string) mutator {
	return func(_ *fakeCA, _ *http.Request, rep *reply) { rep.problem(status, typ, detail) }
}

func header(k, v string) mutator {
	return func(_ *fakeCA, _ *http.Request, rep *reply) { rep.header.Set(k, v) }
}

func chain(ms ...mutator) mutator {
	return func(f *fakeCA, r *http.Request, rep *reply) {
		for _, m := range ms {
			m(f, r, rep)
		}
	}
}

// token replaces the http-01 token in authorizations.
func token(tok string) map[string]mutator {
	return map[string]mutator{"authz": func(_ *fakeCA, _ *http.Request, rep *reply) {
		chs := rep.obj["challenges"].([]any)
		chs[0].(map[string]any)["token"] = tok
		rep.obj["status"] = "pending"
	}}
}

// challURL replaces the challenge URL in authorizations.
func challField(key string, val any) map[string]mutator {
	return map[string]mutator{"authz": func(_ *fakeCA, _ *http.Request, rep *reply) {
		chs := rep.obj["challenges"].([]any)
		chs[0].(map[string]any)[key] = val
		rep.obj["status"] = "pending"
	}}
}

// badCert replaces the certificate download with what mk returns, given the
// order's CSR public key and names.
func badCert(mk func(f *fakeCA, o *fakeOrder) []byte) map[string]mutator {
	return map[string]mutator{"cert": func(f *fakeCA, r *http.Request, rep *reply) {
		o := f.latest()
		if o == nil || o.csr == nil {
			return
		}
		rep.status, rep.obj, rep.body = http.StatusOK, nil, mk(f, o)
	}}
}

func otherKey() *ecdsa.PrivateKey {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return k
}

// stuckOrder keeps the order processing after finalize, with hdr.
func stuckOrder(retryAfter string) map[string]mutator {
	m := func(_ *fakeCA, _ *http.Request, rep *reply) {
		if rep.obj == nil {
			return
		}
		if st, _ := rep.obj["status"].(string); st == "valid" {
			rep.obj["status"] = "processing"
			delete(rep.obj, "certificate")
		}
		if retryAfter != "" {
			rep.header.Set("Retry-After", retryAfter)
		}
	}
	return map[string]mutator{"finalize": m, "order": m}
}

// stuckAuthz keeps the authorization pending forever, with Retry-After.
func stuckAuthz(retryAfter string) map[string]mutator {
	m := func(_ *fakeCA, _ *http.Request, rep *reply) {
		if rep.obj == nil {
			return
		}
		rep.obj["status"] = "pending"
		if retryAfter != "" {
			rep.header.Set("Retry-After", retryAfter)
		}
	}
	order := func(_ *fakeCA, _ *http.Request, rep *reply) {
		if rep.obj != nil && rep.obj["status"] == "ready" {
			rep.obj["status"] = "pending"
		}
		if retryAfter != "" {
			rep.header.Set("Retry-After", retryAfter)
		}
	}
	return map[string]mutator{"authz": m, "order": order}
}

func maxCount(kind string, n int) func(t *testing.T, l *lab, r result) {
	return func(t *testing.T, l *lab, r result) {
		if got := l.f.count(kind); got > n {
			t.Errorf("%s requests = %d; want ≤ %d", kind, got, n)
		}
	}
}

func exactCount(kind string, n int) func(t *testing.T, l *lab, r result) {
	return func(t *testing.T, l *lab, r result) {
		if got := l.f.count(kind); got != n {
			t.Errorf("%s requests = %d; want %d", kind, got, n)
		}
	}
}

func gzipBomb() []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 64 { // 64 MiB of zeros, ~64 KiB compressed
		zw.Write(zeros)
	}
	zw.Close()
	return b.Bytes()
}

func cases() []hcase {
	long := strings.Repeat("A", 200<<10)
	// Built once: compressing 64 MiB takes 0.3 s of CPU, seconds on a busy
	// machine, and per request it ate the run's 3 s order timeout.
	bomb := gzipBomb()
	return []hcase{
		// ---- Transport ----
		{name: "plain-http-directory-not-loopback", args: func(l *lab) []string {
			return replaceArg(l.base, "--server", "http://acme.invalid/directory")
		}, code: 2, want: "plain http is allowed only on loopback",
			check: exactCount("total", 0)},
		{name: "directory-redirect-to-http", muts: map[string]mutator{"dir": func(f *fakeCA, _ *http.Request, rep *reply) {
			rep.status, rep.obj, rep.body = http.StatusFound, nil, []byte{}
			rep.header.Set("Location", "http://127.0.0.1:1/dir")
		}}, code: 1, want: "redirect"},
		{name: "tls-untrusted-root", before: func(t *testing.T, l *lab) {
			other, otherKey := newCA(t, "someone else's root", nil, nil)
			l.f.setTLS(tlsLeaf(t, other, otherKey, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}))
		}, code: 2, want: "TLS certificate is not trusted"}, // configuration: --ca-bundle
		{name: "tls-wrong-host", before: func(t *testing.T, l *lab) {
			// Signed by the trusted HTTPS root, for another name.
			l.f.setTLS(tlsLeaf(t, l.f.tlsRoot, l.f.tlsRootKey, []string{"not-this-host.example"}, nil))
		}, code: 2, want: "TLS certificate is not trusted"},
		{name: "redirect-on-signed-post", muts: map[string]mutator{"new-order": func(f *fakeCA, _ *http.Request, rep *reply) {
			rep.status, rep.obj, rep.body = http.StatusTemporaryRedirect, nil, []byte{}
			rep.header.Set("Location", f.URL+"/evil")
		}}, code: 1, want: "redirect", check: func(t *testing.T, l *lab, r result) {
			exactCount("POST evil", 0)(t, l, r)
			exactCount("POST new-order", 1)(t, l, r)
		}},
		{name: "huge-directory-body", muts: map[string]mutator{"dir": body(200, bytes.Repeat([]byte(" "), 3<<20))},
			code: 1, want: "response body larger than"},
		{name: "endless-order-body", muts: map[string]mutator{"order": func(_ *fakeCA, _ *http.Request, rep *reply) {
			rep.raw = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				chunk := bytes.Repeat([]byte("x"), 64<<10)
				for r.Context().Err() == nil {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			}
		}}, code: 1, want: "response body larger than"},
		{name: "gzip-bomb", muts: map[string]mutator{"authz": func(_ *fakeCA, _ *http.Request, rep *reply) {
			rep.body, rep.obj = bomb, nil
			rep.header.Set("Content-Encoding", "gzip")
			rep.header.Set("Content-Type", "application/json")
		}}, code: 1, want: "response body larger than"},
		{name: "slow-body", muts: map[string]mutator{"authz": func(_ *fakeCA, _ *http.Request, rep *reply) {
			rep.raw = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(200)
				for r.Context().Err() == nil {
					w.Write([]byte(" "))
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
					case <-time.After(200 * time.Millisecond):
					}
				}
			}
		}}, code: 75, want: "did not complete"},
		{name: "silent-server", muts: map[string]mutator{"order": func(_ *fakeCA, _ *http.Request, rep *reply) {
			rep.raw = func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(time.Minute):
				}
			}
		}}, code: 75, want: "did not complete"},

		// ---- JSON and problem documents ----
		{name: "truncated-json", muts: map[string]mutator{"new-order": body(201, []byte(`{"status":"pending","identifiers":[`))},
			code: 1, want: "order object"},
		{name: "top-level-array", muts: map[string]mutator{"authz": body(200, []byte(`[{"status":"valid"}]`))},
			code: 1, want: "authorization object"},
		{name: "deep-nesting", muts: map[string]mutator{"order": body(200, append(bytes.Repeat([]byte("["), 200000), bytes.Repeat([]byte("]"), 200000)...))},
			code: 1, want: "order object"},
		{name: "wrong-type-status", muts: map[string]mutator{"new-order": set("status", 7)}, code: 1, want: "order object"},
		{name: "wrong-type-identifiers", muts: map[string]mutator{"new-order": set("identifiers", map[string]any{})}, code: 1, want: "order object"},
		{name: "unknown-order-status", muts: map[string]mutator{"new-order": set("status", "bogus")}, code: 1, want: `status "bogus" is unknown`},
		{name: "unknown-authz-status", muts: map[string]mutator{"authz": set("status", "almost-valid")}, code: 1, want: `status "almost-valid" is unknown`},
		{name: "trailing-garbage", muts: map[string]mutator{"authz": func(_ *fakeCA, _ *http.Request, rep *reply) {
			b, _ := json.Marshal(rep.obj)
			rep.body, rep.obj = append(b, []byte(`{"status":"valid"}`)...), nil
		}}, code: 1, want: "authorization object"},
		{name: "problem-ansi-and-huge-detail", muts: map[string]mutator{"new-order": prob(400, "malformed",
			"\x1b[31mpwned\x1b[0m\r\nacmectl: fake second line\x07"+long)}, code: 1, want: `malformed: \x1b[31mpwned`,
			check: func(t *testing.T, l *lab, r result) {
				if strings.Contains(r.stderr, "\x1b") {
					t.Error("raw ESC reached stderr")
				}
			}},
		{name: "problem-many-subproblems", muts: map[string]mutator{"new-order": func(_ *fakeCA, _ *http.Request, rep *reply) {
			rep.problem(400, "rejectedIdentifier", "many")
			var subs []any
			for i := range 5000 {
				subs = append(subs, map[string]any{"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": fmt.Sprint("sub ", i),
					"identifier": map[string]string{"type": "dns", "value": "x.example"}})
			}
			rep.obj["subproblems"] = subs
		}}, code: 1, want: "more"},
		{name: "problem-not-json", muts: map[string]mutator{"new-order": body(400, []byte("<html>\x1b[2J oops</html>"))},
			code: 1, want: "HTTP 400 with no problem document"},
		{name: "algorithm-downgrade", muts: map[string]mutator{"new-order": func(_ *fakeCA, _ *http.Request, rep *reply) {
			rep.problem(400, "badSignatureAlgorithm", "use none")
			rep.obj["algorithms"] = []string{"none", "HS256"}
		}}, code: 1, want: "badSignatureAlgorithm", check: func(t *testing.T, l *lab, r result) {
			for alg := range l.f.algSeen() {
				if alg != "ES256" {
					t.Errorf("client signed with %s", alg)
				}
			}
		}},
		{name: "new-terms", muts: map[string]mutator{"new-order": chain(prob(403, "userActionRequired", "new terms of service"),
			header("Link", `<https://127.0.0.1/tos-v2>;rel="terms-of-service"`))}, code: 1, want: "userActionRequired"},
		{name: "directory-missing-neworder", muts: map[string]mutator{"dir": func(_ *fakeCA, _ *http.Request, rep *reply) { delete(rep.obj, "newOrder") }},
			code: 2, want: "neither RFC 8555 nor legacy"},
		{name: "directory-wrong-type", muts: map[string]mutator{"dir": set("newOrder", 5)}, code: 1, want: `"newOrder" is not a string`},
		{name: "directory-foreign-scheme", muts: map[string]mutator{"dir": set("newOrder", "ftp://127.0.0.1/new-order")}, code: 1, want: "is not https"},

		// ---- Nonces ----
		{name: "nonce-garbage", muts: map[string]mutator{"*": header("Replay-Nonce", `"bad nonce="`)}, code: 1, want: "no valid Replay-Nonce"},
		{name: "nonce-huge", muts: map[string]mutator{"*": header("Replay-Nonce", strings.Repeat("n", 10<<10))}, code: 1, want: "no valid Replay-Nonce"},
		{name: "nonce-missing", muts: map[string]mutator{"*": func(_ *fakeCA, _ *http.Request, rep *reply) { rep.header.Del("Replay-Nonce") }},
			code: 1, want: "no valid Replay-Nonce"},
		{name: "badnonce-forever", muts: map[string]mutator{"new-order": prob(400, "badNonce", "no")}, code: 75, want: "badNonce",
			check: exactCount("POST new-order", 25)},

		// ---- URLs ----
		{name: "order-url-relative", muts: map[string]mutator{"new-order": header("Location", "/order/1")}, code: 1, want: "is not absolute"},
		{name: "authz-url-file-scheme", muts: map[string]mutator{"new-order": set("authorizations", []string{"file:///etc/passwd"})}, code: 1, want: "is not absolute"},
		{name: "finalize-url-userinfo", muts: map[string]mutator{"new-order": func(f *fakeCA, _ *http.Request, rep *reply) {
			rep.obj["finalize"] = strings.Replace(f.URL, "https://", "https://user:pw@", 1) + "/finalize/1"
		}}, code: 1, want: "contains user information"},
		{name: "certificate-url-plain-http", muts: map[string]mutator{"finalize": func(f *fakeCA, _ *http.Request, rep *reply) {
			if rep.obj != nil && rep.obj["certificate"] != nil {
				rep.obj["certificate"] = strings.Replace(rep.obj["certificate"].(string), "https://", "http://", 1)
			}
		}}, code: 1, want: "is not https"},
		{name: "challenge-url-data-scheme", muts: challField("url", "data:,x"), code: 1, want: "is not absolute"},
		{name: "challenge-url-foreign-scheme", muts: challField("url", "gopher://127.0.0.1/chall"), code: 1, want: "is not https"},
		{name: "account-location-huge", muts: map[string]mutator{"new-order": header("Location", "https://127.0.0.1/"+strings.Repeat("a", 4096))},
			code: 1, want: "is too long"},

		// ---- Tokens and identifiers ----
		{name: "token-path-traversal", muts: token("../../../../etc/cron.d/acmectl"), code: 1, want: "token is not base64url"},
		{name: "token-command-substitution", muts: token("$(touch /tmp/pwned)aaaaaaaaaaaaaaaaaaaa"), code: 1, want: "token is not base64url"},
		{name: "token-shell-metachars", muts: token("aaaaaaaaaaaaaaaaaaaa;rm -rf ~`id`#"), code: 1, want: "token is not base64url"},
		{name: "token-padding", muts: token("aaaaaaaaaaaaaaaaaaaaaa=="), code: 1, want: "token is not base64url"},
		{name: "token-too-short", muts: token("abc"), code: 1, want: "token is not base64url"},
		{name: "token-too-long", muts: token(strings.Repeat("a", 4096)), code: 1, want: "token is not base64url"},
		{name: "token-nul-newline", muts: token("aaaaaaaaaaaaaaaa\x00\naaaaaaaa"), code: 1, want: "token is not base64url"},
		{name: "token-empty", muts: token(""), code: 1, want: "token is not base64url"},
		{name: "authz-identifier-not-ordered", muts: map[string]mutator{"authz": set("identifier", map[string]string{"type": "dns", "value": "attacker.example.test"})},
			code: 1, want: "was not requested"},
		{name: "order-extra-identifier", muts: map[string]mutator{"new-order": set("identifiers", []map[string]string{
			{"type": "dns", "value": certName}, {"type": "dns", "value": "attacker.example.test"}})}, code: 1, want: "order identifiers differ"},
		{name: "identifier-path-separator", muts: map[string]mutator{"new-order": set("identifiers", []map[string]string{
			{"type": "dns", "value": "../../etc/passwd"}})}, code: 1, want: "is not a valid DNS name"},
		{name: "identifier-shell-metachar", muts: map[string]mutator{"authz": set("identifier", map[string]string{"type": "dns", "value": "$(id).example.test"})},
			code: 1, want: "is not a valid DNS name"},
		{name: "only-tls-sni-01", muts: challField("type", "tls-sni-01"), code: 1, want: "the CA offers tls-sni-01"},

		// ---- Certificates ----
		{name: "cert-not-pem", muts: badCert(func(f *fakeCA, o *fakeOrder) []byte {
			b, _ := pem.Decode(f.issue(o.csr.PublicKey, o.csr.DNSNames, nil, leafOpts{}))
			return b.Bytes
		}), code: 1, want: "not a PEM certificate chain"},
		{name: "cert-empty", muts: badCert(func(*fakeCA, *fakeOrder) []byte { return []byte{} }), code: 1, want: "no certificate"},
		{name: "cert-newline-only", muts: badCert(func(*fakeCA, *fakeOrder) []byte { return []byte("\n") }), code: 1, want: "no certificate"},
		{name: "cert-wrong-key", muts: badCert(func(f *fakeCA, o *fakeOrder) []byte {
			return f.issue(&otherKey().PublicKey, o.csr.DNSNames, nil, leafOpts{})
		}), code: 1, want: "certificate key does not match"},
		{name: "cert-wrong-names", muts: badCert(func(f *fakeCA, o *fakeOrder) []byte {
			return f.issue(o.csr.PublicKey, []string{"other.example.test"}, nil, leafOpts{})
		}), code: 1, want: "differ from the order"},
		{name: "cert-extra-name", muts: badCert(func(f *fakeCA, o *fakeOrder) []byte {
			return f.issue(o.csr.PublicKey, append(o.csr.DNSNames, "bank.example.test"), nil, leafOpts{})
		}), code: 1, want: "differ from the order"},
		{name: "cert-chain-loop", muts: badCert(func(f *fakeCA, o *fakeOrder) []byte {
			return append(f.issue(o.csr.PublicKey, o.csr.DNSNames, nil, leafOpts{}), pemOf(f.inter.Raw)...)
		}), code: 1, want: "repeats a certificate"},
		{name: "cert-private-key-block", muts: badCert(func(f *fakeCA, o *fakeOrder) []byte {
			der, _ := x509.MarshalPKCS8PrivateKey(otherKey())
			return append(f.issue(o.csr.PublicKey, o.csr.DNSNames, nil, leafOpts{}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
		}), code: 1, want: `unexpected PEM block "PRIVATE KEY"`},
		{name: "cert-explanatory-text", muts: badCert(func(f *fakeCA, o *fakeOrder) []byte {
			return append([]byte("Here is your certificate:\n"), f.issue(o.csr.PublicKey, o.csr.DNSNames, nil, leafOpts{})...)
		}), code: 1, want: "not a PEM certificate chain"},
		{name: "cert-expired", muts: badCert(func(f *fakeCA, o *fakeOrder) []byte {
			return f.issue(o.csr.PublicKey, o.csr.DNSNames, nil, leafOpts{notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-24 * time.Hour)})
		}), code: 1, want: "certificate expired"},
		{name: "cert-is-ca", muts: badCert(func(f *fakeCA, o *fakeOrder) []byte {
			return f.issue(o.csr.PublicKey, o.csr.DNSNames, nil, leafOpts{isCA: true})
		}), code: 1, want: "is a CA certificate"},
		{name: "cert-no-serverauth", muts: badCert(func(f *fakeCA, o *fakeOrder) []byte {
			return f.issue(o.csr.PublicKey, o.csr.DNSNames, nil, leafOpts{eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		}), code: 1, want: "lacks the serverAuth"},
		{name: "cert-chain-does-not-link", muts: badCert(func(f *fakeCA, o *fakeOrder) []byte {
			stranger, _ := newCA(f.t, "stranger", nil, nil)
			leaf, _ := pem.Decode(f.issue(o.csr.PublicKey, o.csr.DNSNames, nil, leafOpts{}))
			return append(pem.EncodeToMemory(leaf), pemOf(stranger.Raw)...)
		}), code: 1, want: "is not signed by certificate 2"},
		{name: "cert-huge", muts: badCert(func(f *fakeCA, o *fakeOrder) []byte {
			return bytes.Repeat(f.issue(o.csr.PublicKey, o.csr.DNSNames, nil, leafOpts{}), 2000)
		}), code: 1, want: "response body larger than"},

		// ---- Polling and Retry-After ----
		{name: "processing-forever", muts: stuckOrder("1"), code: 75, want: "did not complete",
			check: func(t *testing.T, l *lab, r result) {
				st := readState(t, l)
				if !strings.Contains(st, `"pending_order"`) {
					t.Errorf("order URL not persisted for resume: %s", st)
				}
				exactCount("POST finalize", 1)(t, l, r) // never a second finalize
			}},
		{name: "retry-after-huge", muts: stuckOrder("99999999999"), code: 75, want: "did not complete before its deadline",
			maxTime: 3 * time.Second, check: func(t *testing.T, l *lab, r result) {
				if !strings.Contains(r.stderr, "(retry after ") {
					t.Error("no retry time shown")
				}
			}},
		{name: "retry-after-negative", muts: stuckAuthz("-5"), code: 75, want: "did not complete", check: maxCount("POST authz", 20)},
		{name: "retry-after-zero", muts: stuckAuthz("0"), code: 75, want: "did not complete", check: maxCount("POST authz", 20)},

		// ---- Rate limits and outages ----
		{name: "rate-limited-persisted", muts: map[string]mutator{"new-order": chain(prob(429, "rateLimited", "too many certificates"),
			header("Retry-After", "3600"))}, code: 75, want: "rateLimited: too many certificates",
			check: func(t *testing.T, l *lab, r result) {
				if !strings.Contains(r.stderr, "(retry after ") {
					t.Error("no retry time shown")
				}
				before := l.f.count("total")
				r2 := l.run(t, 10*time.Second, append(l.base, "--force")...)
				if r2.code != 75 {
					t.Errorf("second run: exit %d; want 75", r2.code)
				}
				errorLine(t, r2, "asked to wait")
				if got := l.f.count("total") - before; got != 0 {
					t.Errorf("second run made %d requests to the CA; want 0", got)
				}
			}},
		{name: "server-error-forever-post-as-get", muts: map[string]mutator{"authz": prob(500, "serverInternal", "down")},
			code: 75, want: "serverInternal", check: exactCount("POST authz", 4)},
		{name: "server-error-on-new-order-not-repeated", muts: map[string]mutator{"new-order": prob(503, "serverInternal", "down")},
			code: 75, want: "serverInternal", check: exactCount("POST new-order", 1)},
	}
}

func replaceArg(args []string, flag, val string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if out[i] == flag && i+1 < len(out) {
			out[i+1] = val
		}
	}
	return out
}

func readState(t *testing.T, l *lab) string {
	b, err := os.ReadFile(filepath.Join(l.state, "certificates", l.name, "state.json"))
	must(t, err)
	return string(b)
}

// TestHostileServer runs every case: a good obtain, then the server turns
// hostile and obtain --force must fail cleanly.
func TestHostileServer(t *testing.T) {
	cs := cases()
	if len(cs) < 40 {
		t.Fatalf("only %d cases", len(cs))
	}
	for _, c := range cs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			l.good(t)
			live := l.live(t)
			tree := l.tree(t)
			if c.before != nil {
				c.before(t, l)
			}
			l.f.hostile(c.muts)
			args := append(append([]string(nil), l.base...), "--force")
			if c.args != nil {
				args = append(c.args(l), "--force")
			}
			maxTime := c.maxTime
			if maxTime == 0 {
				maxTime = 10 * time.Second
			}
			r := l.run(t, maxTime+5*time.Second, args...)
			if r.code != c.code {
				t.Errorf("exit %d; want %d", r.code, c.code)
			}
			errorLine(t, r, c.want)
			if r.took > maxTime {
				t.Errorf("took %v; want ≤ %v", r.took, maxTime)
			}
			if r.maxRSS > 128<<20 {
				t.Errorf("max RSS %d MiB; want ≤ 128", r.maxRSS>>20)
			}
			after := l.live(t)
			for f, b := range live {
				if !bytes.Equal(b, after[f]) {
					t.Errorf("live %s changed", f)
				}
			}
			if n := l.canaryRuns(t); n != 1 {
				t.Errorf("deploy hook ran %d times in total; want 1 (the good run)", n)
			}
			got := l.tree(t)
			for p, h := range tree {
				if got[p] != h {
					t.Errorf("outside the state dir: %s changed (%s → %s)", p, h, got[p])
				}
			}
			for p := range got {
				if _, ok := tree[p]; !ok {
					t.Errorf("outside the state dir: %s created", p)
				}
			}
			if c.check != nil {
				c.check(t, l, r)
			}
		})
	}
}
