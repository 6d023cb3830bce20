package registry

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/acmectl/acmectl/challenges/dns01/providers"
	"github.com/acmectl/acmectl/challenges/dns01/providers/plugin"
)

func TestTableIsSortedAndUnique(t *testing.T) {
	var names []string
	for _, s := range specs() {
		if s.New == nil || s.Summary == "" {
			t.Errorf("%s: New and Summary are required", s.Name)
		}
		if !plugin.ValidName(s.Name) || slices.Contains(Builtin(), s.Name) {
			t.Errorf("%q: not a valid provider name", s.Name)
		}
		names = append(names, s.Name)
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("table names not sorted and unique: %v", names)
	}
}

func TestUnknownAndValidNames(t *testing.T) {
	for _, n := range []string{"rfc2136", "manual", "my-plugin"} {
		if !ValidName(n) {
			t.Errorf("ValidName(%q) = false", n)
		}
	}
	for _, n := range []string{"", "../x", "a b", "UPPER", strings.Repeat("a", 70)} {
		if ValidName(n) {
			t.Errorf("ValidName(%q) = true", n)
		}
	}
	_, err := New("no-such-provider", providers.Config{})
	if err == nil || !strings.Contains(err.Error(), "no acmectl-dns-no-such-provider in") {
		t.Fatalf("err = %v; want an error naming the plugin looked for", err)
	}
	_, err = New("../x", providers.Config{})
	var ue *UnknownError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v; want an UnknownError", err)
	}
}
