package cli

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/internal/term"
	"github.com/acmectl/acmectl/renew"
)

// defaultRenewParallel is renew's default --parallel, chosen by make bench
// (docs/renewal.md): on the 2-core reference VM 100 renewals through
// Pebble and nginx take 3.1x less time at 4 than at 1, and more again at
// 10 (the CA, the web server and acmectl then compete for the cores); the
// bare x/crypto/acme loop has the same optimum. Four orders at once stay
// well inside public CAs' limits.
const defaultRenewParallel = 4

// maxRandomSleep bounds the random delay before a cron run's first request
// (docs/renewal.md "When is a certificate due?").
const maxRandomSleep = 8 * time.Minute

type renewOptions struct {
	certNames     []string
	force         bool
	dryRun        bool
	daemon        bool
	noRandomSleep bool
	parallel      int
	metricsFile   string
	daemonPoll    time.Duration
	cmd           *cobra.Command
}

func newRenewCmd(a *app) *cobra.Command {
	opts := &renewOptions{}
	cmd := &cobra.Command{
		Use:   "renew [--cert-name N ...] [flags]",
		Short: "Renew certificates that are due (cron-safe)",
		Long: `Renew every stored certificate that is due, each with its own stored settings
(names, server, account, solvers, hooks, key type, profile): see docs/renewal.md.

A certificate is due at the point drawn in the CA's ARI window (RFC 9773) when the
server has renewalInfo, else when a third of its lifetime is left (half for
lifetimes of 10 days or less). Failures are recorded in state.json with the CA's
Retry-After and a backoff; later runs skip the certificate until then, without any
request to the CA. Pending deploy hooks are re-run.

With nothing due, renew prints nothing and exits 0 (cron contract). Off a terminal
it first sleeps a random 0-8 minutes before its first request to a CA
(--no-random-sleep). Exit codes: 0 success or nothing due; 1 a certificate failed or
a deploy hook failed; 75 none failed but some were deferred (rate limited, CA
unavailable, locked, in backoff); 2 usage error; 130 interrupted (SIGINT, SIGTERM).

--daemon stays running, sleeping until the next certificate needs attention.
Flags that shape an order (-d, --server, solvers, hooks) are refused: change stored
settings with "acmectl reconfigure".`,
		Example: `  acmectl renew                       # from cron or a systemd timer
  acmectl renew --cert-name example.com --force
  acmectl renew --json --no-random-sleep
  acmectl renew --daemon`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.cmd = cmd
			return run(cmd.Context(), a, opts, a.runRenew)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&opts.certNames, "cert-name", nil, "renew only this certificate (repeatable)")
	f.BoolVar(&opts.force, "force", false, "renew even when not due (ignores local backoff, never the CA's Retry-After)")
	f.BoolVar(&opts.dryRun, "dry-run", false, "order every selected certificate but write nothing and run no deploy hooks")
	f.BoolVar(&opts.daemon, "daemon", false, "stay running and renew each certificate when it is due")
	f.BoolVar(&opts.noRandomSleep, "no-random-sleep", false, "off a terminal, do not sleep 0-8 minutes before the first request")
	f.IntVar(&opts.parallel, "parallel", defaultRenewParallel, "renew up to N certificates at once; built-in responders on one address take turns (the default is the fastest measured on a 2-core machine: docs/renewal.md)")
	f.StringVar(&opts.metricsFile, "metrics-file", "", "write Prometheus text-format metrics to this file after each pass")
	f.DurationVar(&opts.daemonPoll, "daemon-poll", renew.DaemonPoll, "with --daemon: how often to check the state directory for changes")
	// Order-shaping flags are accepted only to refuse them with a pointer
	// to reconfigure (docs/guide.md "Configuration").
	tmp := &cobra.Command{}
	addOrderFlags(tmp)
	tmp.Flags().VisitAll(func(fl *pflag.Flag) {
		if fl.Name == "cert-name" {
			return
		}
		fl.Hidden = true
		f.AddFlag(fl)
	})
	return cmd
}

// orderShapingFlags are the flags renew refuses.
func orderShapingFlags(cmd *cobra.Command) []string {
	var out []string
	tmp := &cobra.Command{}
	addOrderFlags(tmp)
	tmp.Flags().VisitAll(func(fl *pflag.Flag) {
		if fl.Name != "cert-name" {
			if f := cmd.Flags().Lookup(fl.Name); f != nil && f.Changed {
				out = append(out, "--"+fl.Name)
			}
		}
	})
	if f := cmd.Flags().Lookup("server"); f != nil && f.Changed {
		out = append(out, "--server")
	}
	return out
}

func (a *app) runRenew(ctx context.Context, opts *renewOptions) error {
	if bad := orderShapingFlags(opts.cmd); len(bad) > 0 {
		who := "N"
		if len(opts.certNames) == 1 {
			who = opts.certNames[0]
		}
		return usagef("renew uses each certificate's stored settings and does not take %s: change them with acmectl reconfigure --cert-name %s %s ...",
			strings.Join(bad, ", "), who, bad[0])
	}
	if opts.parallel < 1 {
		return usagef("--parallel %d: want 1 or more", opts.parallel)
	}
	if opts.daemon && opts.dryRun {
		return usagef("--daemon and --dry-run do not go together")
	}
	if a.g.storage != "" {
		return a.runFleetRenew(ctx, opts)
	}
	st, err := a.openStore()
	if err != nil {
		return err
	}
	for _, n := range opts.certNames {
		if err := store.ValidCertName(n); err != nil {
			return usagef("--cert-name %q: must match ^[a-z0-9][a-z0-9._-]{0,127}$", n)
		}
		if !st.Exists(n) {
			return usagef("--cert-name %s: no such certificate in %s (see acmectl list)", n, st.Root())
		}
	}
	acctOpts, err := a.accountOptions()
	if err != nil {
		return err
	}
	names := func() ([]string, error) {
		if len(opts.certNames) > 0 {
			out := slices.Clone(opts.certNames)
			slices.Sort(out)
			return slices.Compact(out), nil
		}
		return st.List()
	}
	w := newRenewer(a, st, acctOpts, opts)
	lockWait := time.Duration(0)
	if a.g.lockWaitSet {
		lockWait = a.g.lockWait
	}
	runner := &renew.Runner{
		Store: renew.DirStore{Dir: st}, Issuer: w, Hooks: w, Logger: a.log, Now: a.env.Now,
		Parallel: opts.parallel, LockWait: lockWait, Force: opts.force, DryRun: opts.dryRun,
		Classify: errorClass, Cache: &renew.StateCache{Root: st.Root()},
	}
	if !opts.daemon && !opts.noRandomSleep && !(a.env.StdinTerminal && a.env.StderrTerminal) {
		runner.BeforeFirstRequest = randomSleep(a)
	}

	if opts.daemon {
		return a.runDaemon(ctx, opts, st, runner, names)
	}
	list, err := names()
	if err != nil {
		return err
	}
	results := runner.Pass(ctx, list)
	if opts.metricsFile != "" {
		if err := writeMetrics(opts.metricsFile, st, a.env.Now()); err != nil {
			a.log.Warn("write metrics", "file", opts.metricsFile, "err", err)
		}
	}
	return a.reportRenew(ctx, results, opts)
}

// randomSleep sleeps a random 0-8 minutes (ctx-aware), once per run.
func randomSleep(a *app) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		d := rand.N(maxRandomSleep)
		a.log.Debug("sleeping before the first request (--no-random-sleep skips it)", "duration", d.Round(time.Second))
		if a.env.StderrTerminal && !a.g.quiet {
			// Someone is watching: a silent wait of minutes looks hung.
			fmt.Fprintf(a.env.Stderr, "acmectl: sleeping %s before contacting the CA (--no-random-sleep skips)\n", d.Round(time.Second))
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
}

func (a *app) runDaemon(ctx context.Context, opts *renewOptions, st *store.Dir, runner *renew.Runner, names func() ([]string, error)) error {
	reload, stop := hangups(ctx)
	defer stop()
	watcher := &renew.DirWatcher{Root: st.Root()}
	watcher.Changed()
	d := &renew.Daemon{
		Runner: runner, Names: names, Changed: watcher.Changed, Reload: reload, Logger: a.log,
		Poll: opts.daemonPoll,
		OnReload: func() {
			cfg, g, log := a.cfg, a.g, a.log
			if err := a.setup(opts.cmd); err != nil {
				a.cfg, a.g, a.log = cfg, g, log
				a.log.Error("reload configuration; keeping the previous one", "err", err)
				return
			}
			runner.Logger = a.log
		},
		OnPass: func(results []renew.Result) {
			for _, r := range results {
				a.logResult(r)
			}
			if opts.metricsFile != "" {
				if err := writeMetrics(opts.metricsFile, st, a.env.Now()); err != nil {
					a.log.Warn("write metrics", "file", opts.metricsFile, "err", err)
				}
			}
		},
	}
	a.log.Info("daemon started", "state_dir", st.Root(), "parallel", opts.parallel)
	return d.Run(ctx)
}

// logResult is the daemon's one log line per event (nothing for not_due).
func (a *app) logResult(r renew.Result) {
	retry := ""
	if !r.RetryAt.IsZero() {
		retry = r.RetryAt.UTC().Format(time.RFC3339)
	}
	switch r.Outcome {
	case renew.Renewed:
		a.log.Info("certificate renewed", "cert_name", r.Name, "version", r.Issued.Version,
			"not_after", r.Issued.NotAfter.UTC().Format(time.RFC3339), "replaces", r.Issued.Replaced)
	case renew.DeployFailed:
		a.log.Error("deploy hook failed", "cert_name", r.Name, "err", term.Text(oneLine(r.Err.Error())))
	case renew.Failed:
		a.log.Error("renewal failed", "cert_name", r.Name, "class", r.Class, "err", term.Text(oneLine(r.Err.Error())), "retry_at", retry)
	case renew.Deferred:
		if r.Class == classInterrupted {
			return
		}
		if r.Attempted {
			a.log.Warn("renewal deferred", "cert_name", r.Name, "class", r.Class, "err", term.Text(oneLine(r.Err.Error())), "retry_at", retry)
		}
	case renew.Locked:
		a.log.Info("certificate locked by another process; retrying later", "cert_name", r.Name, "err", term.Text(oneLine(r.Err.Error())), "retry_at", retry)
	case renew.NotDue:
		if r.Deployed {
			a.log.Info("pending deploy hooks succeeded", "cert_name", r.Name)
		}
	}
}

// renewExit is the exit code of a pass (docs/troubleshooting.md "By exit code").
func renewExit(results []renew.Result) int {
	code := ExitOK
	for _, r := range results {
		switch r.Outcome {
		case renew.Failed, renew.DeployFailed:
			return ExitFailed
		case renew.Deferred, renew.Locked:
			code = ExitDeferred
		}
	}
	return code
}

// reportRenew prints a pass's results (text or --json) and returns its
// exit. A pass that SIGINT or SIGTERM (ctx) cut short is "interrupted",
// exit 130, as obtain.
func (a *app) reportRenew(ctx context.Context, results []renew.Result, opts *renewOptions) error {
	code := renewExit(results)
	interrupted := ctx.Err() != nil
	if interrupted {
		code = ExitInterrupted
	}
	if a.g.json {
		certs := make([]map[string]any, 0, len(results))
		summary := map[string]int{}
		var firstErr *renew.Result
		for i, r := range results {
			summary[string(r.Outcome)]++
			certs = append(certs, resultJSON(r))
			if r.Err != nil && firstErr == nil && r.Outcome != renew.NotDue {
				firstErr = &results[i]
			}
		}
		doc := map[string]any{"certificates": certs, "summary": summary}
		if interrupted {
			doc["error"] = map[string]any{"class": classInterrupted, "message": "interrupted"}
		} else if code != ExitOK && firstErr != nil {
			e := map[string]any{"class": firstErr.Class, "message": fmt.Sprintf("%s: %s", firstErr.Name, oneLine(firstErr.Err.Error()))}
			if !firstErr.RetryAt.IsZero() {
				e["retry_after"] = firstErr.RetryAt.UTC().Format(time.RFC3339)
			}
			doc["error"] = e
		}
		if err := a.writeJSON(doc); err != nil {
			return err
		}
		if code != ExitOK {
			return &exitError{code: code, silent: true}
		}
		return nil
	}
	interactive := a.env.StderrTerminal
	for _, r := range results {
		if interrupted && r.Outcome == renew.Deferred {
			continue // cut short: one "interrupted" line for the run
		}
		a.printResult(r, interactive)
	}
	if interrupted {
		return &exitError{code: code, err: ctx.Err()}
	}
	if code != ExitOK {
		return &exitError{code: code, silent: true}
	}
	return nil
}

func (a *app) printResult(r renew.Result, interactive bool) {
	out, errw := a.env.Stdout, a.env.Stderr
	retry := ""
	if !r.RetryAt.IsZero() {
		retry = " (retry after " + r.RetryAt.UTC().Format(time.RFC3339) + ")"
	}
	switch r.Outcome {
	case renew.Renewed:
		if !a.g.quiet {
			fmt.Fprintf(out, "%s renewed: version %d, expires %s\n", r.Name, r.Issued.Version, r.Issued.NotAfter.UTC().Format(time.RFC3339))
		}
	case renew.DryRun:
		if !a.g.quiet {
			fmt.Fprintf(out, "%s: dry run: a certificate was issued and not saved (expires %s)\n", r.Name, r.Issued.NotAfter.UTC().Format(time.RFC3339))
		}
	case renew.DeployFailed:
		what := "deploy hooks failed"
		if r.Issued != nil {
			what = fmt.Sprintf("renewed (version %d) but deploy hooks failed", r.Issued.Version)
		}
		fmt.Fprintf(errw, "acmectl: %s: %s: %s; the new certificate stays; run acmectl deploy --cert-name %s to retry\n", r.Name, what, term.Text(oneLine(r.Err.Error())), r.Name)
	case renew.Failed:
		fmt.Fprintf(errw, "acmectl: %s: renewal failed: %s%s\n", r.Name, term.Text(oneLine(r.Err.Error())), retry)
	case renew.Deferred:
		fmt.Fprintf(errw, "acmectl: %s: deferred: %s%s\n", r.Name, term.Text(oneLine(r.Err.Error())), retryIfNew(r, retry))
	case renew.Locked:
		fmt.Fprintf(errw, "acmectl: %s: skipped: %s (another acmectl is working on it; --lock-wait waits)\n", r.Name, term.Text(oneLine(r.Err.Error())))
	case renew.NotDue:
		if r.Deployed && !a.g.quiet {
			fmt.Fprintf(out, "%s: pending deploy hooks succeeded\n", r.Name)
		}
		if interactive && !a.g.quiet {
			line := fmt.Sprintf("%s: not due until %s (%s)", r.Name, r.Due.At.UTC().Format(time.RFC3339), r.Due.Reason)
			if r.Note != "" {
				line += "; " + r.Note
			}
			fmt.Fprintln(out, line)
		} else if r.Note != "" && !a.g.quiet {
			fmt.Fprintf(out, "%s: %s\n", r.Name, r.Note)
		}
	}
}

// retryIfNew avoids repeating the retry time when the message has it.
func retryIfNew(r renew.Result, retry string) string {
	var de *renew.DeferredError
	if errors.As(r.Err, &de) {
		return ""
	}
	return retry
}

func resultJSON(r renew.Result) map[string]any {
	m := map[string]any{"cert_name": r.Name, "outcome": string(r.Outcome)}
	if !r.NextDue.IsZero() {
		// Renewed: the new certificate's next renewal, not this one.
		m["next_renewal"] = r.NextDue.UTC().Format(time.RFC3339)
		m["rule"] = string(r.Due.Rule)
		m["reason"] = r.Due.Reason
	} else if !r.Due.At.IsZero() {
		m["next_renewal"] = r.Due.At.UTC().Format(time.RFC3339)
		m["rule"] = string(r.Due.Rule)
		m["reason"] = r.Due.Reason
	}
	if r.Issued != nil {
		m["not_after"] = r.Issued.NotAfter.UTC().Format(time.RFC3339)
		if r.Issued.Version > 0 {
			m["version"] = r.Issued.Version
		}
		if r.Issued.Replaced != "" {
			m["replaced"] = r.Issued.Replaced
		}
		if r.Issued.OrderURL != "" {
			m["order_url"] = r.Issued.OrderURL
		}
	}
	if r.Err != nil {
		e := map[string]any{"class": r.Class, "message": term.Text(oneLine(r.Err.Error()))}
		if !r.RetryAt.IsZero() {
			e["retry_after"] = r.RetryAt.UTC().Format(time.RFC3339)
		}
		m["error"] = e
	}
	if r.Deployed {
		m["deployed"] = true
	}
	if r.Note != "" {
		m["note"] = r.Note
	}
	return m
}

// hangups turns SIGHUP into a reload request for a daemon: at most one
// pending at a time, until ctx ends or stop is called.
func hangups(ctx context.Context) (reload <-chan struct{}, stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ch := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-hup:
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ch, func() { signal.Stop(hup); close(done) }
}
