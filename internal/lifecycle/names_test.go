package lifecycle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/store"
)

// TestObtainRefusesMistypedIdentifier: a plan's identifiers are used as
// typed; one the parser would type otherwise (a "dns" 192.0.2.1) makes the
// plan a *PlanError before any request, and nothing is stored.
func TestObtainRefusesMistypedIdentifier(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	o := &Obtainer{Store: st, Engine: &issue.Engine{Store: st}, Hooks: &hook.Manager{}}
	for _, names := range []client.Names{
		{{Type: "dns", Value: "192.0.2.1"}},
		{{Type: "dns", Value: "a.example"}, {Type: "ip", Value: "b.example"}},
	} {
		s, ch := Merge(nil, Given{Names: names, Server: ptr("https://127.0.0.1:1/dir"), Solvers: &SolverSpec{HTTP01Addrs: []string{"127.0.0.1:0"}}})
		_, err := o.Obtain(context.Background(), Plan{Name: "x", Settings: s, Changes: ch})
		var pe *PlanError
		var ne *client.NameError
		if !errors.As(err, &pe) || !errors.As(err, &ne) {
			t.Errorf("names %+v: %v; want a *PlanError for a *client.NameError", names, err)
		}
	}
	if names, err := st.List(); err != nil || len(names) != 0 {
		t.Errorf("stored %v, %v; want nothing", names, err)
	}
}

// TestStoredNamesAsParsed: names read back from settings.yaml are what the
// parser makes of the same text on the command line, so giving the stored
// names again changes nothing (an IP address stays an IP address, a DNS
// name a DNS name).
func TestStoredNamesAsParsed(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(st.Root(), "certificates", "c")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	raw := "names: ['192.0.2.1', '2001:db8::1', '*.example.com', 'example.com']\nserver: https://ca.example/dir\n"
	if err := os.WriteFile(filepath.Join(dir, "settings.yaml"), []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	stored, err := st.LoadSettings("c")
	if err != nil {
		t.Fatal(err)
	}
	var given client.Names
	for _, n := range []string{"example.com", "*.example.com", "2001:DB8::1", "192.0.2.1"} {
		id, err := client.ParseIdentifier(n)
		if err != nil {
			t.Fatal(err)
		}
		given = append(given, id)
	}
	if _, ch := Merge(stored, Given{Names: given}); ch.Any() || len(ch.Added)+len(ch.Removed) > 0 {
		t.Errorf("the stored names given again differ: %+v", ch)
	}
}
