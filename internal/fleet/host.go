package fleet

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/http01"
	"github.com/acmectl/acmectl/challenges/tlsalpn01"
	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/renew"
)

// DeployFunc runs a host's deploy hooks for the version just installed
// locally (settings are the merged ones: hooks from this host only).
type DeployFunc func(ctx context.Context, name string, s *store.Settings, inst *store.Installed) error

// Host is one acmectl host of a fleet: the shared etcd data plus its own
// state dir. Build one per run.
type Host struct {
	Fleet *Fleet
	Local *store.Dir
	// Engine provides the ACME client, accounts (registration) and the
	// non-built-in solvers; its Store must be Local.
	Engine *issue.Engine
	// Deploy runs this host's deploy hooks; nil runs none.
	Deploy DeployFunc
	Logger *slog.Logger
	Now    func() time.Time
	Policy renew.Policy
	// Account is used when an account must be registered.
	Account issue.AccountOptions
	// RenewalInfo fetches the ARI window of leaf from the server of s
	// (the local renewer's fetch); nil: the lifetime rule only.
	RenewalInfo func(ctx context.Context, s *store.Settings, leaf *x509.Certificate) (*client.RenewalInfo, time.Time, error)
	// LocalLockWait bounds the wait for the local flock when installing
	// (default 2m).
	LocalLockWait time.Duration
	// Classify names an error's class for the shared last error (the
	// CLI's one mapping); nil leaves it empty.
	Classify func(error) string
	// Defaults are this host's own values of the host-local settings
	// (server, ca-bundle, key-group, webroot, DNS server and TSIG) from
	// its flags and config, used where its settings.yaml for a
	// certificate gives none. Host-local settings never come from etcd.
	Defaults *store.Settings
}

func (h *Host) log() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

func (h *Host) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// localSettings reads the host's own settings.yaml (nil if absent).
func (h *Host) localSettings(name string) *store.Settings {
	s, err := h.Local.LoadSettings(name)
	if err != nil {
		return nil
	}
	return s
}

// Settings returns name's settings for this host (etcd merged with the
// local host-specific parts).
func (h *Host) Settings(ctx context.Context, name string) (*store.Settings, error) {
	m, err := h.Fleet.Settings(ctx, name, h.localSettings(name))
	if err != nil {
		return nil, err
	}
	if d := h.Defaults; d != nil {
		fill := func(dst *string, v string) {
			if *dst == "" {
				*dst = v
			}
		}
		fill(&m.Server, d.Server)
		fill(&m.CABundle, d.CABundle)
		fill(&m.KeyGroup, d.KeyGroup)
		fill(&m.Webroot, d.Webroot)
		fill(&m.DNS.RFC2136Server, d.DNS.RFC2136Server)
		fill(&m.DNS.RFC2136TSIGFile, d.DNS.RFC2136TSIGFile)
	}
	return m, nil
}

// Publish stores new settings for name in etcd (under lk) and the full
// settings, with this host's hooks, locally.
func (h *Host) Publish(ctx context.Context, lk *Lock, s *store.Settings) error {
	if err := h.Fleet.SaveSettings(ctx, lk, s); err != nil {
		return err
	}
	return h.Local.SaveSettings(lk.name, s)
}

// IssueOptions tune one issuance.
type IssueOptions struct {
	Progress func(client.Event)
}

// Issued describes a published certificate.
type Issued struct {
	Generation int
	Leaf       *x509.Certificate
	OrderURL   string
	Resumed    bool
	Replaced   string
}

// Issue renews name's certificate under lk with its settings from etcd
// and publishes it to etcd (order). The stored email wins over the run's
// (as in a local renewal, docs/renewal.md). It does not install locally:
// call Sync (the daemon's watch does it on every host).
func (h *Host) Issue(ctx context.Context, lk *Lock, opts IssueOptions) (*Issued, error) {
	name := lk.name
	s, err := h.Settings(ctx, name)
	if err != nil {
		return nil, err
	}
	st, err := h.Fleet.LoadState(ctx, name)
	if err != nil {
		return nil, err
	}
	acct := h.Account
	acct.Label = acctLabel(s)
	if len(s.Email) > 0 {
		acct.Email = s.Email
	}
	res, err := h.order(ctx, lk, h.Engine, issue.Request{Name: name, Settings: s, State: st, Account: acct, Progress: opts.Progress})
	if err != nil {
		return nil, err
	}
	return &Issued{Generation: res.Installed.Version, Leaf: res.Leaf, OrderURL: res.OrderURL, Resumed: res.Resumed, Replaced: res.Replaced}, nil
}

// order runs req under lk through eng (internal/issue) with the
// etcd-backed store (certStore) and publishes the certificate to etcd:
// the engine resumes the order persisted in etcd (by this or a dead host)
// with the pending key stored (sealed) beside it, sends replaces for the
// newest published version (unless req names one), and the store
// publishes the new version, the state and the pending key's removal in
// one transaction conditioned on the lock. Before finalizing it checks
// with etcd that the lock is still held; losing the lease cancels the
// order (ErrLockLost). The built-in responders publish their answers in
// etcd, for whichever host the CA reaches.
func (h *Host) order(ctx context.Context, lk *Lock, eng *issue.Engine, req issue.Request) (*issue.Result, error) {
	name := lk.name
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(lk.ctx, func() { cancel(context.Cause(lk.ctx)) })
	defer stop()

	s := req.Settings
	cs := &certStore{f: h.Fleet, lk: lk, ctx: ctx, host: h.Fleet.host, now: h.now}
	if v, files, err := h.Fleet.Latest(ctx, name); err == nil {
		cs.latest = v
		if leaf, err := leafOf(files.Cert); err == nil && req.Replaces == nil {
			req.Replaces = leaf
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	e := *eng
	e.Store = cs
	pubs := map[string]*Publisher{
		challenges.HTTP01:    {Type: challenges.HTTP01, Lock: lk, Addrs: s.HTTP01Addrs, Log: h.log()},
		challenges.TLSALPN01: {Type: challenges.TLSALPN01, Lock: lk, Addrs: s.TLSALPN01Addrs, Log: h.log()},
	}
	st := req.State
	onOrder := req.OnOrder
	req.OnOrder = func() error {
		st.LastAttempt = h.now()
		if onOrder != nil {
			return onOrder()
		}
		return nil
	}
	solvers := req.Solvers
	req.Solvers = func(id client.Identifier, wildcard bool, out []client.SolverChoice) []client.SolverChoice {
		if solvers != nil {
			out = solvers(id, wildcard, out)
		}
		for i, ch := range out {
			switch ch.Solver.(type) {
			case *http01.Server, *tlsalpn01.Server:
				out[i].Solver = pubs[ch.Type]
			}
		}
		return out
	}
	progress := req.Progress
	req.Progress = func(ev client.Event) {
		if ev.Step == "finalize" {
			if err := lk.Check(ctx); err != nil {
				h.log().Warn("lock lost before finalize; stopping", "cert_name", name, "err", err)
				cancel(fmt.Errorf("%s: %w", name, ErrLockLost))
			}
		}
		if progress != nil {
			progress(ev)
		}
	}
	res, err := e.Issue(ctx, req)
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, ErrLockLost) {
			return nil, fmt.Errorf("order of %s stopped: %w", name, cause)
		}
		return nil, err
	}
	h.log().Info("certificate published to the fleet", "cert_name", name, "generation", res.Installed.Version,
		"not_after", res.Leaf.NotAfter.UTC().Format(time.RFC3339), "order_url", res.OrderURL, "resumed", res.Resumed)
	return res, nil
}

func acctLabel(s *store.Settings) string {
	if s.Account == "" {
		return "default"
	}
	return s.Account
}

func leafOf(certPEM []byte) (*x509.Certificate, error) {
	certs, err := keys.ParseCertificateChainPEM(certPEM)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// SyncResult says what Sync did.
type SyncResult struct {
	Installed *store.Installed // set when a new version was installed
	Deployed  bool             // deploy hooks ran and succeeded
	DeployErr error
}

// Sync installs name's newest fleet version locally when it differs from
// the live one (never an older certificate over a newer one) and runs this
// host's deploy hooks once for it: deploy_pending is set in the local
// state before the switch and cleared when the hooks succeed, so a crash
// in between re-runs them. It holds the local lock while doing so. With
// etcd unreachable it returns the error and touches nothing.
func (h *Host) Sync(ctx context.Context, name string) (*SyncResult, error) {
	return h.sync(ctx, name, true)
}

// sync is Sync; without deploy, deploy_pending stays set for the caller's
// hooks (obtain's, through the hook manager).
func (h *Host) sync(ctx context.Context, name string, deploy bool) (*SyncResult, error) {
	unlock, err := h.lockLocal(ctx, name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return h.syncLocked(ctx, name, deploy)
}

// lockLocal takes this host's flock of the certificate, waiting up to
// LocalLockWait (2 minutes if unset).
func (h *Host) lockLocal(ctx context.Context, name string) (func(), error) {
	wait := h.LocalLockWait
	if wait <= 0 {
		wait = 2 * time.Minute
	}
	return h.Local.LockCert(ctx, name, wait)
}

// syncLocked is sync with the local flock already held by the caller.
func (h *Host) syncLocked(ctx context.Context, name string, deploy bool) (*SyncResult, error) {
	v, files, err := h.Fleet.Latest(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return &SyncResult{}, nil
	}
	if err != nil {
		return nil, err
	}
	shared, err := h.Settings(ctx, name)
	if err != nil {
		return nil, err
	}
	res := &SyncResult{}
	local, err := h.Local.LoadState(name)
	if err != nil {
		return nil, err
	}
	cur, _, cerr := h.Local.Current(name)
	same := cerr == nil && bytes.Equal(cur.Fullchain, files.Fullchain) && bytes.Equal(cur.PrivKey, files.PrivKey)
	if !same {
		// The checks a certificate from the CA passes, and those its TLS
		// connection stood for (the record's MAC was checked by Latest).
		roots, err := rootsFor(shared)
		if err != nil {
			return nil, fmt.Errorf("certificate of %s in etcd: %w", name, err)
		}
		now := h.now()
		newLeaf, err := verifyFleetCertificate(v, files, shared, roots, now)
		if err != nil {
			return nil, fmt.Errorf("certificate of %s in etcd (generation %d): %w", name, v.Generation, err)
		}
		if cerr == nil {
			old, err := leafOf(cur.Cert)
			switch {
			case err != nil:
			case old.NotBefore.After(now.Add(clockSkew)):
				// Never valid yet (planted before these checks existed):
				// it must not block good certificates for ever.
				h.log().Warn("the live certificate is not valid before a future date; replacing it", "cert_name", name,
					"not_before", old.NotBefore.UTC().Format(time.RFC3339))
			case old.NotBefore.After(newLeaf.NotBefore):
				h.log().Warn("etcd holds an older certificate than this host; not installing it", "cert_name", name, "generation", v.Generation)
				return res, nil
			}
		}
		if h.localSettings(name) == nil {
			if err := h.Local.SaveSettings(name, shared); err != nil {
				return nil, err
			}
		}
		local.DeployPending = true
		if err := h.Local.SaveState(name, local); err != nil {
			return nil, err
		}
		inst, err := h.Local.Install(name, *files, store.InstallOptions{KeyGroup: shared.KeyGroup})
		var ierr *store.InstallError
		if errors.As(err, &ierr) {
			inst = ierr.Installed
		} else if err != nil {
			return nil, fmt.Errorf("install %s: %w", name, err)
		}
		inst.Leaf = newLeaf
		res.Installed = inst
		h.log().Info("installed fleet certificate", "cert_name", name, "generation", v.Generation, "version", inst.Version, "issued_by", v.IssuedBy)
	}
	// Mirror the shared state locally (list/show), keeping what is ours.
	if sst, err := h.Fleet.LoadState(ctx, name); err == nil {
		pending := local.DeployPending
		*local = *sst
		local.DeployPending = pending
	}
	if res.Installed != nil {
		local.RecordInstall(res.Installed)
	}
	if local.DeployPending && deploy {
		paths, err := h.Local.CurrentPaths(name)
		if err != nil {
			return nil, err
		}
		if paths.Leaf, err = leafOf(files.Cert); err != nil {
			return nil, err
		}
		if h.Deploy != nil {
			res.DeployErr = h.Deploy(ctx, name, shared, paths)
		}
		if res.DeployErr == nil {
			local.DeployPending = false
			res.Deployed = true
		} else {
			h.log().Warn("deploy hook failed; will retry", "cert_name", name, "err", res.DeployErr)
		}
	}
	if err := h.Local.SaveState(name, local); err != nil {
		return nil, err
	}
	return res, nil
}
