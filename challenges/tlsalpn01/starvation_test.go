package tlsalpn01_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/tlsalpn01"
	"github.com/acmectl/acmectl/internal/testenv"
)

// idleConns is how many connections the starvation tests hold open without
// sending a byte: far more than the responder's connection slots per
// source.
const idleConns = 200

// TestServerIdleConnectionsDoNotStarve holds 200 idle connections (one
// source, like an attacker's single host) open to the responder, then
// validates as a CA does: the handshake must succeed, and so must a second
// one, so nothing is turned away because idle connections hold slots.
func TestServerIdleConnectionsDoNotStarve(t *testing.T) {
	s := tlsalpn01.NewServer([]string{"127.0.0.1:0"}, testLogger(t))
	ch := chal(challenges.IdentifierDNS, "busy.example.test", "tok")
	if err := s.Present(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	addr := listenAddr(t, s)
	testenv.HoldIdle(t, addr, idleConns)
	for i := range 3 {
		st, err := handshake(t, addr, ch.Identifier.Value, []string{tlsalpn01.Protocol}, 0)
		if err == nil {
			err = verifyChallengeCert(st, ch.Identifier, ch.KeyAuthorization)
		}
		if err != nil {
			t.Fatalf("validation %d with %d idle connections open: %v", i, idleConns, err)
		}
		testenv.HoldIdle(t, addr, idleConns/4) // and more keep coming
	}
}

// starvingSolver opens idle connections to the responder right after its
// first Present, so the CA's validation arrives behind them.
type starvingSolver struct {
	*tlsalpn01.Server
	t    *testing.T
	once sync.Once
}

func (s *starvingSolver) Present(ctx context.Context, ch challenges.Challenge) error {
	if err := s.Server.Present(ctx, ch); err != nil {
		return err
	}
	s.once.Do(func() {
		for _, a := range s.Addrs() {
			testenv.HoldIdle(s.t, a.String(), idleConns)
		}
	})
	return nil
}

// TestServerAgainstPebbleWithIdleConnections is the real validation: Pebble
// issues while 200 idle connections sit on the responder's port.
func TestServerAgainstPebbleWithIdleConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("Pebble end-to-end")
	}
	p := testenv.StartPebble(t, testenv.PebbleOptions{})
	addr := "127.0.0.1:" + strconv.Itoa(p.TLSPort)
	s := &starvingSolver{Server: tlsalpn01.NewServer([]string{addr}, testLogger(t)), t: t}
	leaf := obtain(t, p, s, pebbleIDs())
	if len(leaf.DNSNames) != 2 || len(leaf.IPAddresses) != 1 {
		t.Errorf("leaf names %v %v; want 2 DNS names and 1 IP", leaf.DNSNames, leaf.IPAddresses)
	}
}

// dialFrom connects to addr from the loopback address src (127.0.0.0/8 is
// all loopback on Linux), sending nothing.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closed c (EOF or reset) within
// wait; false means c is still open.
func closedByServer(c net.Conn, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// validate does one CA-like handshake for ch at addr and checks the answer.
func validate(t *testing.T, addr string, ch challenges.Challenge) {
	t.Helper()
	st, err := handshake(t, addr, ch.Identifier.Value, []string{tlsalpn01.Protocol}, 0)
	if err == nil {
		err = verifyChallengeCert(st, ch.Identifier, ch.KeyAuthorization)
	}
	if err != nil {
		t.Fatalf("validation: %v", err)
	}
}

// startLimited presents one challenge on a Server with the given limits
// and returns its address. With a long hello, only eviction closes idle
// connections.
func startLimited(t *testing.T, hello, quiet time.Duration, perSource, total, hard int) (string, challenges.Challenge) {
	t.Helper()
	s := tlsalpn01.NewServer([]string{"127.0.0.1:0"}, testLogger(t))
	tlsalpn01.SetLimits(s, hello, quiet, perSource, total, hard)
	ch := chal(challenges.IdentifierDNS, "limits.example.test", "tok")
	if err := s.Present(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return listenAddr(t, s), ch
}

// TestServerEvictsOldestQuietConnection: with every slot held by idle
// connections, a CA's connection gets in by closing the oldest idle one,
// and only that one.
func TestServerEvictsOldestQuietConnection(t *testing.T) {
	addr, ch := startLimited(t, time.Minute, 0, 100, 4, 100)
	idle := dialIdle(t, addr, 4)
	validate(t, addr, ch)
	onlyOldestClosed(t, idle)
}

func dialIdle(t *testing.T, addr string, n int) []net.Conn {
	var idle []net.Conn
	for range n {
		idle = append(idle, dialFrom(t, "127.0.0.1", addr))
	}
	return idle
}

// onlyOldestClosed checks that the server closed idle[0] and none of the
// others.
func onlyOldestClosed(t *testing.T, idle []net.Conn) {
	t.Helper()
	if !closedByServer(idle[0], 10*time.Second) {
		t.Error("oldest idle connection still open; want it closed to make room")
	}
	for i, c := range idle[1:] {
		if closedByServer(c, 100*time.Millisecond) {
			t.Errorf("idle connection %d closed; want only the oldest closed", i+1)
		}
	}
}

// TestServerPerSourceLimit: a source at its limit makes room among its own
// connections, not another source's older ones.
func TestServerPerSourceLimit(t *testing.T) {
	addr, ch := startLimited(t, time.Minute, 0, 2, 100, 100)
	other := dialFrom(t, "127.0.0.2", addr) // oldest, another source
	first := dialFrom(t, "127.0.0.1", addr)
	second := dialFrom(t, "127.0.0.1", addr)
	validate(t, addr, ch) // from 127.0.0.1, the third of that source
	if !closedByServer(first, 10*time.Second) {
		t.Error("oldest idle connection of the source at its limit still open; want it closed")
	}
	if closedByServer(other, 100*time.Millisecond) {
		t.Error("another source's idle connection was closed; want the per-source limit to spare it")
	}
	if closedByServer(second, 100*time.Millisecond) {
		t.Error("the newer idle connection of the source was closed; want only the oldest")
	}
}

// TestServerHardLimit: past the hard limit a connection is closed whatever
// its age, the oldest one that sent no ClientHello first.
func TestServerHardLimit(t *testing.T) {
	addr, ch := startLimited(t, time.Minute, time.Hour, 1, 1, 3) // nothing is quiet for an hour
	idle := dialIdle(t, addr, 3)
	validate(t, addr, ch)
	onlyOldestClosed(t, idle)
}

// TestServerClientHelloDeadline: a connection that sends nothing, or only
// part of a ClientHello, is closed after the ClientHello deadline; a
// validation still succeeds.
func TestServerClientHelloDeadline(t *testing.T) {
	addr, ch := startLimited(t, 200*time.Millisecond, 0, 100, 100, 100)
	silent := dialFrom(t, "127.0.0.1", addr)
	trickle := dialFrom(t, "127.0.0.1", addr)
	if _, err := trickle.Write([]byte{0x16, 0x03, 0x01}); err != nil { // a TLS record header, cut short
		t.Fatal(err)
	}
	for name, c := range map[string]net.Conn{"silent": silent, "trickling": trickle} {
		if !closedByServer(c, 10*time.Second) {
			t.Errorf("%s connection still open 10 s after accept; want it closed after the 200 ms ClientHello deadline", name)
		}
	}
	validate(t, addr, ch)
}

// TestServerManyIdleConnections: 2,000 idle connections, past the hard
// limit, with the real limits; the validation still gets in.
func TestServerManyIdleConnections(t *testing.T) {
	s := tlsalpn01.NewServer([]string{"127.0.0.1:0"}, testLogger(t))
	ch := chal(challenges.IdentifierDNS, "many.example.test", "tok")
	if err := s.Present(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	addr := listenAddr(t, s)
	testenv.HoldIdle(t, addr, 2000)
	validate(t, addr, ch)
}

// TestServerSparesConnectionsThatSent: the connection closed to make room
// is one that has sent nothing, even when one that has sent bytes (read or
// still waiting in the socket, as a CA's ClientHello can under load) is
// older.
func TestServerSparesConnectionsThatSent(t *testing.T) {
	addr, ch := startLimited(t, time.Minute, 0, 3, 100, 100)
	sent := dialFrom(t, "127.0.0.1", addr) // oldest, but it has sent bytes
	if _, err := sent.Write([]byte{0x16, 0x03, 0x01}); err != nil {
		t.Fatal(err)
	}
	idle := dialIdle(t, addr, 2)
	validate(t, addr, ch) // the fourth from 127.0.0.1, one over the limit
	if closedByServer(sent, 100*time.Millisecond) {
		t.Error("the connection that had sent bytes was closed; want the oldest that sent nothing closed")
	}
	onlyOldestClosed(t, idle)
}
