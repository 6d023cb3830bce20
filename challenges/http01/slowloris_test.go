package http01_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/http01"
	"github.com/acmectl/acmectl/internal/testenv"
)

// slowConns is how many connections the slowloris tests hold open: half send
// nothing, half the start of a request whose headers never end.
const slowConns = 2000

// holdSlowloris opens n connections to addr and keeps them open until the
// test ends. It returns once all are established (so the server accepts
// them before any later connection) and the partial requests are written.
func holdSlowloris(t *testing.T, addr string, n int) {
	t.Helper()
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("slow connection %d to %s: %v", i, addr, err)
		}
		t.Cleanup(func() { c.Close() })
		if i%2 == 1 {
			if _, err := fmt.Fprintf(c, "GET /.well-known/acme-challenge/x%d HTTP/1.1\r\nHost: example.test\r\nX-Slow: ", i); err != nil {
				t.Fatalf("slow connection %d: write: %v", i, err)
			}
		}
	}
}

// TestServerSlowloris: 2,000 idle or never-finishing connections do not
// keep a validation's GET from being answered.
func TestServerSlowloris(t *testing.T) {
	s := http01.NewServer([]string{"127.0.0.1:0"}, testLogger(t))
	ch := chal("slowloris")
	if err := s.Present(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	addr := listenAddr(t, s)
	holdSlowloris(t, addr, slowConns)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for range 3 { // Pebble's three validation requests
		if err := fetch(t, client, addr, ch.HTTP01Path(), ch.KeyAuthorization); err != nil {
			t.Fatalf("with %d slow connections open: %v", slowConns, err)
		}
	}
}

// slowlorisSolver opens slow connections to the responder right after its
// first Present, so the CA's validation arrives behind them.
type slowlorisSolver struct {
	*http01.Server
	t    *testing.T
	once sync.Once
}

func (s *slowlorisSolver) Present(ctx context.Context, ch challenges.Challenge) error {
	if err := s.Server.Present(ctx, ch); err != nil {
		return err
	}
	s.once.Do(func() {
		for _, a := range s.Addrs() {
			holdSlowloris(s.t, a.String(), slowConns/10)
		}
	})
	return nil
}

// TestServerAgainstPebbleWithSlowloris is the real validation: Pebble issues
// while slow connections sit on the responder's port.
func TestServerAgainstPebbleWithSlowloris(t *testing.T) {
	if testing.Short() {
		t.Skip("Pebble end-to-end")
	}
	p := testenv.StartPebble(t, testenv.PebbleOptions{})
	addr := "127.0.0.1:" + strconv.Itoa(p.HTTPPort)
	s := &slowlorisSolver{Server: http01.NewServer([]string{addr}, testLogger(t)), t: t}
	leaf := obtain(t, p, s, pebbleIDs())
	if len(leaf.DNSNames) != 2 || len(leaf.IPAddresses) != 1 {
		t.Errorf("leaf names %v %v; want 2 DNS names and 1 IP", leaf.DNSNames, leaf.IPAddresses)
	}
}

// TestServerCleanUpNotHeldBySlowloris: slow connections do not hold up the
// last CleanUp (it would otherwise wait for the server's 5 s header
// timeout) and are closed by it.
func TestServerCleanUpNotHeldBySlowloris(t *testing.T) {
	s := http01.NewServer([]string{"127.0.0.1:0"}, testLogger(t))
	ch := chal("slowcleanup")
	if err := s.Present(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	addr := listenAddr(t, s)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := fmt.Fprint(c, "GET "+ch.HTTP01Path()+" HTTP/1.1\r\nHost: example.test\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 4*time.Second)
	done := make(chan error, 1)
	go func() { done <- s.CleanUp(context.Background(), ch) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("CleanUp = %v; want nil", err)
		}
	case <-ctx.Done():
		t.Fatal("CleanUp still waiting for a slow connection after 4 s")
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("slow connection after CleanUp: read = %v; want it closed", err)
	}
}
