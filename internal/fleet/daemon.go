package fleet

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/acmectl/acmectl/internal/fleet/kv"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/renew"
)

// Daemon bounds.
const (
	// retryMin/retryMax bound the wait after etcd errors.
	retryMin = time.Second
	retryMax = 30 * time.Second
	// maxSleep is the longest sleep without any etcd event: the whole
	// fleet state is re-read at least this often.
	maxSleep = time.Hour
)

// Daemon keeps this host's certificates in step with the fleet: it
// watches the prefix in etcd (not polling), installs every new version
// locally and runs the local deploy hooks once per version, and renews a
// certificate when it is due and this host wins its lock. When the host
// holding a lock dies, the lock key disappears, the watch wakes the other
// hosts and one of them resumes the persisted order.
type Daemon struct {
	Host *Host
	// Names restricts the daemon to these certificates (nil: all).
	Names []string
	// Responder, if set, is started (and retried while its ports are in
	// use) for as long as the daemon runs.
	Responder *Responder
	// OnResult, if set, is told about each renewal attempt (logs, tests).
	OnResult func(name string, iss *Issued, err error)
	// Force renews every certificate tended, due or not (one-shot
	// `renew --force`); never before the CA's Retry-After.
	Force bool
	// Reload, when it receives, makes Run return nil between two
	// certificates (never mid-order), with its responder closed: the
	// caller re-reads its configuration and starts a new daemon (SIGHUP).
	Reload <-chan struct{}
}

// Report is what tending one certificate did.
type Report struct {
	Name string
	// Sync is the local install and deploy of the newest fleet version.
	Sync *SyncResult
	// Locked: due, but another host holds the lock (and renews it).
	Locked bool
	// Issued is set when this host renewed the certificate.
	Issued *Issued
	// RenewErr is a failed renewal (recorded in the shared state).
	RenewErr error
	// Err: the certificate could not be tended (etcd unreachable, …);
	// the daemon retries.
	Err error
	// Next is when the certificate next needs attention (zero: only on
	// an etcd event).
	Next time.Time
}

// Run loops until ctx ends (or Reload receives) and returns nil then,
// after its goroutines (watch, responder) ended. While etcd is
// unreachable it waits and retries, changing nothing locally.
func (d *Daemon) Run(ctx context.Context) error {
	h := d.Host
	log := h.log()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	if d.Responder != nil {
		wg.Go(func() { d.runResponder(ctx) })
	}
	wake := make(chan string, 256)
	wg.Go(func() { d.watch(ctx, wake) })

	retry := retryMin
	dirty := map[string]bool{}
	all := true
	next := map[string]time.Time{}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info("fleet daemon stopped")
			return nil
		case <-d.Reload:
			log.Info("fleet daemon reloading")
			return nil
		case n := <-wake:
			if n == "" {
				all = true
			} else {
				dirty[n] = true
			}
			// Drain what arrived together.
			for len(wake) > 0 {
				if n := <-wake; n == "" {
					all = true
				} else {
					dirty[n] = true
				}
			}
		case <-timer.C:
			now := h.now()
			for n, t := range next {
				if !t.After(now) {
					dirty[n] = true
				}
			}
		}
		if all {
			names, err := h.Fleet.List(ctx)
			if err != nil {
				log.Warn("etcd unavailable; waiting", "err", err, "retry_in", retry.String())
				timer.Reset(retry)
				retry = min(retry*2, retryMax)
				continue
			}
			for _, n := range names {
				dirty[n] = true
			}
			all = false
		}
		failed := false
		for n := range dirty {
			if !d.wanted(n) {
				delete(dirty, n)
				continue
			}
			rep := d.tend(ctx, n)
			if ctx.Err() != nil {
				log.Info("fleet daemon stopped")
				return nil
			}
			if rep.Err != nil {
				log.Warn("fleet certificate not tended; will retry", "cert_name", n, "err", rep.Err)
				failed = true
				continue
			}
			delete(dirty, n)
			if rep.Next.IsZero() {
				delete(next, n)
			} else {
				next[n] = rep.Next
			}
		}
		wait := maxSleep
		if failed {
			wait = retry
			retry = min(retry*2, retryMax)
		} else {
			retry = retryMin
		}
		now := h.now()
		for _, t := range next {
			if d := t.Sub(now); d < wait {
				wait = max(d, 0)
			}
		}
		if wait < 0 {
			wait = 0
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

func (d *Daemon) wanted(name string) bool {
	if d.Names == nil {
		return true
	}
	for _, n := range d.Names {
		if n == name {
			return true
		}
	}
	return false
}

// tend installs the newest version of name, then renews it if due and
// the lock is free.
func (d *Daemon) tend(ctx context.Context, name string) Report {
	h := d.Host
	rep := Report{Name: name}
	sr, err := h.Sync(ctx, name)
	if err != nil {
		var se *store.SettingsError
		if !errors.As(err, &se) {
			rep.Err = err
			return rep
		}
		h.log().Error("fleet settings unusable", "cert_name", name, "err", err)
		rep.RenewErr = err
		return rep
	}
	rep.Sync = sr
	due, at, fetch, err := d.decide(ctx, name, d.Force)
	if err != nil || !due && !fetch {
		rep.Next, rep.Err = at, err
		return rep
	}
	lk, err := h.Fleet.LockCert(ctx, name, 0)
	if errors.Is(err, store.ErrLocked) {
		// Another host works on it; the lock key's deletion wakes us.
		h.log().Debug("fleet lock held elsewhere", "cert_name", name)
		rep.Locked, rep.Next = true, h.now().Add(maxSleep)
		return rep
	}
	if err != nil {
		rep.Err = err
		return rep
	}
	defer lk.Unlock()
	// Re-check under the lock: another host may have renewed meanwhile.
	due, at, fetch, err = d.decide(ctx, name, d.Force)
	if err == nil && fetch {
		if err = d.refreshARI(ctx, lk, name); err == nil {
			due, at, _, err = d.decide(ctx, name, d.Force)
		}
	}
	if err != nil || !due {
		rep.Next, rep.Err = at, err
		return rep
	}
	h.log().Info("renewing fleet certificate", "cert_name", name)
	iss, err := h.Issue(ctx, lk, IssueOptions{Force: d.Force})
	if d.OnResult != nil {
		d.OnResult(name, iss, err)
	}
	if err != nil {
		if ctx.Err() != nil {
			rep.Err = err
			return rep
		}
		if !errors.Is(err, ErrLockLost) {
			h.RecordFailure(ctx, lk, err)
		}
		h.log().Warn("fleet renewal failed", "cert_name", name, "err", err)
		rep.RenewErr = err
		// A failure is not retried at once, forced or not.
		_, rep.Next, rep.Err = d.due(ctx, name, false)
		return rep
	}
	rep.Issued = iss
	lk.Unlock()
	if rep.Sync, err = h.Sync(ctx, name); err != nil {
		rep.Err = err
		return rep
	}
	_, rep.Next, rep.Err = d.due(ctx, name, false)
	return rep
}

// due says whether name should be ordered now and when it will be due.
// An order left pending by a dead host is due at once (within backoff).
// The decision is the local renewer's: renew.DueInputFor of the shared
// state (ARI window and the point drawn in it, backoff, the CA's
// Retry-After) through the same Policy. ariFetch: the stored window asks
// for a renewalInfo fetch (refreshARI, under the lock).
func (d *Daemon) due(ctx context.Context, name string, force bool) (due bool, at time.Time, err error) {
	due, at, _, err = d.decide(ctx, name, force)
	return due, at, err
}

func (d *Daemon) decide(ctx context.Context, name string, force bool) (bool, time.Time, bool, error) {
	h := d.Host
	st, err := h.Fleet.LoadState(ctx, name)
	if err != nil {
		return false, time.Time{}, false, err
	}
	in := renew.DueInputFor(st, h.now(), false)
	in.ARISupported = h.RenewalInfo != nil
	_, files, err := h.Fleet.Latest(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Never issued: obtain does the first order; nothing to renew.
		if st.PendingOrder == nil {
			return false, time.Time{}, false, nil
		}
	case err != nil:
		return false, time.Time{}, false, err
	default:
		leaf, err := leafOf(files.Cert)
		if err != nil {
			return false, time.Time{}, false, err
		}
		in.NotBefore, in.NotAfter = leaf.NotBefore, leaf.NotAfter
	}
	if force && st.PendingOrder == nil && !errors.Is(err, store.ErrNotFound) {
		in.Force = true
	}
	res := h.Policy.Due(in)
	if st.PendingOrder != nil && !res.Due {
		// Resume what a dead host started, unless in backoff or the CA
		// asked to wait.
		at := in.Now
		if in.BackoffUntil.After(at) {
			at = in.BackoffUntil
		}
		if in.RetryAfter.After(at) {
			at = in.RetryAfter
		}
		return !at.After(in.Now), at, false, nil
	}
	at := res.At
	if nf := in.ARI.NextFetch; in.ARISupported && !nf.IsZero() && nf.Before(at) && !in.Revoked {
		at = nf
	}
	fetch := res.NeedARIFetch && !in.Force && in.ARISupported
	if fetch {
		at = in.Now
	}
	return res.Due, at, fetch, nil
}

// refreshARI fetches name's renewalInfo under lk and stores the window,
// and the point drawn in it, in the shared state (renew.UpdateARI, as a
// local renewal does).
func (d *Daemon) refreshARI(ctx context.Context, lk *Lock, name string) error {
	h := d.Host
	st, err := h.Fleet.LoadState(ctx, name)
	if err != nil {
		return err
	}
	_, files, err := h.Fleet.Latest(ctx, name)
	if err != nil {
		return err
	}
	leaf, err := leafOf(files.Cert)
	if err != nil {
		return err
	}
	s, err := h.Settings(ctx, name)
	if err != nil {
		return err
	}
	now := h.now()
	ri, retryAt, ferr := h.RenewalInfo(ctx, s, leaf)
	renew.UpdateARI(st, ri, retryAt, ferr, now, h.log().With("cert_name", name))
	in := renew.DueInputFor(st, now, false)
	in.NotBefore, in.NotAfter = leaf.NotBefore, leaf.NotAfter
	if res := h.Policy.Due(in); res.ARIChanged && !res.ARI.ChosenTime.IsZero() {
		st.ARI = &res.ARI
	}
	return h.Fleet.SaveState(ctx, lk, st)
}

// watch sends certificate names whose keys change (settings, state,
// versions, locks), and "" when everything must be re-read (after the
// watch was interrupted, e.g. by an etcd outage).
func (d *Daemon) watch(ctx context.Context, wake chan<- string) {
	f := d.Host.Fleet
	certs := f.key("certs") + "/"
	locks := f.key("locks", "certs") + "/"
	backoff := retryMin
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(ctx)
		ch := f.kv.Watch(wctx, f.loc.Prefix+"/")
		for resp := range ch {
			if err := resp.Err; err != nil {
				d.Host.log().Debug("etcd watch interrupted", "err", err)
				break
			}
			backoff = retryMin
			for _, ev := range resp.Events {
				k := ev.Key
				var rest string
				switch {
				case strings.HasPrefix(k, certs):
					rest = strings.TrimPrefix(k, certs)
				case strings.HasPrefix(k, locks) && ev.Deleted:
					rest = strings.TrimPrefix(k, locks)
				default:
					continue
				}
				name, _, _ := strings.Cut(rest, "/")
				if store.ValidCertName(name) != nil {
					continue
				}
				select {
				case wake <- name:
				default:
					select {
					case wake <- "":
					default:
					}
				}
			}
		}
		cancel()
		select {
		case wake <- "":
		default:
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, retryMax)
	}
}

// runResponder keeps the responder running, retrying while its ports are
// taken (e.g. by another process on this host).
func (d *Daemon) runResponder(ctx context.Context) {
	log := d.Host.log()
	delay := retryMin
	for {
		err := d.Responder.Start(ctx)
		if err == nil {
			break
		}
		log.Warn("fleet responder cannot listen; retrying", "err", err, "retry_in", delay.String())
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(delay*2, retryMax)
	}
	<-ctx.Done()
	d.Responder.Close()
}

// Pass tends every certificate once (or those in Names): installs new
// versions, runs pending deploy hooks, renews what is due if this host
// wins the lock. It is the one-shot `acmectl renew` of a fleet host. The
// error is set only when the list of certificates could not be read.
func (d *Daemon) Pass(ctx context.Context) ([]Report, error) {
	names := d.Names
	if names == nil {
		var err error
		if names, err = d.Host.Fleet.List(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]Report, 0, len(names))
	for _, n := range names {
		out = append(out, d.tend(ctx, n))
	}
	return out, nil
}

// IsUnavailable reports whether err means etcd could not be reached (a
// timeout, an unavailable endpoint, or the etcd helper gone), as opposed
// to a refusal or a local failure.
func IsUnavailable(err error) bool { return kv.IsUnavailable(err) }
