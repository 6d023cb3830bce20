package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
)

// Fuzz targets for every parser of server data. `go test` replays the
// seeds in testdata/fuzz; `make test` also fuzzes each briefly.

func fuzzClient(t *testing.T) *Client {
	c, err := New(Config{DirectoryURL: "https://acme.example/dir"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// isHTTPS: the URL's scheme is https (schemes are case-insensitive, RFC
// 3986 §3.1: "HTTPS://" is https, and Go's requests treat it so).
func isHTTPS(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https"
}

func noControl(t *testing.T, what, s string) {
	if i := strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }); i >= 0 {
		t.Fatalf("%s has control character %q at %d: %q", what, s[i], i, s)
	}
}

// FuzzDirectory: any accepted directory has only https URLs on its
// server's side of the rules, and errors are one sanitized line.
func FuzzDirectory(f *testing.F) {
	f.Add([]byte(`{"newNonce":"https://acme.example/n","newAccount":"https://acme.example/a","newOrder":"https://acme.example/o","meta":{"profiles":{"default":"x"}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c := fuzzClient(t)
		dir, err := c.parseDirectory(body)
		if err != nil {
			noControl(t, "error", err.Error())
			return
		}
		for _, u := range []string{dir.NewNonce, dir.NewAccount, dir.NewOrder, dir.NewAuthz, dir.RevokeCert, dir.KeyChange, dir.RenewalInfo, dir.NewReg, dir.NewCert} {
			if u != "" && !isHTTPS(u) {
				t.Fatalf("accepted non-https URL %q", u)
			}
		}
		for name := range dir.Meta.Profiles {
			if !validProfileName(name) {
				t.Fatalf("kept bad profile name %q", name)
			}
		}
	})
}

// FuzzOrder: an accepted order has a known status, https URLs and valid
// identifiers; an unknown status is never accepted.
func FuzzOrder(f *testing.F) {
	f.Add([]byte(`{"status":"valid","identifiers":[{"type":"dns","value":"a.example"}],"authorizations":["https://acme.example/z/1"],"finalize":"https://acme.example/f/1","certificate":"https://acme.example/c/1"}`), "120")
	f.Fuzz(func(t *testing.T, body []byte, retryAfter string) {
		c := fuzzClient(t)
		r := &rfc8555{c: c, dir: &Directory{}}
		now := time.Now()
		o, err := r.decodeOrder(&response{status: 200, header: http.Header{"Retry-After": {retryAfter}}, body: body, url: "https://acme.example/o/1"}, "https://acme.example/o/1")
		if err != nil {
			noControl(t, "error", err.Error())
			return
		}
		switch o.Status {
		case StatusPending, StatusReady, StatusProcessing, StatusValid, StatusInvalid:
		default:
			t.Fatalf("accepted status %q", o.Status)
		}
		if o.Status == StatusValid && !isHTTPS(o.Certificate) {
			t.Fatalf("valid order with certificate URL %q", o.Certificate)
		}
		for _, id := range o.Identifiers {
			if validateIdentifier(id) != nil {
				t.Fatalf("accepted identifier %+v", id)
			}
		}
		if !o.RetryAfter.IsZero() && o.RetryAfter.Sub(now) > DefaultMaxRetryAfter+time.Minute {
			t.Fatalf("Retry-After not clamped: %v", o.RetryAfter.Sub(now))
		}
	})
}

// FuzzAuthorization: accepted authorizations have a known status and a
// valid identifier; tokens are checked before use by validToken.
func FuzzAuthorization(f *testing.F) {
	f.Add([]byte(`{"status":"pending","identifier":{"type":"dns","value":"a.example"},"challenges":[{"type":"http-01","url":"https://acme.example/c/1","token":"LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0","status":"pending"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c := fuzzClient(t)
		az, err := decodeAuthorization(c, &response{status: 200, header: http.Header{}, body: body, url: "https://acme.example/z/1"}, "https://acme.example/z/1")
		if err != nil {
			noControl(t, "error", err.Error())
			return
		}
		switch az.Status {
		case StatusPending, StatusValid, StatusInvalid, StatusDeactivated, StatusExpired, StatusRevoked:
		default:
			t.Fatalf("accepted status %q", az.Status)
		}
		if validateIdentifier(az.Identifier) != nil {
			t.Fatalf("accepted identifier %+v", az.Identifier)
		}
		for _, ch := range az.Challenges {
			if validToken(ch.Token) && (filepath.Base(ch.Token) != ch.Token || strings.ContainsAny(ch.Token, "./\\=$`;#\x00\n")) {
				t.Fatalf("token %q accepted", ch.Token)
			}
		}
	})
}

// FuzzProblem: the rendered message is bounded and has no control
// characters, whatever the server sent.
func FuzzProblem(f *testing.F) {
	f.Add(400, []byte(`{"type":"urn:ietf:params:acme:error:malformed","detail":"\u001b[31mred\r\nx","subproblems":[{"type":"x","detail":"y"}]}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		p := parseProblem(status, body, "https://acme.example/x")
		msg := p.Error()
		noControl(t, "problem", msg)
		if len(msg) > 4096 {
			t.Fatalf("problem message is %d bytes", len(msg))
		}
		if len(p.Subproblems) > 100 {
			t.Fatalf("%d subproblems kept", len(p.Subproblems))
		}
	})
}

// FuzzSanitize: the output is bounded and free of control characters.
func FuzzSanitize(f *testing.F) {
	f.Add("\x1b[2Jhello\r\n\u202e", 64)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		out := Sanitize(s, n)
		noControl(t, "sanitized", out)
		if len(out) > n+16 {
			t.Fatalf("Sanitize(%d) gave %d bytes", n, len(out))
		}
	})
}

// FuzzRetryAfter: parsing is total and the result is zero or within
// (now, now+max], never an overflow.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "-5", "0", "99999999999", "10000000000", "1e9", "Wed, 21 Oct 2015 07:28:00 GMT", "garbage"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		got := parseRetryAfter(v, now, DefaultMaxRetryAfter)
		if got.IsZero() {
			return
		}
		if !got.After(now) || got.Sub(now) > DefaultMaxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %v (now %v)", v, got, now)
		}
	})
}

// FuzzLinks: bounded output, fast.
func FuzzLinks(f *testing.F) {
	f.Add(`<https://acme.example/cert/1/1>;rel="alternate", <https://acme.example/dir>;rel="index"`)
	f.Fuzz(func(t *testing.T, v string) {
		start := time.Now()
		links := parseLinks([]string{v, v})
		if len(links) > 32 {
			t.Fatalf("%d links", len(links))
		}
		if d := time.Since(start); d > time.Second && len(v) < 1<<16 {
			t.Fatalf("parseLinks took %v for %d bytes", d, len(v))
		}
	})
}

// FuzzPEMChain: accepted ⇒ 1..10 certificates, only CERTIFICATE blocks.
func FuzzPEMChain(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		chain, err := parsePEMChain(data)
		if err != nil {
			noControl(t, "error", err.Error())
			return
		}
		if len(chain) == 0 || len(chain) > maxChainCerts {
			t.Fatalf("%d certificates accepted", len(chain))
		}
		if strings.Contains(string(data), "PRIVATE KEY") {
			t.Fatal("a chain with a private key block was accepted")
		}
	})
}

// FuzzTokenNonce: accepted tokens and nonces are base64url and a single
// path element.
func FuzzTokenNonce(f *testing.F) {
	f.Add("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0")
	f.Add("../../etc/passwd")
	f.Fuzz(func(t *testing.T, s string) {
		for what, ok := range map[string]bool{"token": validToken(s), "nonce": validNonce(s)} {
			if !ok {
				continue
			}
			if filepath.Base(s) != s || s == "." || s == ".." || strings.ContainsAny(s, "/\\.=$`;# \x00\n\"") {
				t.Fatalf("%s %q accepted", what, s)
			}
		}
	})
}

// FuzzCheckURL: accepted server URLs are absolute https without user
// information, and private addresses only for a private directory.
func FuzzCheckURL(f *testing.F) {
	f.Add("https://acme.example/o/1")
	f.Add("https://169.254.169.254/latest")
	f.Fuzz(func(t *testing.T, raw string) {
		c := fuzzClient(t)
		u, err := c.checkURL(raw, "order")
		if err != nil {
			noControl(t, "error", err.Error())
			return
		}
		if u.Scheme != "https" || u.User != nil || u.Host == "" || isPrivateHost(u.Hostname()) {
			t.Fatalf("checkURL accepted %q", raw)
		}
	})
}

// FuzzJWSRoundTrip: what signJWS produces verifies under go-jose with the
// url and nonce byte-identical (a differential check).
func FuzzJWSRoundTrip(f *testing.F) {
	f.Add([]byte(`{"identifiers":[]}`), "https://acme.example/new-order", "abcDEF-_123")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.Fuzz(func(t *testing.T, payload []byte, url, nonce string) {
		// Server URLs and nonces reach us through JSON or vetted headers:
		// JSON cannot carry invalid UTF-8, so neither can the signed header.
		if url == "" || nonce == "" || !utf8.ValidString(url) || !utf8.ValidString(nonce) {
			return
		}
		body, err := signJWS(payload, signOpts{key: key, kid: "https://acme.example/acct/1", nonce: nonce, url: url})
		if err != nil {
			return
		}
		jws, err := jose.ParseSigned(string(body), []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatalf("our JWS does not parse: %v", err)
		}
		got, err := jws.Verify(&key.PublicKey)
		if err != nil {
			t.Fatalf("our JWS does not verify: %v", err)
		}
		if string(got) != string(payload) {
			t.Fatal("payload changed")
		}
		h := jws.Signatures[0].Protected
		if h.ExtraHeaders["url"] != url || h.Nonce != nonce || h.KeyID != "https://acme.example/acct/1" {
			t.Fatalf("headers changed: %+v", h)
		}
	})
}
