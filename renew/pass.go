package renew

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

// Store is where a pass finds certificates' state and locks: the local
// state directory (DirStore) or a fleet's etcd (internal/fleet). Writers
// of a certificate hold its lock (LockCert).
type Store interface {
	LoadState(ctx context.Context, name string) (*store.State, error)
	SaveState(ctx context.Context, name string, s *store.State) error
	LockCert(ctx context.Context, name string, wait time.Duration) (unlock func(), err error)
}

// DirStore is the Store of a local state directory.
type DirStore struct{ *store.Dir }

// LoadState implements Store.
func (d DirStore) LoadState(_ context.Context, name string) (*store.State, error) {
	return d.Dir.LoadState(name)
}

// SaveState implements Store.
func (d DirStore) SaveState(_ context.Context, name string, s *store.State) error {
	return d.Dir.SaveState(name, s)
}

// Issuer does the network work for one certificate. The pass holds the
// certificate's lock around every call.
type Issuer interface {
	// RenewalInfo fetches and parses the ARI window of name's current
	// certificate (one or two requests: directory, renewalInfo). retryAt is
	// the server's Retry-After as an absolute time, zero if none. A server
	// without renewalInfo returns an error (*client.UnsupportedError).
	RenewalInfo(ctx context.Context, name string, st *store.State) (ri *client.RenewalInfo, retryAt time.Time, err error)
	// Issue orders a new certificate for name with its stored settings and,
	// unless dryRun, installs it and records it in st (saving st).
	Issue(ctx context.Context, name string, st *store.State, dryRun bool) (*Issued, error)
}

// Hooks runs the user's hooks (docs/renewal.md "Hook environment"). Implementations
// de-duplicate pre and post hooks by argv within a pass and make Post run
// whenever a pre hook ran, even after cancellation.
type Hooks interface {
	// Pre runs before name's order; each distinct pre hook once per pass.
	Pre(ctx context.Context, name string)
	// Deploy runs name's deploy hooks for its current version and reports
	// whether all succeeded. The pass records deploy_pending from it.
	Deploy(ctx context.Context, name string, st *store.State) error
	// Failure runs name's failure hooks.
	Failure(ctx context.Context, name string, err error)
	// Post runs once at the end of a pass in which a pre hook ran.
	Post(ctx context.Context, renewed, failed []string)
}

// Issued is a successful issuance as the pass reports it.
type Issued struct {
	NotAfter time.Time
	Version  int    // 0 on dry runs
	Replaced string // ARI certID sent as "replaces", if any
	OrderURL string
}

// InteractiveError is returned by an Issuer for a certificate that can only
// be ordered with a person at the terminal (the manual DNS solver). The pass
// reports it as failed without contacting the CA and without backoff.
type InteractiveError struct{ Name string }

func (e *InteractiveError) Error() string {
	return fmt.Sprintf("%s uses the manual DNS solver: run acmectl renew --cert-name %s on a terminal", e.Name, e.Name)
}

// Outcome of one certificate in a pass; the strings are stable for --json.
type Outcome string

// Outcomes (docs/renewal.md "Output and exit codes").
const (
	Renewed      Outcome = "renewed"
	NotDue       Outcome = "not_due"
	Failed       Outcome = "failed"
	Deferred     Outcome = "deferred"
	Locked       Outcome = "locked"
	DeployFailed Outcome = "deploy_failed"
	DryRun       Outcome = "dry_run"
)

// Result is what happened to one certificate in a pass.
type Result struct {
	Name    string
	Outcome Outcome
	// Due is the policy's answer at the time of the decision (after the
	// lock and any ARI fetch).
	Due DueResult
	// Err is the failure (failed, deferred, locked, deploy_failed).
	Err error
	// Class is Err's class as Runner.Classify names it.
	Class string
	// RetryAt is when a deferred or failed certificate is tried again.
	RetryAt time.Time
	Issued  *Issued
	// Deployed: pending deploy hooks were re-run and succeeded.
	Deployed bool
	// Note is a human remark, e.g. "renewed meanwhile by another run".
	Note string
	// Next is when this certificate next needs attention (the daemon
	// sleeps until the earliest Next).
	Next time.Time
	// NextDue is, for a renewed certificate, when the new one is due.
	NextDue time.Time
	// ARIFetched: renewalInfo was fetched; Attempted: an order was tried.
	ARIFetched, Attempted bool
}

// Runner runs renewal passes over stored certificates. Build one per run;
// Pass is not safe for concurrent use with itself.
type Runner struct {
	Store  Store
	Issuer Issuer
	Hooks  Hooks
	Policy Policy
	Logger *slog.Logger
	Now    func() time.Time
	// Parallel bounds how many certificates are worked on at once (< 1: 1).
	Parallel int
	// LockWait is how long to wait for a certificate's lock (0: one try).
	LockWait time.Duration
	// Force ignores the due date and local backoff, never the CA's
	// Retry-After. DryRun orders without writing anything and treats every
	// certificate as forced.
	Force, DryRun bool
	// BeforeFirstRequest, if set, runs once per pass before the first
	// request to a CA (the random cron sleep); an error stops that
	// certificate (and, being ctx's, the pass).
	BeforeFirstRequest func(ctx context.Context) error
	// Classify names an error's class for Result.Class and the stored last
	// error (the CLI passes its one mapping of typed errors); nil leaves
	// classes empty. Whether a failure is deferred does not depend on it.
	Classify func(error) string
	// Cache, if set, serves the read-only checks (see StateCache).
	Cache *StateCache
	// CheckParallel bounds the read-only checks run at once (default
	// DefaultCheckParallel).
	CheckParallel int
	// LockedRetry is when a daemon retries a certificate whose lock was
	// held (default 30s); DeployRetry, a failed deploy hook (default 5m).
	LockedRetry, DeployRetry time.Duration
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

func (r *Runner) classify(err error) string {
	if r.Classify != nil && err != nil {
		return r.Classify(err)
	}
	return ""
}

// retryLater: trying again later may succeed without a change (the CA's
// rate limit or unavailability, a held lock), so the failure is deferred.
func retryLater(err error) bool {
	return client.Temporary(err) || errors.Is(err, store.ErrLocked)
}

// Pass works through names once: each due certificate is renewed (ARI
// fetched first when the stored window asks for it), pending deploy hooks
// are re-run, the rest are left alone without taking their lock or making
// any request. Up to Parallel certificates are handled at once; one
// failure does not stop the others. Post hooks run at the end. The
// results are in the order of names.
func (r *Runner) Pass(ctx context.Context, names []string) []Result {
	p := &pass{r: r}
	out := make([]Result, len(names))
	// Two stages: cheap read-only checks (state.json, policy) run wide,
	// CheckParallel at once, since reading 10,000 small files is bound by
	// syscall latency; only certificates needing work reach the Parallel
	// workers that lock, fetch ARI, order and run hooks.
	type work struct {
		i  int
		st *store.State
	}
	checks := make(chan int)
	works := make(chan work)
	var checkers, workers sync.WaitGroup
	for range min(durInt(r.CheckParallel, DefaultCheckParallel), max(len(names), 1)) {
		checkers.Go(func() {
			for i := range checks {
				res, st, need := p.check(ctx, names[i])
				if !need {
					out[i] = res
					continue
				}
				works <- work{i, st}
			}
		})
	}
	for range min(max(r.Parallel, 1), max(len(names), 1)) {
		workers.Go(func() {
			for w := range works {
				out[w.i] = p.work(ctx, names[w.i], w.st)
			}
		})
	}
feed:
	for i := range names {
		select {
		case checks <- i:
		case <-ctx.Done():
			for j := i; j < len(names); j++ {
				out[j] = Result{Name: names[j], Outcome: Deferred, Err: ctx.Err(), Class: r.classify(ctx.Err()), Next: r.now()}
			}
			break feed
		}
	}
	close(checks)
	checkers.Wait()
	close(works)
	workers.Wait()
	if r.Cache != nil {
		if err := r.Cache.Save(); err != nil {
			r.log().Debug("save renew cache", "err", err)
		}
	}
	if r.Hooks != nil {
		var renewed, failed []string
		for _, res := range out {
			switch res.Outcome {
			case Renewed, DeployFailed, DryRun:
				renewed = append(renewed, res.Name)
			case Failed, Deferred:
				if res.Attempted {
					failed = append(failed, res.Name)
				}
			}
		}
		r.Hooks.Post(ctx, renewed, failed)
	}
	return out
}

// pass is the state of one Pass.
type pass struct {
	r         *Runner
	sleepOnce sync.Once
	sleepErr  error
}

func (p *pass) beforeRequest(ctx context.Context) error {
	if p.r.BeforeFirstRequest == nil {
		return ctx.Err()
	}
	p.sleepOnce.Do(func() { p.sleepErr = p.r.BeforeFirstRequest(ctx) })
	if p.sleepErr != nil {
		return p.sleepErr
	}
	return ctx.Err()
}

// DueInputFor builds the policy input from a certificate's state.json at
// now. A CA Retry-After is honoured at most MaxCARetryAfter past the
// attempt that got it.
func DueInputFor(st *store.State, now time.Time, force bool) DueInput {
	in := DueInput{
		NotBefore: st.NotBefore, NotAfter: st.NotAfter, ARISupported: true,
		Revoked: st.Revoked, Force: force, Now: now, RetryAfter: st.RetryAfter,
	}
	if st.ARI != nil {
		in.ARI = *st.ARI
	}
	if st.Backoff != nil {
		in.BackoffUntil = st.Backoff.NextAttempt
	}
	if !in.RetryAfter.IsZero() && !st.LastAttempt.IsZero() {
		in.RetryAfter = minTime(in.RetryAfter, st.LastAttempt.Add(MaxCARetryAfter))
	}
	return in
}

// blocked reports whether no request may go to the CA for st at now: the
// CA's Retry-After (always) or local backoff (unless forced).
func blocked(in DueInput) (bool, time.Time) {
	var until time.Time
	if in.RetryAfter.After(in.Now) {
		until = in.RetryAfter
	}
	if !in.Force && in.BackoffUntil.After(in.Now) && in.BackoffUntil.After(until) {
		until = in.BackoffUntil
	}
	return !until.IsZero(), until
}

// baseDue is the due decision without backoff and Retry-After: would the
// certificate be due if nothing held it back?
func (p *pass) baseDue(in DueInput) DueResult {
	in.BackoffUntil, in.RetryAfter = time.Time{}, time.Time{}
	return p.r.Policy.Due(in)
}

// nextAttention is when a not-due certificate next needs a look.
func nextAttention(res DueResult, in DueInput) time.Time {
	next := res.At
	if res.NeedARIFetch {
		return in.Now
	}
	if nf := in.ARI.NextFetch; !nf.IsZero() && nf.Before(next) && in.Now.Before(in.NotAfter) && !in.Revoked {
		next = nf
	}
	return next
}

// check decides without a lock or request whether name needs work; if not,
// res is its result.
func (p *pass) check(ctx context.Context, name string) (res Result, st *store.State, need bool) {
	r := p.r
	res = Result{Name: name}
	if err := ctx.Err(); err != nil {
		return p.interrupted(res, err), nil, false
	}
	force := r.Force || r.DryRun
	var err error
	if r.Cache != nil {
		st, err = r.Cache.LoadState(name, func(n string) (*store.State, error) { return r.Store.LoadState(ctx, n) })
	} else {
		st, err = r.Store.LoadState(ctx, name)
	}
	if err != nil {
		return p.failed(res, err, time.Time{}), nil, false
	}
	now := r.now()
	in := DueInputFor(st, now, force)
	due := r.Policy.Due(in)
	isBlocked, until := blocked(in)
	needNet := !isBlocked && (due.Due || (due.NeedARIFetch && !force))
	if !needNet && !st.DeployPending {
		res.Due = due
		if isBlocked && p.baseDue(in).Due {
			return p.deferred(res, st, until), nil, false
		}
		res.Outcome, res.Next = NotDue, nextAttention(due, in)
		return res, nil, false
	}
	return res, st, true
}

// work handles a certificate check found in need of work: lock, re-read,
// re-decide, then fetch ARI, renew or deploy.
func (p *pass) work(ctx context.Context, name string, st *store.State) Result {
	r := p.r
	res := Result{Name: name}
	if err := ctx.Err(); err != nil {
		return p.interrupted(res, err)
	}
	force := r.Force || r.DryRun
	now := r.now()
	in := DueInputFor(st, now, force)
	due := r.Policy.Due(in)
	isBlocked, _ := blocked(in)
	needNet := !isBlocked && (due.Due || (due.NeedARIFetch && !force))
	if needNet {
		if err := p.beforeRequest(ctx); err != nil {
			return p.interrupted(res, err)
		}
	}
	unlock, err := r.Store.LockCert(ctx, name, r.LockWait)
	if err != nil {
		if ctx.Err() != nil {
			return p.interrupted(res, ctx.Err())
		}
		res.Outcome, res.Err, res.Class = Locked, err, r.classify(err)
		if !errors.Is(err, store.ErrLocked) {
			return p.failed(res, err, time.Time{})
		}
		res.Next = now.Add(durOr(r.LockedRetry, 30*time.Second))
		res.RetryAt = res.Next
		return res
	}
	defer unlock()
	return p.locked(ctx, res, st, force)
}

// locked continues one certificate under its lock: re-read, re-decide,
// fetch ARI, renew or deploy.
func (p *pass) locked(ctx context.Context, res Result, before *store.State, force bool) Result {
	r := p.r
	name := res.Name
	st, err := r.Store.LoadState(ctx, name)
	if err != nil {
		return p.failed(res, err, time.Time{})
	}
	now := r.now()
	in := DueInputFor(st, now, force)
	due := r.Policy.Due(in)
	isBlocked, until := blocked(in)
	if due.NeedARIFetch && !force && !isBlocked {
		res.ARIFetched = true
		p.fetchARI(ctx, name, st, now)
		if err := r.Store.SaveState(ctx, name, st); err != nil {
			return p.failed(res, err, time.Time{})
		}
		in = DueInputFor(st, now, force)
		due = r.Policy.Due(in)
	}
	if due.ARIChanged && !due.ARI.ChosenTime.IsZero() {
		st.ARI = ariOrNil(due.ARI)
		if err := r.Store.SaveState(ctx, name, st); err != nil {
			return p.failed(res, err, time.Time{})
		}
	}
	res.Due = due
	if !due.Due {
		if st.Version != before.Version && st.Version != 0 {
			res.Note = fmt.Sprintf("renewed meanwhile by another run (version %d)", st.Version)
		}
		if isBlocked && p.baseDue(in).Due {
			return p.deferred(res, st, until)
		}
		res.Outcome, res.Next = NotDue, nextAttention(due, in)
		if st.DeployPending && !r.DryRun {
			return p.deploy(ctx, res, st)
		}
		return res
	}

	// Due: order.
	r.log().Debug("renewing", "cert_name", name, "rule", due.Rule, "reason", due.Reason)
	if r.Hooks != nil {
		r.Hooks.Pre(ctx, name)
	}
	res.Attempted = true
	iss, err := r.Issuer.Issue(ctx, name, st, r.DryRun)
	now = r.now()
	if err != nil {
		if ctx.Err() != nil {
			// SIGTERM: the order URL is saved by the issuer; not a failure.
			return p.interrupted(res, err)
		}
		var ie *InteractiveError
		if errors.As(err, &ie) {
			res.Next = now.Add(BackoffMax)
			return p.recordFailure(ctx, res, st, err, now, false)
		}
		return p.recordFailure(ctx, res, st, err, now, !r.DryRun)
	}
	res.Issued = iss
	if r.DryRun {
		res.Outcome, res.Next = DryRun, now
		return res
	}
	// When the new certificate is due, by the same policy (its ARI is
	// not needed for a while yet).
	in2 := DueInputFor(st, now, false)
	due2 := r.Policy.Due(in2)
	res.Outcome, res.Next, res.NextDue = Renewed, nextAttention(due2, in2), due2.At
	var derr error
	if r.Hooks != nil {
		derr = r.Hooks.Deploy(ctx, name, st)
	}
	st.DeployPending = derr != nil
	if err := r.Store.SaveState(ctx, name, st); err != nil && derr == nil {
		derr = err
	}
	{
		if derr != nil {
			res.Outcome, res.Err = DeployFailed, &DeployError{Err: derr}
			res.Class = r.classify(res.Err)
			res.Next = now.Add(durOr(r.DeployRetry, 5*time.Minute))
		}
	}
	return res
}

// fetchARI updates st.ARI from the CA; failures are not the certificate's
// failure: the lifetime rule applies until the next fetch.
func (p *pass) fetchARI(ctx context.Context, name string, st *store.State, now time.Time) {
	ri, retryAt, err := p.r.Issuer.RenewalInfo(ctx, name, st)
	UpdateARI(st, ri, retryAt, err, now, p.r.log().With("cert_name", name))
}

// UpdateARI records in st.ARI the outcome of one renewalInfo fetch at now
// (ri and the server's Retry-After as retryAt, or err): the new window and
// next fetch, or, on error, only a later next fetch (a window fetched
// before is kept). Local and fleet renewals share it.
func UpdateARI(st *store.State, ri *client.RenewalInfo, retryAt time.Time, err error, now time.Time, log *slog.Logger) {
	var cur store.ARIState
	if st.ARI != nil {
		cur = *st.ARI
	}
	if err != nil {
		next := now.Add(ARIErrorRetry)
		var ue *client.UnsupportedError
		if !errors.As(err, &ue) {
			if ra := client.RetryAfterOf(err); !ra.IsZero() && client.Temporary(err) && !client.RateLimited(err) {
				next = now.Add(ClampARIRetry(ra.Sub(now)))
			}
			log.Warn("renewalInfo fetch failed; using the lifetime rule", "err", err, "next_fetch", next)
		} else {
			log.Debug("server has no renewalInfo")
		}
		cur.NextFetch, cur.FetchedAt = next, now
		st.ARI = ariOrNil(cur)
		return
	}
	var d time.Duration
	if !retryAt.IsZero() {
		d = retryAt.Sub(now)
	}
	cur = withRenewalInfo(cur, ri, now, NextARIFetch(now, d, !retryAt.IsZero()))
	st.ARI = ariOrNil(cur)
	log.Debug("renewalInfo fetched", "window_start", ri.Start, "window_end", ri.End)
}

// ariOrNil is a for state.json: nil when never fetched.
func ariOrNil(a store.ARIState) *store.ARIState {
	if a == (store.ARIState{}) {
		return nil
	}
	return &a
}

// recordFailure stores the failure (last error, CA Retry-After, backoff
// when backoff is true), runs the failure hooks and classifies the result.
func (p *pass) recordFailure(ctx context.Context, res Result, st *store.State, err error, now time.Time, backoff bool) Result {
	r := p.r
	class := r.classify(err)
	ra := client.RetryAfterOf(err)
	if !r.DryRun {
		st.LastAttempt = now
		st.LastError = &store.LastError{Class: class, Message: oneLine(err.Error()), Time: now, RetryAfter: ra}
		if !ra.IsZero() {
			st.RetryAfter = ra
		}
		if backoff {
			failures := 1
			if st.Backoff != nil {
				failures = st.Backoff.Failures + 1
			}
			st.Backoff = &store.Backoff{Failures: failures, NextAttempt: NextBackoff(failures, now, ra)}
			res.RetryAt = st.Backoff.NextAttempt
			res.Next = res.RetryAt
		}
		if serr := r.Store.SaveState(context.WithoutCancel(ctx), res.Name, st); serr != nil {
			r.log().Error("record failure", "cert_name", res.Name, "err", serr)
		}
	}
	if r.Hooks != nil {
		r.Hooks.Failure(ctx, res.Name, err)
	}
	res.Err, res.Class = err, class
	res.Outcome = Failed
	if retryLater(err) {
		res.Outcome = Deferred
	}
	if res.Next.IsZero() {
		res.Next = now.Add(BackoffMin)
	}
	return res
}

// deploy re-runs pending deploy hooks of the current version.
func (p *pass) deploy(ctx context.Context, res Result, st *store.State) Result {
	r := p.r
	if r.Hooks == nil {
		return res
	}
	derr := r.Hooks.Deploy(ctx, res.Name, st)
	st.DeployPending = derr != nil
	if err := r.Store.SaveState(context.WithoutCancel(ctx), res.Name, st); err != nil && derr == nil {
		derr = err
	}
	if derr != nil {
		res.Outcome, res.Err = DeployFailed, &DeployError{Err: derr}
		res.Class = r.classify(res.Err)
		res.Next = minTime(res.Next, r.now().Add(durOr(r.DeployRetry, 5*time.Minute)))
		return res
	}
	res.Deployed = true
	return res
}

func (p *pass) failed(res Result, err error, next time.Time) Result {
	res.Outcome, res.Err, res.Class = Failed, err, p.r.classify(err)
	if next.IsZero() {
		next = p.r.now().Add(BackoffMin)
	}
	res.Next = next
	return res
}

func (p *pass) interrupted(res Result, err error) Result {
	res.Outcome, res.Err, res.Class = Deferred, err, p.r.classify(err)
	res.Next = p.r.now()
	return res
}

// deferred is a due certificate held back until until by backoff or the
// CA's Retry-After: no lock taken, no request made.
func (p *pass) deferred(res Result, st *store.State, until time.Time) Result {
	e := &DeferredError{Until: until, Msg: "in backoff until " + fmtTime(until)}
	if st.RetryAfter.Equal(until) {
		e.CAAsked, e.Msg = true, "the CA asked to retry after "+fmtTime(until)
	}
	if st.LastError != nil && st.LastError.Message != "" {
		e.Msg += " (last error: " + st.LastError.Message + ")"
	}
	res.Outcome, res.RetryAt, res.Next = Deferred, until, until
	res.Err, res.Class = e, p.r.classify(e)
	return res
}

// DeferredError is the reason a due certificate was not tried: local
// backoff, or the CA's Retry-After (CAAsked).
type DeferredError struct {
	Until   time.Time
	Msg     string
	CAAsked bool
}

func (e *DeferredError) Error() string { return e.Msg }

// DeployError is a deploy hook that failed (or whose outcome could not be
// recorded); the certificate itself is installed.
type DeployError struct{ Err error }

func (e *DeployError) Error() string { return e.Err.Error() }
func (e *DeployError) Unwrap() error { return e.Err }

// DefaultCheckParallel is how many certificates' state files a pass reads
// at once.
const DefaultCheckParallel = 16

func durInt(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

func durOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	return string(b)
}
