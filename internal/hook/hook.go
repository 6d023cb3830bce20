// Package hook runs user hooks (pre, post, deploy, failure) without a shell:
// Split turns a hook string into argv, CheckProgram refuses programs others
// could change, and Runner.Run executes one hook with a timeout that kills
// its whole process group, an allowlisted environment plus the documented
// ACMECTL_HOOK_* variables (Event), stdin from /dev/null, and output copied
// line by line, prefixed and bounded, to an injected writer.
package hook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Defaults for Runner fields left zero.
const (
	DefaultTimeout   = 5 * time.Minute
	DefaultKillGrace = 5 * time.Second
	DefaultMaxOutput = 64 << 10
)

// ErrTimeout is matched (errors.Is) by Result.Err when the hook ran out of
// time and was killed.
var ErrTimeout = errors.New("hook timed out")

// Runner runs hooks. Its fields are read-only after first use; Run is safe
// for concurrent use if Output is.
type Runner struct {
	// Env is the parent environment (NAME=value), e.g. os.Environ() taken
	// by main. Hooks get Environ(Env, event, Pass...); bare program names
	// are looked up in its PATH.
	Env []string
	// Pass names further variables of Env that hooks get (the hook-env
	// setting); see Environ.
	Pass []string
	// Output receives hook stdout and stderr, line by line, each line
	// prefixed "hook NAME: ". Nil discards.
	Output io.Writer
	// Timeout bounds each hook (--hook-timeout); 0 means DefaultTimeout.
	Timeout time.Duration
	// KillGrace is the time between SIGTERM and SIGKILL to the hook's
	// process group on timeout or cancellation; 0 means DefaultKillGrace.
	// It also bounds how long Run waits for output from background
	// processes a hook left behind.
	KillGrace time.Duration
	// MaxOutput caps the bytes of output copied per hook run; 0 means
	// DefaultMaxOutput. The rest is counted, not shown.
	MaxOutput int
	// Dir is the hook's working directory; "" means "/".
	Dir string
	// Logger gets one line per hook run; nil discards.
	Logger *slog.Logger
}

// Spec is one hook to run.
type Spec struct {
	// Name labels output and logs; "" means the base name of Argv[0].
	Name string
	// Argv is the program and its arguments (from Split or a YAML list).
	Argv  []string
	Event Event
}

// Result is the outcome of Run.
type Result struct {
	Name    string
	Argv    []string
	Program string // the resolved file executed, "" if none
	// ExitCode is the exit status, or -1 if the hook did not start or was
	// killed by a signal.
	ExitCode int
	TimedOut bool
	Duration time.Duration
	// Err is nil on success. Otherwise it matches (errors.Is/As) one of:
	// *ProgramError (not found, or refused: ErrUnsafeProgram), ErrTimeout,
	// *exec.ExitError (non-zero exit or killed), ctx's error (cancelled
	// from outside), or wraps the start error.
	Err error
}

// OK reports whether the hook ran and exited 0.
func (r Result) OK() bool { return r.Err == nil }

// Run runs spec and waits for it. On timeout (Runner.Timeout) or when ctx
// is done, the hook's process group gets SIGTERM, then SIGKILL after
// KillGrace; background processes it started in its group die with it.
// Callers that must run a hook during shutdown (post hooks after SIGTERM)
// pass context.WithoutCancel(ctx).
func (r *Runner) Run(ctx context.Context, spec Spec) Result {
	start := time.Now()
	res := Result{Name: spec.Name, Argv: slices.Clone(spec.Argv), ExitCode: -1}
	if len(spec.Argv) == 0 {
		res.Err = &ProgramError{Reason: "empty argv"}
		return res
	}
	if res.Name == "" {
		res.Name = filepath.Base(spec.Argv[0])
	}
	logger := r.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	defer func() {
		res.Duration = time.Since(start)
		attrs := []any{"hook", res.Name, "event", string(spec.Event.Kind), "exit_code", res.ExitCode, "duration", res.Duration.Round(time.Millisecond)}
		if res.Err != nil {
			logger.Warn("hook failed", append(attrs, "timed_out", res.TimedOut, "error", res.Err)...)
		} else {
			logger.Info("hook ran", attrs...)
		}
	}()
	if !spec.Event.Kind.valid() {
		res.Err = fmt.Errorf("run hook %s: unknown event %q", res.Name, spec.Event.Kind)
		return res
	}
	// The file checked is the file run: it stays open (O_PATH) and the
	// child executes its own copy of that descriptor.
	prog, err := openProgram(spec.Argv[0], lookupEnv(r.Env, "PATH"))
	if err != nil {
		res.Err = err
		return res
	}
	defer prog.Close()
	res.Program = prog.Path

	timeout, grace, limit := r.Timeout, r.KillGrace, r.MaxOutput
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if grace <= 0 {
		grace = DefaultKillGrace
	}
	if limit <= 0 {
		limit = DefaultMaxOutput
	}
	out := r.Output
	if out == nil {
		out = io.Discard
	}
	lw := newLineWriter(out, "hook "+res.Name+": ", limit)
	defer lw.flush()

	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(runCtx, prog.ExecPath(), spec.Argv[1:]...)
	cmd.Args[0] = spec.Argv[0]
	if f := prog.ExtraFile(); f != nil {
		cmd.ExtraFiles = []*os.File{f}
	}
	cmd.Env = Environ(r.Env, spec.Event, r.Pass...)
	cmd.Dir = r.Dir
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	cmd.Stdin = nil // /dev/null
	cmd.Stdout, cmd.Stderr = lw, lw
	cmd.SysProcAttr = groupAttr()
	cmd.WaitDelay = grace
	var hardKill *time.Timer
	cmd.Cancel = func() error {
		pid := cmd.Process.Pid
		hardKill = time.AfterFunc(grace, func() { _ = killGroup(pid, sigKill) })
		return killGroup(pid, sigTerm)
	}

	if err := cmd.Start(); err != nil {
		res.Err = fmt.Errorf("start hook %s: %w", res.Name, err)
		return res
	}
	waitErr := cmd.Wait()
	if runCtx.Err() != nil {
		// Whatever survived SIGTERM, or was left by a leader that exited
		// on it, goes now. The group id stays reserved while members exist.
		if hardKill != nil {
			hardKill.Stop()
		}
		_ = killGroup(cmd.Process.Pid, sigKill)
	}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	switch {
	case runCtx.Err() != nil && ctx.Err() == nil:
		res.TimedOut = true
		res.Err = fmt.Errorf("run hook %s: %w after %v", res.Name, ErrTimeout, timeout)
	case ctx.Err() != nil:
		res.Err = fmt.Errorf("run hook %s: %w", res.Name, ctx.Err())
	case errors.Is(waitErr, exec.ErrWaitDelay) && res.ExitCode == 0:
		// Exited 0 but left a background process holding its output.
		logger.Warn("hook left a background process holding its output", "hook", res.Name)
	case waitErr != nil:
		res.Err = fmt.Errorf("run hook %s: %w", res.Name, waitErr)
	}
	return res
}

// lookupEnv returns the last value of name in env, as exec does.
func lookupEnv(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if n, val, ok := strings.Cut(kv, "="); ok && n == name {
			v = val
		}
	}
	return v
}
