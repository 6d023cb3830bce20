package client_test

// Tests of the legacy v1 dialect against the in-process v1 test CA
// (internal/v1ca). Delete with the rest of client/v1*.go.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/testenv"
	"github.com/acmectl/acmectl/internal/v1ca"
)

type v1Lab struct {
	ca     *v1ca.Server
	c      *client.Client
	solver *tokenServer
}

func startV1(t *testing.T, cfg v1ca.Config) *v1Lab {
	t.Helper()
	port := testenv.FreePort(t)
	solver := &tokenServer{tokens: map[string]string{}}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: solver}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	cfg.Listen = "127.0.0.1:0"
	cfg.HTTP01Port = port
	ca, err := v1ca.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ca.Shutdown(ctx)
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.HTTPSRootPEM())
	c, err := client.New(client.Config{DirectoryURL: ca.DirectoryURL(), RootCAs: pool, UserAgent: "acmectl-test"})
	if err != nil {
		t.Fatal(err)
	}
	return &v1Lab{ca: ca, c: c, solver: solver}
}

func newKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (l *v1Lab) obtain(t *testing.T, a *client.Account, names ...string) (*client.Certificate, crypto.Signer) {
	t.Helper()
	key := newKey(t)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, key)
	if err != nil {
		t.Fatal(err)
	}
	var ids []client.Identifier
	for _, n := range names {
		ids = append(ids, client.Identifier{Type: "dns", Value: n})
	}
	cert, err := l.c.Obtain(t.Context(), a, client.OrderRequest{
		Identifiers: ids, CSR: csr,
		Solvers: func(client.Identifier, bool) []client.SolverChoice {
			return []client.SolverChoice{{Type: "http-01", Solver: l.solver}}
		},
	})
	if err != nil {
		t.Fatalf("Obtain(%v): %v", names, err)
	}
	return cert, key
}

func TestV1Lifecycle(t *testing.T) {
	l := startV1(t, v1ca.Config{})
	ctx := t.Context()
	dir, err := l.c.Directory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if dir.Dialect != client.DialectV1 {
		t.Fatalf("dialect = %q", dir.Dialect)
	}
	if dir.Meta.TermsOfService != l.ca.TermsURL() {
		t.Errorf("terms = %q; want %q", dir.Meta.TermsOfService, l.ca.TermsURL())
	}
	for _, f := range []string{"key-change", "revocation"} {
		if !slices.Contains(dir.Features(), f) {
			t.Errorf("features %v lack %s", dir.Features(), f)
		}
	}

	key := newKey(t)
	// Lookup of an unknown key never creates a registration.
	if _, err := l.c.LookupAccount(ctx, key); !errors.Is(err, client.ErrAccountNotFound) {
		t.Fatalf("LookupAccount(new key) = %v; want ErrAccountNotFound", err)
	}
	if n := len(l.ca.Snapshot().Registrations); n != 0 {
		t.Fatalf("lookup created %d registrations", n)
	}
	// EAB is refused before any request.
	before := l.ca.RequestCount("new-reg", "")
	var ue *client.UnsupportedError
	if _, err := l.c.Register(ctx, key, client.RegisterOptions{EABKeyID: "kid", EABHMACKey: []byte("k")}); !errors.As(err, &ue) {
		t.Fatalf("Register with EAB = %v; want UnsupportedError", err)
	}
	if got := l.ca.RequestCount("new-reg", ""); got != before {
		t.Errorf("EAB refusal sent %d new-reg requests", got-before)
	}

	a, err := l.c.Register(ctx, key, client.RegisterOptions{Contact: []string{"mailto:a@example.com"}, AgreeTerms: true})
	if err != nil {
		t.Fatal(err)
	}
	if a.TermsAgreed != l.ca.TermsURL() || a.Status != client.StatusValid {
		t.Errorf("account = %+v", a)
	}
	again, err := l.c.Register(ctx, key, client.RegisterOptions{AgreeTerms: true})
	if err != nil || again.URL != a.URL {
		t.Fatalf("second Register = %v, %v; want %s", again, err, a.URL)
	}
	found, err := l.c.LookupAccount(ctx, key)
	if err != nil || found.URL != a.URL {
		t.Fatalf("LookupAccount = %v, %v", found, err)
	}
	if n := len(l.ca.Snapshot().Registrations); n != 1 {
		t.Fatalf("registrations = %d; want 1", n)
	}
	if err := l.c.UpdateAccount(ctx, a, []string{"mailto:b@example.com"}); err != nil {
		t.Fatal(err)
	}
	if got := l.ca.Snapshot().Registrations[0].Contact; !slices.Equal(got, []string{"mailto:b@example.com"}) {
		t.Errorf("contacts at the CA = %v", got)
	}
	// Invalid contact: v1's invalidEmail is reported as invalidContact.
	var p *client.Problem
	if err := l.c.UpdateAccount(ctx, a, []string{"mailto:nodot@localhost"}); !errors.As(err, &p) || !p.Has("invalidContact") {
		t.Errorf("bad contact = %v; want invalidContact", err)
	}

	// Two names with http-01; a bad nonce on the way is retried.
	if err := l.ca.SetFault(v1ca.FaultBadNonceOnce, 1); err != nil {
		t.Fatal(err)
	}
	cert, _ := l.obtain(t, a, "a.example.test", "b.example.test")
	if len(cert.Chain) != 2 {
		t.Fatalf("chain has %d certificates; want leaf + intermediate", len(cert.Chain))
	}
	verifyV1Chain(t, l.ca, cert.Chain, "b.example.test")
	challenges := l.ca.RequestCount("challenge", "POST")
	if challenges != 2 {
		t.Errorf("challenge POSTs = %d; want 2", challenges)
	}
	// Valid authorizations are reused: no challenge the second time.
	cert2, key2 := l.obtain(t, a, "a.example.test", "b.example.test")
	if got := l.ca.RequestCount("challenge", "POST"); got != challenges {
		t.Errorf("challenge POSTs after reuse = %d; want %d", got, challenges)
	}

	// Revocation: v1 refuses reason 2 before any request; by account key;
	// again → alreadyRevoked; the other certificate by its own key.
	reason := 2
	revokes := l.ca.RequestCount("revoke-cert", "")
	if err := l.c.Revoke(ctx, a, nil, cert.Chain[0], &reason); !errors.As(err, &ue) {
		t.Errorf("reason 2 = %v; want UnsupportedError", err)
	}
	if got := l.ca.RequestCount("revoke-cert", ""); got != revokes {
		t.Errorf("reason 2 sent a request")
	}
	reason = 4
	if err := l.c.Revoke(ctx, a, nil, cert.Chain[0], &reason); err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(cert.Chain[0])
	if st, ok := l.ca.Certificate(serial(leaf.SerialNumber)); !ok || st.Status != "revoked" || st.Reason == nil || *st.Reason != 4 {
		t.Errorf("CA state of revoked certificate = %+v", st)
	}
	if err := l.c.Revoke(ctx, a, nil, cert.Chain[0], nil); !errors.As(err, &p) || !p.Has(client.ProblemAlreadyRevoked) {
		t.Errorf("second revoke = %v; want alreadyRevoked", err)
	}
	if err := l.c.Revoke(ctx, nil, key2, cert2.Chain[0], nil); err != nil {
		t.Fatalf("revoke by certificate key: %v", err)
	}

	// Key change in the v1 format.
	oldKey, nk := a.Key, newKey(t)
	if err := l.c.ChangeKey(ctx, a, nk); err != nil {
		t.Fatal(err)
	}
	if a.Key != nk {
		t.Error("account key not updated")
	}
	if _, err := l.c.LookupAccount(ctx, oldKey); !errors.Is(err, client.ErrAccountNotFound) {
		t.Errorf("old key lookup = %v; want ErrAccountNotFound", err)
	}
	if got, err := l.c.LookupAccount(ctx, nk); err != nil || got.URL != a.URL {
		t.Errorf("new key lookup = %v, %v", got, err)
	}
	if err := l.c.FetchAccount(ctx, a); err != nil {
		t.Errorf("fetch after key change: %v", err)
	}

	// Deactivation; the key then looks up as deactivated.
	if err := l.c.DeactivateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if a.Status != client.StatusDeactivated {
		t.Errorf("status = %q", a.Status)
	}
	if got, err := l.c.LookupAccount(ctx, nk); err != nil || got.Status != client.StatusDeactivated {
		t.Errorf("lookup of deactivated = %+v, %v", got, err)
	}
	if n := len(l.ca.Snapshot().Registrations); n != 1 {
		t.Errorf("registrations at the end = %d; want 1", n)
	}
}

// TestV1Unsupported: wildcards, IP identifiers, profiles and validity
// dates fail before any request, naming the dialect.
func TestV1Unsupported(t *testing.T) {
	l := startV1(t, v1ca.Config{})
	ctx := t.Context()
	if _, err := l.c.Directory(ctx); err != nil {
		t.Fatal(err)
	}
	for _, req := range []client.OrderRequest{
		{Identifiers: []client.Identifier{{Type: "dns", Value: "*.example.test"}}},
		{Identifiers: []client.Identifier{{Type: "ip", Value: "127.0.0.1"}}},
		{Identifiers: []client.Identifier{{Type: "dns", Value: "x.example.test"}}, Profile: "shortlived"},
	} {
		req.CSR = []byte{0}
		err := l.c.CheckOrder(ctx, &req)
		var ue *client.UnsupportedError
		if !errors.As(err, &ue) || ue.Dialect != client.DialectV1 {
			t.Errorf("CheckOrder(%+v) = %v; want UnsupportedError naming v1", req.Identifiers, err)
		}
	}
	if n := l.ca.RequestCount("new-authz", ""); n != 0 {
		t.Errorf("new-authz requests = %d", n)
	}
}

// TestV1Version: --acme-version 2 against a v1 directory names the keys.
func TestV1Version(t *testing.T) {
	l := startV1(t, v1ca.Config{})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(l.ca.HTTPSRootPEM())
	c, err := client.New(client.Config{DirectoryURL: l.ca.DirectoryURL(), RootCAs: pool, Version: "2"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Directory(t.Context())
	if !errors.Is(err, client.ErrUnknownDirectory) {
		t.Fatalf("Directory = %v; want ErrUnknownDirectory", err)
	}
}

func serial(n *big.Int) string { return leftPad(n.Text(16), 36) }

func leftPad(s string, n int) string {
	for len(s) < n {
		s = "0" + s
	}
	return s
}

func verifyV1Chain(t *testing.T, ca *v1ca.Server, chain [][]byte, name string) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.IssuerRootPEM())
	inter := x509.NewCertPool()
	for _, der := range chain[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		inter.AddCert(c)
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name}); err != nil {
		t.Errorf("chain does not verify to the test CA's issuer root: %v", err)
	}
}

// TestV1TermsFlows: terms learned from the Link header when the directory
// has no meta (pre-2017), agreement added to a registration that lacks it,
// and a changed agreement reported as agreementRequired.
func TestV1TermsFlows(t *testing.T) {
	l := startV1(t, v1ca.Config{NoMeta: true})
	ctx := t.Context()
	a, err := l.c.Register(ctx, newKey(t), client.RegisterOptions{AgreeTerms: true})
	if err != nil {
		t.Fatal(err)
	}
	if a.TermsAgreed != l.ca.TermsURL() {
		t.Errorf("agreement = %q; want %q from the Link header", a.TermsAgreed, l.ca.TermsURL())
	}
	if got := l.ca.RequestCount("reg", "POST"); got != 1 {
		t.Errorf("reg POSTs = %d; want 1 (the agreement)", got)
	}

	l = startV1(t, v1ca.Config{})
	key := newKey(t)
	a, err = l.c.Register(ctx, key, client.RegisterOptions{})
	if err != nil || a.TermsAgreed != "" {
		t.Fatalf("Register without terms = %+v, %v", a, err)
	}
	a, err = l.c.Register(ctx, key, client.RegisterOptions{AgreeTerms: true})
	if err != nil || a.TermsAgreed != l.ca.TermsURL() {
		t.Fatalf("Register of the existing key with terms = %+v, %v", a, err)
	}
	if regs := l.ca.Snapshot().Registrations; len(regs) != 1 || regs[0].Agreement != l.ca.TermsURL() {
		t.Errorf("registrations = %+v", regs)
	}
	if err := l.ca.SetFault(v1ca.FaultNewTerms, 0); err != nil {
		t.Fatal(err)
	}
	var p *client.Problem
	key2 := newKey(t)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"t.example.test"}}, key2)
	_, err = l.c.Obtain(ctx, a, client.OrderRequest{Identifiers: []client.Identifier{{Type: "dns", Value: "t.example.test"}}, CSR: csr})
	if !errors.As(err, &p) || !p.Has(client.ProblemAgreementRequired) {
		t.Errorf("Obtain after new terms = %v; want agreementRequired", err)
	}
}
