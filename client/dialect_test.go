package client_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// v1Line is the one line outside client/v1*.go that refers to the legacy
// dialect, and what it becomes when v1 is deleted.
const (
	v1Line        = "return c.newV1(dir)"
	v1Replacement = `return nil, &UnsupportedError{Feature: "legacy ACME v1", Dialect: "ACME v1"}`
)

// TestV1Deletable proves that legacy v1 is deletable as client/v1*.go plus
// one line: with those files removed and that line replaced (a go build
// -overlay, so the module is not copied and the build cache serves every
// package that does not import client), the whole module and client's own
// tests still build, and no other file names the dialect.
func TestV1Deletable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the module")
	}
	// The go command on PATH (runtime.GOROOT is empty under -trimpath,
	// which make test uses); GOTOOLCHAIN, if set, picks the release.
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	replace := map[string]string{}

	v1Files, err := filepath.Glob(filepath.Join(root, "client", "v1*.go"))
	if err != nil || len(v1Files) == 0 {
		t.Fatalf("no client/v1*.go files (%v)", err)
	}
	for _, f := range v1Files {
		replace[f] = "" // deleted
	}
	// Exactly one line in the rest of client names the v1 code.
	var hits []string
	goFiles, _ := filepath.Glob(filepath.Join(root, "client", "*.go"))
	for _, f := range goFiles {
		if _, gone := replace[f]; gone || strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(v1Line)) {
			hits = append(hits, filepath.Base(f))
			edited := filepath.Join(tmp, filepath.Base(f))
			if err := os.WriteFile(edited, bytes.Replace(b, []byte(v1Line), []byte(v1Replacement), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			replace[f] = edited
		}
	}
	if len(hits) != 1 {
		t.Fatalf("the line %q is in %v, want exactly one file", v1Line, hits)
	}

	// The dialect's name is declared with it: no code outside decides by
	// it (the CLI and the engine ask Directory.Supports, Retired, ...).
	var named []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if _, gone := replace[p]; !gone && !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("DialectV1")) {
				named = append(named, strings.TrimPrefix(p, root+string(filepath.Separator)))
			}
		}
		return nil
	})
	if len(named) > 0 {
		t.Errorf("outside client/v1*.go, these files name DialectV1: %v", named)
	}

	overlay, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		t.Fatal(err)
	}
	ovl := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ovl, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	// One type-checking pass over the whole module, tests included, is the
	// proof: vet fails on any compile error, as build would, without
	// generating or linking code (half the time of build plus vet).
	cmd := exec.Command(goBin, "vet", "-overlay", ovl, "./...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly "+os.Getenv("GOFLAGS"), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("without client/v1*.go, go vet ./...: %v\n%s", err, out)
	}
}
