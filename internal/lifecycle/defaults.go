package lifecycle

import (
	"fmt"
	"slices"

	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/store"
)

// Defaults are the values of one run (flags, env, config file) that fill
// what a stored certificate's settings lack when it is renewed or
// deployed: they fill, never override (docs/guide.md "Configuration").
// Hooks, the hook timeout and hook-env come from the config file only
// (never from env); the caller leaves them empty otherwise.
type Defaults struct {
	Account, CABundle, ACMEVersion string
	Email                          []string
	// ConfigFile names the config file in errors about its hooks.
	ConfigFile  string
	HookTimeout string
	// HookEnv are the config file's hook-env names, unchecked.
	HookEnv []string
	// Hooks are the config file's hook command lines, unsplit.
	Hooks struct{ Pre, Post, Deploy, Failure []string }
}

// Fill sets every key s lacks from d. A hook line or hook-env name of the
// config file that does not parse is an error only for a certificate
// that would use it.
func Fill(s *store.Settings, d Defaults) error {
	if s.Account == "" {
		s.Account = d.Account
	}
	if s.CABundle == "" {
		s.CABundle = d.CABundle
	}
	if s.ACMEVersion == "" {
		s.ACMEVersion = d.ACMEVersion
	}
	if len(s.Email) == 0 {
		s.Email = d.Email
	}
	if s.HookTimeout == "" {
		s.HookTimeout = d.HookTimeout
	}
	if len(s.HookEnv) == 0 && len(d.HookEnv) > 0 {
		var names []string
		for _, n := range d.HookEnv {
			if err := hook.ValidPassName(n); err != nil {
				return &store.SettingsError{Path: d.ConfigFile, Msg: "--" + err.Error()}
			}
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		s.HookEnv = names
	}
	for _, kind := range []struct {
		key   string
		lines []string
		dst   *[][]string
	}{{"pre-hook", d.Hooks.Pre, &s.Hooks.Pre}, {"post-hook", d.Hooks.Post, &s.Hooks.Post},
		{"deploy-hook", d.Hooks.Deploy, &s.Hooks.Deploy}, {"failure-hook", d.Hooks.Failure, &s.Hooks.Failure}} {
		if len(*kind.dst) > 0 {
			continue
		}
		for _, h := range kind.lines {
			argv, err := hook.Split(h)
			if err != nil {
				return fmt.Errorf("config %s %s %q: %w", d.ConfigFile, kind.key, h, err)
			}
			*kind.dst = append(*kind.dst, argv)
		}
	}
	return nil
}
