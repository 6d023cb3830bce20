package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/asn1"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/tlsalpn01"
	"github.com/acmectl/acmectl/internal/testenv"
)

// holdIdle opens n TCP connections to addr that send nothing and keeps them
// open until the test ends.
func holdIdle(t *testing.T, addr string, n int) {
	t.Helper()
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("idle connection %d to %s: %v", i, addr, err)
		}
		t.Cleanup(func() { c.Close() })
	}
}

// alpnValidate does what a CA does for tls-alpn-01 (RFC 8737 §3): a
// handshake offering only acme-tls/1 with the identifier as SNI, then
// checks the self-signed certificate's SAN and acmeIdentifier extension.
func alpnValidate(t *testing.T, addr, sni, keyAuth string) error {
	t.Helper()
	d := tls.Dialer{Config: &tls.Config{
		ServerName: sni, NextProtos: []string{tlsalpn01.Protocol}, MinVersion: tls.VersionTLS12,
		InsecureSkipVerify: true, // a self-signed challenge certificate, checked below
	}}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	st := c.(*tls.Conn).ConnectionState()
	if st.NegotiatedProtocol != tlsalpn01.Protocol || len(st.PeerCertificates) != 1 {
		return fmt.Errorf("protocol %q, %d certificates", st.NegotiatedProtocol, len(st.PeerCertificates))
	}
	leaf := st.PeerCertificates[0]
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != sni {
		return fmt.Errorf("SANs %v; want [%s]", leaf.DNSNames, sni)
	}
	sum := sha256.Sum256([]byte(keyAuth))
	want, _ := asn1.Marshal(sum[:])
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal(tlsalpn01.AcmeIdentifierOID()) {
			if !ext.Critical || !bytes.Equal(ext.Value, want) {
				return fmt.Errorf("acmeIdentifier critical=%v value %x; want critical %x", ext.Critical, ext.Value, want)
			}
			return nil
		}
	}
	return fmt.Errorf("no acmeIdentifier extension")
}

// TestFleetTLSALPNIdleConnectionsDoNotStarve is issue 14 item 10 for the
// fleet responder, which the fleet daemon keeps open permanently: with 64
// idle TCP connections it turned away every CA handshake (its own 64-slot
// rule). It now serves through tlsalpn01.Serve: 200 idle connections from
// one source, then validations as a CA does them, with more idle
// connections arriving between them.
func TestFleetTLSALPNIdleConnectionsDoNotStarve(t *testing.T) {
	if testing.Short() {
		t.Skip("needs etcd")
	}
	e := testenv.StartEtcd(t)
	h := newTestHost(t, e, "a", "", writeKeyFile(t), nil)
	ctx := testenv.Context(t, time.Minute)
	lk, err := h.h.Fleet.LockCert(ctx, "fleet", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	ch := challenges.Challenge{Type: challenges.TLSALPN01, Token: "tok",
		Identifier:       challenges.Identifier{Type: challenges.IdentifierDNS, Value: "busy.example.test"},
		KeyAuthorization: "tok.thumbprint"}
	pub := &Publisher{Type: challenges.TLSALPN01, Lock: lk}
	if err := pub.Present(ctx, ch); err != nil {
		t.Fatal(err)
	}
	r := &Responder{Fleet: h.h.Fleet, TLSALPNAddrs: []string{"127.0.0.1:0"}}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	addr := r.Addrs()[0].String()
	const idle = 200
	holdIdle(t, addr, idle)
	for i := range 3 {
		if err := alpnValidate(t, addr, "busy.example.test", ch.KeyAuthorization); err != nil {
			t.Fatalf("validation %d with %d+ idle connections open: %v", i, idle, err)
		}
		holdIdle(t, addr, idle/4)
	}
}
