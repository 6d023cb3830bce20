// Package listen opens the listener sets of the built-in challenge
// responders (http-01, tls-alpn-01): all configured addresses or none, with
// an error that tells a sysadmin what to do about a busy or privileged port.
package listen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
)

// Error is returned when a listener cannot be opened. Err is the cause
// (errors.Is(err, syscall.EADDRINUSE) for a port in use).
type Error struct {
	Kind string // "http-01", "tls-alpn-01"
	Addr string // the address as configured, e.g. ":80"
	Hint string // what to try when the port is in use
	Err  error
}

func (e *Error) Error() string {
	switch {
	case errors.Is(e.Err, syscall.EADDRINUSE):
		port := e.Addr
		if _, p, err := net.SplitHostPort(e.Addr); err == nil {
			port = p
		}
		return fmt.Sprintf("%s: listen on %s: port %s in use (%s): %v", e.Kind, e.Addr, port, e.Hint, e.Err)
	case errors.Is(e.Err, syscall.EACCES):
		return fmt.Sprintf("%s: listen on %s: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE): %v", e.Kind, e.Addr, e.Err)
	default:
		return fmt.Sprintf("%s: listen on %s: %v", e.Kind, e.Addr, e.Err)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// All opens a TCP listener on every address, or none: on the first failure
// the ones already opened are closed and an *Error naming the address is
// returned. kind and hint go into that error.
//
// Closing a returned listener more than once is not an error: a responder
// closes its listeners itself (so the ports are free at once) and then lets
// http.Server.Shutdown close them again, and that second Close must not
// report "use of closed network connection".
func All(ctx context.Context, addrs []string, kind, hint string) ([]net.Listener, error) {
	var lc net.ListenConfig
	var lns []net.Listener
	for _, addr := range addrs {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return nil, &Error{Kind: kind, Addr: addr, Hint: hint, Err: err}
		}
		lns = append(lns, &onceListener{Listener: ln})
	}
	return lns, nil
}

// onceListener closes its listener on the first Close only; that Close
// returns the error, later ones nil.
type onceListener struct {
	net.Listener
	once sync.Once
}

func (l *onceListener) Close() error {
	err := net.ErrClosed
	l.once.Do(func() { err = l.Listener.Close() })
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
