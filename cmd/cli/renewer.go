package cli

import (
	"context"
	"log/slog"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
)

// newRenewer wires the renewal pass's issuer and hooks
// (lifecycle.Renewer) to this run: settings filled from flags, env and
// config where they lack a key, one engine per order, live status on a
// terminal.
func newRenewer(a *app, st *store.Dir, acctOpts issue.AccountOptions, opts *renewOptions) *lifecycle.Renewer {
	interactive := a.env.StdinTerminal && a.env.StderrTerminal
	w := &lifecycle.Renewer{
		Store: st, Fill: a.fillSettings, Hooks: a.hookManager(), Account: acctOpts, Interactive: interactive, Logger: a.log,
		Engine: func() *issue.Engine {
			eng := a.engine(st)
			if opts.daemon {
				// One log line per event: the daemon logs the outcome itself.
				eng.Logger = slog.New(demoteHandler{eng.Logger.Handler()})
			}
			return eng
		},
		RoutineEngine: func() *issue.Engine {
			// ARI fetches are routine: the client's Info lines (directory)
			// become Debug so a run with nothing due stays quiet.
			eng := a.engine(st)
			eng.Logger = slog.New(demoteHandler{eng.Logger.Handler()})
			return eng
		},
	}
	if !opts.daemon {
		if ui := a.newProgressUI(); ui != nil {
			w.Progress = func(name string, eng *issue.Engine, acct *issue.AccountOptions) (func(client.Event), func(error)) {
				prog := a.progressOn(ui, name)
				if prog == nil {
					return nil, func(error) {}
				}
				eng.Logger, eng.Stderr = prog.Logger(eng.Logger), prog.Writer(eng.Stderr)
				acct.Confirm = prog.Confirm(acct.Confirm)
				return prog.Event, prog.Done
			}
		}
	}
	return w
}

// fillSettings fills keys a certificate's settings lack from this run
// (lifecycle.Fill).
func (a *app) fillSettings(s *store.Settings) error { return lifecycle.Fill(s, a.defaults()) }

// defaults binds what fills stored settings: the resolved globals, and
// hooks, hook-timeout and hook-env from the config file only (never env).
func (a *app) defaults() lifecycle.Defaults {
	d := lifecycle.Defaults{Account: a.g.account, CABundle: a.g.caBundle, ACMEVersion: a.g.acmeVersion, Email: a.g.email, ConfigFile: a.cfg.file}
	if a.cfg.source("hook-timeout") == sourceFile {
		d.HookTimeout = a.cfg.v.GetString("hook-timeout")
	}
	if a.cfg.source("hook-env") == sourceFile {
		d.HookEnv = a.cfg.Strings("hook-env")
	}
	if a.cfg.file != "" {
		for key, dst := range map[string]*[]string{"pre-hook": &d.Hooks.Pre, "post-hook": &d.Hooks.Post, "deploy-hook": &d.Hooks.Deploy, "failure-hook": &d.Hooks.Failure} {
			if a.cfg.v.IsSet(key) {
				*dst = a.cfg.fileStrings(key)
			}
		}
	}
	return d
}

// demoteHandler logs Info records at Debug (Warn and Error unchanged).
type demoteHandler struct{ h slog.Handler }

func (d demoteHandler) Enabled(ctx context.Context, l slog.Level) bool {
	if l == slog.LevelInfo {
		l = slog.LevelDebug
	}
	return d.h.Enabled(ctx, l)
}

func (d demoteHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo {
		r.Level = slog.LevelDebug
	}
	return d.h.Handle(ctx, r)
}

func (d demoteHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return demoteHandler{d.h.WithAttrs(as)}
}
func (d demoteHandler) WithGroup(n string) slog.Handler { return demoteHandler{d.h.WithGroup(n)} }
