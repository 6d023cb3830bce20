package fleet

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/acmectl/acmectl/internal/fleet/kv"
	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/renew"
)

// Daemon bounds.
const (
	// retryMin/retryMax bound the wait after etcd errors.
	retryMin = time.Second
	retryMax = 30 * time.Second
)

// Daemon keeps this host's certificates in step with the fleet through
// the one renewal runner (renew.Runner and renew.Daemon, as local
// renewals): each pass installs every new version here and runs the
// local deploy hooks once per version (Renewal.Prepare), then the runner
// renews what is due by the same policy (ARI windows included) when this
// host wins the certificate's fleet lock. The etcd watch wakes the loop
// at once on any change (a new version, a released lock): when the host
// holding a lock dies, the lock key disappears and another host resumes
// the persisted order.
type Daemon struct {
	Host *Host
	// Names restricts the daemon to these certificates (nil: all).
	Names []string
	// Responder, if set, is started (and retried while its ports are in
	// use) for as long as the daemon runs.
	Responder *Responder
	// Hooks runs this host's pre, failure and post hooks; nil runs none.
	Hooks *hook.Manager
	// OnResult, if set, is told about each renewal attempt (logs, tests).
	OnResult func(name string, iss *Issued, err error)
	// OnPass, if set, is given each pass's results (logs).
	OnPass func([]renew.Result)
	// Force renews every certificate tended, due or not (one-shot
	// `renew --force`); never before the CA's Retry-After.
	Force bool
	// BeforeFirstRequest is the runner's (the random sleep of a cron run).
	BeforeFirstRequest func(ctx context.Context) error
	// Reload, when it receives, makes Run return nil between two passes
	// (never mid-order), with its responder closed: the caller re-reads
	// its configuration and starts a new daemon (SIGHUP).
	Reload <-chan struct{}
}

func (d *Daemon) classify(err error) string {
	if d.Host.Classify != nil && err != nil {
		return d.Host.Classify(err)
	}
	return ""
}

// runner is the pass's renew.Runner over r.
func (d *Daemon) runner(r *Renewal) *renew.Runner {
	h := d.Host
	return &renew.Runner{Store: r, Issuer: r, Hooks: r, Policy: h.Policy, Logger: h.log(), Now: h.now,
		Parallel: 1, Force: d.Force, Classify: h.Classify, BeforeFirstRequest: d.BeforeFirstRequest}
}

func (d *Daemon) names(ctx context.Context) ([]string, error) {
	if d.Names != nil {
		return d.Names, nil
	}
	return d.Host.Fleet.List(ctx)
}

// Pass tends every certificate once (or those in Names): installs new
// versions, runs pending deploy hooks, renews what is due if this host
// wins the lock. It is the one-shot `acmectl renew` of a fleet host; the
// results are in the order of the names (a certificate never issued is
// left out). The error is set only when the list of certificates could
// not be read.
func (d *Daemon) Pass(ctx context.Context) ([]renew.Result, error) {
	names, err := d.names(ctx)
	if err != nil {
		return nil, err
	}
	r := &Renewal{Host: d.Host, Hooks: d.Hooks, OnResult: d.OnResult}
	prep := r.Prepare(ctx, names, d.classify)
	by := map[string]renew.Result{}
	for _, res := range d.runner(r).Pass(ctx, prep.Renew) {
		res.Deployed = res.Deployed || prep.Deployed[res.Name]
		by[res.Name] = res
	}
	for _, res := range prep.Done {
		by[res.Name] = res
	}
	out := make([]renew.Result, 0, len(by))
	for _, n := range names {
		if res, ok := by[n]; ok {
			out = append(out, res)
		}
	}
	return out, nil
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
	wake := make(chan struct{}, 1)
	wg.Go(func() { d.watch(ctx, wake) })
	r := &Renewal{Host: h, Hooks: d.Hooks, OnResult: d.OnResult}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	reloading := false
	rd := &renew.Daemon{
		Runner: d.runner(r), Logger: log, Wake: wake, Reload: d.Reload, OnPass: d.OnPass,
		MinWait: retryMin, RetryMax: retryMax,
		OnReload: func() { reloading = true; stopRun() },
		Names: func() ([]string, error) {
			if runCtx.Err() != nil {
				return nil, nil
			}
			names, err := d.names(runCtx)
			if err != nil {
				log.Warn("etcd unavailable; waiting", "err", err)
				return nil, err
			}
			prep := r.Prepare(runCtx, names, d.classify)
			for _, res := range prep.Done {
				if res.Outcome == renew.Deferred {
					log.Warn("fleet certificate not tended; will retry", "cert_name", res.Name, "err", res.Err)
					err = res.Err
				} else {
					log.Error("fleet certificate not tended", "cert_name", res.Name, "outcome", string(res.Outcome), "err", res.Err)
				}
			}
			if err != nil {
				return nil, err
			}
			return prep.Renew, nil
		},
	}
	err := rd.Run(runCtx)
	if reloading && ctx.Err() == nil {
		log.Info("fleet daemon reloading")
	} else {
		log.Info("fleet daemon stopped")
	}
	return err
}

// lockWakeGap bounds how often lock releases wake the daemon.
const lockWakeGap = time.Second

// watch wakes the loop when a certificate's keys change (settings,
// state, versions, a released lock) and when the watch was interrupted
// (e.g. by an etcd outage: everything must be re-read).
func (d *Daemon) watch(ctx context.Context, wake chan<- struct{}) {
	f := d.Host.Fleet
	certs := f.key("certs") + "/"
	locks := f.key("locks", "certs") + "/"
	var (
		lastLockWake time.Time
		delayed      atomic.Bool
	)
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
					// A released lock; but a failed try deletes its own
					// key too, and waking on that made daemons retry in a
					// loop (about 60 tries a second, each an etcd write)
					// while another host held the lock: at most one wake
					// per lockWakeGap from lock releases; one inside the
					// gap is delivered at its end.
					now := time.Now()
					if wait := lockWakeGap - now.Sub(lastLockWake); wait > 0 {
						if !delayed.Swap(true) {
							lastLockWake = now.Add(wait)
							time.AfterFunc(wait, func() {
								delayed.Store(false)
								select {
								case wake <- struct{}{}:
								default:
								}
							})
						}
						continue
					}
					lastLockWake = now
					rest = strings.TrimPrefix(k, locks)
				default:
					continue
				}
				name, _, _ := strings.Cut(rest, "/")
				if store.ValidCertName(name) != nil {
					continue
				}
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}
		cancel()
		select {
		case wake <- struct{}{}:
		default:
		}
		if !sleep(ctx, backoff) {
			return
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
		if !sleep(ctx, delay) {
			return
		}
		delay = min(delay*2, retryMax)
	}
	<-ctx.Done()
	d.Responder.Close()
}

// LocalResponder is the responder a daemon runs on this host: on the
// http-01 and tls-alpn-01 addresses of its local settings (every
// certificate's settings.yaml; never from etcd). Nil when they name none.
func LocalResponder(f *Fleet, local *store.Dir, log *slog.Logger) *Responder {
	var httpAddrs, tlsAddrs []string
	names, _ := local.List()
	for _, n := range names {
		s, err := local.LoadSettings(n)
		if err != nil {
			continue
		}
		for _, ad := range s.HTTP01Addrs {
			if !slices.Contains(httpAddrs, ad) {
				httpAddrs = append(httpAddrs, ad)
			}
		}
		for _, ad := range s.TLSALPN01Addrs {
			if !slices.Contains(tlsAddrs, ad) {
				tlsAddrs = append(tlsAddrs, ad)
			}
		}
	}
	if len(httpAddrs)+len(tlsAddrs) == 0 {
		return nil
	}
	return &Responder{Fleet: f, HTTPAddrs: httpAddrs, TLSALPNAddrs: tlsAddrs, Log: log}
}

// IsUnavailable reports whether err means etcd could not be reached (a
// timeout, an unavailable endpoint, or the etcd helper gone), as opposed
// to a refusal or a local failure.
func IsUnavailable(err error) bool { return kv.IsUnavailable(err) }

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
