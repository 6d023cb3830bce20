package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
)

// NewHTTPClientExtraRoots is NewHTTPClient verifying the CA against the
// system roots plus extra (--ca-bundle), without loading the system roots
// unless they are needed: connections are first verified against extra
// alone; a chain that does not end in one of them (x509 "unknown
// authority") is verified again against the system roots plus extra, and
// from then on every connection is. A chain accepted either way is one the
// union of both accepts (a path ends at one root, which is in one of
// them); hostname and every other check are Go's own in both cases.
//
// Loading the system roots parses every certificate of /etc/ssl/certs (tens
// of ms and about 5 MB on a Debian host), which a run against a CA whose
// root is in the bundle (a private CA, a test CA) never needs.
func NewHTTPClientExtraRoots(extra []*x509.Certificate) *http.Client {
	pool := x509.NewCertPool()
	for _, c := range extra {
		pool.AddCert(c)
	}
	hc := NewHTTPClient(pool)
	first := hc.Transport.(*http.Transport)
	hc.Transport = &rootsFallback{first: first, system: x509.SystemCertPool, extra: extra}
	return hc
}

// rootsFallback is the RoundTripper of NewHTTPClientExtraRoots.
type rootsFallback struct {
	first  *http.Transport // verifies against extra alone
	extra  []*x509.Certificate
	system func() (*x509.CertPool, error)

	useFull atomic.Bool
	once    sync.Once
	full    *http.Transport // system roots plus extra
}

func (f *rootsFallback) fullTransport() *http.Transport {
	f.once.Do(func() {
		pool, err := f.system()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		} else {
			pool = pool.Clone()
		}
		for _, c := range f.extra {
			pool.AddCert(c)
		}
		t := f.first.Clone()
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		f.full = t
	})
	return f.full
}

func (f *rootsFallback) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.useFull.Load() {
		return f.fullTransport().RoundTrip(r)
	}
	resp, err := f.first.RoundTrip(r)
	var ua x509.UnknownAuthorityError
	if err == nil || !errors.As(err, &ua) {
		return resp, err
	}
	// The handshake failed: nothing of the request reached the server,
	// so it is sent again, verified against the system roots too.
	f.useFull.Store(true)
	r2 := r.Clone(r.Context())
	if r.Body != nil && r.Body != http.NoBody {
		if r.GetBody == nil {
			return nil, err
		}
		body, gerr := r.GetBody()
		if gerr != nil {
			return nil, err
		}
		r2.Body = body
	}
	return f.fullTransport().RoundTrip(r2)
}

// CloseIdleConnections closes both transports' idle connections.
func (f *rootsFallback) CloseIdleConnections() {
	f.first.CloseIdleConnections()
	if f.useFull.Load() {
		f.fullTransport().CloseIdleConnections()
	}
}
