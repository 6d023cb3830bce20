package lifecycle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/internal/testenv"
)

// adopted returns a store holding certificate name (a self-signed
// certificate for names, adopted like an import) with settings s.
func adopted(t *testing.T, name string, s *store.Settings) *store.Dir {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, key := testenv.SelfSigned(t, s.Names.Strings()...)
	files := store.Files{Cert: leaf, Fullchain: leaf, PrivKey: key}
	if err := Adopt(st, name, files, s); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestFill: the run's values fill only what stored settings lack; config
// hooks are split, and one that does not parse fails only a certificate
// that would use it.
func TestFill(t *testing.T) {
	d := Defaults{Account: "run", CABundle: "/run.pem", ACMEVersion: "2", Email: []string{"run@example.com"},
		ConfigFile: "/etc/acmectl/config.yaml", HookTimeout: "1m", HookEnv: []string{"FOO", "FOO", "BAR"}}
	d.Hooks.Deploy = []string{"/usr/bin/touch /tmp/x"}
	d.Hooks.Pre = []string{`"unterminated`}

	empty := &store.Settings{Hooks: store.Hooks{Pre: [][]string{{"/bin/true"}}}}
	if err := Fill(empty, d); err != nil {
		t.Fatal(err)
	}
	want := &store.Settings{Account: "run", CABundle: "/run.pem", ACMEVersion: "2", Email: []string{"run@example.com"},
		HookTimeout: "1m", HookEnv: []string{"FOO", "BAR"},
		Hooks: store.Hooks{Pre: [][]string{{"/bin/true"}}, Deploy: [][]string{{"/usr/bin/touch", "/tmp/x"}}}}
	if !reflect.DeepEqual(empty, want) {
		t.Errorf("filled:\n%+v\nwant\n%+v", empty, want)
	}

	stored := &store.Settings{Account: "mine", CABundle: "/mine.pem", ACMEVersion: "1", Email: []string{"me@example.com"},
		HookTimeout: "5s", HookEnv: []string{"MINE"},
		Hooks: store.Hooks{Pre: [][]string{{"/bin/true"}}, Deploy: [][]string{{"/bin/mine"}}}}
	before := clone(stored)
	if err := Fill(stored, d); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stored, before) {
		t.Errorf("Fill overrode stored settings:\n%+v\nwas\n%+v", stored, before)
	}

	noPre := &store.Settings{}
	if err := Fill(noPre, d); err == nil {
		t.Error("a config pre-hook that does not parse: no error for a certificate that uses it")
	}
	bad := Defaults{ConfigFile: "/c.yaml", HookEnv: []string{"ACMECTL_SECRET"}}
	var se *store.SettingsError
	if err := Fill(&store.Settings{}, bad); !errors.As(err, &se) {
		t.Errorf("hook-env ACMECTL_SECRET: %v; want a *store.SettingsError", err)
	}
}

// TestRedeploy: acmectl deploy runs the stored (or filled) deploy hooks
// under the lock and keeps deploy_pending in step with their outcome.
func TestRedeploy(t *testing.T) {
	ctx := context.Background()
	marker := filepath.Join(t.TempDir(), "deployed")
	s := &store.Settings{Names: client.MustNames("deploy.example.test"), Server: "https://ca.test/dir",
		Hooks: store.Hooks{Deploy: [][]string{{"/usr/bin/touch", marker}}}}
	st := adopted(t, "web", s)
	m := &hook.Manager{Env: []string{"PATH=/usr/bin:/bin"}}

	d, err := Redeploy(ctx, st, m, "web", nil, time.Second)
	if err != nil || d.HookErr != nil || d.Hooks != 1 {
		t.Fatalf("Redeploy: %+v, %v", d, err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("deploy hook did not run: %v", err)
	}

	// A failing hook filled from the run's defaults: deploy_pending set.
	s.Hooks.Deploy = nil
	if err := st.SaveSettings("web", s); err != nil {
		t.Fatal(err)
	}
	fill := func(s *store.Settings) error {
		return Fill(s, Defaults{Hooks: struct{ Pre, Post, Deploy, Failure []string }{Deploy: []string{"/bin/false"}}})
	}
	d, err = Redeploy(ctx, st, m, "web", fill, time.Second)
	if err != nil || d.HookErr == nil {
		t.Fatalf("Redeploy with a failing hook: %+v, %v; want a hook error", d, err)
	}
	if state, _ := st.LoadState("web"); !state.DeployPending {
		t.Error("deploy_pending not set after a failed deploy hook")
	}
	d, err = Redeploy(ctx, st, m, "web", nil, time.Second)
	if err != nil || d.HookErr != nil || d.Hooks != 0 {
		t.Fatalf("Redeploy without hooks: %+v, %v", d, err)
	}
	if state, _ := st.LoadState("web"); state.DeployPending {
		t.Error("deploy_pending still set after a successful deploy")
	}

	// Settings but nothing installed.
	if err := st.SaveSettings("new", s); err != nil {
		t.Fatal(err)
	}
	if _, err := Redeploy(ctx, st, m, "new", nil, time.Second); !errors.Is(err, ErrNotIssued) {
		t.Errorf("Redeploy of a certificate never issued: %v; want ErrNotIssued", err)
	}
}

// TestReconfigureWithoutOrder: reconfigure that keeps the names stores
// the merged settings without ordering (no engine is needed), and
// --new-name moves the certificate, refusing a name in use.
func TestReconfigureWithoutOrder(t *testing.T) {
	ctx := context.Background()
	s := &store.Settings{Names: client.MustNames("rc.example.test"), Server: "https://ca.test/dir", KeyType: "ec256"}
	st := adopted(t, "rc", s)
	o := &Obtainer{Store: st, Hooks: &hook.Manager{}}

	merged, ch := Merge(s, Given{Hooks: HooksGiven{Deploy: &[][]string{{"/bin/true"}}}})
	if ch.Reorders() {
		t.Fatalf("a hook change reorders: %+v", ch)
	}
	out, err := o.Reconfigure(ctx, "rc", Plan{Name: "rc", Stored: s, Settings: merged, Changes: ch}, time.Second)
	if err != nil || out.Ordered {
		t.Fatalf("Reconfigure: %+v, %v", out, err)
	}
	if got, _ := st.LoadSettings("rc"); len(got.Hooks.Deploy) != 1 {
		t.Errorf("stored hooks = %v; want the new deploy hook", got.Hooks.Deploy)
	}

	out, err = o.Reconfigure(ctx, "rc", Plan{Name: "web", Stored: merged, Settings: merged}, time.Second)
	if err != nil || out.Ordered {
		t.Fatalf("Reconfigure --new-name: %+v, %v", out, err)
	}
	if st.Exists("rc") || !st.Exists("web") {
		t.Fatalf("after the rename: rc exists %v, web exists %v", st.Exists("rc"), st.Exists("web"))
	}
	if files, _, err := st.Current("web"); err != nil || len(files.Cert) == 0 {
		t.Errorf("web has no current version: %v", err)
	}
	if err := st.SaveSettings("other", merged); err != nil {
		t.Fatal(err)
	}
	var pe *PlanError
	if _, err := o.Reconfigure(ctx, "web", Plan{Name: "other", Stored: merged, Settings: merged}, time.Second); !errors.As(err, &pe) {
		t.Errorf("--new-name onto an existing certificate: %v; want a *PlanError", err)
	}
	if !st.Exists("web") {
		t.Error("the refused rename removed the certificate")
	}
}

// TestFindStoredAndMarkRevoked: revoke finds the stored certificate of a
// leaf by its bytes and records the revocation, dropping the ARI window.
func TestFindStoredAndMarkRevoked(t *testing.T) {
	st := adopted(t, "rv", &store.Settings{Names: client.MustNames("rv.example.test"), Server: "https://ca.test/dir"})
	files, _, err := st.Current("rv")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := LeafOf(files.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if name, err := FindStored(st, leaf); err != nil || name != "rv" {
		t.Fatalf("FindStored = %q, %v; want rv", name, err)
	}
	other := *leaf
	other.Raw = append([]byte{}, leaf.Raw[:len(leaf.Raw)-1]...)
	if name, err := FindStored(st, &other); err != nil || name != "" {
		t.Errorf("FindStored of another certificate = %q, %v; want none", name, err)
	}
	state, _ := st.LoadState("rv")
	state.ARI = &store.ARIState{}
	if err := st.SaveState("rv", state); err != nil {
		t.Fatal(err)
	}
	if err := MarkRevoked(st, "rv"); err != nil {
		t.Fatal(err)
	}
	if state, _ := st.LoadState("rv"); !state.Revoked || state.ARI != nil {
		t.Errorf("state after MarkRevoked: revoked %v, ARI %v; want revoked and no ARI", state.Revoked, state.ARI)
	}
}
