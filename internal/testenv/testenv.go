// Package testenv starts the real servers the tests run against (Pebble,
// BIND9, nginx, etcd), each on 127.0.0.1 with free ports, stopped by its own
// PID when the test ends. A test whose server binary is missing is skipped
// with the command that installs it, unless ACMECTL_REQUIRE_SERVERS=1 (set
// by `make test`), where it fails instead: CI must never pass by skipping.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RepoRoot is the module root (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return root
}

// modulePath is this module's path, as its go.mod declares it.
const modulePath = "github.com/acmectl/acmectl"

// moduleRoot finds the module root from the working directory, which go
// test sets to the package's directory: the nearest parent whose go.mod
// declares modulePath (test/v1compat, a module of its own, lies inside).
// Not from the source file's recorded path: under -trimpath (which
// `make test` uses, so that fresh clones share the build cache) that is
// the import path, not a directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			for line := range strings.Lines(string(b)) {
				if f := strings.Fields(line); len(f) == 2 && f[0] == "module" && f[1] == modulePath {
					return dir, nil
				}
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s above the working directory", modulePath)
		}
		dir = parent
	}
}

// LookTool finds a server binary: in $ACMECTL_TOOLS, the repository's .tools
// directory, the PATH, then /usr/sbin and /sbin. hint says how to install it.
func LookTool(t testing.TB, name, hint string) string {
	t.Helper()
	var dirs []string
	if d := os.Getenv("ACMECTL_TOOLS"); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, filepath.Join(RepoRoot(t), ".tools"))
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin"} {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("ACMECTL_REQUIRE_SERVERS") == "1" {
		t.Fatalf("testenv: %s not found (install: %s)", name, hint)
	}
	t.Skipf("testenv: %s not found (install: %s; `make test` does this)", name, hint)
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago,
// for a server that cannot report the port it bound to. The port comes
// from below the kernel's ephemeral range (ip_local_port_range): a port
// the kernel handed out for :0 is one it also hands to the next outgoing
// connection, so between our check and the server's bind any client in
// the test run (Pebble's VA, an HTTP client) could take it — the
// "address already in use" etcd met under load. Prefer letting a server
// bind :0 where it can report its port.
func FreePort(t testing.TB) int {
	t.Helper()
	return freePort(t, false)
}

// FreeUDPTCPPort returns a port free for both TCP and UDP on 127.0.0.1 (for
// DNS servers), chosen as FreePort chooses.
func FreeUDPTCPPort(t testing.TB) int {
	t.Helper()
	return freePort(t, true)
}

// portRange is where freePort draws from: the 16,000 ports below the
// ephemeral range, or none if that range starts too low to leave room.
func portRange() (lo, hi int) {
	first := 32768 // Linux's default
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				first = n
			}
		}
	}
	hi = first - 1
	lo = max(hi-16000, 10000)
	if hi-lo < 1000 {
		return 0, 0
	}
	return lo, hi
}

func freePort(t testing.TB, udpToo bool) int {
	t.Helper()
	lo, hi := portRange()
	for range 200 {
		addr := "127.0.0.1:0"
		if hi > 0 {
			addr = "127.0.0.1:" + strconv.Itoa(lo+rand.IntN(hi-lo+1))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken: draw again
		}
		port := l.Addr().(*net.TCPAddr).Port
		if udpToo {
			u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				l.Close()
				continue
			}
			u.Close()
		}
		l.Close()
		return port
	}
	t.Fatal("testenv: no free port on 127.0.0.1")
	return 0
}

// HoldIdle opens n TCP connections to addr that send nothing and keeps them
// open until the test ends (a starvation attack on a responder). It returns
// once every connection is established, so the server accepts them before
// any later connection (accept order is connection order).
func HoldIdle(t testing.TB, addr string, n int) {
	t.Helper()
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("idle connection %d to %s: %v", i, addr, err)
		}
		t.Cleanup(func() { c.Close() })
	}
}

// WaitFor polls ready every 20 ms until it returns nil or timeout passes.
func WaitFor(t testing.TB, what string, timeout time.Duration, ready func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = ready(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("testenv: %s not ready after %v: %v", what, timeout, err)
}

// Process is a server started by a test.
type Process struct {
	Cmd *exec.Cmd
	Log *SyncBuffer
}

// Start runs a server process whose output goes to a buffer (shown when the
// test fails) and stops it by PID (SIGTERM, then SIGKILL) at cleanup.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	buf := &SyncBuffer{}
	cmd.Stdout = buf
	cmd.Stderr = buf
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Process.Signal(terminate)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", name, buf.String())
		}
	})
	return &Process{Cmd: cmd, Log: buf}
}

// SyncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Context returns t.Context() bounded by d.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// BuildAcmectl builds cmd/acmectl and its etcd helper cmd/acmectl-etcd
// (with the given build tags) into a new temporary directory and returns
// acmectl's path (the helper is beside it, where acmectl looks for it);
// for TestMain, which has no testing.TB. The caller removes
// filepath.Dir(path).
func BuildAcmectl(prefix string, tags ...string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	root, err := moduleRoot()
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	bin := filepath.Join(dir, "acmectl")
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	build := exec.Command("go", append(args, "./cmd/acmectl", "./cmd/acmectl-etcd")...)
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("build acmectl: %w", err)
	}
	return bin, nil
}
