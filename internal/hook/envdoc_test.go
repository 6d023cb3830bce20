package hook

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestHookVariablesDocumented: every variable a hook can receive is in the
// user docs' table (docs/renewal.md "Hook environment"), for the events
// that set it.
func TestHookVariablesDocumented(t *testing.T) {
	data, err := os.ReadFile("../../docs/renewal.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	cols := map[Kind]int{Pre: 1, Deploy: 2, Failure: 3, Post: 4}
	full := Event{CertName: "c", Domains: []string{"a.example"}, CertPath: "/p", KeyPath: "/k", ChainPath: "/c", FullchainPath: "/f",
		Server: "https://ca/dir", NotAfter: time.Now(), Lineage: "/l", Renewed: []string{"c"}, Failed: []string{"d"}, Error: "e", ErrorClass: "x"}
	for kind, col := range cols {
		ev := full
		ev.Kind = kind
		for _, kv := range ev.Vars() {
			name, _, _ := strings.Cut(kv, "=")
			row := ""
			for _, line := range strings.Split(doc, "\n") {
				if strings.HasPrefix(line, "| `"+name+"` |") {
					row = line
				}
			}
			if row == "" {
				t.Errorf("%s (%s hooks) is not in docs/renewal.md's hook environment table", name, kind)
				continue
			}
			if cells := strings.Split(row, "|"); len(cells) <= col+1 || strings.TrimSpace(cells[col+1]) != "✓" {
				t.Errorf("docs/renewal.md: %s is not marked for %s hooks", name, kind)
			}
		}
	}
}
