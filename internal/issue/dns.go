package issue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/exec"
	"github.com/acmectl/acmectl/challenges/dns01/manual"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
	"github.com/acmectl/acmectl/challenges/dns01/providers/registry"
	"github.com/acmectl/acmectl/challenges/dns01/rfc2136"
	"github.com/acmectl/acmectl/challenges/dnspersist01"
	"github.com/acmectl/acmectl/challenges/http01"
	"github.com/acmectl/acmectl/challenges/tlsalpn01"
	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

// TSIGSecretEnv holds a TSIG secret for the rfc2136 provider when no
// --rfc2136-tsig-file is given: a whole tsig-keygen statement, or a bare
// base64 secret used with --rfc2136-tsig-key (and -algorithm).
const TSIGSecretEnv = "ACMECTL_RFC2136_TSIG_SECRET"

// dnsSolver builds the dns01.Solver of the DNS settings d (one per distinct
// configuration within a SolverSet, so the manual provider prints all
// records of an order at once). It does no network I/O; it reads the TSIG
// file and checks an exec program, so a bad configuration fails before any
// order.
func (b *setBuilder) dnsSolver(what string, d store.DNSSettings) (*dns01.Solver, error) {
	key := fmt.Sprintf("%#v", d)
	if sol, ok := b.dns[key]; ok {
		return sol, nil
	}
	e := b.e
	var opts dns01.Options
	opts.Resolvers = d.Resolvers
	opts.Logger = e.log()
	for _, r := range d.Resolvers {
		if _, _, err := net.SplitHostPort(r); err != nil {
			return nil, fmt.Errorf("%s: resolver %q: want host:port", what, r)
		}
	}
	var err error
	if opts.PropagationWait, err = parseDuration(what, "propagation-wait", d.PropagationWait); err != nil {
		return nil, err
	}
	if opts.PropagationTimeout, err = parseDuration(what, "propagation-timeout", d.PropagationTimeout); err != nil {
		return nil, err
	}
	var p dns01.Provider
	switch d.Provider {
	case "rfc2136":
		p, err = e.rfc2136Provider(what, d)
	case "exec":
		p, err = e.execProvider(what, d, b.s.HookEnv)
	case "manual":
		p, err = e.manualProvider(what, d)
	case "":
		return nil, fmt.Errorf("%s: no DNS provider: use --dns-01 %s", what, strings.Join(registry.Names(), "|"))
	default:
		p, err = e.apiProvider(what, d)
	}
	if err != nil {
		return nil, err
	}
	if c, ok := p.(io.Closer); ok { // a plugin: stopped when the order's solvers close
		b.set.closers = append(b.set.closers, func() { _ = c.Close() })
	}
	sol := dns01.NewSolver(p, opts)
	b.dns[key] = sol
	return sol, nil
}

func parseDuration(what, key, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s: %s %q: want a duration like 90s or 5m", what, key, v)
	}
	return d, nil
}

func (e *Engine) getenv(k string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(k)
}

// DNSProvider builds the rfc2136 or exec provider of d, exactly as an order
// would use it (doctor tests credentials with it); what names it in errors,
// hookEnv is the certificate's hook-env setting (passed to an exec program).
func (e *Engine) DNSProvider(what string, d store.DNSSettings, hookEnv []string) (dns01.Provider, error) {
	switch d.Provider {
	case "rfc2136":
		return e.rfc2136Provider(what, d)
	case "exec":
		return e.execProvider(what, d, hookEnv)
	case "manual", "":
		return nil, fmt.Errorf("%s: provider %q has no credentials to build", what, d.Provider)
	}
	return e.apiProvider(what, d)
}

// apiProvider builds a provider of the registry's table from d.Options
// and the credentials in the environment and files (package creds).
func (e *Engine) apiProvider(what string, d store.DNSSettings) (dns01.Provider, error) {
	var environ []string
	if e.Environ != nil {
		environ = e.Environ()
	}
	cfg := providers.Config{
		Options: d.Options, Logger: e.log(), Environ: environ, UserAgent: e.UserAgent,
		Creds: &creds.Source{Getenv: e.getenv, INIFile: d.Options["credentials"], Logger: e.log()},
	}
	p, err := registry.New(d.Provider, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return p, nil
}

func (e *Engine) rfc2136Provider(what string, d store.DNSSettings) (dns01.Provider, error) {
	if d.RFC2136Server == "" {
		return nil, fmt.Errorf("%s: rfc2136 needs a server (--rfc2136-server HOST:PORT)", what)
	}
	cfg := rfc2136.Config{Server: d.RFC2136Server, Zone: d.RFC2136Zone, Logger: e.log()}
	switch {
	case d.RFC2136TSIGFile != "":
		k, err := rfc2136.ParseTSIGFile(d.RFC2136TSIGFile, e.log())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		cfg.Key = &k
	case e.getenv(TSIGSecretEnv) != "":
		k, err := rfc2136.KeyFromEnv(e.getenv(TSIGSecretEnv), d.RFC2136TSIGKey, d.RFC2136TSIGAlgorithm)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", what, TSIGSecretEnv, err)
		}
		cfg.Key = &k
	default:
		e.log().Warn("rfc2136 updates are not signed: no --rfc2136-tsig-file or "+TSIGSecretEnv, "server", d.RFC2136Server)
	}
	p, err := rfc2136.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return p, nil
}

// execProvider builds the dns-exec provider; pass (the hook-env setting)
// names variables the program gets beyond the hooks' allowlist.
func (e *Engine) execProvider(what string, d store.DNSSettings, pass []string) (dns01.Provider, error) {
	if d.Exec == "" {
		return nil, fmt.Errorf("%s: exec needs a program (--dns-exec PROGRAM)", what)
	}
	var environ []string
	if e.Environ != nil {
		environ = e.Environ()
	}
	p, err := exec.New(exec.Config{Program: d.Exec, Logger: e.log(), Environ: environ, Pass: pass})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if _, err := p.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return p, nil
}

func (e *Engine) manualProvider(what string, d store.DNSSettings) (dns01.Provider, error) {
	after, err := parseDuration(what, "manual-continue-after", d.ManualContinueAfter)
	if err != nil {
		return nil, err
	}
	cfg := manual.Config{In: e.Stdin, Out: e.Stderr, Interactive: e.Interactive, ContinueAfter: after, Logger: e.log()}
	if e.Stderr == nil {
		// An Engine without a terminal to talk to only checks settings
		// (obtain's early check); the real engine decides about the
		// terminal.
		cfg.Out, cfg.Interactive = io.Discard, true
		if cfg.In == nil {
			cfg.In = strings.NewReader("")
		}
	}
	p, err := manual.New(cfg)
	if errors.Is(err, manual.ErrNotInteractive) {
		return nil, &ManualError{What: what}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return p, nil
}

// ManualError: the manual DNS provider was chosen with no person to ask
// and no --manual-continue-after.
type ManualError struct{ What string }

func (e *ManualError) Error() string {
	return e.What + ": the manual DNS provider needs a terminal (stdin and stderr) or --manual-continue-after DURATION"
}

func (e *ManualError) Unwrap() error { return manual.ErrNotInteractive }

// Keys of a named solver in the config file (docs/solvers.md "Named solvers in the config file").
var namedSolverKeys = []string{
	"type", "provider", "server", "tsig-file", "tsig-key", "tsig-algorithm", "zone", "exec",
	"resolvers", "propagation-wait", "propagation-timeout", "manual-continue-after", "webroot", "addr",
}

// NamedSolverKeysFor lists the keys a named solver with that DNS provider
// may have: the keys every named solver may have and the options of a registry provider
// (credentials, endpoint, ...).
func NamedSolverKeysFor(provider string) []string {
	return append(slices.Clone(namedSolverKeys), registry.Options(provider)...)
}

// namedSolver builds a solver named in the config: cfg["type"] is http-01,
// webroot, tls-alpn-01, dns-01, dns-account-01 or dns-persist-01.
func (b *setBuilder) namedSolver(name string, cfg map[string]string) ([]client.SolverChoice, error) {
	what := fmt.Sprintf("solver %q", name)
	// A provider of the registry's table also takes its own options.
	popts := registry.Options(cfg["provider"])
	known := NamedSolverKeysFor(cfg["provider"])
	for k := range cfg {
		if !slices.Contains(known, k) {
			return nil, fmt.Errorf("%s: unknown key %q (known: %s)", what, k, strings.Join(known, ", "))
		}
	}
	list := func(k string) []string {
		var out []string
		for _, v := range strings.Split(cfg[k], ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		return out
	}
	e := b.e
	switch typ := cfg["type"]; typ {
	case SolverHTTP01:
		srv := http01.NewServer(list("addr"), e.log())
		b.set.closers = append(b.set.closers, func() { _ = srv.Close(context.Background()) })
		return []client.SolverChoice{{Type: challenges.HTTP01, Solver: srv}}, nil
	case SolverWebroot:
		if cfg["webroot"] == "" {
			return nil, fmt.Errorf("%s: type webroot needs webroot: DIR", what)
		}
		return []client.SolverChoice{{Type: challenges.HTTP01, Solver: http01.NewWebroot(cfg["webroot"], e.log())}}, nil
	case SolverTLSALPN01:
		srv := tlsalpn01.NewServer(list("addr"), e.log())
		b.set.closers = append(b.set.closers, func() { _ = srv.Close(context.Background()) })
		return []client.SolverChoice{{Type: challenges.TLSALPN01, Solver: srv}}, nil
	case SolverDNS01, SolverDNSAccount01:
		d := store.DNSSettings{
			Provider: cfg["provider"], RFC2136Server: cfg["server"], RFC2136TSIGFile: cfg["tsig-file"],
			RFC2136TSIGKey: cfg["tsig-key"], RFC2136TSIGAlgorithm: cfg["tsig-algorithm"], RFC2136Zone: cfg["zone"],
			Exec: cfg["exec"], Resolvers: list("resolvers"), PropagationWait: cfg["propagation-wait"],
			PropagationTimeout: cfg["propagation-timeout"], ManualContinueAfter: cfg["manual-continue-after"],
		}
		for _, k := range popts {
			if v := cfg[k]; v != "" {
				if d.Options == nil {
					d.Options = map[string]string{}
				}
				d.Options[k] = v
			}
		}
		if popts != nil {
			d.RFC2136Zone = "" // "zone" went to the provider's options
		}
		sol, err := b.dnsSolver(what, d)
		if err != nil {
			return nil, err
		}
		return []client.SolverChoice{{Type: typ, Solver: sol}}, nil
	case SolverDNSPersist01:
		return []client.SolverChoice{{Type: challenges.DNSPersist01, Solver: &dnspersist01.Solver{Resolvers: list("resolvers"), Now: e.Now}}}, nil
	case "":
		return nil, fmt.Errorf("%s: no type (want http-01, webroot, tls-alpn-01, dns-01, dns-account-01 or dns-persist-01)", what)
	default:
		return nil, fmt.Errorf("%s: type %q is unknown (want http-01, webroot, tls-alpn-01, dns-01, dns-account-01 or dns-persist-01)", what, typ)
	}
}

// preOrderChecker is a solver that can tell before the order whether it
// will succeed (dns-persist-01: the record is published once, by a person).
type preOrderChecker interface {
	CheckBeforeOrder(ctx context.Context, id client.Identifier, wildcard bool, accountURL string, issuers []string) error
}

// checkBeforeOrder runs the pre-order check of every identifier whose
// first-choice solver has one, so a missing or wrong dns-persist-01 record
// fails before newOrder (no order, no rate-limit cost). Without CAA
// identities in the directory the issuer is unknown and the check waits
// for the challenge.
func checkBeforeOrder(ctx context.Context, ids []client.Identifier, solverFor func(client.Identifier, bool) []client.SolverChoice, accountURL string, issuers []string) error {
	if len(issuers) == 0 {
		return nil
	}
	for _, id := range ids {
		wildcard := strings.HasPrefix(id.Value, "*.")
		base := client.Identifier{Type: id.Type, Value: strings.TrimPrefix(id.Value, "*.")}
		choices := solverFor(base, wildcard)
		if len(choices) == 0 {
			continue
		}
		if c, ok := choices[0].Solver.(preOrderChecker); ok {
			if err := c.CheckBeforeOrder(ctx, base, wildcard, accountURL, issuers); err != nil {
				return err
			}
		}
	}
	return nil
}
