package lifecycle

import (
	"time"

	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/store"
)

// HookCert is what the hook manager needs of certificate name with
// settings s.
func HookCert(name string, s *store.Settings) hook.Cert {
	c := hook.Cert{Name: name, Domains: s.Names.Strings(), Server: s.Server,
		Hooks: hook.Hooks{Pre: s.Hooks.Pre, Post: s.Hooks.Post, Deploy: s.Hooks.Deploy, Failure: s.Hooks.Failure}, Pass: s.HookEnv}
	if d, err := time.ParseDuration(s.HookTimeout); err == nil && d > 0 {
		c.Timeout = d
	}
	return c
}

// HookInstalled locates an installed version for the deploy hooks.
func HookInstalled(inst *store.Installed, notAfter time.Time) hook.Installed {
	return hook.Installed{Cert: inst.Cert, Key: inst.PrivKey, Chain: inst.Chain, Fullchain: inst.Fullchain, NotAfter: notAfter}
}

// RecordDeploy is the deploy_pending writer for a local certificate: the
// hook manager calls it after the deploy hooks ran.
func RecordDeploy(st *store.Dir, name string) func(pending bool) error {
	return func(pending bool) error {
		state, err := st.LoadState(name)
		if err != nil {
			return err
		}
		if state.DeployPending == pending {
			return nil
		}
		state.DeployPending = pending
		return st.SaveState(name, state)
	}
}
