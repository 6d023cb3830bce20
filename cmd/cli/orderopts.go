package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/acmectl/acmectl/challenges/dns01/providers/registry"
	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/keys"
)

// bound is one config-backed option, typed: its value, where it came from
// (sourceFlag, sourceEnv, sourceFile or sourceDefault) and why it did not
// parse. The error counts only where the option counts as given.
type bound[T any] struct {
	v   T
	src string
	err error
}

// given reports whether the option counts as given: on an existing
// certificate only a flag does; for fresh settings also env and the
// config file.
func (b bound[T]) given(fresh bool) bool {
	return b.src != sourceDefault && (fresh || b.src == sourceFlag)
}

// get is the value when given (nil when not), or why it did not parse.
func (b bound[T]) get(fresh bool) (*T, error) {
	if !b.given(fresh) {
		return nil, nil
	}
	if b.err != nil {
		return nil, b.err
	}
	v := b.v
	return &v, nil
}

// orderOptions are the options that shape an order (obtain, reconfigure,
// import, doctor), bound once from flags, ACMECTL_* env and the config
// file (bindOrder) with every value parsed and checked; orderGiven turns
// those that count as given into a lifecycle.Given.
type orderOptions struct {
	certName string
	// names are -d, normalised, without duplicates.
	names bound[client.Names]
	// csr is --csr read and parsed: the PEM and the names it asks for.
	csr struct {
		bound[string]
		names client.Names
	}
	keyType, keyGroup                    bound[string]
	reuseKey, mustStaple                 bound[bool]
	http01, tlsALPN01                    bound[bool]
	http01Addrs, tlsALPN01Addrs          bound[[]string]
	webroot, dns01                       bound[string]
	solvers                              bound[map[string][]string] // --solver: identifier → names
	rfc2136Server, rfc2136TSIGFile       bound[string]
	dnsExec, rfc2136Zone, rfc2136TSIGKey bound[string]
	rfc2136Alg                           bound[string]
	dnsResolvers                         bound[[]string]
	propagationWait, propagationTimeout  bound[string] // durations, as written
	manualContinueAfter, hookTimeout     bound[string]
	profile, preferredChain              bound[string]
	hooks                                struct{ pre, post, deploy, failure bound[[][]string] }
	hookEnv                              bound[[]string]
	// namedSolvers are the config file's `solvers:` definitions.
	namedSolvers map[string]map[string]string
	namedErr     error
}

// solverSet reports whether any solver option is given (it then replaces
// the stored solver set).
func (o *orderOptions) solverSet(fresh bool) bool {
	return o.http01.given(fresh) || o.http01Addrs.given(fresh) || o.webroot.given(fresh) || o.tlsALPN01.given(fresh) ||
		o.tlsALPN01Addrs.given(fresh) || o.dns01.given(fresh) || o.solvers.given(fresh)
}

// order returns the run's order options, bound on first use.
func (a *app) order() *orderOptions {
	if a.orderOpts == nil {
		a.orderOpts = bindOrder(a.cfg)
	}
	return a.orderOpts
}

// bindOrder is the one place the order options are read from the
// configuration, each by its key, into typed values.
func bindOrder(c *config) *orderOptions {
	o := &orderOptions{}
	// Only the flags this command has count (import has no -d or --csr:
	// ACMECTL_CSR must not reach it).
	source := func(key string) string {
		if c.flag(key) == nil {
			return sourceDefault
		}
		return c.source(key)
	}
	str := func(key string) bound[string] { return bound[string]{v: c.String(key), src: source(key)} }
	flag := func(key string) bound[bool] {
		v, _ := c.Bool(key) // an env or file value that is not a boolean reads as false
		return bound[bool]{v: v, src: source(key)}
	}
	list := func(key string) bound[[]string] { return bound[[]string]{v: c.Strings(key), src: source(key)} }
	duration := func(key string) bound[string] {
		b := str(key)
		_, b.err = c.Duration(key)
		return b
	}
	absPath := func(key string) bound[string] {
		b := str(key)
		if p, err := filepath.Abs(b.v); err != nil {
			b.err = usagef("--%s: %v", key, err)
		} else {
			b.v = p
		}
		return b
	}
	if f := c.flag("cert-name"); f != nil {
		o.certName = f.Value.String()
	}

	o.names = bound[client.Names]{v: client.Names{}, src: source("domain")}
	for _, n := range c.Strings("domain") {
		nn, err := normalizeName(n)
		if err != nil {
			o.names.err = err
			break
		}
		if !slices.Contains(o.names.v, nn) {
			o.names.v = append(o.names.v, nn)
		}
	}
	o.keyType = str("key-type")
	if err := keys.ValidKeyType(o.keyType.v); err != nil {
		o.keyType.err = usagef("--key-type %q: want one of %s", o.keyType.v, strings.Join(keys.KeyTypes(), ", "))
	}
	o.reuseKey, o.keyGroup = flag("reuse-key"), str("key-group")
	o.csr.bound = str("csr")
	if o.csr.src != sourceDefault {
		o.csr.v, o.csr.names, o.csr.err = readCSR(o.csr.v)
	}

	o.http01, o.http01Addrs = flag("http-01"), list("http-01-addr")
	o.tlsALPN01, o.tlsALPN01Addrs = flag("tls-alpn-01"), list("tls-alpn-01-addr")
	o.webroot = str("webroot")
	if w := o.webroot.v; w != "" {
		if abs, err := filepath.Abs(w); err != nil {
			o.webroot.err = usagef("--webroot: %v", err)
		} else if st, err := os.Stat(abs); err != nil || !st.IsDir() {
			o.webroot.err = usagef("--webroot %s: not a directory", w)
		} else {
			o.webroot.v = abs
		}
	}
	o.dns01 = str("dns-01")
	if p := o.dns01.v; p != "" && !registry.ValidName(p) {
		o.dns01.err = usagef("--dns-01 %q: want one of %s, or a plugin name", p, strings.Join(registry.Names(), ", "))
	}
	o.solvers = bound[map[string][]string]{v: map[string][]string{}, src: source("solver")}
	for _, spec := range c.RawStrings("solver") {
		ident, names, ok := strings.Cut(spec, "=")
		if !ok || ident == "" || names == "" {
			o.solvers.err = usagef("--solver %q: want IDENT=NAME[,NAME...]", spec)
			break
		}
		if ident != "default" {
			nn, err := normalizeName(ident)
			if err != nil {
				o.solvers.err = err
				break
			}
			ident = nn.Value
		}
		o.solvers.v[ident] = append(o.solvers.v[ident], splitCommas([]string{names})...)
	}

	o.rfc2136Server, o.rfc2136TSIGFile, o.dnsExec = str("rfc2136-server"), absPath("rfc2136-tsig-file"), absPath("dns-exec")
	o.rfc2136Zone, o.rfc2136TSIGKey, o.rfc2136Alg = str("rfc2136-zone"), str("rfc2136-tsig-key"), str("rfc2136-tsig-algorithm")
	o.dnsResolvers = list("dns-resolvers")
	o.propagationWait, o.propagationTimeout = duration("dns-propagation-wait"), duration("dns-propagation-timeout")
	o.manualContinueAfter, o.hookTimeout = duration("manual-continue-after"), duration("hook-timeout")
	o.profile, o.preferredChain, o.mustStaple = str("profile"), str("preferred-chain"), flag("must-staple")
	for _, h := range []struct {
		key string
		dst *bound[[][]string]
	}{{"pre-hook", &o.hooks.pre}, {"post-hook", &o.hooks.post}, {"deploy-hook", &o.hooks.deploy}, {"failure-hook", &o.hooks.failure}} {
		*h.dst = bound[[][]string]{v: [][]string{}, src: source(h.key)}
		for _, raw := range c.RawStrings(h.key) {
			argv, err := hook.Split(raw)
			if err != nil {
				h.dst.err = usagef("--%s %q: %v", h.key, raw, err)
				break
			}
			h.dst.v = append(h.dst.v, argv)
		}
	}
	o.hookEnv = list("hook-env")
	o.hookEnv.v, o.hookEnv.err = hookEnvNames(o.hookEnv.v)
	o.namedSolvers, o.namedErr = namedSolverDefs(c)
	return o
}

// readCSR reads and parses --csr: the CSR as PEM and its names, typed.
func readCSR(path string) (string, client.Names, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, usagef("--csr: %v", err)
	}
	csr, err := issue.ParseCSR(data)
	if err != nil {
		return "", nil, usagef("--csr %s: %v", path, err)
	}
	names, err := issue.CSRNames(csr)
	if err != nil {
		return "", nil, usagef("--csr %s: %v", path, err)
	}
	return string(pemCSR(csr.Raw)), names, nil
}
