package main

import (
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// fixed are the first releases with the fixes for the advisories
// govulncheck reported as reachable (issue 14 item 12): on Go 1.26.8,
// golang.org/x/net v0.57.0 and google.golang.org/grpc v1.71.1 `make
// vulncheck` found 15 (GO-2026-6809 in crypto/x509 among them, an OOM
// reachable from a malicious etcd in grpc).
var fixed = map[string]string{
	"golang.org/x/net":       "v0.60.0",
	"google.golang.org/grpc": "v1.83.1",
}

const fixedToolchain = "go1.26.10"

// TestFixedReleasesPinned fails when go.mod requires a module older than
// its fixed release, or the Makefile's GOTOOLCHAIN (which the release build
// and make test use; the machines' own Go is older) is older than the fixed
// Go release. Run through make, the test binary itself must come from that
// toolchain. `make vulncheck` is the full check; this one is cheap enough
// for every test run and keeps a downgrade from slipping in unnoticed.
func TestFixedReleasesPinned(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range fixed {
		m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(path) + `\s+(v\S+)`).FindSubmatch(mod)
		if m == nil {
			t.Errorf("go.mod does not require %s", path)
			continue
		}
		if got := string(m[1]); less(got, want) {
			t.Errorf("go.mod requires %s %s; want %s or later (vulnerability fixes)", path, got, want)
		}
	}
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^export GOTOOLCHAIN\s*:?=\s*(go\S+)`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile does not export GOTOOLCHAIN")
	}
	if got := string(m[1]); less(got, fixedToolchain) {
		t.Errorf("Makefile GOTOOLCHAIN %s; want %s or later (crypto/x509 and net/http fixes)", got, fixedToolchain)
	}
	if tc := os.Getenv("GOTOOLCHAIN"); strings.HasPrefix(tc, "go") && less(runtime.Version(), fixedToolchain) {
		t.Errorf("GOTOOLCHAIN=%s but this test was built by %s", tc, runtime.Version())
	}
}

// less compares versions like v1.83.1 or go1.26.10 numerically (suffixes
// such as pre-release tags are ignored).
func less(a, b string) bool {
	na, nb := nums(a), nums(b)
	for i := range max(len(na), len(nb)) {
		x, y := at(na, i), at(nb, i)
		if x != y {
			return x < y
		}
	}
	return false
}

func nums(v string) []int {
	v = strings.TrimPrefix(strings.TrimPrefix(v, "go"), "v")
	if i := strings.IndexAny(v, "-+abcdefghijklmnopqrstuvwxyz"); i >= 0 {
		v = v[:i]
	}
	var out []int
	for _, p := range strings.Split(v, ".") {
		n, _ := strconv.Atoi(p)
		out = append(out, n)
	}
	return out
}

func at(s []int, i int) int {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func TestLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"v0.57.0", "v0.60.0", true}, {"v0.60.0", "v0.60.0", false}, {"v0.61.0", "v0.60.0", false},
		{"v1.71.1", "v1.83.1", true}, {"v1.83.1", "v1.83.1", false}, {"v1.100.0", "v1.83.1", false},
		{"go1.26.8", "go1.26.10", true}, {"go1.26.10", "go1.26.10", false}, {"go1.27", "go1.26.10", false},
	} {
		if got := less(c.a, c.b); got != c.want {
			t.Errorf("less(%s, %s) = %v; want %v", c.a, c.b, got, c.want)
		}
	}
}
