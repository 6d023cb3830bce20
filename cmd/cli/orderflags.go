package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
)

// addOrderFlags registers the flags that shape an order (obtain and
// reconfigure share them): what to order and how it renews.
func addOrderFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringSliceP("domain", "d", nil, "DNS name, *.wildcard or IP address (repeatable, also a,b)")
	f.String("cert-name", "", "storage name (default from the first name)")
	f.String("csr", "", "order for this CSR (PEM or DER) made elsewhere; names come from it")
	addRenewalFlags(cmd)
}

// addRenewalFlags registers the order flags that say how a certificate
// renews (key, solvers, order options, hooks), without the names: import
// lego takes these.
func addRenewalFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("key-type", "ec256", "certificate key: "+strings.Join(keys.KeyTypes(), ", "))
	f.Bool("reuse-key", false, "keep the previous key on renewal")
	f.String("key-group", "", "make privkey.pem 0640 for this group (dirs 0750)")
	addSolverFlags(f)
	f.StringSlice("dns-resolvers", nil, "nameservers to check propagation against (host:port,...), instead of the zone's authorities")
	f.Var(&durationFlag{}, "dns-propagation-wait", "wait this long instead of checking propagation (e.g. 90s)")
	f.Var(&durationFlag{}, "dns-propagation-timeout", "give up the propagation check after this long (default 2m)")
	f.Var(&durationFlag{}, "manual-continue-after", "manual DNS: continue this long after printing the records instead of waiting for Enter")
	f.StringArray("solver", nil, "per-name solvers: IDENT=NAME[,NAME...] (IDENT a -d name or default)")
	f.String("profile", "", "ACME profile to request (see acmectl directory)")
	f.String("preferred-chain", "", "prefer the chain whose top issuer has this common name")
	f.Bool("must-staple", false, "request the OCSP must-staple extension (Let's Encrypt refuses it)")
	f.StringArray("pre-hook", nil, "program to run before the first order of a run (no shell)")
	f.StringArray("post-hook", nil, "program to run after the run, when the pre hook ran (no shell)")
	f.StringArray("deploy-hook", nil, "program to run for each certificate obtained or renewed (no shell)")
	f.StringArray("failure-hook", nil, "program to run for each certificate that failed (no shell)")
	f.Var(&durationFlag{s: "5m"}, "hook-timeout", "kill a hook after this long")
	f.StringSlice("hook-env", nil, "pass this environment variable to hooks and the --dns-exec program too (repeatable; by default they get only PATH, HOME, LANG, LC_*, TZ and their ACMECTL_HOOK_* or ACMECTL_DNS_* variables)")
}

// durationFlag is a duration flag (90s, 2m, 1h30m; help says "duration"
// as for --lock-wait) that keeps the text as given, since settings.yaml
// stores it as written.
type durationFlag struct{ s string }

func (d *durationFlag) String() string { return d.s }
func (d *durationFlag) Type() string   { return "duration" }
func (d *durationFlag) Set(v string) error {
	if x, err := time.ParseDuration(v); err != nil || x < 0 {
		return errors.New("want a duration like 90s or 5m")
	}
	d.s = v
	return nil
}

// addSolverFlags registers the challenge solver flags (obtain, reconfigure,
// import and doctor share them).
func addSolverFlags(f *pflag.FlagSet) {
	f.Bool("http-01", false, "answer http-01 with the built-in responder")
	f.StringSlice("http-01-addr", nil, "address for the http-01 responder (repeatable; default :80)")
	f.String("webroot", "", "answer http-01 by writing DIR/.well-known/acme-challenge/<token>")
	f.Bool("tls-alpn-01", false, "answer tls-alpn-01 with the built-in responder (RFC 8737)")
	f.StringSlice("tls-alpn-01-addr", nil, "address for the tls-alpn-01 responder (repeatable; default :443)")
	f.String("dns-01", "", "answer dns-01 with a provider: rfc2136, exec, manual, an API provider (see docs/solvers.md) or a plugin acmectl-dns-NAME")
	f.String("rfc2136-server", "", "DNS server for RFC 2136 updates (host:port)")
	f.String("rfc2136-tsig-file", "", "TSIG key file (output of tsig-keygen); or env ACMECTL_RFC2136_TSIG_SECRET")
	f.String("dns-exec", "", "program for --dns-01 exec (called: present|cleanup FQDN VALUE)")
	f.String("rfc2136-zone", "", "zone to update (default: found by SOA queries to --rfc2136-server)")
	f.String("rfc2136-tsig-key", "", "TSIG key name for a bare secret in ACMECTL_RFC2136_TSIG_SECRET")
	f.String("rfc2136-tsig-algorithm", "", "TSIG algorithm for a bare secret (default hmac-sha256)")
}

// normalizeName parses a -d name (client.ParseIdentifier) into a typed
// identifier, wording a refusal as a usage error.
func normalizeName(n string) (client.Identifier, error) {
	id, err := client.ParseIdentifier(n)
	var ne *client.NameError
	switch {
	case errors.As(err, &ne) && ne.Why != "":
		return client.Identifier{}, usagef("-d %q: %s", n, ne.Why)
	case err != nil:
		return client.Identifier{}, usagef("-d %q is not a valid domain name", n)
	}
	return id, nil
}

// applyOrderFlags merges the order flags the user gave (and, for fresh
// settings, config-file defaults) into s through lifecycle.Merge.
func (a *app) applyOrderFlags(s *store.Settings, fresh bool) error {
	g, err := a.orderGiven(fresh)
	if err != nil {
		return err
	}
	merged, _, err := a.merge(s, g)
	if err != nil {
		return err
	}
	*s = *merged
	return nil
}

// merge is lifecycle.Merge plus the check that every named solver the
// result uses has a definition that parsed.
func (a *app) merge(stored *store.Settings, g lifecycle.Given) (*store.Settings, lifecycle.Changes, error) {
	merged, ch := lifecycle.Merge(stored, g)
	if err := a.checkNamedSolvers(merged); err != nil {
		return nil, ch, err
	}
	return merged, ch, nil
}

// globalsGiven puts the account and server globals into g: for fresh
// settings always (their resolved values), else only when given as a flag
// (env and config never move a stored certificate).
func (a *app) globalsGiven(g *lifecycle.Given, fresh bool) {
	explicit := func(key string) bool { return fresh || a.cfg.source(key) == sourceFlag }
	if explicit("server") {
		g.Server = ptr(a.g.server)
	}
	if explicit("account") {
		g.Account = ptr(a.g.account)
	}
	if explicit("acme-version") {
		g.ACMEVersion = ptr(a.g.acmeVersion)
	}
	if explicit("ca-bundle") {
		g.CABundle = ptr(a.g.caBundle)
	}
	if explicit("email") {
		g.Email = ptr(slices.Clone(a.g.email))
	}
}

func ptr[T any](v T) *T { return &v }

// orderGiven turns the run's order options that count as given into a
// lifecycle.Given (exit 2 on bad input, before any request). fresh:
// settings for a new certificate, where env and config-file values count
// as given.
func (a *app) orderGiven(fresh bool) (lifecycle.Given, error) {
	o := a.order()
	var g lifecycle.Given
	var err error
	if g.Names, err = derefOr(o.names.get(fresh)); err != nil {
		return g, err
	}
	if o.keyType.given(fresh) || fresh {
		if o.keyType.err != nil {
			return g, o.keyType.err
		}
		g.KeyType = ptr(o.keyType.v)
	}
	g.ReuseKey, _ = o.reuseKey.get(fresh)
	g.KeyGroup, _ = o.keyGroup.get(fresh)
	if csr, err := o.csr.get(fresh); err != nil {
		return g, err
	} else if csr != nil {
		g.CSR, g.Names = csr, o.csr.names
	}
	if o.solverSet(fresh) {
		sp := &lifecycle.SolverSpec{}
		if o.http01.given(fresh) {
			sp.HTTP01 = o.http01.v
		}
		if o.http01Addrs.given(fresh) {
			sp.HTTP01Addrs = o.http01Addrs.v
		}
		if o.tlsALPN01.given(fresh) {
			sp.TLSALPN01 = o.tlsALPN01.v
		}
		if o.tlsALPN01Addrs.given(fresh) {
			sp.TLSALPN01Addrs = o.tlsALPN01Addrs.v
		}
		if o.webroot.given(fresh) && o.webroot.v != "" {
			if o.webroot.err != nil {
				return g, o.webroot.err
			}
			sp.Webroot = o.webroot.v
		}
		if p, err := o.dns01.get(fresh); err != nil {
			return g, err
		} else if p != nil {
			sp.DNSProvider = *p
		}
		if m, err := o.solvers.get(fresh); err != nil {
			return g, err
		} else if m != nil {
			sp.PerIdentifier = *m
		}
		g.Solvers = sp
	}
	d := &g.DNS
	d.RFC2136Server, _ = o.rfc2136Server.get(fresh)
	d.Resolvers, _ = o.dnsResolvers.get(fresh)
	for _, x := range []struct {
		b   bound[string]
		dst **string
	}{{o.rfc2136TSIGFile, &d.RFC2136TSIGFile}, {o.dnsExec, &d.Exec}, {o.propagationWait, &d.PropagationWait},
		{o.propagationTimeout, &d.PropagationTimeout}, {o.manualContinueAfter, &d.ManualContinueAfter}, {o.hookTimeout, &g.HookTimeout}} {
		if *x.dst, err = x.b.get(fresh); err != nil {
			return g, err
		}
	}
	d.RFC2136Zone, _ = o.rfc2136Zone.get(fresh)
	d.RFC2136TSIGKey, _ = o.rfc2136TSIGKey.get(fresh)
	d.RFC2136Alg, _ = o.rfc2136Alg.get(fresh)
	if o.namedErr != nil {
		return g, o.namedErr
	}
	g.NamedSolverDefs = o.namedSolvers
	g.Profile, _ = o.profile.get(fresh)
	g.PreferredChain, _ = o.preferredChain.get(fresh)
	if g.MustStaple, _ = o.mustStaple.get(fresh); g.MustStaple != nil && *g.MustStaple {
		fmt.Fprintln(a.env.Stderr, "acmectl: warning: --must-staple: Let's Encrypt refuses must-staple orders")
	}
	for _, h := range []struct {
		b   bound[[][]string]
		dst **[][]string
	}{{o.hooks.pre, &g.Hooks.Pre}, {o.hooks.post, &g.Hooks.Post}, {o.hooks.deploy, &g.Hooks.Deploy}, {o.hooks.failure, &g.Hooks.Failure}} {
		if *h.dst, err = h.b.get(fresh); err != nil {
			return g, err
		}
	}
	if g.HookEnv, err = o.hookEnv.get(fresh); err != nil {
		return g, err
	}
	a.globalsGiven(&g, fresh)
	return g, nil
}

// derefOr is a given list's value (nil when not given).
func derefOr[S ~[]E, E any](v *S, err error) (S, error) {
	if v == nil || err != nil {
		return nil, err
	}
	return *v, nil
}

// namedSolverDefs reads the config file's named solvers (`solvers:`);
// a definition that does not parse is kept as an error for
// checkNamedSolvers.
func namedSolverDefs(c *config) (map[string]map[string]string, error) {
	if c.file == "" || !c.v.IsSet("solvers") {
		return nil, nil
	}
	conf, ok := c.v.Get("solvers").(map[string]any)
	if !ok {
		return nil, usagef("config file %s: solvers: want a map of name → {type: ..., ...}", c.file)
	}
	out := map[string]map[string]string{}
	for n, raw := range conf {
		def, err := namedSolverDef(n, raw)
		if err != nil {
			def = map[string]string{badDefKey: err.Error()}
		}
		out[strings.ToLower(n)] = def
	}
	return out, nil
}

// badDefKey marks a config solver definition that did not parse.
const badDefKey = "\x00error"

// checkNamedSolvers refuses settings that use a named solver whose config
// definition did not parse.
func (a *app) checkNamedSolvers(s *store.Settings) error {
	for _, def := range s.NamedSolvers {
		if msg, bad := def[badDefKey]; bad {
			return usagef("config file %s: %s", a.cfg.file, msg)
		}
	}
	return nil
}

// namedSolverDef flattens one config-file solver to strings (lists are
// joined with commas); secrets stay in files (tsig-file).
func namedSolverDef(name string, raw any) (map[string]string, error) {
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("solvers.%s: want a map (type: ..., ...)", name)
	}
	out := map[string]string{}
	provider, _ := m["provider"].(string)
	known := issue.NamedSolverKeysFor(provider) // a DNS provider's own options too
	for k, v := range m {
		if !slices.Contains(known, k) {
			return nil, fmt.Errorf("solvers.%s: unknown key %q (known: %s)", name, k, strings.Join(known, ", "))
		}
		switch v := v.(type) {
		case []any:
			var parts []string
			for _, p := range v {
				parts = append(parts, fmt.Sprint(p))
			}
			out[k] = strings.Join(parts, ",")
		case map[string]any:
			return nil, fmt.Errorf("solvers.%s.%s: want a string or a list", name, k)
		default:
			out[k] = fmt.Sprint(v)
		}
	}
	for _, k := range []string{"tsig-file", "exec", "webroot"} {
		if p := out[k]; p != "" && !filepath.IsAbs(p) {
			return nil, fmt.Errorf("solvers.%s.%s: %q must be an absolute path", name, k, p)
		}
	}
	return out, nil
}
