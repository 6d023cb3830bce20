package plugin

import (
	"regexp"
	"strings"
	"testing"
)

// TestValidNameMatchesGrammar: the loop accepts exactly
// ^[a-z0-9][a-z0-9_-]{0,62}$.
func TestValidNameMatchesGrammar(t *testing.T) {
	re := regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	for _, n := range []string{"", "a", "0", "-a", "_a", "a-", "a_b", "my-plugin", "A", "a.b", "a/b", "a b", "é",
		strings.Repeat("a", 63), strings.Repeat("a", 64), "a" + strings.Repeat("-", 62), "a\n"} {
		if got, want := ValidName(n), re.MatchString(n); got != want {
			t.Errorf("ValidName(%q) = %v; want %v", n, got, want)
		}
	}
}
