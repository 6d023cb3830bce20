package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoPath matches a path of this repository named in prose or code:
// it starts at one of the top-level directories.
var repoPath = regexp.MustCompile("(?:^|[\\s`(|])((?:cmd|client|challenges|internal|renew|test|scripts|packaging|examples|docs)/[A-Za-z0-9_.*/-]*[A-Za-z0-9_*])")

// TestArchitectureNamesExistingFiles: docs/dev/architecture.md names only
// files and directories that exist (globs allowed), and lists every Go
// package of the module in its package map.
// outsideDoc is the product-surface document kept outside the repository;
// spelt in two parts so that this check does not cite it itself.
const outsideDoc = "DESIGN" + ".md"

func TestArchitectureNamesExistingFiles(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "dev", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range repoPath.FindAllStringSubmatch(string(doc), -1) {
		p := strings.TrimSuffix(m[1], ".")
		matches, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil || len(matches) == 0 {
			t.Errorf("architecture.md names %s, which does not exist", p)
		}
	}
	// Every package directory (a directory with non-test Go files) is in
	// the map, as `dir` (alone or in a list of the first column).
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil && rel != "." {
			return filepath.SkipDir // another module (test/v1compat) is named, not walked
		}
		goFiles, _ := filepath.Glob(filepath.Join(p, "*.go"))
		var prod bool
		for _, f := range goFiles {
			prod = prod || !strings.HasSuffix(f, "_test.go")
		}
		if !prod || rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if !strings.Contains(string(doc), "`"+rel+"`") && !strings.Contains(string(doc), rel+"/") && !coveredByParent(string(doc), rel) {
			t.Errorf("package %s is not in architecture.md's package map", rel)
		}
		return nil
	})
}

// coveredByParent: a provider or test helper below a package the map
// describes as a group (challenges/dns01/providers/..., .../dnstest).
func coveredByParent(doc, rel string) bool {
	for p := rel; strings.Contains(p, "/"); p = p[:strings.LastIndex(p, "/")] {
		if strings.Contains(doc, "under `"+p+"`") {
			return true
		}
	}
	return false
}

// TestCommentsCiteRepositoryFiles: Go comments cite the repository's own
// docs, never a design file that is not in it.
func TestCommentsCiteRepositoryFiles(t *testing.T) {
	root := filepath.Join("..", "..")
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "architecture_test.go") {
			b, err := os.ReadFile(p)
			if err == nil && strings.Contains(string(b), outsideDoc) {
				t.Errorf("%s cites %s, which is not in the repository: cite the docs/ page", p, outsideDoc)
			}
		}
		return nil
	})
}
