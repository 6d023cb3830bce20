package fleet

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/renew"
)

// Renewal is a fleet host's part of a renewal pass: the renew.Runner's
// Store (the shared state in etcd, the fleet-wide certificate lock),
// Issuer (orders through the etcd-backed engine store, published for
// every host) and Hooks (this host's hooks). Fleet renewals thus follow
// the one runner and policy of local ones: ARI windows, backoff, the CA's
// Retry-After, --force. Before the runner decides, Prepare installs here
// what other hosts published. Build one per run.
type Renewal struct {
	Host *Host
	// Hooks runs this host's pre, failure and post hooks (deploy hooks run
	// through Host.Deploy when a version is installed); nil runs none.
	Hooks *hook.Manager
	// OnResult, if set, is told about each order (logs, tests).
	OnResult func(name string, iss *Issued, err error)

	mu    sync.Mutex
	locks map[string]*Lock
}

var (
	_ renew.Store  = (*Renewal)(nil)
	_ renew.Issuer = (*Renewal)(nil)
	_ renew.Hooks  = (*Renewal)(nil)
)

// LoadState implements renew.Store: the shared state, with the validity
// of the newest published version when the state lacks it.
func (r *Renewal) LoadState(ctx context.Context, name string) (*store.State, error) {
	st, err := r.Host.Fleet.LoadState(ctx, name)
	if err != nil {
		return nil, err
	}
	if st.NotAfter.IsZero() {
		if leaf, err := r.latest(ctx, name); err == nil {
			st.NotBefore, st.NotAfter = leaf.NotBefore, leaf.NotAfter
		}
	}
	return st, nil
}

// SaveState implements renew.Store: under the certificate's fleet lock
// (the runner saves only while holding it).
func (r *Renewal) SaveState(ctx context.Context, name string, st *store.State) error {
	lk := r.lock(name)
	if lk == nil {
		return fmt.Errorf("fleet state of %s saved without its lock", name)
	}
	return r.Host.Fleet.SaveState(ctx, lk, st)
}

// LockCert implements renew.Store: the certificate's fleet-wide lock.
func (r *Renewal) LockCert(ctx context.Context, name string, wait time.Duration) (func(), error) {
	lk, err := r.Host.Fleet.LockCert(ctx, name, wait)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.locks == nil {
		r.locks = map[string]*Lock{}
	}
	r.locks[name] = lk
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.locks, name)
		r.mu.Unlock()
		lk.Unlock()
	}, nil
}

func (r *Renewal) lock(name string) *Lock {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.locks[name]
}

func (r *Renewal) latest(ctx context.Context, name string) (*x509.Certificate, error) {
	_, files, err := r.Host.Fleet.Latest(ctx, name)
	if err != nil {
		return nil, err
	}
	return leafOf(files.Cert)
}

// RenewalInfo implements renew.Issuer: the ARI window of the newest
// published version, from its server.
func (r *Renewal) RenewalInfo(ctx context.Context, name string, _ *store.State) (*client.RenewalInfo, time.Time, error) {
	h := r.Host
	if h.RenewalInfo == nil {
		return nil, time.Time{}, &client.UnsupportedError{Feature: "renewalInfo"}
	}
	leaf, err := r.latest(ctx, name)
	if err != nil {
		return nil, time.Time{}, err
	}
	s, err := h.Settings(ctx, name)
	if err != nil {
		return nil, time.Time{}, err
	}
	return h.RenewalInfo(ctx, s, leaf)
}

// Issue implements renew.Issuer: one order under the fleet lock with the
// settings in etcd (the stored email wins over the run's, as in a local
// renewal), published to etcd; the runner's Deploy installs it here.
func (r *Renewal) Issue(ctx context.Context, name string, st *store.State, dryRun bool) (*renew.Issued, error) {
	if dryRun {
		return nil, errors.New("--dry-run is not available with --storage etcd")
	}
	lk := r.lock(name)
	if lk == nil {
		return nil, fmt.Errorf("fleet order of %s without its lock", name)
	}
	h := r.Host
	s, err := h.Settings(ctx, name)
	if err != nil {
		return nil, err
	}
	if lifecycle.UsesManual(s) && !h.Engine.Interactive {
		return nil, &renew.InteractiveError{Name: name}
	}
	acct := h.Account
	acct.Label = acctLabel(s)
	if len(s.Email) > 0 {
		acct.Email = s.Email
	}
	h.log().Info("renewing fleet certificate", "cert_name", name)
	res, err := h.order(ctx, lk, h.Engine, issue.Request{Name: name, Settings: s, State: st, Account: acct})
	var iss *Issued
	if err == nil {
		iss = &Issued{Generation: res.Installed.Version, Leaf: res.Leaf, OrderURL: res.OrderURL, Resumed: res.Resumed, Replaced: res.Replaced}
	}
	if r.OnResult != nil {
		r.OnResult(name, iss, err)
	}
	if err != nil {
		return nil, err
	}
	return &renew.Issued{NotAfter: res.Leaf.NotAfter, Version: iss.Generation, Replaced: res.Replaced, OrderURL: res.OrderURL}, nil
}

// hookCert is name's hook.Cert from its settings for this host (hooks
// from its own settings.yaml only).
func (r *Renewal) hookCert(ctx context.Context, name string) (hook.Cert, bool) {
	if r.Hooks == nil {
		return hook.Cert{}, false
	}
	s, err := r.Host.Settings(ctx, name)
	if err != nil {
		return hook.Cert{}, false
	}
	return lifecycle.HookCert(name, s), true
}

// Pre implements renew.Hooks.
func (r *Renewal) Pre(ctx context.Context, name string) {
	if c, ok := r.hookCert(ctx, name); ok {
		r.Hooks.Pre(ctx, c)
	}
}

// Deploy implements renew.Hooks: the version just published is installed
// here and this host's deploy hooks run (Sync, with deploy_pending in the
// local state); the other hosts' daemons do the same.
func (r *Renewal) Deploy(ctx context.Context, name string, _ *store.State) error {
	res, err := r.Host.Sync(ctx, name)
	if err != nil {
		return fmt.Errorf("certificate published to the fleet but not installed here: %w", err)
	}
	return res.DeployErr
}

// Failure implements renew.Hooks.
func (r *Renewal) Failure(ctx context.Context, name string, err error) {
	if c, ok := r.hookCert(ctx, name); ok {
		r.Hooks.Failure(ctx, c, err)
	}
}

// Post implements renew.Hooks.
func (r *Renewal) Post(ctx context.Context, renewed, failed []string) {
	if r.Hooks != nil {
		r.Hooks.Post(ctx, renewed, failed)
	}
}

// Prepared is what Prepare did before a pass.
type Prepared struct {
	// Renew are the certificates the runner considers: issued (or with an
	// order a dead host left), installed here.
	Renew []string
	// Done are results of certificates the runner does not see: etcd
	// unreachable (deferred), unusable settings or a failed install or
	// deploy hook here.
	Done []renew.Result
	// Deployed are those whose pending deploy hooks ran here.
	Deployed map[string]bool
}

// Prepare installs here the newest version of each of names (Sync: what
// other hosts published, pending deploy hooks) and says which the runner
// is to consider. A certificate whose first obtain never completed has no
// version and no order to resume: nothing to renew. classify names an
// error's class.
func (r *Renewal) Prepare(ctx context.Context, names []string, classify func(error) string) Prepared {
	h := r.Host
	out := Prepared{Deployed: map[string]bool{}}
	now := h.now()
	for _, n := range names {
		if ctx.Err() != nil {
			return out
		}
		res := renew.Result{Name: n}
		fail := func(err error) {
			res.Err, res.Class, res.Outcome, res.Next = err, classify(err), renew.Failed, now.Add(renew.BackoffMin)
			if IsUnavailable(err) {
				// etcd unreachable: nothing changed here; try again later.
				res.Outcome = renew.Deferred
			}
			out.Done = append(out.Done, res)
		}
		sr, err := h.Sync(ctx, n)
		if err != nil {
			var se *store.SettingsError
			if errors.As(err, &se) {
				h.log().Error("fleet settings unusable", "cert_name", n, "err", err)
			}
			fail(err)
			continue
		}
		if sr.DeployErr != nil {
			res.Outcome, res.Err, res.Class = renew.DeployFailed, &renew.DeployError{Err: sr.DeployErr}, ""
			res.Class = classify(res.Err)
			res.Next = now.Add(5 * time.Minute)
			out.Done = append(out.Done, res)
			continue
		}
		if sr.Deployed {
			out.Deployed[n] = true
		}
		if _, _, err := h.Fleet.Latest(ctx, n); errors.Is(err, store.ErrNotFound) {
			st, err := h.Fleet.LoadState(ctx, n)
			if err != nil {
				fail(err)
				continue
			}
			if st.PendingOrder == nil {
				continue
			}
		} else if err != nil {
			fail(err)
			continue
		}
		out.Renew = append(out.Renew, n)
	}
	return out
}
