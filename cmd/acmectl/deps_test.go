package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoEtcdInAcmectl: the acmectl binary links no etcd, grpc, protobuf
// or zap package. Go runs every linked package's initialisation on every
// start, so they belong in the acmectl-etcd helper, which acmectl starts
// only for --storage etcd:// (docs/dev/fleet-transport.md).
func TestNoEtcdInAcmectl(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		for _, bad := range []string{"go.etcd.io/", "google.golang.org/grpc", "google.golang.org/protobuf", "github.com/golang/protobuf", "github.com/gogo/protobuf", "go.uber.org/zap"} {
			if strings.HasPrefix(p, bad) {
				t.Errorf("acmectl links %s", p)
			}
		}
	}
}

// TestNoMethodLookupByName: no reachable function looks a method up by
// name (reflect's Method/MethodByName with a computed name, e.g. a
// text/template execution). One such call makes the linker keep every
// exported method of every linked type: the binary grew by 2.4 MB, all
// of it mapped into every run (peak RSS of a one-name obtain 16.0 MB
// instead of 14.2). The linker marks such functions <ReflectMethod> in
// its -dumpdep output.
func TestNoMethodLookupByName(t *testing.T) {
	if testing.Short() {
		t.Skip("links acmectl")
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-dumpdep", "-o", t.TempDir()+"/acmectl", ".")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build -ldflags=-dumpdep: %v\n%.2000s", err, out)
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		from, _, _ := strings.Cut(l, " -> ")
		if strings.HasSuffix(from, " <ReflectMethod>") && !seen[from] {
			seen[from] = true
			t.Errorf("reachable method lookup by name: %s", strings.TrimSuffix(from, " <ReflectMethod>"))
		}
	}
}
