package v1compat

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmectl/acmectl/internal/v1ca"
)

// http01 serves key authorizations on 127.0.0.1:0 (the CA's http-01 port).
type http01 struct {
	mu    sync.Mutex
	paths map[string]string
	port  int
}

func startHTTP01(t *testing.T) *http01 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &http01{paths: map[string]string{}, port: ln.Addr().(*net.TCPAddr).Port}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		body, ok := h.paths[r.URL.Path]
		h.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, body)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return h
}

func (h *http01) set(path, body string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.paths[path] = body
}

func startCA(t *testing.T, httpPort int) *v1ca.Server {
	t.Helper()
	s, err := v1ca.New(v1ca.Config{
		Listen:     "127.0.0.1:0",
		HTTP01Port: httpPort,
		Logger:     slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatalf("v1ca.New: %v", err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// mgmt reads a management API document over HTTPS.
func mgmt(t *testing.T, s *v1ca.Server, path string, v any) int {
	t.Helper()
	res, err := s.HTTPClient().Get(s.BaseURL() + "/_testca/" + path)
	if err != nil {
		t.Fatalf("management %s: %v", path, err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("management %s: decode: %v", path, err)
	}
	return res.StatusCode
}

func newKey(t *testing.T, kind string) crypto.Signer {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch kind {
	case "rsa2048":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestXCryptoACMEv1 drives the test CA with x/crypto/acme's legacy client:
// register (agreeing to the terms), authorize two names with http-01,
// issue, verify the chain, revoke, and check the CA recorded it.
func TestXCryptoACMEv1(t *testing.T) {
	for _, accountKey := range []string{"ec256", "rsa2048"} {
		t.Run(accountKey, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			h := startHTTP01(t)
			s := startCA(t, h.port)
			cl := &acme.Client{Key: newKey(t, accountKey), DirectoryURL: s.DirectoryURL(), HTTPClient: s.HTTPClient(), UserAgent: "acmectl-v1compat"}

			dir, err := cl.Discover(ctx)
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			if dir.OrderURL != "" || dir.RegURL != s.BaseURL()+"/acme/new-reg" || dir.Terms != s.TermsURL() {
				t.Fatalf("x/crypto did not see a v1 directory: %+v", dir)
			}
			var prompted string
			acct, err := cl.Register(ctx, &acme.Account{Contact: []string{"mailto:ops@example.org"}}, func(tos string) bool { prompted = tos; return true })
			if err != nil {
				t.Fatalf("Register: %v", err)
			}
			if prompted != s.TermsURL() || acct.AgreedTerms != s.TermsURL() {
				t.Errorf("terms: prompted %q, agreed %q; want %q", prompted, acct.AgreedTerms, s.TermsURL())
			}
			if got, err := cl.GetReg(ctx, acct.URI); err != nil || got.AgreedTerms != s.TermsURL() {
				t.Errorf("GetReg = %+v, %v", got, err)
			}
			var regs []v1ca.RegState
			mgmt(t, s, "registrations", &regs)
			if len(regs) != 1 || regs[0].Agreement != s.TermsURL() || regs[0].Status != "valid" {
				t.Errorf("registrations: %+v", regs)
			}

			// x/crypto must recover from one badNonce by itself.
			if err := s.SetFault(v1ca.FaultBadNonceOnce, 0); err != nil {
				t.Fatal(err)
			}
			names := []string{"www.v1compat.example", "v1compat.example"}
			for _, name := range names {
				az, err := cl.Authorize(ctx, name)
				if err != nil {
					t.Fatalf("Authorize(%s): %v", name, err)
				}
				var chal *acme.Challenge
				for _, c := range az.Challenges {
					if c.Type == "http-01" {
						chal = c
					}
				}
				if chal == nil {
					t.Fatalf("no http-01 challenge for %s: %+v", name, az)
				}
				body, err := cl.HTTP01ChallengeResponse(chal.Token)
				if err != nil {
					t.Fatal(err)
				}
				h.set(cl.HTTP01ChallengePath(chal.Token), body)
				if _, err := cl.Accept(ctx, chal); err != nil {
					t.Fatalf("Accept(%s): %v", name, err)
				}
				if _, err := cl.WaitAuthorization(ctx, az.URI); err != nil {
					t.Fatalf("WaitAuthorization(%s): %v", name, err)
				}
				// Boulder handed back the valid authorization on a new request.
				again, err := cl.Authorize(ctx, name)
				if err != nil || again.Status != acme.StatusValid || again.URI != az.URI {
					t.Errorf("re-Authorize(%s) = %+v, %v; want the valid %s", name, again, err, az.URI)
				}
			}
			if n := s.RequestCount("new-authz", "POST"); n != 5 { // 4 + the badNonce retry
				t.Errorf("new-authz POSTs = %d; want 5 (one retried after badNonce)", n)
			}

			certKey := newKey(t, "ec256")
			csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, certKey)
			if err != nil {
				t.Fatal(err)
			}
			der, certURL, err := cl.CreateCert(ctx, csr, 90*24*time.Hour, true)
			if err != nil {
				t.Fatalf("CreateCert: %v", err)
			}
			if len(der) != 2 {
				t.Fatalf("CreateCert returned %d certificates; want leaf + intermediate", len(der))
			}
			leaf, err := x509.ParseCertificate(der[0])
			if err != nil {
				t.Fatal(err)
			}
			inter, err := x509.ParseCertificate(der[1])
			if err != nil {
				t.Fatal(err)
			}
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(s.IssuerRootPEM()) {
				t.Fatal("issuer root PEM")
			}
			inters := x509.NewCertPool()
			inters.AddCert(inter)
			for _, name := range names {
				if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inters}); err != nil {
					t.Errorf("leaf does not chain to the issuer root for %s: %v", name, err)
				}
			}
			if got, err := cl.FetchCert(ctx, certURL, false); err != nil || string(got[0]) != string(der[0]) {
				t.Errorf("FetchCert(%s): %v", certURL, err)
			}

			serial := fmt.Sprintf("%036x", leaf.SerialNumber)
			var st v1ca.CertState
			if code := mgmt(t, s, "certificates/"+serial, &st); code != 200 || st.Status != "valid" {
				t.Fatalf("before revocation: %d %+v", code, st)
			}
			if err := cl.RevokeCert(ctx, nil, der[0], acme.CRLReasonKeyCompromise); err != nil {
				t.Fatalf("RevokeCert: %v", err)
			}
			mgmt(t, s, "certificates/"+serial, &st)
			if st.Status != "revoked" || st.Reason == nil || *st.Reason != int(acme.CRLReasonKeyCompromise) {
				t.Errorf("after revocation: %+v", st)
			}
			// Revoking again is a 409 (malformed) on v1.
			err = cl.RevokeCert(ctx, nil, der[0], acme.CRLReasonUnspecified)
			if ae, ok := err.(*acme.Error); !ok || ae.StatusCode != http.StatusConflict || ae.ProblemType != "urn:acme:error:malformed" {
				t.Errorf("second RevokeCert = %v; want 409 urn:acme:error:malformed", err)
			}

			// A second certificate, revoked with its own key (no account).
			der2, _, err := cl.CreateCert(ctx, csr, 0, false)
			if err != nil {
				t.Fatalf("second CreateCert: %v", err)
			}
			if err := cl.RevokeCert(ctx, certKey, der2[0], acme.CRLReasonSuperseded); err != nil {
				t.Fatalf("RevokeCert with the certificate key: %v", err)
			}
			leaf2, _ := x509.ParseCertificate(der2[0])
			mgmt(t, s, fmt.Sprintf("certificates/%036x", leaf2.SerialNumber), &st)
			if st.Status != "revoked" || *st.Reason != int(acme.CRLReasonSuperseded) {
				t.Errorf("second certificate: %+v", st)
			}

			// Deactivating an authorization the x/crypto way.
			az, err := cl.Authorize(ctx, names[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := cl.RevokeAuthorization(ctx, az.URI); err != nil {
				t.Errorf("RevokeAuthorization: %v", err)
			}
		})
	}
}
