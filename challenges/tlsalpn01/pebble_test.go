package tlsalpn01_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/tlsalpn01"
	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/testenv"
)

// obtain orders a certificate for ids from Pebble, answering tls-alpn-01 with
// solver, and returns the leaf.
func obtain(t *testing.T, p *testenv.Pebble, solver challenges.Solver, ids []client.Identifier) *x509.Certificate {
	t.Helper()
	pem, err := os.ReadFile(p.CABundle)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := client.New(client.Config{DirectoryURL: p.DirURL, RootCAs: pool, UserAgent: "acmectl-test", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	acctKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	acct, err := c.Register(t.Context(), acctKey, client.RegisterOptions{AgreeTerms: true})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: ids[0].Value}}
	for _, id := range ids {
		if id.Type == challenges.IdentifierIP {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(id.Value))
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, id.Value)
		}
	}
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, certKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := c.Obtain(t.Context(), acct, client.OrderRequest{
		Identifiers: ids, CSR: csr, Profile: "default",
		Solvers: func(client.Identifier, bool) []client.SolverChoice {
			return []client.SolverChoice{{Type: challenges.TLSALPN01, Solver: solver}}
		},
	})
	if err != nil {
		t.Fatalf("Obtain: %v", err)
	}
	leaf, err := x509.ParseCertificate(cert.Chain[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func pebbleIDs() []client.Identifier {
	return []client.Identifier{
		{Type: challenges.IdentifierDNS, Value: "a.example.test"},
		{Type: challenges.IdentifierDNS, Value: "b.example.test"},
		{Type: challenges.IdentifierIP, Value: "127.0.0.1"},
	}
}

func TestServerAgainstPebble(t *testing.T) {
	if testing.Short() {
		t.Skip("Pebble end-to-end")
	}
	p := testenv.StartPebble(t, testenv.PebbleOptions{})
	addr := "127.0.0.1:" + strconv.Itoa(p.TLSPort)
	s := tlsalpn01.NewServer([]string{addr}, testLogger(t))
	leaf := obtain(t, p, s, pebbleIDs())
	if len(leaf.DNSNames) != 2 || len(leaf.IPAddresses) != 1 {
		t.Errorf("leaf names %v %v; want 2 DNS names and 1 IP", leaf.DNSNames, leaf.IPAddresses)
	}
	if got := s.Addrs(); got != nil {
		t.Errorf("Addrs() after Obtain = %v; want the listener closed", got)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("dial %s after Obtain succeeded; want the listener closed", addr)
	}
}
