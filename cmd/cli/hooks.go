package cli

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/renew"
)

// hookRun runs the hooks of one acmectl run (DESIGN.md "Hooks"): pre hooks
// once before the first order, post hooks once at the end when a pre hook
// ran, deploy hooks per certificate, failure hooks per failure.
type hookRun struct {
	a     *app
	mu    sync.Mutex
	pres  hook.Set
	posts [][]string
	// postEnv is the union of the hook-env names of the settings whose
	// post hooks were collected.
	postEnv []string
	preRan  bool
}

func newHookRun(a *app) *hookRun { return &hookRun{a: a} }

func (h *hookRun) runner(s *store.Settings) *hook.Runner {
	timeout := hook.DefaultTimeout
	if s != nil && s.HookTimeout != "" {
		if d, err := time.ParseDuration(s.HookTimeout); err == nil && d > 0 {
			timeout = d
		}
	}
	var pass []string
	if s != nil {
		pass = s.HookEnv
	}
	return &hook.Runner{Env: h.a.env.Environ(), Pass: pass, Output: h.a.env.Stderr, Timeout: timeout, Logger: h.a.log}
}

// hookEnvNames checks the --hook-env names (hook.ValidPassName), without
// duplicates.
func hookEnvNames(in []string) ([]string, error) {
	var out []string
	for _, n := range in {
		if err := hook.ValidPassName(n); err != nil {
			return nil, usagef("--%v", err)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// pre runs the settings' pre hooks not yet run in this run.
func (h *hookRun) pre(ctx context.Context, s *store.Settings) {
	h.mu.Lock()
	for _, argv := range s.Hooks.Post {
		if !containsArgv(h.posts, argv) {
			h.posts = append(h.posts, argv)
		}
	}
	if len(s.Hooks.Post) > 0 {
		for _, n := range s.HookEnv {
			if !slices.Contains(h.postEnv, n) {
				h.postEnv = append(h.postEnv, n)
			}
		}
	}
	var todo [][]string
	for _, argv := range s.Hooks.Pre {
		if h.pres.Add(argv) {
			todo = append(todo, argv)
		}
	}
	if len(s.Hooks.Pre) > 0 {
		h.preRan = true
	}
	h.mu.Unlock()
	r := h.runner(s)
	for _, argv := range todo {
		res := r.Run(ctx, hook.Spec{Argv: argv, Event: hook.Event{Kind: hook.Pre}})
		if !res.OK() {
			h.a.log.Warn("pre hook failed", "hook", strings.Join(argv, " "), "err", res.Err)
		}
	}
}

// post runs the post hooks once, when a pre hook ran (also after failure
// and signals: it uses a context that survives cancellation).
func (h *hookRun) post(ctx context.Context, renewed, failed []string) {
	h.mu.Lock()
	posts, ran, pass := h.posts, h.preRan, h.postEnv
	h.mu.Unlock()
	if !ran && len(posts) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	r := h.runner(nil)
	r.Pass = pass
	for _, argv := range posts {
		res := r.Run(ctx, hook.Spec{Argv: argv, Event: hook.Event{Kind: hook.Post, Renewed: renewed, Failed: failed}})
		if !res.OK() {
			h.a.log.Warn("post hook failed", "hook", strings.Join(argv, " "), "err", res.Err)
		}
	}
}

// deploy runs the deploy hooks for a new certificate. On failure the
// certificate stays and state.deploy_pending is set so later runs retry.
func (h *hookRun) deploy(ctx context.Context, st *store.Dir, name string, s *store.Settings, res *issue.Result) error {
	if len(s.Hooks.Deploy) == 0 {
		return nil
	}
	ev := hook.Event{
		Kind: hook.Deploy, CertName: name, Domains: s.Names, Server: s.Server, NotAfter: res.Leaf.NotAfter,
		CertPath: res.Installed.Cert, KeyPath: res.Installed.PrivKey, ChainPath: res.Installed.Chain,
		FullchainPath: res.Installed.Fullchain, Lineage: filepath.Dir(res.Installed.Cert),
	}
	return h.runDeploy(ctx, st, name, s, ev)
}

func (h *hookRun) runDeploy(ctx context.Context, st *store.Dir, name string, s *store.Settings, ev hook.Event) error {
	r := h.runner(s)
	var errs []error
	for _, argv := range s.Hooks.Deploy {
		res := r.Run(ctx, hook.Spec{Argv: argv, Event: ev})
		if !res.OK() {
			errs = append(errs, fmt.Errorf("deploy hook %q for %s: %v", strings.Join(argv, " "), name, res.Err))
		}
	}
	state, err := st.LoadState(name)
	if err == nil {
		state.DeployPending = len(errs) > 0
		_ = st.SaveState(name, state)
	}
	return errors.Join(errs...)
}

// failure runs the failure hooks of a certificate.
func (h *hookRun) failure(ctx context.Context, name string, s *store.Settings, failErr error) {
	r := h.runner(s)
	for _, argv := range s.Hooks.Failure {
		res := r.Run(context.WithoutCancel(ctx), hook.Spec{Argv: argv, Event: hook.Event{
			Kind: hook.Failure, CertName: name, Domains: s.Names, Server: s.Server,
			Error: oneLine(failErr.Error()), ErrorClass: errorClass(failErr),
		}})
		if !res.OK() {
			h.a.log.Warn("failure hook failed", "hook", strings.Join(argv, " "), "err", res.Err)
		}
	}
}

func containsArgv(list [][]string, argv []string) bool {
	for _, l := range list {
		if strings.Join(l, "\x00") == strings.Join(argv, "\x00") {
			return true
		}
	}
	return false
}

// leafOf parses the first certificate of a PEM file.
func leafOf(pemData []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(pemData)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

// dueByLifetime applies the lifetime rule (no ARI) at now.
func dueByLifetime(notBefore, notAfter, now time.Time) bool {
	return renew.Policy{}.Due(renew.DueInput{NotBefore: notBefore, NotAfter: notAfter, Now: now}).Due
}

func decodeB64URL(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}
