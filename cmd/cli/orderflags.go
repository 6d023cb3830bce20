package cli

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/net/idna"

	"github.com/acmectl/acmectl/challenges/dns01/providers/registry"
	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/store"
)

// addOrderFlags registers the flags that shape an order (obtain and
// reconfigure share them).
func addOrderFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringSliceP("domain", "d", nil, "DNS name, *.wildcard or IP address (repeatable, also a,b)")
	f.String("cert-name", "", "storage name (default from the first name)")
	f.String("key-type", "ec256", "certificate key: "+strings.Join(keys.KeyTypes(), ", "))
	f.Bool("reuse-key", false, "keep the previous key on renewal")
	f.String("key-group", "", "make privkey.pem 0640 for this group (dirs 0750)")
	f.String("csr", "", "order for this CSR (PEM or DER) made elsewhere; names come from it")
	addSolverFlags(f)
	f.StringSlice("dns-resolvers", nil, "nameservers to check propagation against (host:port,...), instead of the zone's authorities")
	f.String("dns-propagation-wait", "", "wait this long instead of checking propagation")
	f.String("dns-propagation-timeout", "", "give up the propagation check after this long (default 2m)")
	f.String("manual-continue-after", "", "manual DNS: continue this long after printing the records instead of waiting for Enter")
	f.StringArray("solver", nil, "per-name solvers: IDENT=NAME[,NAME...] (IDENT a -d name or default)")
	f.String("profile", "", "ACME profile to request (see acmectl directory)")
	f.String("preferred-chain", "", "prefer the chain whose top issuer has this common name")
	f.Bool("must-staple", false, "request the OCSP must-staple extension (Let's Encrypt refuses it)")
	f.StringArray("pre-hook", nil, "program to run before the first order of a run (no shell)")
	f.StringArray("post-hook", nil, "program to run after the run, when the pre hook ran (no shell)")
	f.StringArray("deploy-hook", nil, "program to run for each certificate obtained or renewed (no shell)")
	f.StringArray("failure-hook", nil, "program to run for each certificate that failed (no shell)")
	f.String("hook-timeout", "5m", "kill a hook after this long")
	f.StringSlice("hook-env", nil, "pass this environment variable to hooks too (repeatable; by default hooks get only PATH, HOME, LANG, LC_*, TZ and the ACMECTL_HOOK_* variables)")
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

// applyOrderFlags merges the order flags the user gave (and config-file
// defaults for keys the settings lack) into s. A flag given replaces the
// stored value; an absent flag keeps it.
func (a *app) applyOrderFlags(s *store.Settings, fresh bool) error {
	c := a.cfg
	set := func(key string) bool { return c.source(key) != sourceDefault && (fresh || c.source(key) == sourceFlag) }
	if set("domain") {
		var names []string
		for _, n := range c.Strings("domain") {
			nn, err := normalizeName(n)
			if err != nil {
				return err
			}
			if !slices.Contains(names, nn) {
				names = append(names, nn)
			}
		}
		s.Names = names
	}
	if set("key-type") || (fresh && s.KeyType == "") {
		kt := c.String("key-type")
		if err := keys.ValidKeyType(kt); err != nil {
			return usagef("--key-type %q: want one of %s", kt, strings.Join(keys.KeyTypes(), ", "))
		}
		s.KeyType = kt
	}
	if set("reuse-key") {
		s.ReuseKey, _ = c.Bool("reuse-key")
	}
	if set("key-group") {
		s.KeyGroup = c.String("key-group")
	}
	if set("csr") {
		path := c.String("csr")
		data, err := os.ReadFile(path)
		if err != nil {
			return usagef("--csr: %v", err)
		}
		csr, err := issue.ParseCSR(data)
		if err != nil {
			return usagef("--csr %s: %v", path, err)
		}
		s.CSR = string(pemCSR(csr.Raw))
		var names []string
		for _, n := range issue.CSRNames(csr) {
			nn, err := normalizeName(n)
			if err != nil {
				return usagef("--csr %s: %v", path, err)
			}
			names = append(names, nn)
		}
		s.Names = names
	}
	if set("http-01") || set("http-01-addr") {
		on, _ := c.Bool("http-01")
		addrs := c.Strings("http-01-addr")
		switch {
		case len(addrs) > 0:
		case on && len(s.HTTP01Addrs) > 0:
			addrs = s.HTTP01Addrs // --http-01 alone keeps the stored addresses
		case on:
			addrs = []string{":80"}
		}
		s.HTTP01Addrs = addrs
	}
	if set("webroot") {
		w := c.String("webroot")
		if w != "" {
			abs, err := filepath.Abs(w)
			if err != nil {
				return usagef("--webroot: %v", err)
			}
			if st, err := os.Stat(abs); err != nil || !st.IsDir() {
				return usagef("--webroot %s: not a directory", w)
			}
			w = abs
		}
		s.Webroot = w
	}
	if set("tls-alpn-01") || set("tls-alpn-01-addr") {
		on, _ := c.Bool("tls-alpn-01")
		addrs := c.Strings("tls-alpn-01-addr")
		switch {
		case len(addrs) > 0:
		case on && len(s.TLSALPN01Addrs) > 0:
			addrs = s.TLSALPN01Addrs // --tls-alpn-01 alone keeps the stored addresses
		case on:
			addrs = []string{":443"}
		}
		s.TLSALPN01Addrs = addrs
	}
	if set("dns-01") {
		p := c.String("dns-01")
		if p != "" && !registry.ValidName(p) {
			return usagef("--dns-01 %q: want one of %s, or a plugin name", p, strings.Join(registry.Names(), ", "))
		}
		s.DNS.Provider = p
	}
	if set("rfc2136-server") {
		s.DNS.RFC2136Server = c.String("rfc2136-server")
	}
	if set("rfc2136-tsig-file") {
		p, err := filepath.Abs(c.String("rfc2136-tsig-file"))
		if err != nil {
			return usagef("--rfc2136-tsig-file: %v", err)
		}
		s.DNS.RFC2136TSIGFile = p
	}
	if set("dns-exec") {
		p, err := filepath.Abs(c.String("dns-exec"))
		if err != nil {
			return usagef("--dns-exec: %v", err)
		}
		s.DNS.Exec = p
	}
	if set("dns-resolvers") {
		s.DNS.Resolvers = c.Strings("dns-resolvers")
	}
	if set("dns-propagation-wait") {
		if _, err := c.Duration("dns-propagation-wait"); err != nil {
			return err
		}
		s.DNS.PropagationWait = c.String("dns-propagation-wait")
	}
	for _, k := range []struct {
		key string
		dst *string
	}{
		{"dns-propagation-timeout", &s.DNS.PropagationTimeout},
		{"manual-continue-after", &s.DNS.ManualContinueAfter},
	} {
		if set(k.key) {
			if _, err := c.Duration(k.key); err != nil {
				return err
			}
			*k.dst = c.String(k.key)
		}
	}
	if set("rfc2136-zone") {
		s.DNS.RFC2136Zone = c.String("rfc2136-zone")
	}
	if set("rfc2136-tsig-key") {
		s.DNS.RFC2136TSIGKey = c.String("rfc2136-tsig-key")
	}
	if set("rfc2136-tsig-algorithm") {
		s.DNS.RFC2136TSIGAlgorithm = c.String("rfc2136-tsig-algorithm")
	}
	if set("solver") {
		m := map[string][]string{}
		for _, spec := range c.RawStrings("solver") {
			ident, names, ok := strings.Cut(spec, "=")
			if !ok || ident == "" || names == "" {
				return usagef("--solver %q: want IDENT=NAME[,NAME...]", spec)
			}
			if ident != "default" {
				nn, err := normalizeName(ident)
				if err != nil {
					return err
				}
				ident = nn
			}
			m[ident] = append(m[ident], splitCommas([]string{names})...)
		}
		s.Solvers = m
	}
	if err := a.applyNamedSolvers(s, set("solver")); err != nil {
		return err
	}
	if set("profile") {
		s.Profile = c.String("profile")
	}
	if set("preferred-chain") {
		s.PreferredChain = c.String("preferred-chain")
	}
	if set("must-staple") {
		s.MustStaple, _ = c.Bool("must-staple")
		if s.MustStaple {
			fmt.Fprintln(a.env.Stderr, "acmectl: warning: --must-staple: Let's Encrypt refuses must-staple orders")
		}
	}
	for _, kind := range []string{"pre", "post", "deploy", "failure"} {
		key := kind + "-hook"
		if !set(key) {
			continue
		}
		var argvs [][]string
		for _, h := range c.RawStrings(key) {
			argv, err := hook.Split(h)
			if err != nil {
				return usagef("--%s %q: %v", key, h, err)
			}
			argvs = append(argvs, argv)
		}
		switch kind {
		case "pre":
			s.Hooks.Pre = argvs
		case "post":
			s.Hooks.Post = argvs
		case "deploy":
			s.Hooks.Deploy = argvs
		case "failure":
			s.Hooks.Failure = argvs
		}
	}
	if set("hook-timeout") {
		if _, err := c.Duration("hook-timeout"); err != nil {
			return err
		}
		s.HookTimeout = c.String("hook-timeout")
	}
	if set("hook-env") {
		names, err := hookEnvNames(c.Strings("hook-env"))
		if err != nil {
			return err
		}
		s.HookEnv = names
	}
	return nil
}

// applyNamedSolvers copies the config file's definitions (`solvers:`) of
// the solvers s.Solvers names into s.NamedSolvers, so renewals use what the
// order used. With --solver given (or a definition missing) the config's
// definition replaces the stored one; definitions no longer named are
// dropped.
func (a *app) applyNamedSolvers(s *store.Settings, given bool) error {
	var conf map[string]any
	if a.cfg.file != "" && a.cfg.v.IsSet("solvers") {
		var ok bool
		if conf, ok = a.cfg.v.Get("solvers").(map[string]any); !ok {
			return usagef("config file %s: solvers: want a map of name → {type: ..., ...}", a.cfg.file)
		}
	}
	used := map[string]bool{}
	for _, list := range s.Solvers {
		for _, n := range list {
			used[n] = true
		}
	}
	for n := range s.NamedSolvers {
		if !used[n] {
			delete(s.NamedSolvers, n)
		}
	}
	for n := range used {
		raw, ok := conf[strings.ToLower(n)]
		if !ok {
			continue
		}
		if _, have := s.NamedSolvers[n]; have && !given {
			continue
		}
		def, err := namedSolverDef(n, raw)
		if err != nil {
			return usagef("config file %s: %v", a.cfg.file, err)
		}
		if s.NamedSolvers == nil {
			s.NamedSolvers = map[string]map[string]string{}
		}
		s.NamedSolvers[n] = def
	}
	if len(s.NamedSolvers) == 0 {
		s.NamedSolvers = nil
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
	for k, v := range m {
		if !slices.Contains(issue.NamedSolverKeys(), k) {
			return nil, fmt.Errorf("solvers.%s: unknown key %q (known: %s)", name, k, strings.Join(issue.NamedSolverKeys(), ", "))
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
