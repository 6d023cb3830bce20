// Package lifecycle owns a certificate's life after the command line: it
// merges what a command was given with what is stored (Merge, the one place
// where "a flag given replaces the stored value" lives), classifies the
// difference (settings that shape the certificate versus settings that only
// shape how renewal runs), and runs obtain on a plan (Obtain): the lock, the
// decision whether to order, the order through the issuance engine
// (internal/issue), the hooks (internal/hook.Manager) and the one writer of
// settings.yaml and state.json around an order. The rules are those of
// docs/renewal.md ("obtain on an existing certificate", "a certificate
// exists once it has been issued").
package lifecycle

import (
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

// Given is what one command was given, already parsed and checked by the
// command (names normalised, paths absolute, durations valid). A nil field
// was not given and keeps the stored value.
type Given struct {
	Names client.Names // nil: not given
	// CSR is a PEM CSR made elsewhere; its names come in Names. An empty
	// string given drops a stored CSR.
	CSR                     *string
	Server, Account         *string
	ACMEVersion, CABundle   *string
	Email                   *[]string
	KeyType                 *string
	ReuseKey                *bool
	KeyGroup                *string
	Profile, PreferredChain *string
	MustStaple              *bool
	// Solvers, when set, replaces the stored solver set as a whole (any
	// solver flag given: --http-01, --webroot, --tls-alpn-01, --dns-01,
	// their addresses, --solver).
	Solvers *SolverSpec
	// DNS are dns-01 parameters given one by one (server, TSIG file,
	// resolvers, waits); each given one replaces the stored one.
	DNS DNSGiven
	// NamedSolverDefs are the config file's definitions of named solvers
	// (`solvers:`), by name; copied into the settings for the names the
	// solver set uses.
	NamedSolverDefs map[string]map[string]string
	Hooks           HooksGiven
	HookTimeout     *string
	// HookEnv names extra environment variables for the hooks.
	HookEnv *[]string
}

// SolverSpec is a complete solver set as given on one command.
type SolverSpec struct {
	// HTTP01 asks for the built-in http-01 responder; without addresses
	// it keeps the stored ones (or listens on :80).
	HTTP01         bool
	HTTP01Addrs    []string
	Webroot        string
	TLSALPN01      bool
	TLSALPN01Addrs []string
	DNSProvider    string
	// PerIdentifier is --solver: identifier (or "default") → solver names
	// in order of preference.
	PerIdentifier map[string][]string
}

// DNSGiven are dns-01 parameters; nil is not given.
type DNSGiven struct {
	RFC2136Server, RFC2136TSIGFile, Exec    *string
	Resolvers                               *[]string
	PropagationWait, PropagationTimeout     *string
	RFC2136Zone, RFC2136TSIGKey, RFC2136Alg *string
	ManualContinueAfter                     *string
}

// HooksGiven are hook argv lists; nil is not given.
type HooksGiven struct {
	Pre, Post, Deploy, Failure *[][]string
}

// Changes is how merged settings differ from the stored ones, as
// settings.yaml keys.
type Changes struct {
	// Shaping are keys that shape the certificate (names, csr, server,
	// account, key-type, profile, must-staple): obtain orders now when one
	// differs, and stores the settings once the new certificate is
	// installed.
	Shaping []string
	// RenewalOnly are keys that shape only how renewal runs (solvers,
	// hooks, email, timeouts, ...): stored at once, used from the next
	// order.
	RenewalOnly []string
	// Added and Removed are the names that change.
	Added, Removed client.Names
}

// Any reports whether anything differs.
func (c Changes) Any() bool { return len(c.Shaping)+len(c.RenewalOnly) > 0 }

// All lists every changed key, shaping ones first.
func (c Changes) All() []string { return slices.Concat(c.Shaping, c.RenewalOnly) }

// IsShaping reports whether a settings.yaml key shapes the certificate:
// names, csr, server, account, key-type, profile, must-staple.
func IsShaping(key string) bool {
	switch key {
	case "names", "csr", "server", "account", "key-type", "profile", "must-staple":
		return true
	}
	return false
}

// Merge returns stored with what g gives applied, and how the result differs
// from stored. stored is not modified; nil stands for a new certificate
// (empty settings). It is pure: it reads no file and no environment.
//
// A given value replaces the stored one and an absent one keeps it; a given
// solver set replaces the stored set as a whole (docs/renewal.md); dns-01
// parameters are dropped with the dns-01 solver.
func Merge(stored *store.Settings, g Given) (*store.Settings, Changes) {
	old := &store.Settings{}
	if stored != nil {
		old = stored
	}
	s := clone(old)
	if g.Names != nil {
		s.Names = slices.Clone(g.Names)
		if g.CSR == nil {
			s.CSR = "" // names from -d: no longer the old CSR's
		}
	}
	setStr(&s.CSR, g.CSR)
	setStr(&s.Server, g.Server)
	setStr(&s.Account, g.Account)
	setStr(&s.ACMEVersion, g.ACMEVersion)
	setStr(&s.CABundle, g.CABundle)
	if g.Email != nil {
		s.Email = slices.Clone(*g.Email)
	}
	setStr(&s.KeyType, g.KeyType)
	setBool(&s.ReuseKey, g.ReuseKey)
	setStr(&s.KeyGroup, g.KeyGroup)
	setStr(&s.Profile, g.Profile)
	setStr(&s.PreferredChain, g.PreferredChain)
	setBool(&s.MustStaple, g.MustStaple)
	if sp := g.Solvers; sp != nil {
		s.HTTP01Addrs = nil
		switch {
		case len(sp.HTTP01Addrs) > 0:
			s.HTTP01Addrs = slices.Clone(sp.HTTP01Addrs)
		case sp.HTTP01 && len(old.HTTP01Addrs) > 0:
			s.HTTP01Addrs = slices.Clone(old.HTTP01Addrs) // --http-01 alone keeps the stored addresses
		case sp.HTTP01:
			s.HTTP01Addrs = []string{":80"}
		}
		s.TLSALPN01Addrs = nil
		switch {
		case len(sp.TLSALPN01Addrs) > 0:
			s.TLSALPN01Addrs = slices.Clone(sp.TLSALPN01Addrs)
		case sp.TLSALPN01 && len(old.TLSALPN01Addrs) > 0:
			s.TLSALPN01Addrs = slices.Clone(old.TLSALPN01Addrs)
		case sp.TLSALPN01:
			s.TLSALPN01Addrs = []string{":443"}
		}
		s.Webroot = sp.Webroot
		if sp.DNSProvider != old.DNS.Provider {
			s.DNS = store.DNSSettings{} // another provider's parameters do not carry over
		}
		s.DNS.Provider = sp.DNSProvider
		s.Solvers = nil
		if len(sp.PerIdentifier) > 0 {
			s.Solvers = map[string][]string{}
			for k, v := range sp.PerIdentifier {
				s.Solvers[k] = slices.Clone(v)
			}
		}
	}
	d := g.DNS
	setStr(&s.DNS.RFC2136Server, d.RFC2136Server)
	setStr(&s.DNS.RFC2136TSIGFile, d.RFC2136TSIGFile)
	setStr(&s.DNS.Exec, d.Exec)
	if d.Resolvers != nil {
		s.DNS.Resolvers = slices.Clone(*d.Resolvers)
	}
	setStr(&s.DNS.PropagationWait, d.PropagationWait)
	setStr(&s.DNS.PropagationTimeout, d.PropagationTimeout)
	setStr(&s.DNS.RFC2136Zone, d.RFC2136Zone)
	setStr(&s.DNS.RFC2136TSIGKey, d.RFC2136TSIGKey)
	setStr(&s.DNS.RFC2136TSIGAlgorithm, d.RFC2136Alg)
	setStr(&s.DNS.ManualContinueAfter, d.ManualContinueAfter)
	mergeNamedSolvers(s, g.Solvers != nil, g.NamedSolverDefs)
	for _, h := range []struct {
		dst *[][]string
		src *[][]string
	}{{&s.Hooks.Pre, g.Hooks.Pre}, {&s.Hooks.Post, g.Hooks.Post}, {&s.Hooks.Deploy, g.Hooks.Deploy}, {&s.Hooks.Failure, g.Hooks.Failure}} {
		if h.src != nil {
			*h.dst = cloneArgvs(*h.src)
		}
	}
	setStr(&s.HookTimeout, g.HookTimeout)
	if g.HookEnv != nil {
		s.HookEnv = slices.Clone(*g.HookEnv)
	}
	return s, Diff(stored, s)
}

// mergeNamedSolvers keeps in s.NamedSolvers the definitions of the named
// solvers s.Solvers uses: the config's definition when the solver set was
// given (or none is stored), else the stored one.
func mergeNamedSolvers(s *store.Settings, given bool, conf map[string]map[string]string) {
	used := map[string]bool{}
	for _, list := range s.Solvers {
		for _, n := range list {
			used[n] = true
		}
	}
	out := map[string]map[string]string{}
	for n := range used {
		stored, have := s.NamedSolvers[n]
		def, inConf := conf[strings.ToLower(n)]
		switch {
		case inConf && (given || !have):
			out[n] = maps.Clone(def)
		case have:
			out[n] = stored
		}
	}
	s.NamedSolvers = nil
	if len(out) > 0 {
		s.NamedSolvers = out
	}
}

// Diff classifies how b differs from a (nil a: a new certificate, every
// set key differs).
func Diff(a, b *store.Settings) Changes {
	var c Changes
	if a == nil {
		a = &store.Settings{}
	}
	av, bv := reflect.ValueOf(*a), reflect.ValueOf(*b)
	t := av.Type()
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" || tag == "version" {
			continue
		}
		x, y := av.Field(i).Interface(), bv.Field(i).Interface()
		if empty(x) && empty(y) || reflect.DeepEqual(x, y) {
			continue
		}
		if tag == "names" && a.Names.SameSet(b.Names) {
			continue
		}
		if IsShaping(tag) {
			c.Shaping = append(c.Shaping, tag)
		} else {
			c.RenewalOnly = append(c.RenewalOnly, tag)
		}
	}
	for _, n := range b.Names {
		if !a.Names.Contains(n) {
			c.Added = append(c.Added, n)
		}
	}
	for _, n := range a.Names {
		if !b.Names.Contains(n) {
			c.Removed = append(c.Removed, n)
		}
	}
	return c
}

func empty(v any) bool {
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.Slice, reflect.Map:
		return r.Len() == 0
	}
	return r.IsZero()
}

func setStr(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

func setBool(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

func cloneArgvs(in [][]string) [][]string {
	if in == nil {
		return nil
	}
	out := make([][]string, len(in))
	for i, a := range in {
		out[i] = slices.Clone(a)
	}
	return out
}

// clone deep-copies settings so a merge never aliases the stored value.
func clone(s *store.Settings) *store.Settings {
	c := *s
	c.Names = slices.Clone(s.Names)
	c.HTTP01Addrs = slices.Clone(s.HTTP01Addrs)
	c.TLSALPN01Addrs = slices.Clone(s.TLSALPN01Addrs)
	c.Email = slices.Clone(s.Email)
	c.HookEnv = slices.Clone(s.HookEnv)
	c.DNS.Resolvers = slices.Clone(s.DNS.Resolvers)
	if s.Solvers != nil {
		c.Solvers = map[string][]string{}
		for k, v := range s.Solvers {
			c.Solvers[k] = slices.Clone(v)
		}
	}
	if s.NamedSolvers != nil {
		c.NamedSolvers = map[string]map[string]string{}
		for k, v := range s.NamedSolvers {
			c.NamedSolvers[k] = maps.Clone(v)
		}
	}
	c.Hooks = store.Hooks{Pre: cloneArgvs(s.Hooks.Pre), Post: cloneArgvs(s.Hooks.Post),
		Deploy: cloneArgvs(s.Hooks.Deploy), Failure: cloneArgvs(s.Hooks.Failure), NotImported: maps.Clone(s.Hooks.NotImported)}
	return &c
}
