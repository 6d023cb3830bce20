package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/store"
)

// ErrNotIssued: the certificate has settings but no installed version yet.
var ErrNotIssued = errors.New("no certificate yet")

// Deployed is what Redeploy did.
type Deployed struct {
	// Hooks is the number of deploy hooks of the certificate.
	Hooks int
	// HookErr is a deploy hook's failure (deploy_pending stays set).
	HookErr error
}

// Redeploy runs certificate name's deploy hooks again for its live version
// (acmectl deploy), under its lock: settings filled by fill (may be nil),
// deploy_pending cleared on success and kept on failure.
func Redeploy(ctx context.Context, st *store.Dir, hooks *hook.Manager, name string, fill func(*store.Settings) error, lockWait time.Duration) (Deployed, error) {
	unlock, err := st.LockCert(ctx, name, lockWait)
	if err != nil {
		return Deployed{}, err
	}
	defer unlock()
	s, err := st.LoadSettings(name)
	if err != nil {
		return Deployed{}, err
	}
	if fill != nil {
		if err := fill(s); err != nil {
			return Deployed{}, err
		}
	}
	state, err := st.LoadState(name)
	if err != nil {
		return Deployed{}, err
	}
	paths, err := st.CurrentPaths(name)
	if errors.Is(err, store.ErrNotFound) {
		return Deployed{}, fmt.Errorf("%s has %w: nothing to deploy", name, ErrNotIssued)
	} else if err != nil {
		return Deployed{}, err
	}
	herr := hooks.Deploy(ctx, HookCert(name, s), HookInstalled(paths, state.NotAfter), RecordDeploy(st, name))
	return Deployed{Hooks: len(s.Hooks.Deploy), HookErr: herr}, nil
}
