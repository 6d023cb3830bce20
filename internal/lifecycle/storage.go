package lifecycle

import (
	"context"
	"crypto/x509"
	"errors"

	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/store"
)

// Storage is where Obtain finds and keeps one certificate: the local
// state dir (Local) or a fleet's etcd (internal/fleet's ObtainStorage).
// The caller holds the certificate's lock there for the whole Obtain.
type Storage interface {
	// Settings returns name's stored settings; an error wrapping
	// store.ErrNotFound when it was never issued.
	Settings(ctx context.Context, name string) (*store.Settings, error)
	// State returns name's state (a zero State when there is none).
	State(ctx context.Context, name string) (*store.State, error)
	// Current returns name's newest issued certificate (an error wrapping
	// store.ErrNotFound when none).
	Current(ctx context.Context, name string) (*x509.Certificate, error)
	SaveSettings(ctx context.Context, name string, s *store.Settings) error
	SaveState(ctx context.Context, name string, st *store.State) error
	// Forget removes what a failed first order of name left (settings,
	// state, a pending order), unless a version of it was issued.
	Forget(ctx context.Context, name string) error
	// Issue runs one order through eng and installs the certificate on
	// this host (Result.Installed are the local paths).
	Issue(ctx context.Context, eng *issue.Engine, req issue.Request) (*issue.Result, error)
	// Deploy runs this host's deploy hooks for the version Issue
	// installed, recording deploy_pending.
	Deploy(ctx context.Context, hooks *hook.Manager, c hook.Cert, res *issue.Result) error
}

// Local is the Storage of the local state dir; the engine's Store must
// be Dir.
type Local struct{ Dir *store.Dir }

var _ Storage = Local{}

// Settings implements Storage.
func (l Local) Settings(_ context.Context, name string) (*store.Settings, error) {
	return l.Dir.LoadSettings(name)
}

// State implements Storage.
func (l Local) State(_ context.Context, name string) (*store.State, error) {
	return l.Dir.LoadState(name)
}

// Current implements Storage.
func (l Local) Current(_ context.Context, name string) (*x509.Certificate, error) {
	files, _, err := l.Dir.Current(name)
	if err != nil {
		return nil, err
	}
	return LeafOf(files.Cert)
}

// SaveSettings implements Storage.
func (l Local) SaveSettings(_ context.Context, name string, s *store.Settings) error {
	return l.Dir.SaveSettings(name, s)
}

// SaveState implements Storage.
func (l Local) SaveState(_ context.Context, name string, st *store.State) error {
	return l.Dir.SaveState(name, st)
}

// Forget implements Storage.
func (l Local) Forget(_ context.Context, name string) error {
	if _, _, err := l.Dir.Current(name); err == nil {
		return nil
	}
	if err := l.Dir.Delete(name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// Issue implements Storage.
func (l Local) Issue(ctx context.Context, eng *issue.Engine, req issue.Request) (*issue.Result, error) {
	return eng.Issue(ctx, req)
}

// Deploy implements Storage.
func (l Local) Deploy(ctx context.Context, hooks *hook.Manager, c hook.Cert, res *issue.Result) error {
	return hooks.Deploy(ctx, c, HookInstalled(res.Installed, res.Leaf.NotAfter), RecordDeploy(l.Dir, c.Name))
}
