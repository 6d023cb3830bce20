package issue

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dnspersist01"
	"github.com/acmectl/acmectl/challenges/http01"
	"github.com/acmectl/acmectl/challenges/tlsalpn01"
	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

// Built-in solver names (docs/solvers.md "Choosing a solver per name").
const (
	SolverHTTP01    = "http-01"
	SolverWebroot   = "webroot"
	SolverTLSALPN01 = "tls-alpn-01"
	SolverDNS01     = "dns-01"
	// SolverDNSAccount01 answers dns-account-01 with the dns-01 settings
	// (provider, resolvers); choose it with --solver, e.g.
	// default=dns-account-01,dns-01.
	SolverDNSAccount01 = "dns-account-01"
	// SolverDNSPersist01 answers dns-persist-01 with a record published
	// once (acmectl dns-persist record), checked before answering.
	SolverDNSPersist01 = "dns-persist-01"
)

// SolverSet maps identifiers to the solvers the settings allow, in order
// of preference. One instance per solver serves the whole order.
type SolverSet struct {
	byName  map[string][]client.SolverChoice
	perID   map[string][]string
	deflt   []string
	closers []func()
}

// For returns the choices for one identifier (client.OrderRequest.Solvers).
func (s *SolverSet) For(id client.Identifier, wildcard bool) []client.SolverChoice {
	name := id.Value
	if wildcard {
		name = "*." + name
	}
	names, ok := s.perID[strings.ToLower(name)]
	if !ok {
		names = s.deflt
	}
	var out []client.SolverChoice
	for _, n := range names {
		out = append(out, s.byName[n]...)
	}
	return out
}

// Close releases what the solvers hold.
func (s *SolverSet) Close() {
	for _, c := range s.closers {
		c()
	}
}

// setBuilder builds one SolverSet.
type setBuilder struct {
	e   *Engine
	s   *store.Settings
	set *SolverSet
	dns map[string]*dns01.Solver // one per distinct DNS configuration
}

// Solvers builds the solvers of settings s. An error names a solver that is
// unknown or misconfigured, or an identifier no configured solver can
// answer; nothing is started yet (listeners open on the first Present, DNS
// is first touched by Present). The TSIG file is read and an exec program
// checked here, so those fail before any order. An Engine without Stderr
// only checks the settings: the manual provider's need for a terminal is
// checked by the Engine that runs the order.
//
// Without per-identifier choices (--solver), the solver flags apply in the
// order http-01, webroot, tls-alpn-01, dns-01; identifiers --solver does
// not name use "default" if given, else that flag order.
func (e *Engine) Solvers(s *store.Settings) (*SolverSet, error) {
	set := &SolverSet{byName: map[string][]client.SolverChoice{}, perID: map[string][]string{}}
	b := &setBuilder{e: e, s: s, set: set, dns: map[string]*dns01.Solver{}}
	names, _, err := orderNames(s)
	if err != nil {
		return nil, err
	}
	idents := make([]string, 0, len(s.Solvers))
	for ident := range s.Solvers {
		idents = append(idents, ident)
	}
	slices.Sort(idents)
	for _, ident := range idents {
		list := s.Solvers[ident]
		if len(list) == 0 {
			return nil, fmt.Errorf("--solver %s: no solver named", ident)
		}
		for _, n := range list {
			if err := b.build(n); err != nil {
				return nil, err
			}
		}
		if ident == "default" {
			set.deflt = list
			continue
		}
		if !slices.ContainsFunc(names, func(id client.Identifier) bool { return strings.EqualFold(id.Value, ident) }) {
			return nil, fmt.Errorf("--solver %s: not one of the certificate's names (%s)", ident, names)
		}
		set.perID[strings.ToLower(ident)] = list
	}
	if _, ok := s.Solvers["default"]; !ok {
		if len(s.HTTP01Addrs) > 0 {
			set.deflt = append(set.deflt, SolverHTTP01)
		}
		if s.Webroot != "" {
			set.deflt = append(set.deflt, SolverWebroot)
		}
		if len(s.TLSALPN01Addrs) > 0 {
			set.deflt = append(set.deflt, SolverTLSALPN01)
		}
		if s.DNS.Provider != "" {
			set.deflt = append(set.deflt, SolverDNS01)
		}
		for _, n := range set.deflt {
			if err := b.build(n); err != nil {
				return nil, err
			}
		}
	}
	if len(set.deflt) == 0 && len(set.perID) == 0 {
		return nil, fmt.Errorf("no challenge solver configured: use --http-01, --webroot, --tls-alpn-01 or --dns-01")
	}
	for _, id := range names {
		wild := strings.HasPrefix(id.Value, "*.")
		id.Value = strings.TrimPrefix(id.Value, "*.")
		if err := usable(id, wild, set.For(id, wild)); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// usable checks that some choice can answer a challenge a CA may offer
// for id: IP addresses take only http-01 and tls-alpn-01 (RFC 8738),
// wildcards only DNS-based types.
func usable(id client.Identifier, wildcard bool, choices []client.SolverChoice) error {
	name := id.Value
	if wildcard {
		name = "*." + name
	}
	if len(choices) == 0 {
		return fmt.Errorf("no solver for %s: add it to --solver or give a solver flag and --solver default=...", name)
	}
	for _, c := range choices {
		switch {
		case id.Type == challenges.IdentifierIP && (c.Type == challenges.HTTP01 || c.Type == challenges.TLSALPN01):
			return nil
		case wildcard && (c.Type == challenges.DNS01 || c.Type == challenges.DNSAccount01 || c.Type == challenges.DNSPersist01):
			return nil
		case id.Type != challenges.IdentifierIP && !wildcard:
			return nil
		}
	}
	if wildcard {
		return fmt.Errorf("no solver for %s: wildcards are validated only by DNS (dns-01, dns-account-01, dns-persist-01)", name)
	}
	return fmt.Errorf("no solver for %s: IP addresses are validated only by http-01 or tls-alpn-01", name)
}

// build makes the named solver once.
func (b *setBuilder) build(name string) error {
	set, s, e := b.set, b.s, b.e
	if _, ok := set.byName[name]; ok {
		return nil
	}
	var choices []client.SolverChoice
	// A solver named in the config wins over a built-in of the same name.
	if ns, ok := s.NamedSolvers[name]; ok {
		sol, err := b.namedSolver(name, ns)
		if err != nil {
			return err
		}
		set.byName[name] = sol
		return nil
	}
	switch name {
	case SolverHTTP01:
		srv := http01.NewServer(s.HTTP01Addrs, e.log())
		set.closers = append(set.closers, func() { _ = srv.Close(context.Background()) })
		choices = []client.SolverChoice{{Type: challenges.HTTP01, Solver: srv}}
	case SolverWebroot:
		if s.Webroot == "" {
			return fmt.Errorf("solver webroot: no --webroot directory")
		}
		choices = []client.SolverChoice{{Type: challenges.HTTP01, Solver: http01.NewWebroot(s.Webroot, e.log())}}
	case SolverTLSALPN01:
		srv := tlsalpn01.NewServer(s.TLSALPN01Addrs, e.log())
		set.closers = append(set.closers, func() { _ = srv.Close(context.Background()) })
		choices = []client.SolverChoice{{Type: challenges.TLSALPN01, Solver: srv}}
	case SolverDNS01, SolverDNSAccount01:
		sol, err := b.dnsSolver("solver "+name, s.DNS)
		if err != nil {
			return err
		}
		choices = []client.SolverChoice{{Type: name, Solver: sol}}
	case SolverDNSPersist01:
		choices = []client.SolverChoice{{Type: challenges.DNSPersist01, Solver: &dnspersist01.Solver{Resolvers: s.DNS.Resolvers, Now: e.Now}}}
	default:
		return fmt.Errorf("solver %q is unknown: use http-01, webroot, tls-alpn-01, dns-01, dns-account-01, dns-persist-01 or a solver named in the config", name)
	}
	set.byName[name] = choices
	return nil
}
