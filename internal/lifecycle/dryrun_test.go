package lifecycle

import (
	"errors"
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

// pebbleObtainer starts Pebble and returns an engine and an Obtainer on a
// fresh state directory.
func pebbleObtainer(t *testing.T) (*testenv.Pebble, *issue.Engine, *Obtainer) {
	t.Helper()
	p := testenv.StartPebble(t, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	st, err := store.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	eng := &issue.Engine{Store: st, Getenv: os.Getenv}
	return p, eng, &Obtainer{Store: st, Engine: eng, Hooks: &hook.Manager{}}
}

// pebbleHTTP01 answers Pebble's http-01 challenges.
func pebbleHTTP01(p *testenv.Pebble) *SolverSpec {
	return &SolverSpec{HTTP01Addrs: []string{fmt.Sprintf("127.0.0.1:%d", p.HTTPPort)}}
}

func TestDryRunServer(t *testing.T) {
	for in, want := range map[string]string{
		LetsEncrypt:                                      LetsEncryptStaging,
		LetsEncryptStaging:                               LetsEncryptStaging,
		"https://acme.zerossl.com/v2/DV90":               "https://acme.zerossl.com/v2/DV90",
		"https://127.0.0.1:14000/dir":                    "https://127.0.0.1:14000/dir",
		"https://acme-v01.api.letsencrypt.org/directory": "https://acme-v01.api.letsencrypt.org/directory",
	} {
		if got := DryRunServer(in); got != want {
			t.Errorf("DryRunServer(%s) = %s; want %s", in, got, want)
		}
	}
}

// TestObtainDryRunStaging: a dry run of a certificate whose settings name
// Let's Encrypt orders from its staging CA: Obtain switches the server
// itself (Staged hears it before the order; the account is registered
// under the staging server, never production's) and writes no certificate
// entry. The engine's HTTP client is Pebble's, whatever the server URL.
func TestObtainDryRunStaging(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Pebble")
	}
	p, eng, o := pebbleObtainer(t)
	st := o.Store
	eng.HTTPClient = func(string) (*client.Client, error) { return testenv.PebbleClient(t, p, nil), nil }
	s, _ := Merge(nil, Given{Names: client.MustNames("dry.example.test"), Server: ptr(LetsEncrypt), Solvers: pebbleHTTP01(p)})
	var staged []string
	plan := Plan{Name: "dry", Settings: s, DryRun: true, Account: issue.AccountOptions{AcceptTOS: true},
		Staged: func(server string) { staged = append(staged, server) }}

	out, err := o.Obtain(testenv.Context(t, 2*time.Minute), plan)
	if err != nil || !out.Ordered {
		t.Fatalf("dry run: %+v, %v", out, err)
	}
	if len(staged) != 1 || staged[0] != LetsEncryptStaging {
		t.Errorf("Staged heard %v; want [%s]", staged, LetsEncryptStaging)
	}
	if out.Server != LetsEncryptStaging {
		t.Errorf("Outcome.Server = %s; want %s", out.Server, LetsEncryptStaging)
	}
	if s.Server != LetsEncrypt {
		t.Errorf("the plan's settings were changed: server %s", s.Server)
	}
	if rec, _, err := st.LoadAccount(LetsEncryptStaging, "default"); err != nil || rec.URL == "" {
		t.Errorf("no account stored for the staging server: %+v, %v", rec, err)
	}
	if _, _, err := st.LoadAccount(LetsEncrypt, "default"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an account was stored for production: %v", err)
	}
	if got := p.Count("POST /order-plz 201"); got != 1 {
		t.Errorf("orders = %d; want 1", got)
	}
	if names, _ := st.List(); len(names) != 0 || st.Exists("dry") {
		t.Errorf("a dry run left certificates %v", names)
	}
}
