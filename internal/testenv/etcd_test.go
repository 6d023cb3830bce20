package testenv

import (
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEtcdPortTaken: when another process holds the client port between
// the check and etcd's bind, start reports etcd's exit at once (StartEtcd
// then tries other ports) instead of polling for 30 s and failing the test
// with "not ready".
func TestEtcdPortTaken(t *testing.T) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("etcd not installed")
	}
	held, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(FreePort(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	port := held.Addr().(*net.TCPAddr).Port
	e := &Etcd{bin: bin, t: t, DataDir: filepath.Join(t.TempDir(), "etcd"), log: &SyncBuffer{},
		clientPort: port, peerPort: FreePort(t), Endpoint: "127.0.0.1:" + strconv.Itoa(port)}
	defer e.Stop()
	err = e.start()
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("start on a taken port: %v; want etcd's 'address already in use'", err)
	}
}

// TestFreePortOutsideEphemeralRange: ports handed out are below the
// kernel's ephemeral range, where no outgoing connection takes them.
func TestFreePortOutsideEphemeralRange(t *testing.T) {
	lo, hi := portRange()
	if hi == 0 {
		t.Skip("the ephemeral range leaves no room below it")
	}
	for range 50 {
		if p := FreePort(t); p < lo || p > hi {
			t.Fatalf("FreePort = %d; want within [%d, %d]", p, lo, hi)
		}
	}
}
