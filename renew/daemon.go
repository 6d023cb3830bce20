package renew

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Daemon bounds.
const (
	// DaemonMinWait is the shortest sleep between passes, so a certificate
	// that needs attention again at once cannot spin the loop.
	DaemonMinWait = time.Second
	// DaemonMaxWait is the longest sleep: the store is re-read at least
	// this often even if no change was seen.
	DaemonMaxWait = time.Hour
	// DaemonPoll is how often the store is checked for changes (mtime
	// polling, see DirWatcher).
	DaemonPoll = 30 * time.Second
)

// Daemon runs passes forever: after each it sleeps until the earliest time
// any certificate needs attention (due time, ARI re-fetch, retry after
// backoff, Retry-After, a held lock or a failed deploy hook), waking early
// when the store changes, on Wake or on Reload. It holds a certificate's lock only
// while working on it (the Runner's per-certificate locking).
type Daemon struct {
	Runner *Runner
	// Names lists the certificates for each pass (re-read every pass).
	Names func() ([]string, error)
	// Changed reports whether the store changed since its last call; nil
	// means never. It is polled every Poll.
	Changed func() bool
	// Wake, when it receives, starts the next pass at once (a fleet's
	// etcd watch: a new version, a released lock); nil never does.
	Wake <-chan struct{}
	// Reload receives a value when configuration should be re-read
	// (SIGHUP); OnReload does it, between passes.
	Reload   <-chan struct{}
	OnReload func()
	Logger   *slog.Logger
	// Poll, MinWait and MaxWait default to DaemonPoll, DaemonMinWait and
	// DaemonMaxWait.
	Poll, MinWait, MaxWait time.Duration
	// RetryMax, if set, bounds the wait after Names failed: MinWait,
	// doubling up to RetryMax (a fleet's etcd coming back); zero waits
	// until the next wake as after a pass.
	RetryMax time.Duration
	// OnPass, if set, is called with each pass's results (logging).
	OnPass func([]Result)
}

// Run loops until ctx ends; it returns nil then. A pass in progress when
// ctx ends finishes its cleanup (the issuer sees ctx cancelled, saves the
// order URL, cleans up challenges; post hooks run) before Run returns.
func (d *Daemon) Run(ctx context.Context) error {
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	minWait, maxWait, poll := durOr(d.MinWait, DaemonMinWait), durOr(d.MaxWait, DaemonMaxWait), durOr(d.Poll, DaemonPoll)
	now := d.Runner.now
	retry := minWait
	for {
		names, err := d.Names()
		var results []Result
		if err != nil {
			log.Error("list certificates", "err", err)
		} else {
			results = d.Runner.Pass(ctx, names)
			if d.OnPass != nil {
				d.OnPass(results)
			}
		}
		if ctx.Err() != nil {
			log.Info("daemon stopped")
			return nil
		}
		if d.Changed != nil {
			d.Changed() // absorb this pass's own writes
		}
		t := now()
		next := t.Add(maxWait)
		for _, r := range results {
			if !r.Next.IsZero() && r.Next.Before(next) {
				next = r.Next
			}
		}
		if err != nil && d.RetryMax > 0 {
			next = t.Add(retry)
			retry = min(retry*2, d.RetryMax)
		} else if err == nil {
			retry = minWait
		}
		if next.Before(t.Add(minWait)) {
			next = t.Add(minWait)
		}
		log.Info("daemon waiting", "certificates", len(names), "next_wake", next.UTC().Format(time.RFC3339))
		if !d.wait(ctx, next.Sub(t), poll, log) {
			log.Info("daemon stopped")
			return nil
		}
	}
}

// wait sleeps for d, polling for changes; false when ctx ended.
func (d *Daemon) wait(ctx context.Context, dur, poll time.Duration, log *slog.Logger) bool {
	timer := time.NewTimer(dur)
	defer timer.Stop()
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		case <-d.Wake:
			log.Debug("woken by a change")
			return true
		case <-ticker.C:
			if d.Changed != nil && d.Changed() {
				log.Info("state directory changed; re-reading")
				return true
			}
		case <-d.Reload:
			log.Info("reloading configuration")
			if d.OnReload != nil {
				d.OnReload()
			}
			return true
		}
	}
}

// DirWatcher detects changes to a state directory by polling modification
// times: certificates/ itself (certificates added or removed), each
// certificate directory (atomic writes rename into it) and its
// settings.yaml and state.json (edits in place). About three stat calls
// per certificate per poll: 10,000 certificates take a few tens of
// milliseconds. Polling needs no inotify watches (their default limit is
// below 10,000) and works on every file system.
type DirWatcher struct {
	Root string // the state directory
	last map[string]time.Time
}

// Changed reports whether anything changed since the previous call (the
// first call records and reports false).
func (w *DirWatcher) Changed() bool {
	cur := map[string]time.Time{}
	certs := filepath.Join(w.Root, "certificates")
	stat := func(p string) {
		if fi, err := os.Stat(p); err == nil {
			cur[p] = fi.ModTime()
		}
	}
	stat(certs)
	if ents, err := os.ReadDir(certs); err == nil {
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			dir := filepath.Join(certs, e.Name())
			stat(dir)
			stat(filepath.Join(dir, "settings.yaml"))
			stat(filepath.Join(dir, "state.json"))
		}
	}
	first := w.last == nil
	changed := !first && !sameTimes(w.last, cur)
	w.last = cur
	return changed
}

func sameTimes(a, b map[string]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !w.Equal(v) {
			return false
		}
	}
	return true
}
