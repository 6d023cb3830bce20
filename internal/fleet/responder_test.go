package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/tlsalpn01"
	"github.com/acmectl/acmectl/internal/testenv"
)

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
	testenv.HoldIdle(t, addr, idle)
	for i := range 3 {
		if err := alpnValidate(t, addr, "busy.example.test", ch.KeyAuthorization); err != nil {
			t.Fatalf("validation %d with %d+ idle connections open: %v", i, idle, err)
		}
		testenv.HoldIdle(t, addr, idle/4)
	}
}

// waitSynced waits until r's answer cache has its watch in place and has
// read what etcd holds.
func waitSynced(t *testing.T, r *Responder) {
	t.Helper()
	testenv.WaitFor(t, "challenge answer cache in sync", 30*time.Second, func() error {
		r.mu.Lock()
		c := r.cache
		r.mu.Unlock()
		if c == nil || !c.synced.Load() {
			return errors.New("not yet")
		}
		return nil
	})
}

// cached reports whether r's cache holds an answer at etcd key k.
func cached(r *Responder, k string) bool {
	r.mu.Lock()
	c := r.cache
	r.mu.Unlock()
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.answers[k]
	return ok
}

func httpGet(t *testing.T, cl *http.Client, addr, token string) (int, string) {
	t.Helper()
	resp, err := cl.Get("http://" + addr + "/.well-known/acme-challenge/" + token)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// publishAnswer publishes ch through the real publisher (what the ordering
// host does, with the storage key) and returns the etcd key.
func publishAnswer(t *testing.T, ctx context.Context, lk *Lock, typ string, ch challenges.Challenge) string {
	t.Helper()
	if err := (&Publisher{Type: typ, Lock: lk}).Present(ctx, ch); err != nil {
		t.Fatal(err)
	}
	k, _, err := lk.f.answerKey(typ, ch)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestFleetResponderServesOnlyAuthenticatedAnswers is issue 14 item 5: with
// etcd write access only, anyone could publish an http-01 or tls-alpn-01
// answer that every fleet responder served, and so obtain certificates for
// the fleet's names. Answers planted in a real etcd — the old raw format,
// JSON without a MAC, a MAC under another storage key, a legitimate answer
// copied to another token or name — are never served (404, no handshake)
// and never enter the cache; answers published with the storage key are.
func TestFleetResponderServesOnlyAuthenticatedAnswers(t *testing.T) {
	a := newAttackEnv(t)
	f := a.victim.h.Fleet
	r := &Responder{Fleet: f, HTTPAddrs: []string{"127.0.0.1:0"}, TLSALPNAddrs: []string{"127.0.0.1:0"}}
	if err := r.Start(a.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	httpAddr, tlsAddr := r.Addrs()[0].String(), r.Addrs()[1].String()
	waitSynced(t, r)

	dns := func(name, token string) challenges.Challenge {
		return challenges.Challenge{Token: token, KeyAuthorization: token + ".thumbprint0123456789",
			Identifier: challenges.Identifier{Type: challenges.IdentifierDNS, Value: name}}
	}
	lk, err := f.LockCert(a.ctx, "fleet", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lk.Unlock) // the answers live on the lock's lease
	legit := dns("fleet.example.com", "legitToken")
	legitHTTP := publishAnswer(t, a.ctx, lk, challenges.HTTP01, legit)
	legitTLS := publishAnswer(t, a.ctx, lk, challenges.TLSALPN01, legit)
	legitValue, _, err := f.get(a.ctx, legitHTTP)
	if err != nil {
		t.Fatal(err)
	}

	other, err := NewSealer(bytes.Repeat([]byte{9}, 32)) // the attacker's own storage key
	if err != nil {
		t.Fatal(err)
	}
	forge := func(k string, ch challenges.Challenge, s *Sealer) []byte {
		an := answer{Type: ch.Identifier.Type, Value: ch.Identifier.Value, KeyAuth: ch.KeyAuthorization}
		an.MAC = s.answerMAC(k, &an)
		js, _ := json.Marshal(&an)
		return js
	}
	httpKey := func(token string) string { return f.key("challenges", "http-01", token) }
	tlsKey := func(sni string) string { return f.key("challenges", "tls-alpn-01", sni) }
	planted := []struct{ what, token, sni string }{
		{"raw key authorization (old format)", "evilRaw", ""},
		{"JSON without MAC", "evilNoMAC", ""},
		{"MAC under another storage key", "evilOtherKey", ""},
		{"legitimate answer copied to another token", "evilCopy", ""},
		{"tls-alpn-01 without MAC", "", "evil-nomac.example.com"},
		{"tls-alpn-01 with MAC under another storage key", "", "evil-otherkey.example.com"},
		{"legitimate tls-alpn-01 answer copied to another name", "", "evil-copy.example.com"},
	}
	legitTLSValue, _, err := f.get(a.ctx, legitTLS)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range planted {
		var k string
		var v []byte
		switch p.what {
		case "raw key authorization (old format)":
			k, v = httpKey(p.token), []byte(p.token+".thumbprint0123456789")
		case "JSON without MAC":
			k = httpKey(p.token)
			v = forge(k, dns("fleet.example.com", p.token), nil)
		case "MAC under another storage key":
			k = httpKey(p.token)
			v = forge(k, dns("fleet.example.com", p.token), other)
		case "legitimate answer copied to another token":
			k, v = httpKey(p.token), legitValue
		case "tls-alpn-01 without MAC":
			k = tlsKey(p.sni)
			v = forge(k, dns(p.sni, "evilTok"), nil)
		case "tls-alpn-01 with MAC under another storage key":
			k = tlsKey(p.sni)
			v = forge(k, dns(p.sni, "evilTok"), other)
		case "legitimate tls-alpn-01 answer copied to another name":
			k, v = tlsKey(p.sni), legitTLSValue
		}
		a.plant(t, strings.TrimPrefix(k, f.Prefix()+"/"), v)
	}
	// A legitimate answer published after the plants: once the cache has
	// it, the watch has delivered every plant before it.
	marker := dns("fleet.example.com", "markerToken")
	markerKey := publishAnswer(t, a.ctx, lk, challenges.HTTP01, marker)
	testenv.WaitFor(t, "the marker answer in the cache", 30*time.Second, func() error {
		if !cached(r, markerKey) {
			return errors.New("not yet")
		}
		return nil
	})

	cl := &http.Client{Timeout: 10 * time.Second}
	for _, p := range planted {
		if p.token != "" {
			if cached(r, httpKey(p.token)) {
				t.Errorf("%s: in the responder's cache", p.what)
			}
			if code, body := httpGet(t, cl, httpAddr, p.token); code != http.StatusNotFound {
				t.Errorf("%s: GET = %d %q; want 404", p.what, code, body)
			}
			continue
		}
		if cached(r, tlsKey(p.sni)) {
			t.Errorf("%s: in the responder's cache", p.what)
		}
		if err := alpnValidate(t, tlsAddr, p.sni, "evilTok.thumbprint0123456789"); err == nil {
			t.Errorf("%s: tls-alpn-01 validation succeeded; want the handshake refused", p.what)
		}
	}
	for _, ch := range []challenges.Challenge{legit, marker} {
		if code, body := httpGet(t, cl, httpAddr, ch.Token); code != http.StatusOK || body != ch.KeyAuthorization {
			t.Errorf("published answer for %s: GET = %d %q; want 200 %q", ch.Token, code, body, ch.KeyAuthorization)
		}
	}
	if err := alpnValidate(t, tlsAddr, "fleet.example.com", legit.KeyAuthorization); err != nil {
		t.Errorf("published tls-alpn-01 answer: %v", err)
	}
}

// etcdRanges is the number of Range requests (reads: Get and key
// listings) etcd has answered, from its gRPC server metrics.
func etcdRanges(t *testing.T, e *testenv.Etcd) int {
	t.Helper()
	resp, err := http.Get("http://" + e.Endpoint + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "grpc_server_handled_total{") || !strings.Contains(line, `grpc_method="Range"`) ||
			!strings.Contains(line, `grpc_service="etcdserverpb.KV"`) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		n += int(v)
	}
	return n
}

// TestFleetResponderReadsFromCache is the second half of issue 14 item 5:
// each anonymous GET to the fleet http-01 responder cost one etcd read
// (5,000 GETs, 5,000 range requests). The responder now answers from a
// cache a watch keeps current: 5,000 GETs (half for the published token,
// half for unknown ones) are counted on etcd's side, and cost at most one
// fallback read per fallbackGap of test time, whatever their number.
func TestFleetResponderReadsFromCache(t *testing.T) {
	if testing.Short() {
		t.Skip("needs etcd")
	}
	e := testenv.StartEtcd(t)
	h := newTestHost(t, e, "a", "", writeKeyFile(t), nil)
	ctx := testenv.Context(t, time.Minute)
	ch := challenges.Challenge{Token: "countedToken", KeyAuthorization: "countedToken.thumbprint0123456789",
		Identifier: challenges.Identifier{Type: challenges.IdentifierDNS, Value: "fleet.example.com"}}
	lk, err := h.h.Fleet.LockCert(ctx, "fleet", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lk.Unlock)
	publishAnswer(t, ctx, lk, challenges.HTTP01, ch)
	r := &Responder{Fleet: h.h.Fleet, HTTPAddrs: []string{"127.0.0.1:0"}}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	addr := r.Addrs()[0].String()
	waitSynced(t, r)

	cl := &http.Client{Timeout: 10 * time.Second}
	const gets = 5000
	before := etcdRanges(t, e)
	start := time.Now()
	for i := range gets {
		if i%2 == 0 {
			if code, body := httpGet(t, cl, addr, ch.Token); code != http.StatusOK || body != ch.KeyAuthorization {
				t.Fatalf("GET %d of the published token = %d %q", i, code, body)
			}
		} else if code, _ := httpGet(t, cl, addr, "unknown"+strconv.Itoa(i)); code != http.StatusNotFound {
			t.Fatalf("GET %d of an unknown token = %d; want 404", i, code)
		}
	}
	elapsed := time.Since(start)
	reads := etcdRanges(t, e) - before
	bound := 1 + int(elapsed/fallbackGap)
	t.Logf("%d GETs in %v: %d etcd range requests (bound %d)", gets, elapsed.Round(time.Millisecond), reads, bound)
	if reads > bound {
		t.Errorf("%d GETs cost %d etcd range requests; want at most %d (one per %v)", gets, reads, bound, fallbackGap)
	}
}
