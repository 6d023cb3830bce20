package lifecycle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
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

// TestNoIPGuessOutsideParser: below the command line, no code decides
// whether a name is an IP address or a DNS name from its text:
// client.ParseIdentifier does, once, and the rest go by the typed value.
// A line that parses an address must say why it is no such guess: an
// identifier already typed "ip", or a host that is not a certificate
// name (a server URL's, a dialed one's).
func TestNoIPGuessOutsideParser(t *testing.T) {
	parse := regexp.MustCompile(`net\.ParseIP\(|netip\.ParseAddr\(|netip\.MustParseAddr\(|netip\.ParsePrefix\(`)
	var scanned int
	for _, dir := range []string{"../../cmd/cli", ".", "../issue", "../fleet", "../importer", "../store", "../account", "../../renew"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: %v, %d files", dir, err, len(files))
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			scanned++
			for i, line := range strings.Split(string(data), "\n") {
				if parse.MatchString(line) && !strings.Contains(line, `// typed "ip"`) && !strings.Contains(line, "not a certificate name") {
					t.Errorf("%s:%d decides IP vs DNS from a string; use client.ParseIdentifier or the identifier's type:\n%s", f, i+1, strings.TrimSpace(line))
				}
			}
		}
	}
	if scanned < 50 {
		t.Errorf("scanned %d files; the package list is stale", scanned)
	}
}
