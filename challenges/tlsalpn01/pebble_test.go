package tlsalpn01_test

import (
	"crypto/x509"
	"net"
	"strconv"
	"testing"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/tlsalpn01"
	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/testenv"
)

// obtain orders a certificate for ids from Pebble, answering with solver,
// and returns the leaf.
func obtain(t *testing.T, p *testenv.Pebble, solver challenges.Solver, ids []client.Identifier) *x509.Certificate {
	t.Helper()
	return testenv.Obtain(t, p, testLogger(t), challenges.TLSALPN01, solver, ids)
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
