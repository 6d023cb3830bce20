package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Etcd is a single-member etcd server on 127.0.0.1 started by a test. Stop
// and Restart reuse the same data directory and ports, so a test can make
// etcd unavailable for a while and bring it back with its data.
type Etcd struct {
	Endpoint string // 127.0.0.1:<client port>
	DataDir  string

	bin        string
	clientPort int
	peerPort   int
	t          testing.TB

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *SyncBuffer
}

// StartEtcd starts etcd (/usr/bin/etcd or $PATH) for the test, waits until a
// client Get succeeds, and stops it by PID at cleanup.
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/etcd"); serr != nil {
			t.Skip("testenv: etcd not installed (apt-get install etcd-server)")
		}
		bin = "/usr/bin/etcd"
	}
	e := &Etcd{bin: bin, t: t, DataDir: filepath.Join(t.TempDir(), "etcd"), log: &SyncBuffer{}}
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			t.Logf("--- etcd output ---\n%s", e.log.String())
		}
	})
	// Ports are checked free before etcd binds them; should another
	// process take one in between, etcd exits at once and the next pair
	// is tried (with a fresh data dir, as nothing was written).
	for attempt := 1; ; attempt++ {
		e.clientPort, e.peerPort = FreePort(t), FreePort(t)
		e.Endpoint = "127.0.0.1:" + strconv.Itoa(e.clientPort)
		err := e.start()
		if err == nil {
			return e
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("testenv: %v", err)
		}
		t.Logf("testenv: etcd: %v; trying other ports", err)
		if rmErr := os.RemoveAll(e.DataDir); rmErr != nil {
			t.Fatal(rmErr)
		}
	}
}

// Restart starts the server again on the same data dir and ports (after
// Stop) and waits until it answers.
func (e *Etcd) Restart() {
	e.t.Helper()
	if err := e.start(); err != nil {
		e.t.Fatalf("testenv: %v", err)
	}
}

// start runs etcd and waits until a client Get succeeds; it returns at once
// with etcd's output if the process exits first.
func (e *Etcd) start() error {
	e.mu.Lock()
	if e.cmd != nil {
		e.mu.Unlock()
		return fmt.Errorf("etcd already running")
	}
	client := "http://" + e.Endpoint
	peer := "http://127.0.0.1:" + strconv.Itoa(e.peerPort)
	cmd := exec.Command(e.bin,
		"--name", "default",
		"--data-dir", e.DataDir,
		"--listen-client-urls", client,
		"--advertise-client-urls", client,
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--initial-cluster", "default="+peer,
		"--log-level", "warn",
	)
	cmd.Stdout, cmd.Stderr = e.log, e.log
	if err := cmd.Start(); err != nil {
		e.mu.Unlock()
		return fmt.Errorf("start etcd: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	e.cmd, e.done = cmd, done
	e.mu.Unlock()

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			e.mu.Lock()
			e.cmd, e.done = nil, nil
			e.mu.Unlock()
			return fmt.Errorf("etcd exited: %s", e.log.String())
		default:
		}
		err := e.ping()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd not ready after 30s: %w", err)
		}
		select {
		case <-done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (e *Etcd) ping() error {
	c, err := clientv3.New(clientv3.Config{
		Endpoints: []string{e.Endpoint}, DialTimeout: time.Second, Logger: zap.NewNop(),
	})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = c.Get(ctx, "health")
	return err
}

// Stop stops the server by PID (SIGTERM, then SIGKILL after 5 s) and waits
// for it to exit. Stopping a stopped server does nothing.
func (e *Etcd) Stop() {
	e.mu.Lock()
	cmd, done := e.cmd, e.done
	e.cmd, e.done = nil, nil
	e.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(terminate)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Client returns a client for the server, closed at cleanup.
func (e *Etcd) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{
		Endpoints: []string{e.Endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("testenv: etcd client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
