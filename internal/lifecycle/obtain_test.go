package lifecycle

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/internal/testenv"
)

// TestObtainAgainstPebble: the issuance path of the lifecycle owner
// against a real Pebble: a first order stores settings and state; the same
// plan again orders nothing and stores only renewal settings, but orders
// once the stored ARI window has passed (renew's policy); a new profile
// orders anew; a first order the CA refuses leaves no entry.
func TestObtainAgainstPebble(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Pebble")
	}
	p := testenv.StartPebble(t, testenv.PebbleOptions{Blocklist: []string{"blocked.example.test"}, Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	st, err := store.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	o := &Obtainer{Store: st, Engine: &issue.Engine{Store: st, Getenv: os.Getenv}, Hooks: &hook.Manager{}}
	acct := issue.AccountOptions{AcceptTOS: true}
	given := Given{Names: client.MustNames("life.example.test"), Server: &p.DirURL, CABundle: &p.CABundle,
		Solvers: &SolverSpec{HTTP01Addrs: []string{fmt.Sprintf("127.0.0.1:%d", p.HTTPPort)}}}
	plan := func(name string, g Given) Plan {
		t.Helper()
		stored, err := st.LoadSettings(name)
		if err != nil {
			stored = nil
		}
		s, ch := Merge(stored, g)
		return Plan{Name: name, Stored: stored, Settings: s, Changes: ch, Account: acct}
	}
	ctx := testenv.Context(t, 2*time.Minute)

	out, err := o.Obtain(ctx, plan("life", given))
	if err != nil || !out.Ordered || out.Result.Installed == nil {
		t.Fatalf("first obtain: %+v, %v", out, err)
	}
	if s, err := st.LoadSettings("life"); err != nil || s.Server != p.DirURL {
		t.Fatalf("settings after the first obtain: %+v, %v", s, err)
	}
	// Same plan plus a hook (renewal only): nothing ordered, hook stored.
	withHook := given
	withHook.Hooks.Deploy = &[][]string{{"/bin/true"}}
	out, err = o.Obtain(ctx, plan("life", withHook))
	if err != nil || out.Ordered {
		t.Fatalf("second obtain: %+v, %v; want current", out, err)
	}
	if s, _ := st.LoadSettings("life"); len(s.Hooks.Deploy) != 1 {
		t.Errorf("renewal setting not stored: %+v", s.Hooks)
	}
	if got := p.Count("POST /order-plz 201"); got != 1 {
		t.Errorf("orders = %d; want 1", got)
	}
	// The CA's renewal window (stored by a renew pass) has passed: by the
	// policy renew follows the certificate is due although its lifetime
	// rule is weeks away, so obtain orders instead of "is current".
	state, err := st.LoadState("life")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	state.ARI = &store.ARIState{WindowStart: now.Add(-2 * time.Hour), WindowEnd: now.Add(-time.Hour), ChosenTime: now.Add(-90 * time.Minute), FetchedAt: now, NextFetch: now.Add(time.Hour)}
	if err := st.SaveState("life", state); err != nil {
		t.Fatal(err)
	}
	if out, err = o.Obtain(ctx, plan("life", given)); err != nil || !out.Ordered {
		t.Fatalf("obtain past the stored ARI window: %+v, %v; want an order (due as renew sees it)", out, err)
	}
	if got := p.Count("POST /order-plz 201"); got != 2 {
		t.Errorf("orders = %d; want 2", got)
	}
	// A certificate-shaping change (profile) orders now.
	shaped := given
	shaped.Profile = ptr("shortlived")
	if out, err = o.Obtain(ctx, plan("life", shaped)); err != nil || !out.Ordered {
		t.Fatalf("obtain with a new profile: %+v, %v; want an order", out, err)
	}
	// A first order the CA refuses: no entry left.
	refused := given
	refused.Names = client.MustNames("www.blocked.example.test")
	if _, err := o.Obtain(ctx, plan("refused", refused)); err == nil {
		t.Fatal("refused first obtain succeeded")
	}
	if names, _ := st.List(); len(names) != 1 || names[0] != "life" {
		t.Errorf("certificates after a refused first obtain: %v; want [life]", names)
	}
	if st.Exists("refused") {
		t.Error("the refused certificate's directory is left")
	}
}

func ptr[T any](v T) *T { return &v }
