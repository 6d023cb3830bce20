// Command acmectl-testca runs the legacy ACME v1 test CA (package
// internal/v1ca) on loopback, so that any v1 client can be tested against
// it. It is a development tool and never part of the release binary.
//
//	acmectl-testca --listen 127.0.0.1:PORT --http-01-port N --tls-alpn-01-port N \
//	    --dns-server 127.0.0.1:PORT --https-ca-out FILE --issuer-ca-out FILE \
//	    [--fault badnonce-once|ratelimit|5xx|new-terms ...] [--no-meta]
//
// PORT may be 0. Once ready it prints the directory URL (with the real
// port) as the first line on stdout; logs go to stderr. It exits 0 on
// SIGTERM or SIGINT, 2 on a usage error and 1 on a runtime failure. The
// management API is described in the v1ca package documentation.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/acmectl/acmectl/internal/v1ca"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, strings.Split(v, ",")...); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("acmectl-testca", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg       v1ca.Config
		faults    multi
		httpsOut  string
		issuerOut string
		keyAuth   string
		logLevel  string
	)
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:0", "loopback `HOST:PORT` to serve HTTPS on (PORT may be 0)")
	fs.IntVar(&cfg.HTTP01Port, "http-01-port", 0, "`PORT` on 127.0.0.1 for http-01 validation (0: http-01 not offered)")
	fs.IntVar(&cfg.TLSALPN01Port, "tls-alpn-01-port", 0, "`PORT` on 127.0.0.1 for tls-alpn-01 validation (0: not offered)")
	fs.StringVar(&cfg.DNSServer, "dns-server", "", "loopback `HOST:PORT` asked for dns-01 TXT records (empty: dns-01 not offered)")
	fs.StringVar(&httpsOut, "https-ca-out", "", "write the HTTPS listener's root (PEM) to `FILE`")
	fs.StringVar(&issuerOut, "issuer-ca-out", "", "write the root of issued certificates (PEM) to `FILE`")
	fs.Var(&faults, "fault", "arm a fault (repeatable): "+strings.Join(v1ca.KnownFaults(), ", "))
	fs.BoolVar(&cfg.NoMeta, "no-meta", false, "omit the directory's meta object (pre-2017 Boulder)")
	fs.DurationVar(&cfg.Validity, "validity", 90*24*time.Hour, "lifetime of issued certificates")
	fs.StringVar(&keyAuth, "key-authorization", "required", "challenge keyAuthorization handling: required, optional or ignored")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "acmectl-testca: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected arguments %q", fs.Args())
	}
	if httpsOut == "" || issuerOut == "" {
		return usage("--https-ca-out and --issuer-ca-out are required")
	}
	switch keyAuth {
	case "required":
		cfg.KeyAuth = v1ca.KeyAuthRequired
	case "optional":
		cfg.KeyAuth = v1ca.KeyAuthOptional
	case "ignored":
		cfg.KeyAuth = v1ca.KeyAuthIgnored
	default:
		return usage("--key-authorization must be required, optional or ignored")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return usage("--log-level: %v", err)
	}
	cfg.Faults = faults
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	srv, err := v1ca.New(cfg)
	if err != nil {
		return usage("%v", err)
	}
	if err := os.WriteFile(httpsOut, srv.HTTPSRootPEM(), 0o644); err != nil {
		fmt.Fprintf(stderr, "acmectl-testca: write https root: %v\n", err)
		return 1
	}
	if err := os.WriteFile(issuerOut, srv.IssuerRootPEM(), 0o644); err != nil {
		fmt.Fprintf(stderr, "acmectl-testca: write issuer root: %v\n", err)
		return 1
	}
	if err := srv.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "acmectl-testca: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, srv.DirectoryURL())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "acmectl-testca: %v\n", err)
		return 1
	}
	return 0
}
