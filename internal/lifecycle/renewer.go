package lifecycle

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
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/renew"
)

// Renewer is a renewal pass's renew.Issuer and renew.Hooks for the local
// state dir: every certificate renews with its stored settings through the
// issuance engine, and its hooks run through one hook manager. Settings
// are read once per pass and dropped at its end (Post), so a daemon sees
// edits. Build one per run.
type Renewer struct {
	Store *store.Dir
	// Fill fills the keys a certificate's settings lack from the run's
	// flags, env and config; it never overrides a stored value.
	Fill func(*store.Settings) error
	// Engine returns the issuance engine for one order or ARI fetch.
	Engine func() *issue.Engine
	// RoutineEngine, if set, serves the ARI fetches (quieter logs).
	RoutineEngine func() *issue.Engine
	Hooks         *hook.Manager
	// Account is used when an account must be registered (its Label and,
	// when stored, Email come from the settings).
	Account     issue.AccountOptions
	Interactive bool
	// Progress, if set, starts the live status of one order: it may wrap
	// eng's logger and stderr and acct's prompt, and returns the event
	// sink and the function that ends the status.
	Progress func(name string, eng *issue.Engine, acct *issue.AccountOptions) (event func(client.Event), done func(error))
	Logger   *slog.Logger

	mu       sync.Mutex
	settings map[string]*store.Settings
	clients  map[string]*client.Client // ARI fetches (quiet)
	issuers  map[string]*client.Client // orders, when no live status is shown
	preMu    sync.Mutex                // pre hooks finish before any order of the pass starts
	addrs    keyedMutex                // built-in responders on one port take turns
}

var (
	_ renew.Issuer = (*Renewer)(nil)
	_ renew.Hooks  = (*Renewer)(nil)
)

func (w *Renewer) log() *slog.Logger {
	if w.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Logger
}

// Settings returns name's stored settings, filled (once per pass).
func (w *Renewer) Settings(name string) (*store.Settings, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, ok := w.settings[name]; ok {
		return s, nil
	}
	s, err := w.Store.LoadSettings(name)
	if err != nil {
		return nil, err
	}
	if w.Fill != nil {
		if err := w.Fill(s); err != nil {
			return nil, err
		}
	}
	if w.settings == nil {
		w.settings = map[string]*store.Settings{}
	}
	w.settings[name] = s
	return s, nil
}

// UsesManual reports whether s needs a person at the terminal (the manual
// DNS solver).
func UsesManual(s *store.Settings) bool {
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
func (w *Renewer) client(s *store.Settings) (*client.Client, error) {
	return w.cached(&w.clients, s, func() (*client.Client, error) {
		eng := w.Engine
		if w.RoutineEngine != nil {
			eng = w.RoutineEngine
		}
		return eng().Client(s)
	})
}

// issueClient returns the run's ACME client for orders on s's server,
// created with eng's logger by the first order that needs it: every
// renewal then shares one directory, one nonce pool and the kept-alive
// connections (the client is safe for concurrent orders).
func (w *Renewer) issueClient(s *store.Settings, eng *issue.Engine) (*client.Client, error) {
	return w.cached(&w.issuers, s, func() (*client.Client, error) {
		plain := *eng
		plain.HTTPClient = nil
		return plain.Client(s)
	})
}

// cached returns *m's client for s's server, building it once.
func (w *Renewer) cached(m *map[string]*client.Client, s *store.Settings, build func() (*client.Client, error)) (*client.Client, error) {
	key := s.Server + "\x00" + s.CABundle + "\x00" + s.ACMEVersion
	w.mu.Lock()
	defer w.mu.Unlock()
	if c, ok := (*m)[key]; ok {
		return c, nil
	}
	c, err := build()
	if err != nil {
		return nil, err
	}
	if *m == nil {
		*m = map[string]*client.Client{}
	}
	(*m)[key] = c
	return c, nil
}

// RenewalInfo implements renew.Issuer.
func (w *Renewer) RenewalInfo(ctx context.Context, name string, _ *store.State) (*client.RenewalInfo, time.Time, error) {
	s, err := w.Settings(name)
	if err != nil {
		return nil, time.Time{}, err
	}
	files, _, err := w.Store.Current(name)
	if err != nil {
		return nil, time.Time{}, err
	}
	leaf, err := LeafOf(files.Cert)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("current certificate of %s: %w", name, err)
	}
	c, err := w.client(s)
	if err != nil {
		return nil, time.Time{}, err
	}
	return c.RenewalInfo(ctx, leaf)
}

// Issue implements renew.Issuer: one order through the issuance engine.
// "replaces" is sent only when the stored ARI window came from this
// certificate's server (so the CA knows the certificate); the engine
// drops it after a revocation and retries without it if refused.
func (w *Renewer) Issue(ctx context.Context, name string, st *store.State, dryRun bool) (iss *renew.Issued, err error) {
	s, err := w.Settings(name)
	if err != nil {
		return nil, err
	}
	if UsesManual(s) && !w.Interactive {
		return nil, &renew.InteractiveError{Name: name}
	}
	if dryRun {
		var staged bool
		if s, staged = dryRunSettings(s); staged {
			w.log().Info("dry run: using the staging server", "cert_name", name, "server", s.Server)
		}
	}
	release := w.addrs.lock(listenPorts(s))
	defer release()
	acct := w.Account
	acct.Label = s.Account
	if len(s.Email) > 0 {
		acct.Email = s.Email
	}
	eng := w.Engine()
	eng.Interactive = w.Interactive
	req := issue.Request{Name: name, Settings: s, State: st, Account: acct, DryRun: dryRun}
	if w.Progress != nil {
		event, done := w.Progress(name, eng, &req.Account)
		req.Progress = event
		defer func() { done(err) }()
	}
	if req.Progress == nil && eng.HTTPClient == nil {
		// Without a live status per certificate (whose log lines carry
		// the certificate), the orders share one client.
		eng.HTTPClient = func(string) (*client.Client, error) { return w.issueClient(s, eng) }
	}
	if st.ARI != nil && !st.ARI.WindowStart.IsZero() && !st.Revoked {
		if files, _, err := w.Store.Current(name); err == nil {
			if leaf, err := LeafOf(files.Cert); err == nil {
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
		w.log().Warn("certificate installed with a problem", "cert_name", name, "err", err)
		err = nil
	}
	out := &renew.Issued{NotAfter: res.Leaf.NotAfter, Replaced: res.Replaced, OrderURL: res.OrderURL}
	if res.Installed != nil {
		out.Version = res.Installed.Version
	}
	return out, nil
}

// Pre implements renew.Hooks.
func (w *Renewer) Pre(ctx context.Context, name string) {
	s, err := w.Settings(name)
	if err != nil || (UsesManual(s) && !w.Interactive) {
		return
	}
	w.preMu.Lock()
	defer w.preMu.Unlock()
	w.Hooks.Pre(ctx, HookCert(name, s))
}

// Deploy implements renew.Hooks: the deploy hooks for the current version
// (the pass records deploy_pending).
func (w *Renewer) Deploy(ctx context.Context, name string, st *store.State) error {
	s, err := w.Settings(name)
	if err != nil {
		return err
	}
	if len(s.Hooks.Deploy) == 0 {
		return nil
	}
	paths, err := w.Store.CurrentPaths(name)
	if err != nil {
		return err
	}
	return w.Hooks.Deploy(ctx, HookCert(name, s), HookInstalled(paths, st.NotAfter), nil)
}

// Failure implements renew.Hooks.
func (w *Renewer) Failure(ctx context.Context, name string, err error) {
	s, lerr := w.Settings(name)
	if lerr != nil {
		return
	}
	w.Hooks.Failure(ctx, HookCert(name, s), err)
}

// Post implements renew.Hooks; it also ends the pass: the next one reads
// settings afresh and de-duplicates hooks anew.
func (w *Renewer) Post(ctx context.Context, renewed, failed []string) {
	w.mu.Lock()
	w.settings, w.clients = nil, nil
	w.mu.Unlock()
	w.Hooks.Post(ctx, renewed, failed)
}

// listenPorts are the ports a certificate's built-in responders bind: any
// two listeners on one port conflict (":80" and "127.0.0.1:80").
func listenPorts(s *store.Settings) []string {
	var out []string
	for _, a := range slices.Concat(s.HTTP01Addrs, s.TLSALPN01Addrs) {
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
