package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/testenv"
)

// tokenServer is a minimal http-01 solver for the client's own tests.
type tokenServer struct {
	mu     sync.Mutex
	tokens map[string]string
}

func (s *tokenServer) Present(_ context.Context, ch challenges.Challenge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[ch.HTTP01Path()] = ch.KeyAuthorization
	return nil
}

func (s *tokenServer) CleanUp(_ context.Context, ch challenges.Challenge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, ch.HTTP01Path())
	return nil
}

func (s *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	v, ok := s.tokens[r.URL.Path]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write([]byte(v))
}

func newPebbleClient(t *testing.T, p *testenv.Pebble) *client.Client {
	t.Helper()
	pem, err := os.ReadFile(p.CABundle)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := client.New(client.Config{DirectoryURL: p.DirURL, RootCAs: pool, UserAgent: "acmectl-test"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestObtainAgainstPebble(t *testing.T) {
	if testing.Short() {
		t.Skip("Pebble end-to-end")
	}
	p := testenv.StartPebble(t, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "30"}})
	solver := &tokenServer{tokens: map[string]string{}}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: solver}
	go srv.Serve(l)
	defer srv.Close()

	c := newPebbleClient(t, p)
	ctx := t.Context()
	acctKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	acct, err := c.Register(ctx, acctKey, client.RegisterOptions{Contact: []string{"mailto:a@example.test"}, AgreeTerms: true})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	again, err := c.LookupAccount(ctx, acctKey)
	if err != nil || again.URL != acct.URL {
		t.Fatalf("LookupAccount = %v, %v; want %s", again, err, acct.URL)
	}
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := c.LookupAccount(ctx, otherKey); err != client.ErrAccountNotFound {
		t.Fatalf("LookupAccount(unknown) err = %v; want ErrAccountNotFound", err)
	}

	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	names := []string{"a.example.test", "b.example.test"}
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, certKey)
	var ids []client.Identifier
	for _, n := range names {
		ids = append(ids, client.Identifier{Type: "dns", Value: n})
	}
	var orderURL string
	cert, err := c.Obtain(ctx, acct, client.OrderRequest{
		Identifiers: ids, CSR: csr, Profile: "default",
		Solvers: func(client.Identifier, bool) []client.SolverChoice {
			return []client.SolverChoice{{Type: challenges.HTTP01, Solver: solver}}
		},
		OnOrder: func(u string) error { orderURL = u; return nil },
	})
	if err != nil {
		t.Fatalf("Obtain: %v", err)
	}
	if orderURL == "" || cert.OrderURL != orderURL {
		t.Errorf("OnOrder got %q, cert.OrderURL %q", orderURL, cert.OrderURL)
	}
	leaf, _ := x509.ParseCertificate(cert.Chain[0])
	if strings.Join(leaf.DNSNames, ",") != "a.example.test,b.example.test" {
		t.Errorf("leaf names = %v", leaf.DNSNames)
	}
	if got := p.Count("POST /order-plz 201"); got != 1 {
		t.Errorf("orders created = %d; want 1", got)
	}
	if got := p.Count("POST /finalize-order 200"); got != 1 {
		t.Errorf("finalizes accepted = %d; want 1", got)
	}
	// ARI: fetched and parsed into a typed window by client; a body that
	// breaks RFC 9773 is a *RenewalInfoError, never a window.
	ri, _, err := c.RenewalInfo(ctx, leaf)
	if err != nil || !ri.Start.Before(ri.End) || !ri.End.Before(leaf.NotAfter) {
		t.Errorf("RenewalInfo = %+v, %v; want a window before notAfter %v", ri, err, leaf.NotAfter)
	}
	leafPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Chain[0]})
	p.SetRenewalInfo(t, leafPEM, `{"suggestedWindow":{"start":"2026-01-02T00:00:00Z","end":"2026-01-01T00:00:00Z"}}`)
	var rie *client.RenewalInfoError
	if ri, _, err := c.RenewalInfo(ctx, leaf); !errors.As(err, &rie) {
		t.Errorf("RenewalInfo with end before start = %+v, %v; want a *RenewalInfoError", ri, err)
	}
	t.Logf("requests seen by Pebble: %v", p.Counts())
	if len(solver.tokens) != 0 {
		t.Errorf("tokens left after cleanup: %v", solver.tokens)
	}
}

// BenchmarkObtainInProcess measures the protocol alone: one single-name
// issuance with an existing account against Pebble (no nonce rejection),
// in process (no process start, no disk). Requests are counted on
// Pebble's side.
func BenchmarkObtainInProcess(b *testing.B) {
	p := testenv.StartPebble(b, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	solver := &tokenServer{tokens: map[string]string{}}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p.HTTPPort))
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: solver}
	go srv.Serve(l)
	defer srv.Close()
	acctKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c := testenv.PebbleClient(b, p, nil)
	acct, err := c.Register(b.Context(), acctKey, client.RegisterOptions{AgreeTerms: true})
	if err != nil {
		b.Fatal(err)
	}
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"bench.example.test"}}, certKey)
	req := client.OrderRequest{
		Identifiers: []client.Identifier{{Type: "dns", Value: "bench.example.test"}}, CSR: csr, Profile: "default",
		Solvers: func(client.Identifier, bool) []client.SolverChoice {
			return []client.SolverChoice{{Type: challenges.HTTP01, Solver: solver}}
		},
	}
	before := p.Count("total")
	b.ResetTimer()
	for b.Loop() {
		// A fresh client per issuance, as a fresh acmectl process has:
		// directory and first nonce included.
		c := testenv.PebbleClient(b, p, nil)
		if _, err := c.Obtain(b.Context(), acct, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(p.Count("total")-before)/float64(b.N), "requests/op")
}
