package cli

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/providers/registry"
	"github.com/acmectl/acmectl/challenges/http01"
	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
)

// Verdicts of doctor's checks.
const (
	verdictOK   = "OK"
	verdictWarn = "WARN"
	verdictFail = "FAIL"
)

// doctorCheck is one line of doctor's report.
type doctorCheck struct {
	Check   string `json:"check"`
	Target  string `json:"target,omitempty"`
	Verdict string `json:"verdict"`
	Detail  string `json:"detail"`
}

type doctorOptions struct {
	certName string
	httpPort int
	tlsPort  int
	timeout  time.Duration
	order    *orderOptions // -d, the solver flags, --dns-resolvers
}

func newDoctorCmd(a *app) *cobra.Command {
	opts := &doctorOptions{}
	cmd := &cobra.Command{
		Use:   "doctor [-d NAME ...] [solver flags]",
		Short: "Check, before ordering, that ordering can work",
		Long: `Run preflight checks and print a verdict (OK, WARN, FAIL) for each:

  server    the directory is reachable, and which dialect it speaks
  clock     skew against the CA's Date header
  account   an account is stored for this server and --account label, and the CA knows it
  dns       per name, the A/AAAA records the CA will see (queried from --dns-resolvers,
            else the resolvers of /etc/resolv.conf, never /etc/hosts)
  caa       per name, whether CAA records allow this CA (RFC 8659 tree climbing; the CA's
            names come from its directory's caaIdentities)
  http-01, tls-alpn-01   the built-in responder's address can be bound (or what holds it)
  webroot   the directory is writable and the web server serves it for every name
            (a probe file is written, fetched over HTTP and removed)
  dns-01    the DNS provider's credentials work: API providers read the zone without
            changing it; rfc2136 and exec set and remove a test TXT record

Give the names and solver flags you would give "obtain", or --cert-name to check a
stored certificate's settings. Nothing is ordered and no account is created.
Exit status: 0 when no check failed (warnings allowed), 1 otherwise.`,
		Example: `  acmectl doctor -d example.com -d www.example.com --webroot /var/www/html
  acmectl doctor --cert-name example.com
  acmectl doctor --server letsencrypt-staging -d '*.example.com' --dns-01 rfc2136 \
      --rfc2136-server ns1.example.com:53 --rfc2136-tsig-file /etc/acmectl/tsig.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.order = a.order()
			return run(cmd.Context(), a, opts, a.runDoctor)
		},
	}
	f := cmd.Flags()
	f.StringSliceP("domain", "d", nil, "DNS name, *.wildcard or IP address to check (repeatable, also a,b)")
	f.StringVar(&opts.certName, "cert-name", "", "check this stored certificate's names and settings")
	addSolverFlags(f) // the solvers to check, as obtain takes them
	f.StringSlice("dns-resolvers", nil, "recursive resolvers to query (host:port,...); default those of /etc/resolv.conf")
	f.IntVar(&opts.httpPort, "http-port", 80, "port the CA connects to for http-01 (80; test CAs may use another)")
	f.IntVar(&opts.tlsPort, "tls-port", 443, "port the CA connects to for tls-alpn-01 (443; test CAs may use another)")
	f.DurationVar(&opts.timeout, "timeout", 15*time.Second, "time limit for each network check")
	return cmd
}

// doctorRun holds one doctor run's inputs and report.
type doctorRun struct {
	a        *app
	opts     *doctorOptions
	settings *store.Settings
	names    client.Names
	lookup   *dnsLookup
	dir      *client.Directory
	acctURL  string
	checks   []doctorCheck
}

func (d *doctorRun) add(check, target, verdict, format string, args ...any) {
	d.checks = append(d.checks, doctorCheck{Check: check, Target: target, Verdict: verdict, Detail: fmt.Sprintf(format, args...)})
}

func (a *app) runDoctor(ctx context.Context, opts *doctorOptions) error {
	if opts.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	s, err := a.doctorSettings(opts)
	if err != nil {
		return err
	}
	d := &doctorRun{a: a, opts: opts, settings: s, names: s.Names}
	if d.lookup, err = newDNSLookup(opts.order.dnsResolvers.v, opts.timeout); err != nil {
		d.add("dns", "", verdictFail, "%v", err)
	}

	d.checkServer(ctx)
	d.checkAccount(ctx)
	for _, n := range d.names {
		d.checkName(ctx, n)
	}
	d.checkSolvers(ctx)
	if opts.certName != "" {
		for _, n := range notImportedHooks(opts.certName, s) {
			d.add("hook", opts.certName, verdictWarn, "not imported: %s", n)
		}
	}
	return d.report()
}

// doctorSettings are the settings to check: a stored certificate's with
// the options given on top (lifecycle.Merge, as obtain would), or the
// options alone; solver options replace the stored set. Names and solvers count as given from env and the config
// file too; --server, --account and --ca-bundle move a stored certificate
// only as flags.
func (a *app) doctorSettings(opts *doctorOptions) (*store.Settings, error) {
	var stored *store.Settings
	if opts.certName != "" {
		if err := store.ValidCertName(opts.certName); err != nil {
			return nil, usagef("--cert-name %q: must match ^[a-z0-9][a-z0-9._-]{0,127}$", opts.certName)
		}
		if _, err := os.Stat(a.g.stateDir); err != nil {
			return nil, usagef("--cert-name %s: no state directory %s", opts.certName, a.g.stateDir)
		}
		st, err := a.openStore()
		if err != nil {
			return nil, err
		}
		if stored, err = st.LoadSettings(opts.certName); errors.Is(err, store.ErrNotFound) {
			return nil, usagef("--cert-name %s: no such certificate (see acmectl list)", opts.certName)
		} else if err != nil {
			return nil, err
		}
	}
	o := opts.order
	var g lifecycle.Given
	var err error
	if g.Names, err = derefOr(o.names.get(true)); err != nil {
		return nil, err
	}
	if o.solverSet(true) {
		// A webroot that is not a directory is a finding, not a usage error.
		g.Solvers = &lifecycle.SolverSpec{HTTP01: o.http01.v, HTTP01Addrs: o.http01Addrs.v, Webroot: o.webroot.v,
			TLSALPN01: o.tlsALPN01.v, TLSALPN01Addrs: o.tlsALPN01Addrs.v, DNSProvider: o.dns01.v}
	}
	d := &g.DNS
	d.RFC2136Server, _ = o.rfc2136Server.get(true)
	d.RFC2136TSIGFile, _ = o.rfc2136TSIGFile.get(true)
	d.RFC2136Zone, _ = o.rfc2136Zone.get(true)
	d.RFC2136TSIGKey, _ = o.rfc2136TSIGKey.get(true)
	d.RFC2136Alg, _ = o.rfc2136Alg.get(true)
	d.Exec, _ = o.dnsExec.get(true)
	a.globalsGiven(&g, stored == nil)
	s, _ := lifecycle.Merge(stored, g)
	if s.DNS.Provider != "" && !registry.ValidName(s.DNS.Provider) {
		return nil, usagef("--dns-01 %q: want one of %s, or a plugin name", s.DNS.Provider, strings.Join(registry.Names(), ", "))
	}
	if len(s.Names) == 0 {
		return nil, usagef("doctor: give the names to check (-d NAME ...) or --cert-name N")
	}
	return s, nil
}

// methods are the challenge types the settings would use.
func (d *doctorRun) methods() []string {
	s := d.settings
	var m []string
	if len(s.HTTP01Addrs) > 0 || s.Webroot != "" {
		m = append(m, challenges.HTTP01)
	}
	if len(s.TLSALPN01Addrs) > 0 {
		m = append(m, challenges.TLSALPN01)
	}
	if s.DNS.Provider != "" {
		m = append(m, challenges.DNS01)
	}
	return m
}

func (d *doctorRun) checkServer(ctx context.Context) {
	s := d.settings
	eng := d.a.engine(nil)
	// The report is the output: the client's info lines would repeat it.
	eng.Logger = slog.New(&minLevelHandler{h: d.a.log.Handler(), min: slog.LevelWarn})
	c, err := eng.Client(s)
	if err != nil {
		d.add("server", s.Server, verdictFail, "%s", oneLine(err.Error()))
		return
	}
	cctx, cancel := context.WithTimeout(ctx, d.opts.timeout)
	defer cancel()
	dir, err := c.Directory(cctx)
	if err != nil {
		d.add("server", s.Server, verdictFail, "directory unreachable or unusable: %s", oneLine(err.Error()))
		return
	}
	d.dir = dir
	feats := dir.Features()
	detail := fmt.Sprintf("%s reachable, dialect %s", s.Server, dir.Dialect)
	if len(feats) > 0 {
		detail += " (" + strings.Join(feats, ", ") + ")"
	}
	verdict := verdictOK
	if dir.Retired {
		verdict = verdictWarn
		detail += "; legacy v1: move to an RFC 8555 server (see acmectl account migrate)"
	}
	d.add("server", "", verdict, "%s", detail)
	d.checkClock(ctx, s)

	// The account, while we have the client.
	d.checkAccountAt(ctx, c)
}

// checkClock compares the local clock with the CA's Date header (one GET of
// the directory; the midpoint of the exchange stands for "now").
func (d *doctorRun) checkClock(ctx context.Context, s *store.Settings) {
	roots, err := issue.RootPool(s.CABundle)
	if err != nil {
		d.add("clock", "", verdictWarn, "cannot check: %v", err)
		return
	}
	hc := client.NewHTTPClient(roots)
	cctx, cancel := context.WithTimeout(ctx, d.opts.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, s.Server, nil)
	if err != nil {
		d.add("clock", "", verdictWarn, "cannot check: %v", err)
		return
	}
	req.Header.Set("User-Agent", d.a.env.userAgent())
	t0 := d.a.env.Now()
	resp, err := hc.Do(req)
	t1 := d.a.env.Now()
	if err != nil {
		d.add("clock", "", verdictWarn, "cannot check: %s", oneLine(err.Error()))
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		d.add("clock", "", verdictWarn, "cannot check: the CA sent no valid Date header")
		return
	}
	local := t0.Add(t1.Sub(t0) / 2)
	skew := local.Sub(date)
	abs := skew.Abs()
	dir := "ahead of"
	if skew < 0 {
		dir = "behind"
	}
	switch {
	case abs < 2*time.Second: // Date has a resolution of one second
		d.add("clock", "", verdictOK, "in step with the CA (within 2s)")
	case abs < 30*time.Second:
		d.add("clock", "", verdictOK, "%s %s the CA's clock", abs.Round(time.Second), dir)
	case abs < 5*time.Minute:
		d.add("clock", "", verdictWarn, "%s %s the CA's clock: run an NTP client (chrony, systemd-timesyncd)", abs.Round(time.Second), dir)
	default:
		d.add("clock", "", verdictFail, "%s %s the CA's clock: renewal times and certificate validity will be wrong; fix time sync", abs.Round(time.Second), dir)
	}
}

// checkAccount reports a missing state dir when the server check could not
// get as far as the account.
func (d *doctorRun) checkAccount(context.Context) {
	for _, c := range d.checks {
		if c.Check == "account" {
			return
		}
	}
	d.add("account", d.settings.Account, verdictWarn, "not checked: the server is unreachable")
}

func (d *doctorRun) checkAccountAt(ctx context.Context, c *client.Client) {
	s := d.settings
	label := s.Account
	if label == "" {
		label = "default"
	}
	register := "obtain will register one"
	if d.dir != nil && d.dir.Meta.ExternalAccountRequired && d.a.g.eabKID == "" {
		register = "this CA requires external account binding: obtain needs --eab-kid and --eab-hmac-key-file"
	} else if !d.a.g.acceptTOS && d.dir != nil && d.dir.Meta.TermsOfService != "" {
		register += " (off a terminal, pass --accept-tos)"
	}
	if _, err := os.Stat(d.a.g.stateDir); errors.Is(err, fs.ErrNotExist) {
		d.add("account", label, verdictWarn, "no state directory %s yet: %s", d.a.g.stateDir, register)
		return
	}
	st, err := d.a.openStore()
	if err != nil {
		d.add("account", label, verdictFail, "%s", oneLine(err.Error()))
		return
	}
	rec, key, err := st.LoadAccount(s.Server, label)
	if errors.Is(err, store.ErrNotFound) || (err == nil && rec.URL == "") {
		verdict := verdictWarn
		if strings.HasPrefix(register, "this CA requires") {
			verdict = verdictFail
		}
		d.add("account", label, verdict, "no account for %s under label %q: %s", s.Server, label, register)
		return
	}
	if err != nil {
		d.add("account", label, verdictFail, "%s", oneLine(err.Error()))
		return
	}
	d.acctURL = rec.URL
	cctx, cancel := context.WithTimeout(ctx, d.opts.timeout)
	defer cancel()
	// onlyReturnExisting: asks the CA about the key without creating anything.
	acct, err := c.LookupAccount(cctx, key)
	replace := issue.ReplaceAccountCommand(s.Server, label)
	if errors.Is(err, client.ErrAccountNotFound) {
		d.add("account", label, verdictFail, "%s: the CA has no account for the stored key (lost in a reset?): register a new one under the same label with: %s", rec.URL, replace)
		return
	}
	var ag *client.AccountGoneError
	if errors.As(err, &ag) {
		acct, err = &client.Account{URL: rec.URL, Status: ag.Status}, nil
	}
	if err != nil {
		d.add("account", label, verdictFail, "%s: %s", rec.URL, oneLine(err.Error()))
		return
	}
	if acct.URL != "" && acct.URL != rec.URL {
		d.add("account", label, verdictWarn, "stored URL %s, but the CA says %s", rec.URL, client.Sanitize(acct.URL, 200))
		return
	}
	switch acct.Status {
	case "", "valid":
		d.add("account", label, verdictOK, "%s is valid", rec.URL)
	default:
		d.add("account", label, verdictFail, "%s is %s: register a new one under the same label with: %s", rec.URL, client.Sanitize(acct.Status, 20), replace)
	}
}

// isWildcard splits "*.example.com".
func isWildcard(n string) (string, bool) {
	if base, ok := strings.CutPrefix(n, "*."); ok {
		return base, true
	}
	return n, false
}

func (d *doctorRun) checkName(ctx context.Context, id client.Identifier) {
	s := d.settings
	name := id.Value
	if id.Type == challenges.IdentifierIP {
		ip, err := netip.ParseAddr(name) // typed "ip" by client.ParseIdentifier
		if err != nil {
			d.add("dns", name, verdictFail, "%v", err)
			return
		}
		if len(s.TLSALPN01Addrs) == 0 && len(s.HTTP01Addrs) == 0 && s.Webroot == "" {
			d.add("dns", name, verdictFail, "IP identifier (RFC 8738): only http-01 or tls-alpn-01 can validate it")
			return
		}
		if b := client.ReservedBlock(ip); b != "" && d.dir != nil && d.dir.Boulder {
			d.add("dns", name, verdictFail, "IP identifier in %s: Let's Encrypt refuses private and reserved addresses", b)
			return
		}
		d.add("dns", name, verdictOK, "IP identifier (RFC 8738): the CA connects to %s directly", ip)
		return
	}
	base, wild := isWildcard(name)
	if wild && s.DNS.Provider == "" {
		d.add("dns", name, verdictFail, "a wildcard can only be validated with dns-01 (--dns-01)")
	}
	if d.lookup == nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 2*d.opts.timeout)
	defer cancel()
	needAddr := !wild && (len(s.HTTP01Addrs) > 0 || s.Webroot != "" || len(s.TLSALPN01Addrs) > 0)
	ips, err := d.lookup.addrs(cctx, base)
	switch {
	case wild:
		// No address needed: dns-01 only.
	case err != nil:
		d.add("dns", name, verdictFail, "lookup failed: %s", client.Sanitize(err.Error(), 200))
	case len(ips) == 0 && needAddr:
		d.add("dns", name, verdictFail, "no A or AAAA record: the CA cannot connect for http-01/tls-alpn-01")
	case len(ips) == 0:
		d.add("dns", name, verdictWarn, "no A or AAAA record (fine for dns-01 only)")
	default:
		var list []string
		private := false
		for _, ip := range ips {
			list = append(list, ip.String())
			if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() {
				private = true
			}
		}
		verdict, extra := verdictOK, ""
		if private && needAddr && !d.serverIsLocal() {
			verdict, extra = verdictWarn, ": a private or loopback address, which a public CA cannot reach"
		}
		d.add("dns", name, verdict, "%s%s", strings.Join(list, ", "), extra)
	}

	var ids []string
	if d.dir != nil {
		ids = d.dir.Meta.CAAIdentities
	}
	if d.dir == nil {
		d.add("caa", name, verdictWarn, "not checked: the CA's directory is unknown")
		return
	}
	v := d.lookup.checkCAA(cctx, base, wild, caaQuery{identities: ids, methods: d.methods(), accountURL: d.acctURL, boulder: d.dir.Boulder})
	d.add("caa", name, v.verdict, "%s", v.detail)
}

// serverIsLocal says whether the ACME server is on loopback (a test CA,
// which can reach loopback names).
func (d *doctorRun) serverIsLocal() bool {
	u, err := url.Parse(d.settings.Server)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if ip, err := netip.ParseAddr(h); err == nil { // the server URL's host, not a certificate name
		return ip.IsLoopback()
	}
	return h == "localhost"
}

func (d *doctorRun) checkSolvers(ctx context.Context) {
	s := d.settings
	if len(d.methods()) == 0 {
		d.add("solver", "", verdictWarn, "no solver given: add the solver flags you use with obtain (--http-01, --webroot, --tls-alpn-01, --dns-01)")
		return
	}
	for _, addr := range s.HTTP01Addrs {
		d.checkBind(ctx, "http-01", addr, d.opts.httpPort)
	}
	if s.Webroot != "" {
		d.checkWebroot(ctx, s.Webroot)
	}
	for _, addr := range s.TLSALPN01Addrs {
		d.checkBind(ctx, "tls-alpn-01", addr, d.opts.tlsPort)
	}
	if s.DNS.Provider != "" {
		d.checkDNSProvider(ctx)
	}
}

// checkBind tries to listen where the built-in responder would, and says
// what holds the address if it cannot.
func (d *doctorRun) checkBind(ctx context.Context, what, addr string, caPort int) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		d.add(what, addr, verdictFail, "not a host:port address: %v", err)
		return
	}
	port, _ := strconv.Atoi(portStr)
	lc := net.ListenConfig{}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err == nil {
		_ = ln.Close()
		if port != caPort && port != 0 {
			d.add(what, addr, verdictWarn, "can listen, but the CA connects to port %d: forward %d to %d", caPort, caPort, port)
			return
		}
		d.add(what, addr, verdictOK, "can listen on %s", addr)
		return
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		holder := "another program"
		if what == "http-01" {
			if h := httpHolder(ctx, host, portStr, d.opts.timeout); h != "" {
				holder = h
			}
			d.add(what, addr, verdictFail, "%s is in use by %s: stop it during orders (--pre-hook/--post-hook) or use --webroot with it", addr, holder)
			return
		}
		d.add(what, addr, verdictFail, "%s is in use by %s: stop it during orders (--pre-hook/--post-hook)", addr, holder)
	case errors.Is(err, syscall.EACCES):
		d.add(what, addr, verdictFail, "permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE")
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		d.add(what, addr, verdictFail, "%s is not an address of this host", host)
	default:
		d.add(what, addr, verdictFail, "cannot listen: %v", err)
	}
}

// httpHolder names the web server answering on host:port, if any.
func httpHolder(ctx context.Context, host, port string, timeout time.Duration) string {
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/.well-known/acme-challenge/acmectl-doctor", nil)
	if err != nil {
		return ""
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		return ""
	}
	resp.Body.Close()
	if sv := resp.Header.Get("Server"); sv != "" {
		return "a web server (" + client.Sanitize(sv, 60) + ")"
	}
	return "a web server"
}

// checkWebroot writes a probe the way the webroot solver writes a token,
// fetches it over HTTP for every name (as the CA would: port --http-port of
// the name's address, redirects followed) and removes it.
func (d *doctorRun) checkWebroot(ctx context.Context, dir string) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		d.add("webroot", dir, verdictFail, "not a directory")
		return
	}
	token := randomToken()
	ch := challenges.Challenge{Type: challenges.HTTP01, Token: token, KeyAuthorization: token + ".acmectl-doctor"}
	wr := http01.NewWebroot(dir, d.a.log)
	if err := wr.Present(ctx, ch); err != nil {
		d.add("webroot", dir, verdictFail, "cannot write a challenge file: %s%s", oneLine(err.Error()), readOnlyHint(err, dir))
		return
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := wr.CleanUp(cctx, ch); err != nil {
			d.add("webroot", dir, verdictWarn, "probe file not removed: %v", err)
		}
	}()
	d.add("webroot", dir, verdictOK, "writable (%s)", filepath.Join(dir, ".well-known", "acme-challenge"))
	if d.lookup == nil {
		return
	}
	for _, id := range d.names {
		if _, wild := isWildcard(id.Value); wild {
			continue
		}
		d.fetchProbe(ctx, id, ch)
	}
}

func (d *doctorRun) fetchProbe(ctx context.Context, id client.Identifier, ch challenges.Challenge) {
	name := id.Value
	lookup := d.lookup
	dialer := &net.Dialer{Timeout: d.opts.timeout}
	tr := &http.Transport{
		// Names are resolved like the CA resolves them, not via /etc/hosts.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if _, err := netip.ParseAddr(host); err == nil { // a dialed host, not a certificate name
				return dialer.DialContext(ctx, network, addr)
			}
			ips, err := lookup.addrs(ctx, host)
			if err != nil {
				return nil, err
			}
			if len(ips) == 0 {
				return nil, fmt.Errorf("%s has no address", host)
			}
			return dialer.DialContext(ctx, network, net.JoinHostPort(ips[0].String(), port))
		},
		// CAs do not verify the certificate after a redirect to https.
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // only our probe is read
		ResponseHeaderTimeout: d.opts.timeout,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: d.opts.timeout}
	host := name
	if id.Type == challenges.IdentifierIP && strings.Contains(name, ":") {
		host = "[" + name + "]" // IPv6
	}
	u := "http://" + host
	if d.opts.httpPort != 80 {
		u += ":" + strconv.Itoa(d.opts.httpPort)
	}
	u += ch.HTTP01Path()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		d.add("webroot", name, verdictFail, "%v", err)
		return
	}
	req.Header.Set("User-Agent", d.a.env.userAgent())
	resp, err := hc.Do(req)
	if err != nil {
		d.add("webroot", name, verdictFail, "fetching %s: %s", u, oneLine(err.Error()))
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != ch.KeyAuthorization {
		d.add("webroot", name, verdictFail, "%s answered %s, not the probe: the web server does not serve this directory for %s", u, resp.Status, name)
		return
	}
	d.add("webroot", name, verdictOK, "probe served at %s", u)
}

// checkDNSProvider sets and removes a test TXT record with the provider.
func (d *doctorRun) checkDNSProvider(ctx context.Context) {
	s := d.settings
	what := "dns-01 " + s.DNS.Provider
	var p dns01.Provider
	switch s.DNS.Provider {
	case "manual":
		verdict := verdictOK
		detail := "manual: acmectl prints the TXT records and waits for you; nothing to check"
		if !d.a.env.StdinTerminal {
			verdict = verdictWarn
			detail = "manual: needs a person at a terminal, so renewals from cron or systemd cannot use it"
		}
		d.add("dns-01", "manual", verdict, "%s", detail)
		return
	default:
		if s.DNS.Provider == "rfc2136" && s.DNS.RFC2136TSIGFile == "" && d.a.env.Getenv(issue.TSIGSecretEnv) == "" {
			d.add("dns-01", what, verdictWarn, "updates are not signed: no --rfc2136-tsig-file or %s", issue.TSIGSecretEnv)
		}
		built, err := d.a.engine(nil).DNSProvider(what, s.DNS, s.HookEnv)
		if err != nil {
			d.add("dns-01", what, verdictFail, "%s", oneLine(err.Error()))
			return
		}
		if c, ok := built.(io.Closer); ok { // a plugin process
			defer c.Close()
		}
		p = built
	}
	var base string
	for _, id := range d.names {
		if id.Type == challenges.IdentifierDNS {
			base, _ = isWildcard(id.Value)
			break
		}
	}
	if base == "" {
		d.add("dns-01", what, verdictWarn, "no DNS name to test with")
		return
	}
	fqdn := "_acme-challenge." + base + "."
	cctx, cancel := context.WithTimeout(ctx, 2*d.opts.timeout)
	defer cancel()
	if ac, ok := p.(dns01.AccessChecker); ok {
		// API providers check credentials and zone access read-only.
		if err := ac.CheckAccess(cctx, fqdn); err != nil {
			d.add("dns-01", what, verdictFail, "%s", oneLine(err.Error()))
			return
		}
		d.add("dns-01", what, verdictOK, "credentials work and the zone holding %s is accessible (no record changed)", fqdn)
		return
	}
	value := "acmectl-doctor-" + randomToken()
	if err := p.SetTXT(cctx, fqdn, value); err != nil {
		d.add("dns-01", what, verdictFail, "setting a test TXT record at %s: %s", fqdn, oneLine(err.Error()))
		return
	}
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*d.opts.timeout)
	defer dcancel()
	if err := p.DeleteTXT(dctx, fqdn, value); err != nil {
		d.add("dns-01", what, verdictFail, "test TXT record at %s set but not removed: %s", fqdn, oneLine(err.Error()))
		return
	}
	d.add("dns-01", what, verdictOK, "test TXT record set and removed at %s", fqdn)
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// report prints the checks and returns the exit status: 1 when any check
// failed.
func (d *doctorRun) report() error {
	counts := map[string]int{}
	for _, c := range d.checks {
		counts[c.Verdict]++
	}
	verdict := "ok"
	switch {
	case counts[verdictFail] > 0:
		verdict = "fail"
	case counts[verdictWarn] > 0:
		verdict = "warn"
	}
	if d.a.g.json {
		if err := d.a.writeJSON(map[string]any{"server": d.settings.Server, "account": d.settings.Account, "names": d.names,
			"checks": d.checks, "verdict": verdict}); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(d.a.env.Stdout, 0, 4, 2, ' ', 0)
		for _, c := range d.checks {
			target := c.Target
			if target == "" {
				target = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Verdict, c.Check, target, c.Detail)
		}
		_ = tw.Flush()
		fmt.Fprintf(d.a.env.Stdout, "%d failed, %d warnings, %d ok\n", counts[verdictFail], counts[verdictWarn], counts[verdictOK])
	}
	if counts[verdictFail] > 0 {
		return &exitError{code: ExitFailed, silent: true, err: errors.New("doctor: some checks failed")}
	}
	return nil
}

// minLevelHandler drops records below min.
type minLevelHandler struct {
	h   slog.Handler
	min slog.Level
}

func (h *minLevelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.h.Enabled(ctx, l)
}
func (h *minLevelHandler) Handle(ctx context.Context, r slog.Record) error { return h.h.Handle(ctx, r) }
func (h *minLevelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &minLevelHandler{h: h.h.WithAttrs(as), min: h.min}
}
func (h *minLevelHandler) WithGroup(n string) slog.Handler {
	return &minLevelHandler{h: h.h.WithGroup(n), min: h.min}
}

// readOnlyHint explains a read-only file system: under the shipped systemd
// units (ProtectSystem=strict) only the listed ReadWritePaths are writable.
func readOnlyHint(err error, dir string) string {
	if !errors.Is(err, syscall.EROFS) {
		return ""
	}
	return fmt.Sprintf(" (read-only file system: under the systemd unit's ProtectSystem=strict, add ReadWritePaths=%s with systemctl edit acmectl-renew.service)", dir)
}
