package fleet

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
)

// ObtainStorage is lifecycle's Storage for obtain in fleet mode: settings,
// state and versions in etcd, every write conditioned on Lock (held by
// the caller for the whole obtain); the certificate is installed on this
// host as Sync installs it, and the other hosts' daemons install it too.
// Settings are published only once the certificate is issued, and a
// failed first order removes what it left in etcd, so no host's renew
// picks it up.
type ObtainStorage struct {
	Host *Host
	Lock *Lock
	// syncErr: the certificate was published but not installed here.
	syncErr error
	// unlock releases this host's flock of the certificate, held from
	// before the order until the deploy hooks have run: this host's
	// daemon, woken by the publication, must neither install the version
	// first nor run the deploy hooks that this obtain runs (it ran them
	// twice). Process exit releases it too (dry runs, errors).
	unlock func()
}

var _ lifecycle.Storage = (*ObtainStorage)(nil)

func (o *ObtainStorage) check(name string) error {
	if name != o.Lock.name {
		return fmt.Errorf("fleet obtain of %s asked for %s", o.Lock.name, name)
	}
	return nil
}

// Settings implements lifecycle.Storage (etcd's merged with this host's).
func (o *ObtainStorage) Settings(ctx context.Context, name string) (*store.Settings, error) {
	return o.Host.Settings(ctx, name)
}

// State implements lifecycle.Storage (the shared state).
func (o *ObtainStorage) State(ctx context.Context, name string) (*store.State, error) {
	return o.Host.Fleet.LoadState(ctx, name)
}

// Current implements lifecycle.Storage: the newest published version.
func (o *ObtainStorage) Current(ctx context.Context, name string) (*x509.Certificate, error) {
	_, files, err := o.Host.Fleet.Latest(ctx, name)
	if err != nil {
		return nil, err
	}
	return leafOf(files.Cert)
}

// SaveSettings implements lifecycle.Storage: etcd, and the full settings
// (with this host's hooks) locally.
func (o *ObtainStorage) SaveSettings(ctx context.Context, name string, s *store.Settings) error {
	if err := o.check(name); err != nil {
		return err
	}
	return o.Host.Publish(ctx, o.Lock, s)
}

// SaveState implements lifecycle.Storage.
func (o *ObtainStorage) SaveState(ctx context.Context, name string, st *store.State) error {
	if err := o.check(name); err != nil {
		return err
	}
	return o.Host.Fleet.SaveState(ctx, o.Lock, st)
}

// Forget implements lifecycle.Storage: everything etcd holds for name,
// unless a version was published. Local files stay (a host's own
// settings.yaml holds its hooks and listen addresses).
func (o *ObtainStorage) Forget(ctx context.Context, name string) error {
	if err := o.check(name); err != nil {
		return err
	}
	_, _, err := o.Host.Fleet.Latest(ctx, name)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	return o.Host.Fleet.Delete(ctx, o.Lock)
}

// Issue implements lifecycle.Storage: the order under the fleet lock
// (answers published in etcd for every host's responder), the version
// published to etcd, then installed here. A certificate published but not
// installed here is not a failed order: Deploy reports it.
func (o *ObtainStorage) Issue(ctx context.Context, eng *issue.Engine, req issue.Request) (*issue.Result, error) {
	if err := o.check(req.Name); err != nil {
		return nil, err
	}
	unlock, err := o.Host.lockLocal(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	o.unlock = unlock
	res, err := o.Host.order(ctx, o.Lock, eng, req)
	if err != nil {
		o.release()
		return nil, err
	}
	gen := res.Installed.Version
	if _, err := o.Host.syncLocked(ctx, req.Name, false); err != nil {
		o.syncErr = fmt.Errorf("certificate published to the fleet (generation %d) but not installed here: %w", gen, err)
		return res, nil
	}
	paths, err := o.Host.Local.CurrentPaths(req.Name)
	if err != nil {
		o.syncErr = fmt.Errorf("certificate published to the fleet (generation %d) but not installed here: %w", gen, err)
		return res, nil
	}
	paths.Leaf = res.Leaf
	res.Installed = paths
	return res, nil
}

// Deploy implements lifecycle.Storage: this host's deploy hooks, with
// deploy_pending in its local state.
func (o *ObtainStorage) Deploy(ctx context.Context, hooks *hook.Manager, c hook.Cert, res *issue.Result) error {
	defer o.release()
	if o.syncErr != nil {
		return o.syncErr
	}
	return hooks.Deploy(ctx, c, lifecycle.HookInstalled(res.Installed, res.Leaf.NotAfter), lifecycle.RecordDeploy(o.Host.Local, c.Name))
}

// release drops the local flock taken by Issue, once.
func (o *ObtainStorage) release() {
	if o.unlock != nil {
		o.unlock()
		o.unlock = nil
	}
}
