package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"net"
	"os"
	"testing"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/client"
)

// PebbleClient is an ACME client for p that trusts its HTTPS root.
func PebbleClient(t testing.TB, p *Pebble, logger *slog.Logger) *client.Client {
	t.Helper()
	data, err := os.ReadFile(p.CABundle)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(data)
	c, err := client.New(client.Config{DirectoryURL: p.DirURL, RootCAs: pool, UserAgent: "acmectl-test", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Obtain registers a fresh account at p and orders a certificate for ids,
// answering every authorization with challenge type typ through solver.
// It returns the leaf.
func Obtain(t testing.TB, p *Pebble, logger *slog.Logger, typ string, solver challenges.Solver, ids []client.Identifier) *x509.Certificate {
	t.Helper()
	c := PebbleClient(t, p, logger)
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
			return []client.SolverChoice{{Type: typ, Solver: solver}}
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
