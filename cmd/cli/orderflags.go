package cli

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/net/idna"

	"github.com/acmectl/acmectl/challenges/dns01/providers/registry"
	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/hook"
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

// normalizeName lowercases, converts to an IDNA A-label and checks a name;
// IP addresses are returned in canonical form.
func normalizeName(n string) (string, error) {
	n = strings.TrimSpace(n)
	if ip, err := netip.ParseAddr(n); err == nil {
		if ip.Zone() != "" {
			return "", usagef("-d %q: IP address with a zone", n)
		}
		return ip.Unmap().String(), nil
	}
	wild := strings.HasPrefix(n, "*.")
	base := strings.TrimSuffix(strings.TrimPrefix(n, "*."), ".")
	if why := domainNameProblem(base); why != "" {
		return "", usagef("-d %q: %s", n, why)
	}
	a, err := idna.Lookup.ToASCII(strings.ToLower(base))
	if err != nil || a == "" || strings.Contains(a, "*") {
		return "", usagef("-d %q is not a valid domain name", n)
	}
	if err := client.ValidateDNSName(a); err != nil {
		return "", usagef("-d %q is not a valid domain name", n)
	}
	if wild {
		a = "*." + a
	}
	return a, nil
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

// given reports whether key counts as given on this command: on an
// existing certificate only a flag does; for fresh settings also env and
// the config file.
func (a *app) given(key string, fresh bool) bool {
	src := a.cfg.source(key)
	return src != sourceDefault && (fresh || src == sourceFlag)
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

// orderGiven reads the order flags into a lifecycle.Given, checking each
// (exit 2 on bad input, before any request). fresh: settings for a new
// certificate, where config-file defaults count as given.
func (a *app) orderGiven(fresh bool) (lifecycle.Given, error) {
	c := a.cfg
	var g lifecycle.Given
	// Only the flags this command has count (import has no -d or --csr:
	// ACMECTL_CSR must not reach it).
	set := func(key string) bool { return c.flag(key) != nil && a.given(key, fresh) }
	str := func(key string) *string {
		if !set(key) {
			return nil
		}
		return ptr(c.String(key))
	}
	boolean := func(key string) *bool {
		if !set(key) {
			return nil
		}
		v, _ := c.Bool(key)
		return &v
	}
	duration := func(key string) (*string, error) {
		if !set(key) {
			return nil, nil
		}
		if _, err := c.Duration(key); err != nil {
			return nil, err
		}
		return ptr(c.String(key)), nil
	}
	absPath := func(key string) (*string, error) {
		if !set(key) {
			return nil, nil
		}
		p, err := filepath.Abs(c.String(key))
		if err != nil {
			return nil, usagef("--%s: %v", key, err)
		}
		return &p, nil
	}
	if set("domain") {
		g.Names = []string{}
		for _, n := range c.Strings("domain") {
			nn, err := normalizeName(n)
			if err != nil {
				return g, err
			}
			if !slices.Contains(g.Names, nn) {
				g.Names = append(g.Names, nn)
			}
		}
	}
	if set("key-type") || fresh {
		kt := c.String("key-type")
		if err := keys.ValidKeyType(kt); err != nil {
			return g, usagef("--key-type %q: want one of %s", kt, strings.Join(keys.KeyTypes(), ", "))
		}
		g.KeyType = &kt
	}
	g.ReuseKey = boolean("reuse-key")
	g.KeyGroup = str("key-group")
	if set("csr") {
		path := c.String("csr")
		data, err := os.ReadFile(path)
		if err != nil {
			return g, usagef("--csr: %v", err)
		}
		csr, err := issue.ParseCSR(data)
		if err != nil {
			return g, usagef("--csr %s: %v", path, err)
		}
		g.CSR = ptr(string(pemCSR(csr.Raw)))
		g.Names = nil
		for _, n := range issue.CSRNames(csr) {
			nn, err := normalizeName(n)
			if err != nil {
				return g, usagef("--csr %s: %v", path, err)
			}
			g.Names = append(g.Names, nn)
		}
	}
	if slices.ContainsFunc(solverSetFlags(), set) {
		sp := &lifecycle.SolverSpec{}
		if set("http-01") {
			sp.HTTP01, _ = c.Bool("http-01")
		}
		if set("http-01-addr") {
			sp.HTTP01Addrs = c.Strings("http-01-addr")
		}
		if set("tls-alpn-01") {
			sp.TLSALPN01, _ = c.Bool("tls-alpn-01")
		}
		if set("tls-alpn-01-addr") {
			sp.TLSALPN01Addrs = c.Strings("tls-alpn-01-addr")
		}
		if w := c.String("webroot"); set("webroot") && w != "" {
			abs, err := filepath.Abs(w)
			if err != nil {
				return g, usagef("--webroot: %v", err)
			}
			if st, err := os.Stat(abs); err != nil || !st.IsDir() {
				return g, usagef("--webroot %s: not a directory", w)
			}
			sp.Webroot = abs
		}
		if set("dns-01") {
			p := c.String("dns-01")
			if p != "" && !registry.ValidName(p) {
				return g, usagef("--dns-01 %q: want one of %s, or a plugin name", p, strings.Join(registry.Names(), ", "))
			}
			sp.DNSProvider = p
		}
		if set("solver") {
			sp.PerIdentifier = map[string][]string{}
			for _, spec := range c.RawStrings("solver") {
				ident, names, ok := strings.Cut(spec, "=")
				if !ok || ident == "" || names == "" {
					return g, usagef("--solver %q: want IDENT=NAME[,NAME...]", spec)
				}
				if ident != "default" {
					nn, err := normalizeName(ident)
					if err != nil {
						return g, err
					}
					ident = nn
				}
				sp.PerIdentifier[ident] = append(sp.PerIdentifier[ident], splitCommas([]string{names})...)
			}
		}
		g.Solvers = sp
	}
	var err error
	d := &g.DNS
	d.RFC2136Server = str("rfc2136-server")
	if d.RFC2136TSIGFile, err = absPath("rfc2136-tsig-file"); err != nil {
		return g, err
	}
	if d.Exec, err = absPath("dns-exec"); err != nil {
		return g, err
	}
	if set("dns-resolvers") {
		d.Resolvers = ptr(c.Strings("dns-resolvers"))
	}
	for _, k := range []struct {
		key string
		dst **string
	}{
		{"dns-propagation-wait", &d.PropagationWait},
		{"dns-propagation-timeout", &d.PropagationTimeout},
		{"manual-continue-after", &d.ManualContinueAfter},
		{"hook-timeout", &g.HookTimeout},
	} {
		if *k.dst, err = duration(k.key); err != nil {
			return g, err
		}
	}
	d.RFC2136Zone = str("rfc2136-zone")
	d.RFC2136TSIGKey = str("rfc2136-tsig-key")
	d.RFC2136Alg = str("rfc2136-tsig-algorithm")
	if g.NamedSolverDefs, err = a.namedSolverDefs(); err != nil {
		return g, err
	}
	g.Profile = str("profile")
	g.PreferredChain = str("preferred-chain")
	if g.MustStaple = boolean("must-staple"); g.MustStaple != nil && *g.MustStaple {
		fmt.Fprintln(a.env.Stderr, "acmectl: warning: --must-staple: Let's Encrypt refuses must-staple orders")
	}
	for _, h := range []struct {
		key string
		dst **[][]string
	}{{"pre-hook", &g.Hooks.Pre}, {"post-hook", &g.Hooks.Post}, {"deploy-hook", &g.Hooks.Deploy}, {"failure-hook", &g.Hooks.Failure}} {
		if !set(h.key) {
			continue
		}
		argvs := [][]string{}
		for _, raw := range c.RawStrings(h.key) {
			argv, err := hook.Split(raw)
			if err != nil {
				return g, usagef("--%s %q: %v", h.key, raw, err)
			}
			argvs = append(argvs, argv)
		}
		*h.dst = &argvs
	}
	if set("hook-env") {
		names, err := hookEnvNames(c.Strings("hook-env"))
		if err != nil {
			return g, err
		}
		g.HookEnv = &names
	}
	a.globalsGiven(&g, fresh)
	return g, nil
}

// solverSetFlags are the flags that choose solvers: any of them given
// replaces the stored solver set.
func solverSetFlags() []string {
	return []string{"http-01", "http-01-addr", "webroot", "tls-alpn-01", "tls-alpn-01-addr", "dns-01", "solver"}
}

// namedSolverDefs reads the config file's named solvers (`solvers:`);
// a definition that does not parse is kept as an error for
// checkNamedSolvers.
func (a *app) namedSolverDefs() (map[string]map[string]string, error) {
	if a.cfg.file == "" || !a.cfg.v.IsSet("solvers") {
		return nil, nil
	}
	conf, ok := a.cfg.v.Get("solvers").(map[string]any)
	if !ok {
		return nil, usagef("config file %s: solvers: want a map of name → {type: ..., ...}", a.cfg.file)
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

// domainNameProblem says in a user's words what is wrong with a domain
// name given to -d (without its "*." prefix), or "" when nothing obvious
// is; the IDNA and grammar checks follow.
func domainNameProblem(name string) string {
	switch {
	case name == "":
		return "empty domain name"
	case strings.Contains(name, ".."):
		return "empty label (two dots in a row)"
	case strings.HasPrefix(name, "."):
		return "a domain name cannot start with a dot"
	case strings.Contains(name, "*"):
		return "a wildcard is allowed only as the whole first label (*.example.com)"
	case strings.ContainsAny(name, " \t/:@_"):
		return "a domain name has only letters, digits, '-' and '.' (no spaces, '/', ':', '@' or '_')"
	case !strings.Contains(name, "."):
		return "a domain name needs at least two labels, like example.com (names are separated by commas: -d a.example,b.example)"
	case len(name) > 253:
		return "longer than 253 characters"
	}
	for _, l := range strings.Split(name, ".") {
		if len(l) > 63 {
			return fmt.Sprintf("label %q is longer than 63 characters", l[:20]+"...")
		}
		if strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return fmt.Sprintf("label %q starts or ends with '-'", l)
		}
	}
	return ""
}
