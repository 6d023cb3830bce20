package issue

import (
	"context"
	"fmt"
	"strings"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/http01"
	"github.com/acmectl/acmectl/challenges/tlsalpn01"
	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

// Built-in solver names (DESIGN.md `--solver`).
const (
	SolverHTTP01    = "http-01"
	SolverWebroot   = "webroot"
	SolverTLSALPN01 = "tls-alpn-01"
	SolverDNS01     = "dns-01"
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

// Solvers builds the solvers of settings s. An error names a solver that is
// unknown or misconfigured; nothing is started yet (listeners open on the
// first Present).
func (e *Engine) Solvers(s *store.Settings) (*SolverSet, error) {
	set := &SolverSet{byName: map[string][]client.SolverChoice{}, perID: map[string][]string{}}
	build := func(name string) error {
		if _, ok := set.byName[name]; ok {
			return nil
		}
		var choices []client.SolverChoice
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
			choices = []client.SolverChoice{{Type: challenges.TLSALPN01, Solver: srv}}
		case SolverDNS01:
			sol, err := e.dnsSolver(s.DNS)
			if err != nil {
				return err
			}
			choices = sol
		default:
			ns, ok := s.NamedSolvers[name]
			if !ok {
				return fmt.Errorf("solver %q is unknown: use http-01, webroot, tls-alpn-01, dns-01 or a solver named in the config", name)
			}
			sol, err := e.namedSolver(name, ns)
			if err != nil {
				return err
			}
			choices = sol
		}
		set.byName[name] = choices
		return nil
	}
	for ident, names := range s.Solvers {
		for _, n := range names {
			if err := build(n); err != nil {
				return nil, err
			}
		}
		if ident == "default" {
			set.deflt = names
		} else {
			set.perID[strings.ToLower(ident)] = names
		}
	}
	if set.deflt == nil && len(s.Solvers) == 0 {
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
			if err := build(n); err != nil {
				return nil, err
			}
		}
	}
	if len(set.deflt) == 0 && len(set.perID) == 0 {
		return nil, fmt.Errorf("no challenge solver configured: use --http-01, --webroot, --tls-alpn-01 or --dns-01")
	}
	return set, nil
}
