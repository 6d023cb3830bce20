package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/renew"
)

// renewer connects the renewal pass (package renew) to the issuance engine
// and the hooks: it is the pass's renew.Issuer and renew.Hooks. Settings
// are read once per pass (and dropped at its end, so a daemon sees edits).
type renewer struct {
	a        *app
	st       *store.Dir
	acctOpts issue.AccountOptions
	opts     *renewOptions

	mu       sync.Mutex
	settings map[string]*store.Settings
	hooks    *hook.Manager
	clients  map[string]*client.Client // ARI fetches (quiet)
	issuers  map[string]*client.Client // orders, when no live status is shown

	ui    *progressUI // live status on a terminal; nil otherwise
	preMu sync.Mutex  // pre hooks finish before any order of the pass starts
	addrs keyedMutex  // built-in responders on one address take turns
}

func newRenewer(a *app, st *store.Dir, acctOpts issue.AccountOptions, opts *renewOptions) *renewer {
	w := &renewer{a: a, st: st, acctOpts: acctOpts, opts: opts, settings: map[string]*store.Settings{},
		hooks: a.hookManager(), clients: map[string]*client.Client{}, issuers: map[string]*client.Client{}}
	if !opts.daemon {
		w.ui = a.newProgressUI()
	}
	return w
}

func (w *renewer) interactive() bool { return w.a.env.StdinTerminal && w.a.env.StderrTerminal }

// loadSettings reads a certificate's settings.yaml and fills the keys it
// lacks from flags, env and config (never overriding a stored value).
func (w *renewer) loadSettings(name string) (*store.Settings, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, ok := w.settings[name]; ok {
		return s, nil
	}
	s, err := w.st.LoadSettings(name)
	if err != nil {
		return nil, err
	}
	if err := w.a.fillSettings(s); err != nil {
		return nil, err
	}
	w.settings[name] = s
	return s, nil
}

// fillSettings fills keys a certificate's settings lack from the resolved
// globals and the config file (docs/guide.md "Configuration": flags, env and
// config only fill, never override; hooks never come from env).
func (a *app) fillSettings(s *store.Settings) error {
	if s.Account == "" {
		s.Account = a.g.account
	}
	if s.CABundle == "" {
		s.CABundle = a.g.caBundle
	}
	if s.ACMEVersion == "" {
		s.ACMEVersion = a.g.acmeVersion
	}
	if len(s.Email) == 0 {
		s.Email = a.g.email
	}
	if s.HookTimeout == "" && a.cfg.source("hook-timeout") == sourceFile {
		s.HookTimeout = a.cfg.v.GetString("hook-timeout")
	}
	if len(s.HookEnv) == 0 && a.cfg.source("hook-env") == sourceFile {
		names, err := hookEnvNames(a.cfg.Strings("hook-env"))
		if err != nil {
			return fmt.Errorf("config %s: %w", a.cfg.file, err)
		}
		s.HookEnv = names
	}
	for _, kind := range []struct {
		key string
		dst *[][]string
	}{{"pre-hook", &s.Hooks.Pre}, {"post-hook", &s.Hooks.Post}, {"deploy-hook", &s.Hooks.Deploy}, {"failure-hook", &s.Hooks.Failure}} {
		if len(*kind.dst) > 0 || a.cfg.file == "" || !a.cfg.v.IsSet(kind.key) {
			continue
		}
		for _, h := range a.cfg.v.GetStringSlice(kind.key) {
			argv, err := hook.Split(h)
			if err != nil {
				return fmt.Errorf("config %s %s %q: %w", a.cfg.file, kind.key, h, err)
			}
			*kind.dst = append(*kind.dst, argv)
		}
	}
	return nil
}

func usesManual(s *store.Settings) bool {
	if s.DNS.Provider == "manual" {
		return true
	}
	for _, ns := range s.NamedSolvers {
		if ns["provider"] == "manual" {
			return true
		}
	}
	return false
}

// client returns one ACME client per server for ARI fetches.
func (w *renewer) client(s *store.Settings, eng *issue.Engine) (*client.Client, error) {
	return w.cached(w.clients, s, func() (*client.Client, error) {
		// ARI fetches are routine: the client's Info lines (directory)
		// become Debug so a cron run with nothing due stays silent.
		eng.Logger = slog.New(demoteHandler{eng.Logger.Handler()})
		return eng.Client(s)
	})
}

// issueClient returns the pass's ACME client for orders on s's server,
// created with eng's logger by the first order that needs it: every
// renewal of the pass then shares one directory, one nonce pool and the
// kept-alive connections (the client is safe for concurrent orders).
func (w *renewer) issueClient(s *store.Settings, eng *issue.Engine) (*client.Client, error) {
	return w.cached(w.issuers, s, func() (*client.Client, error) {
		plain := *eng
		plain.HTTPClient = nil
		return plain.Client(s)
	})
}

// cached returns m's client for s's server, building it once.
func (w *renewer) cached(m map[string]*client.Client, s *store.Settings, build func() (*client.Client, error)) (*client.Client, error) {
	key := s.Server + "\x00" + s.CABundle + "\x00" + s.ACMEVersion
	w.mu.Lock()
	defer w.mu.Unlock()
	if c, ok := m[key]; ok {
		return c, nil
	}
	c, err := build()
	if err != nil {
		return nil, err
	}
	m[key] = c
	return c, nil
}

// RenewalInfo implements renew.Issuer.
func (w *renewer) RenewalInfo(ctx context.Context, name string, _ *store.State) (*client.RenewalInfo, time.Time, error) {
	s, err := w.loadSettings(name)
	if err != nil {
		return nil, time.Time{}, err
	}
	files, _, err := w.st.Current(name)
	if err != nil {
		return nil, time.Time{}, err
	}
	leaf, err := leafOf(files.Cert)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("current certificate of %s: %w", name, err)
	}
	c, err := w.client(s, w.a.engine(w.st))
	if err != nil {
		return nil, time.Time{}, err
	}
	return c.RenewalInfo(ctx, leaf)
}

// Issue implements renew.Issuer: one order through the issuance engine.
// "replaces" is sent only when the stored ARI window came from this
// certificate's server (so the CA knows the certificate); the engine
// drops it after a revocation and retries without it if refused.
func (w *renewer) Issue(ctx context.Context, name string, st *store.State, dryRun bool) (*renew.Issued, error) {
	s, err := w.loadSettings(name)
	if err != nil {
		return nil, err
	}
	if usesManual(s) && !w.interactive() {
		return nil, &renew.InteractiveError{Name: name}
	}
	if dryRun && s.Server == serverAliases()["letsencrypt"] {
		// docs/renewal.md: a dry run against Let's Encrypt goes to its staging CA.
		staged := *s
		staged.Server = serverAliases()["letsencrypt-staging"]
		s = &staged
		w.a.log.Info("dry run: using letsencrypt-staging instead of letsencrypt", "cert_name", name)
	}
	release := w.addrs.lock(listenAddrs(s))
	defer release()
	acct := w.acctOpts
	acct.Label = s.Account
	if len(s.Email) > 0 {
		acct.Email = s.Email
	}
	eng := w.a.engine(w.st)
	eng.Interactive = w.interactive()
	if w.opts.daemon {
		// One log line per event: the daemon logs the outcome itself.
		eng.Logger = slog.New(demoteHandler{eng.Logger.Handler()})
	}
	var prog *certProgress // nil: no live status (daemon, off a terminal)
	if w.ui != nil {
		prog = w.a.progressOn(w.ui, name)
		eng.Logger, eng.Stderr = prog.Logger(eng.Logger), prog.Writer(eng.Stderr)
		acct.Confirm = prog.Confirm(acct.Confirm)
	}
	defer func() { prog.Done(err) }()
	if prog == nil && eng.HTTPClient == nil {
		// Without a live status per certificate (whose log lines carry
		// the certificate), the pass's orders share one client.
		eng.HTTPClient = func(string) (*client.Client, error) { return w.issueClient(s, eng) }
	}
	req := issue.Request{Name: name, Settings: s, State: st, Account: acct, DryRun: dryRun}
	if prog != nil {
		req.Progress = prog.Event
	}
	if st.ARI != nil && !st.ARI.WindowStart.IsZero() && !st.Revoked {
		if files, _, err := w.st.Current(name); err == nil {
			if leaf, err := leafOf(files.Cert); err == nil {
				req.Replaces = leaf
			}
		}
	}
	res, err := eng.Issue(ctx, req)
	var ierr *store.InstallError
	if err != nil && !(errors.As(err, &ierr) && res != nil && res.Installed != nil) {
		return nil, err
	}
	if err != nil {
		w.a.log.Warn("certificate installed with a problem", "cert_name", name, "err", err)
		err = nil
	}
	out := &renew.Issued{NotAfter: res.Leaf.NotAfter, Replaced: res.Replaced, OrderURL: res.OrderURL}
	if res.Installed != nil {
		out.Version = res.Installed.Version
	}
	return out, nil
}

// Pre implements renew.Hooks.
func (w *renewer) Pre(ctx context.Context, name string) {
	s, err := w.loadSettings(name)
	if err != nil || (usesManual(s) && !w.interactive()) {
		return
	}
	w.preMu.Lock()
	defer w.preMu.Unlock()
	w.hooks.Pre(ctx, lifecycle.HookCert(name, s))
}

// Deploy implements renew.Hooks: the deploy hooks for the current version
// (the pass records deploy_pending).
func (w *renewer) Deploy(ctx context.Context, name string, st *store.State) error {
	s, err := w.loadSettings(name)
	if err != nil {
		return err
	}
	if len(s.Hooks.Deploy) == 0 {
		return nil
	}
	paths, err := w.st.CurrentPaths(name)
	if err != nil {
		return err
	}
	return w.hooks.Deploy(ctx, lifecycle.HookCert(name, s), lifecycle.HookInstalled(paths, st.NotAfter), nil)
}

// Failure implements renew.Hooks.
func (w *renewer) Failure(ctx context.Context, name string, err error) {
	s, lerr := w.loadSettings(name)
	if lerr != nil {
		return
	}
	w.hooks.Failure(ctx, lifecycle.HookCert(name, s), err)
}

// Post implements renew.Hooks; it also ends the pass: the next one reads
// settings afresh and de-duplicates hooks anew (the manager starts afresh
// after Post).
func (w *renewer) Post(ctx context.Context, renewed, failed []string) {
	w.mu.Lock()
	w.settings = map[string]*store.Settings{}
	w.clients = map[string]*client.Client{}
	w.mu.Unlock()
	w.hooks.Post(ctx, renewed, failed)
}

// listenAddrs are the addresses a certificate's built-in responders bind.
func listenAddrs(s *store.Settings) []string {
	var out []string
	for _, a := range slices.Concat(s.HTTP01Addrs, s.TLSALPN01Addrs) {
		// Any two listeners on one port conflict (":80" and "127.0.0.1:80").
		if _, port, err := net.SplitHostPort(a); err == nil {
			a = port
		}
		out = append(out, "port "+a)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// keyedMutex locks sets of keys, always in sorted order (no deadlock).
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func (k *keyedMutex) lock(keys []string) (release func()) {
	var held []*sync.Mutex
	for _, key := range keys {
		k.mu.Lock()
		if k.locks == nil {
			k.locks = map[string]*sync.Mutex{}
		}
		m, ok := k.locks[key]
		if !ok {
			m = &sync.Mutex{}
			k.locks[key] = m
		}
		k.mu.Unlock()
		m.Lock()
		held = append(held, m)
	}
	return func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i].Unlock()
		}
	}
}

// demoteHandler logs Info records at Debug (Warn and Error unchanged).
type demoteHandler struct{ h slog.Handler }

func (d demoteHandler) Enabled(ctx context.Context, l slog.Level) bool {
	if l == slog.LevelInfo {
		l = slog.LevelDebug
	}
	return d.h.Enabled(ctx, l)
}

func (d demoteHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo {
		r.Level = slog.LevelDebug
	}
	return d.h.Handle(ctx, r)
}

func (d demoteHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return demoteHandler{d.h.WithAttrs(as)}
}
func (d demoteHandler) WithGroup(n string) slog.Handler { return demoteHandler{d.h.WithGroup(n)} }
