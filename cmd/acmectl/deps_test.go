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
