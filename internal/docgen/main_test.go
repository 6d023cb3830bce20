package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReferenceUpToDate fails when docs/reference differs from what the
// command tree generates: run `go generate ./internal/docgen` and commit.
func TestReferenceUpToDate(t *testing.T) {
	want := t.TempDir()
	if err := WriteReference(want); err != nil {
		t.Fatal(err)
	}
	got := filepath.Join("..", "..", "docs", "reference")
	wantFiles := mdFiles(t, want)
	gotFiles := mdFiles(t, got)
	if len(wantFiles) < 2 {
		t.Fatalf("generator wrote %d files; want one per command", len(wantFiles))
	}
	if diff := cmp.Diff(wantFiles, gotFiles); diff != "" {
		t.Fatalf("docs/reference is stale (run `go generate ./internal/docgen`): files differ (-want +got):\n%s", diff)
	}
	for _, f := range wantFiles {
		w, err := os.ReadFile(filepath.Join(want, f))
		if err != nil {
			t.Fatal(err)
		}
		g, err := os.ReadFile(filepath.Join(got, f))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(w), string(g)); diff != "" {
			t.Errorf("docs/reference/%s is stale (run `go generate ./internal/docgen`) (-want +got):\n%s", f, diff)
		}
	}
}

func mdFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "acmectl*.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range m {
		out = append(out, filepath.Base(f))
	}
	slices.Sort(out)
	return out
}

// TestManAndCompletions checks that every visible command gets a man page
// and that the completion scripts are the shells' own formats.
func TestManAndCompletions(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	man, comp := t.TempDir(), t.TempDir()
	if err := run([]string{"-man", man, "-completions", comp, "-version", "v9.9.9"}, os.Stderr); err != nil {
		t.Fatal(err)
	}
	root := tree()
	var want []string
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() {
			want = append(want, "acmectl-"+c.Name()+".1")
		}
	}
	for _, f := range append(want, "acmectl.1") {
		data, err := os.ReadFile(filepath.Join(man, f))
		if err != nil {
			t.Errorf("man page %s: %v", f, err)
			continue
		}
		if !strings.Contains(string(data), `.TH "`) || !strings.Contains(string(data), "acmectl v9.9.9") || !strings.Contains(string(data), "Nov 2023") {
			t.Errorf("man page %s lacks a .TH header with version and SOURCE_DATE_EPOCH date:\n%.300s", f, data)
		}
	}
	for file, marker := range map[string]string{
		"acmectl.bash": "# bash completion V2 for acmectl",
		"_acmectl":     "#compdef acmectl",
		"acmectl.fish": "complete -c acmectl",
	} {
		data, err := os.ReadFile(filepath.Join(comp, file))
		if err != nil {
			t.Errorf("completion %s: %v", file, err)
			continue
		}
		if !strings.Contains(string(data), marker) {
			t.Errorf("completion %s lacks %q", file, marker)
		}
	}
}

func TestGzipManPages(t *testing.T) {
	man := t.TempDir()
	if err := run([]string{"-man", man, "-gzip"}, os.Stderr); err != nil {
		t.Fatal(err)
	}
	plain, _ := filepath.Glob(filepath.Join(man, "*.1"))
	gz, _ := filepath.Glob(filepath.Join(man, "*.1.gz"))
	if len(plain) != 0 || len(gz) < 2 {
		t.Errorf("after -gzip: %d plain pages, %d compressed; want 0 and one per command", len(plain), len(gz))
	}
}

func TestNothingToDo(t *testing.T) {
	if err := run(nil, os.Stderr); err == nil {
		t.Fatal("run() with no flags succeeded; want an error")
	}
}
