package hook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Manager runs the hooks of one acmectl run or renewal pass (docs/hooks.md):
// each distinct pre hook once, before the first order; the post hooks once
// at the end when a pre hook ran (also after a failure or a signal);
// deploy hooks once per certificate obtained or renewed, recording
// deploy_pending through the caller's state writer; failure hooks once per
// certificate that failed. obtain, reconfigure, renew (local and fleet)
// and deploy all run hooks through it. Safe for concurrent use.
type Manager struct {
	// Env is the parent environment (see Runner.Env).
	Env []string
	// Output receives the hooks' output (see Runner.Output).
	Output io.Writer
	Logger *slog.Logger
	// Classify names an error's class for ACMECTL_HOOK_ERROR_CLASS.
	Classify func(error) string
	// DryRun sets ACMECTL_HOOK_DRY_RUN for every hook.
	DryRun bool

	mu     sync.Mutex
	pres   Set
	posts  Set
	preRan bool
	// postPass is the union of the Pass names of the certificates whose
	// post hooks were collected.
	postPass []string
}

// Hooks are one certificate's hooks, argv lists.
type Hooks struct {
	Pre, Post, Deploy, Failure [][]string
}

// Cert is what the manager needs to know of one certificate.
type Cert struct {
	Name    string
	Domains []string
	Server  string
	Hooks   Hooks
	// Timeout bounds each hook (--hook-timeout); 0 means DefaultTimeout.
	Timeout time.Duration
	// Pass names extra environment variables the hooks get (--hook-env,
	// see Runner.Pass).
	Pass []string
}

// Installed locates the version a deploy hook is run for.
type Installed struct {
	Cert, Key, Chain, Fullchain string
	NotAfter                    time.Time
}

func (m *Manager) log() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

func (m *Manager) runner(timeout time.Duration, pass []string) *Runner {
	return &Runner{Env: m.Env, Pass: pass, Output: m.Output, Timeout: timeout, Logger: m.Logger}
}

// Pre runs c's pre hooks not yet run by this manager, and remembers its
// post hooks for Post.
func (m *Manager) Pre(ctx context.Context, c Cert) {
	m.mu.Lock()
	for _, argv := range c.Hooks.Post {
		m.posts.Add(argv)
	}
	if len(c.Hooks.Post) > 0 {
		for _, n := range c.Pass {
			if !slices.Contains(m.postPass, n) {
				m.postPass = append(m.postPass, n)
			}
		}
	}
	var todo [][]string
	for _, argv := range c.Hooks.Pre {
		if m.pres.Add(argv) {
			todo = append(todo, argv)
		}
	}
	if len(c.Hooks.Pre) > 0 {
		m.preRan = true
	}
	m.mu.Unlock()
	r := m.runner(c.Timeout, c.Pass)
	for _, argv := range todo {
		res := r.Run(ctx, Spec{Argv: argv, Event: Event{Kind: Pre, DryRun: m.DryRun}})
		if !res.OK() {
			m.log().Warn("pre hook failed", "hook", strings.Join(argv, " "), "err", res.Err)
		}
	}
}

// Post runs the remembered post hooks once, when a pre hook ran or a post
// hook was given, even after cancellation; then the manager starts afresh
// (a daemon's next pass de-duplicates anew).
func (m *Manager) Post(ctx context.Context, renewed, failed []string) {
	m.mu.Lock()
	posts, ran, pass := m.posts.List(), m.preRan, m.postPass
	m.pres, m.posts, m.preRan, m.postPass = Set{}, Set{}, false, nil
	m.mu.Unlock()
	if !ran && len(posts) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	r := m.runner(0, pass)
	for _, argv := range posts {
		res := r.Run(ctx, Spec{Argv: argv, Event: Event{Kind: Post, DryRun: m.DryRun, Renewed: renewed, Failed: failed}})
		if !res.OK() {
			m.log().Warn("post hook failed", "hook", strings.Join(argv, " "), "err", res.Err)
		}
	}
}

// Deploy runs c's deploy hooks for the installed version inst and then
// records through record whether some failed (deploy_pending: later runs
// and `acmectl deploy` retry them; the certificate stays). record may be
// nil. The error names each failed hook.
func (m *Manager) Deploy(ctx context.Context, c Cert, inst Installed, record func(pending bool) error) error {
	if len(c.Hooks.Deploy) == 0 {
		if record != nil {
			return record(false)
		}
		return nil
	}
	ev := Event{
		Kind: Deploy, DryRun: m.DryRun, CertName: c.Name, Domains: c.Domains, Server: c.Server, NotAfter: inst.NotAfter,
		CertPath: inst.Cert, KeyPath: inst.Key, ChainPath: inst.Chain, FullchainPath: inst.Fullchain,
		Lineage: filepath.Dir(inst.Cert),
	}
	r := m.runner(c.Timeout, c.Pass)
	var errs []error
	for _, argv := range c.Hooks.Deploy {
		res := r.Run(ctx, Spec{Argv: argv, Event: ev})
		if !res.OK() {
			errs = append(errs, fmt.Errorf("deploy hook %q for %s: %v", strings.Join(argv, " "), c.Name, res.Err))
		}
	}
	err := errors.Join(errs...)
	if record != nil {
		if rerr := record(err != nil); rerr != nil && err == nil {
			err = fmt.Errorf("record deploy of %s: %w", c.Name, rerr)
		}
	}
	return err
}

// Failure runs c's failure hooks for failErr, even after cancellation.
func (m *Manager) Failure(ctx context.Context, c Cert, failErr error) {
	if len(c.Hooks.Failure) == 0 {
		return
	}
	class := ""
	if m.Classify != nil {
		class = m.Classify(failErr)
	}
	r := m.runner(c.Timeout, c.Pass)
	for _, argv := range c.Hooks.Failure {
		res := r.Run(context.WithoutCancel(ctx), Spec{Argv: argv, Event: Event{
			Kind: Failure, DryRun: m.DryRun, CertName: c.Name, Domains: c.Domains, Server: c.Server,
			Error: failErr.Error(), ErrorClass: class,
		}})
		if !res.OK() {
			m.log().Warn("failure hook failed", "hook", strings.Join(argv, " "), "err", res.Err)
		}
	}
}
