package issue

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

// TestIssueRefusesMistypedIdentifier: the engine orders identifiers as
// typed, and one the parser would type or spell otherwise (a "dns"
// 192.0.2.1, as a stale record or a bug could make) is refused before any
// request to the CA, never re-guessed as an IP address.
func TestIssueRefusesMistypedIdentifier(t *testing.T) {
	var requests atomic.Int32
	ca := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer ca.Close()
	e := &Engine{}
	for _, names := range []client.Names{
		{{Type: "dns", Value: "192.0.2.1"}},
		{{Type: "dns", Value: "example.com"}, {Type: "dns", Value: "2001:db8::1"}},
		{{Type: "ip", Value: "example.com"}},
		{{Type: "dns", Value: "Example.com"}},
		{},
	} {
		s := &store.Settings{Names: names, Server: ca.URL + "/dir", HTTP01Addrs: []string{"127.0.0.1:0"}}
		_, err := e.Issue(context.Background(), Request{Name: "x", Settings: s, DryRun: true})
		var ne *client.NameError
		if err == nil || len(names) > 0 && !errors.As(err, &ne) {
			t.Errorf("names %+v: %v; want a *client.NameError", names, err)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests reached the CA; want none", n)
	}
}

// TestNewCSRTyped: the CSR carries each identifier in the extension its
// type names (an IP address in iPAddress, a DNS name in dNSName), and the
// names read back from it are the same typed identifiers.
func TestNewCSRTyped(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	names := client.MustNames("example.com", "*.example.com", "192.0.2.1", "2001:db8::1")
	der, err := newCSR(key, names, false)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(csr.DNSNames, []string{"example.com", "*.example.com"}) || len(csr.IPAddresses) != 2 ||
		csr.IPAddresses[0].String() != "192.0.2.1" || csr.IPAddresses[1].String() != "2001:db8::1" {
		t.Errorf("CSR names %q, IPs %v", csr.DNSNames, csr.IPAddresses)
	}
	back, err := CSRNames(csr)
	if err != nil || !back.SameSet(names) || len(back) != len(names) {
		t.Errorf("CSRNames = %+v, %v; want %+v", back, err, names)
	}
	if _, err := newCSR(key, client.Names{{Type: "ip", Value: "example.com"}}, false); err == nil {
		t.Error("an ip identifier that is no address went into a CSR")
	}
}
