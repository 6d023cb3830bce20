package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// testCA returns a root and a TLS certificate for 127.0.0.1 it signed.
func testCA(t *testing.T, name string) (*x509.Certificate, tls.Certificate) {
	t.Helper()
	now := time.Now()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return ca, tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
}

func tlsServer(t *testing.T, cert tls.Certificate) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(append([]byte("ok "), b...))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestExtraRootsFallback: with --ca-bundle roots, a CA under them is
// verified without loading the system roots; a CA under the system roots
// is still trusted (the request is sent again after the failed
// handshake, body included); a CA under neither, or a wrong host name,
// is refused.
func TestExtraRootsFallback(t *testing.T) {
	bundleCA, bundleCert := testCA(t, "bundle root")
	systemCA, systemCert := testCA(t, "system root")
	_, strayCert := testCA(t, "stray root")
	loads := 0
	newClient := func(system ...*x509.Certificate) (*http.Client, *rootsFallback) {
		hc := NewHTTPClientExtraRoots([]*x509.Certificate{bundleCA})
		f := hc.Transport.(*rootsFallback)
		f.system = func() (*x509.CertPool, error) {
			loads++
			p := x509.NewCertPool()
			for _, c := range system {
				p.AddCert(c)
			}
			return p, nil
		}
		return hc, f
	}

	hc, f := newClient(systemCA)
	if resp, err := hc.Get(tlsServer(t, bundleCert).URL); err != nil {
		t.Fatalf("CA from the bundle: %v", err)
	} else {
		resp.Body.Close()
	}
	if loads != 0 || f.useFull.Load() {
		t.Errorf("system roots loaded (%d) for a CA in the bundle", loads)
	}
	resp, err := hc.Post(tlsServer(t, systemCert).URL, "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatalf("CA from the system roots: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok body" || loads != 1 {
		t.Errorf("system-rooted POST: %q, system loads %d; want \"ok body\", 1", b, loads)
	}
	// From now on both kinds verify against the union.
	if resp, err := hc.Get(tlsServer(t, bundleCert).URL); err != nil {
		t.Errorf("CA from the bundle after the fallback: %v", err)
	} else {
		resp.Body.Close()
	}

	hc, _ = newClient()
	var ua x509.UnknownAuthorityError
	if _, err := hc.Get(tlsServer(t, strayCert).URL); !errors.As(err, &ua) {
		t.Errorf("CA in neither: %v; want unknown authority", err)
	}
	// A wrong name is refused without any fallback.
	hc, f = newClient(systemCA)
	loads = 0
	u := strings.Replace(tlsServer(t, bundleCert).URL, "127.0.0.1", "localhost", 1)
	var he x509.HostnameError
	if _, err := hc.Get(u); !errors.As(err, &he) || loads != 0 || f.useFull.Load() {
		t.Errorf("wrong host name: %v (system loads %d); want a hostname error and no fallback", err, loads)
	}
}
