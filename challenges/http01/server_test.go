package http01_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/http01"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func chal(token string) challenges.Challenge {
	return challenges.Challenge{
		Type:             challenges.HTTP01,
		Identifier:       challenges.Identifier{Type: challenges.IdentifierDNS, Value: "example.test"},
		Token:            token,
		KeyAuthorization: token + ".thumbprint_" + token,
	}
}

// get fetches path from addr and returns status, content type and body.
func get(t *testing.T, method, addr, path string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "example.test"
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func listenAddr(t *testing.T, s *http01.Server) string {
	t.Helper()
	addrs := s.Addrs()
	if len(addrs) != 1 {
		t.Fatalf("Addrs() = %v; want one address", addrs)
	}
	return addrs[0].String()
}

func TestServerAnswersPresentedTokens(t *testing.T) {
	s := http01.NewServer([]string{"127.0.0.1:0"}, testLogger(t))
	if got := s.Addrs(); got != nil {
		t.Fatalf("Addrs() before Present = %v; want nil (constructor must not listen)", got)
	}
	a, b := chal("tokenA-_1"), chal("tokenB")
	for _, ch := range []challenges.Challenge{a, b} {
		if err := s.Present(t.Context(), ch); err != nil {
			t.Fatalf("Present(%s): %v", ch.Token, err)
		}
	}
	addr := listenAddr(t, s)

	status, ctype, body := get(t, http.MethodGet, addr, a.HTTP01Path())
	if status != 200 || body != a.KeyAuthorization || !strings.HasPrefix(ctype, "text/plain") {
		t.Errorf("GET %s = %d %q %q; want 200 text/plain %q", a.HTTP01Path(), status, ctype, body, a.KeyAuthorization)
	}
	if status, _, body := get(t, http.MethodHead, addr, b.HTTP01Path()); status != 200 || body != "" {
		t.Errorf("HEAD %s = %d %q; want 200 with no body", b.HTTP01Path(), status, body)
	}

	for _, tc := range []struct{ name, method, path string }{
		{"unknown token", http.MethodGet, "/.well-known/acme-challenge/unknown"},
		{"root", http.MethodGet, "/"},
		{"directory", http.MethodGet, "/.well-known/acme-challenge/"},
		{"subpath", http.MethodGet, a.HTTP01Path() + "/x"},
		{"dot-dot", http.MethodGet, "/.well-known/acme-challenge/../acme-challenge/" + a.Token + "x"},
		{"post", http.MethodPost, a.HTTP01Path()},
		{"put", http.MethodPut, a.HTTP01Path()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, _, body := get(t, tc.method, addr, tc.path); status != 404 || strings.Contains(body, a.KeyAuthorization) {
				t.Errorf("%s %s = %d %q; want 404 without the key authorization", tc.method, tc.path, status, body)
			}
		})
	}

	// Cleaning up one token keeps the listener for the other.
	if err := s.CleanUp(t.Context(), a); err != nil {
		t.Fatalf("CleanUp(a): %v", err)
	}
	if status, _, _ := get(t, http.MethodGet, addr, a.HTTP01Path()); status != 404 {
		t.Errorf("GET %s after CleanUp = %d; want 404", a.HTTP01Path(), status)
	}
	if status, _, body := get(t, http.MethodGet, addr, b.HTTP01Path()); status != 200 || body != b.KeyAuthorization {
		t.Errorf("GET %s = %d %q; want 200 %q", b.HTTP01Path(), status, body, b.KeyAuthorization)
	}

	// The last CleanUp closes the listener.
	if err := s.CleanUp(t.Context(), b); err != nil {
		t.Fatalf("CleanUp(b): %v", err)
	}
	if got := s.Addrs(); got != nil {
		t.Errorf("Addrs() after last CleanUp = %v; want nil", got)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("dial %s after last CleanUp succeeded; want the listener closed", addr)
	}
}

func TestServerCleanUpWithoutPresent(t *testing.T) {
	s := http01.NewServer([]string{"127.0.0.1:0"}, testLogger(t))
	if err := s.CleanUp(t.Context(), chal("never")); err != nil {
		t.Errorf("CleanUp of a challenge never presented = %v; want nil", err)
	}
	if err := s.CleanUp(t.Context(), chal("../bad")); err != nil {
		t.Errorf("CleanUp of an invalid token = %v; want nil", err)
	}
}

func TestServerRefusesBadToken(t *testing.T) {
	s := http01.NewServer([]string{"127.0.0.1:0"}, testLogger(t))
	for _, tok := range []string{"", "../x", "a/b", "a b", "abc=", "a.b", "é"} {
		if err := s.Present(t.Context(), chal(tok)); err == nil {
			t.Errorf("Present(token %q) = nil; want an error", tok)
		}
	}
	if got := s.Addrs(); got != nil {
		t.Errorf("Addrs() after refused Present = %v; want nil", got)
	}
}

func TestServerPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	// A second, free address must not stay open when the busy one fails.
	s := http01.NewServer([]string{"127.0.0.1:0", addr}, testLogger(t))
	err = s.Present(t.Context(), chal("tok"))
	var le *http01.ListenError
	if !errors.As(err, &le) || le.Addr != addr || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Present with %s busy = %v; want *ListenError for %s wrapping EADDRINUSE", addr, err, addr)
	}
	if !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q should say the port is in use and name %s", err, addr)
	}
	if got := s.Addrs(); got != nil {
		t.Errorf("Addrs() after failed Present = %v; want nil", got)
	}
	// A failed Present leaves nothing to clean and the next one may work.
	if err := s.CleanUp(t.Context(), chal("tok")); err != nil {
		t.Errorf("CleanUp after failed Present = %v", err)
	}
}

func TestServerConcurrent(t *testing.T) {
	s := http01.NewServer([]string{"127.0.0.1:0"}, testLogger(t))
	// One challenge held for the whole test keeps the listener (and its
	// address) stable while others come and go.
	anchor := chal("anchor")
	if err := s.Present(t.Context(), anchor); err != nil {
		t.Fatal(err)
	}
	addr := listenAddr(t, s)

	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ch := chal(fmt.Sprintf("tok%d", i))
			if err := s.Present(t.Context(), ch); err != nil {
				errs <- err
				return
			}
			// Pebble sends three concurrent GETs per challenge.
			var inner sync.WaitGroup
			for range 3 {
				inner.Go(func() {
					resp, err := http.Get("http://" + addr + ch.HTTP01Path())
					if err != nil {
						errs <- err
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || string(b) != ch.KeyAuthorization {
						errs <- fmt.Errorf("GET %s = %d %q; want 200 %q", ch.HTTP01Path(), resp.StatusCode, b, ch.KeyAuthorization)
					}
				})
			}
			inner.Wait()
			if err := s.CleanUp(t.Context(), ch); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := s.CleanUp(t.Context(), anchor); err != nil {
		t.Fatal(err)
	}
	if got := s.Addrs(); got != nil {
		t.Errorf("Addrs() after all CleanUps = %v; want nil", got)
	}
}

// TestServerReopens checks that listeners come and go with presented
// challenges, in parallel, without leaking or failing to rebind.
func TestServerReopens(t *testing.T) {
	s := http01.NewServer([]string{"127.0.0.1:0"}, testLogger(t))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			ch := chal(fmt.Sprintf("t%d", i))
			if err := s.Present(t.Context(), ch); err != nil {
				errs <- err
				return
			}
			if err := s.CleanUp(t.Context(), ch); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.Addrs(); got != nil {
		t.Errorf("Addrs() after all CleanUps = %v; want nil", got)
	}
}

func TestServerSamePortReopen(t *testing.T) {
	// A fixed port must be rebindable right after the last CleanUp.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()
	s := http01.NewServer([]string{addr}, testLogger(t))
	for i := range 3 {
		ch := chal(fmt.Sprintf("round%d", i))
		if err := s.Present(t.Context(), ch); err != nil {
			t.Fatalf("round %d: Present: %v", i, err)
		}
		if status, _, body := get(t, http.MethodGet, addr, ch.HTTP01Path()); status != 200 || body != ch.KeyAuthorization {
			t.Errorf("round %d: GET = %d %q", i, status, body)
		}
		if err := s.CleanUp(t.Context(), ch); err != nil {
			t.Fatalf("round %d: CleanUp: %v", i, err)
		}
	}
}

func TestHandlerWithLookup(t *testing.T) {
	h := http01.NewHandler(func(_ context.Context, token string) (string, bool) {
		return "shared." + token, token == "fleet"
	}, nil)
	for _, tc := range []struct {
		name, path string
		status     int
		body       string
	}{
		{"known", "/.well-known/acme-challenge/fleet", 200, "shared.fleet"},
		{"unknown", "/.well-known/acme-challenge/other", 404, ""},
		{"outside", "/fleet", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, tc.path, nil))
			if rec.Code != tc.status || (tc.status == 200 && rec.Body.String() != tc.body) {
				t.Errorf("GET %s = %d %q; want %d %q", tc.path, rec.Code, rec.Body.String(), tc.status, tc.body)
			}
		})
	}
}

func TestServerClose(t *testing.T) {
	s := http01.NewServer([]string{"127.0.0.1:0"}, testLogger(t))
	ch := chal("tok")
	if err := s.Present(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	addr := listenAddr(t, s)
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("dial %s after Close succeeded; want the listener closed", addr)
	}
	if err := s.CleanUp(t.Context(), ch); err != nil {
		t.Errorf("CleanUp after Close = %v; want nil", err)
	}
}
