package listen_test

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"

	"github.com/acmectl/acmectl/challenges/internal/listen"
)

// A responder closes its listeners and then http.Server.Shutdown closes them
// again, possibly at the same time: no Close may report an error.
func TestCloseTwiceIsNotAnError(t *testing.T) {
	lns, err := listen.All(t.Context(), []string{"127.0.0.1:0", "127.0.0.1:0"}, "test", "hint")
	if err != nil {
		t.Fatal(err)
	}
	for _, ln := range lns {
		addr := ln.Addr().String()
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if err := ln.Close(); err != nil {
					t.Errorf("Close(%s) = %v; want nil", addr, err)
				}
			})
		}
		wg.Wait()
		if err := ln.Close(); err != nil {
			t.Errorf("Close(%s) again = %v; want nil", addr, err)
		}
		if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close = %v; want net.ErrClosed", err)
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Errorf("dial %s after Close succeeded; want the port closed", addr)
		}
	}
}

func TestAllOrNone(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()
	lns, err := listen.All(t.Context(), []string{freeAddr, busy.Addr().String()}, "http-01", "use another port")
	var le *listen.Error
	if lns != nil || !errors.As(err, &le) || le.Addr != busy.Addr().String() || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("All with a busy port = %v, %v; want nil and *Error for %s wrapping EADDRINUSE", lns, err, busy.Addr())
	}
	// The free address opened first must have been closed again.
	ln, err := net.Listen("tcp", freeAddr)
	if err != nil {
		t.Fatalf("rebinding %s after the failed All: %v; want it closed", freeAddr, err)
	}
	ln.Close()
}
