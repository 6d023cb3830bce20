//go:build unix

package store

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/testenv"
)

func TestLockCertGoroutines(t *testing.T) {
	d := newDir(t)
	ctx := t.Context()
	unlock, err := d.LockCert(ctx, "a.test", 0)
	if err != nil {
		t.Fatalf("LockCert: %v", err)
	}
	// Another name is independent.
	u2, err := d.LockCert(ctx, "b.test", 0)
	if err != nil {
		t.Fatalf("LockCert(other name): %v", err)
	}
	u2()

	errc := make(chan error, 1)
	go func() {
		_, err := d.LockCert(ctx, "a.test", 0)
		errc <- err
	}()
	err = <-errc
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("LockCert(held, wait 0) = %v; want *LockedError", err)
	}
	if le.Name != "a.test" || le.HolderPID != os.Getpid() || time.Since(le.Since) > time.Minute {
		t.Errorf("LockedError = %+v; want name a.test, pid %d, recent Since", le, os.Getpid())
	}

	// A waiter gets the lock once it is released.
	got := make(chan func(), 1)
	go func() {
		u, err := d.LockCert(ctx, "a.test", time.Minute)
		if err != nil {
			errc <- err
			return
		}
		got <- u
	}()
	unlock()
	unlock() // idempotent
	select {
	case u := <-got:
		u()
	case err := <-errc:
		t.Fatalf("waiting LockCert: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("waiting LockCert did not get the lock after release")
	}

	// Timeout with a wait.
	u, _ := d.LockCert(ctx, "a.test", 0)
	defer u()
	start := time.Now()
	if _, err := d.LockCert(ctx, "a.test", 50*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Errorf("LockCert(held, wait 50ms) = %v; want ErrLocked", err)
	}
	if el := time.Since(start); el < 50*time.Millisecond {
		t.Errorf("LockCert gave up after %v; want at least the wait", el)
	}
	// Context cancellation ends the wait with ctx's error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := d.LockCert(cctx, "a.test", time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("LockCert(cancelled ctx) = %v; want context.Canceled", err)
	}
	if _, err := d.LockCert(ctx, "../a", 0); !errors.Is(err, ErrInvalidName) {
		t.Errorf("LockCert(../a) = %v; want ErrInvalidName", err)
	}
}

func TestLockState(t *testing.T) {
	d := newDir(t)
	u, err := d.LockState(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var le *LockedError
	if _, err := d.LockState(t.Context(), 0); !errors.As(err, &le) || le.Name != "" {
		t.Errorf("LockState(held) = %v; want *LockedError with empty Name", err)
	}
	// The state lock does not collide with any certificate's.
	if uc, err := d.LockCert(t.Context(), "state", 0); err != nil {
		t.Errorf("LockCert(state) while the state lock is held = %v", err)
	} else {
		uc()
	}
	u()
	u2, err := d.LockState(t.Context(), 0)
	if err != nil {
		t.Errorf("LockState after unlock = %v", err)
	} else {
		u2()
	}
}

func TestParseHolderTolerant(t *testing.T) {
	tests := []struct {
		in      string
		wantPID int
		wantT   bool
	}{
		{"123 2025-01-02T03:04:05Z\n", 123, true},
		{"", 0, false},
		{"garbage", 0, false},
		{"-5 nope", 0, false},
		{"42", 42, false},
		{"\xff\xfe 2025-01-02T03:04:05Z", 0, false},
		{"7 \xff", 7, false},
	}
	for _, tc := range tests {
		pid, since := parseHolder([]byte(tc.in))
		if pid != tc.wantPID || since.IsZero() == tc.wantT {
			t.Errorf("parseHolder(%q) = %d, %v; want %d, time set %v", tc.in, pid, since, tc.wantPID, tc.wantT)
		}
	}
}

const (
	helperEnvRoot   = "ACMECTL_STORE_LOCK_HELPER_ROOT"
	helperEnvMarker = "ACMECTL_STORE_LOCK_HELPER_MARKER"
)

// TestLockHelperProcess is not a test: TestLockCertProcesses runs the test
// binary with it to hold a lock in another process until killed.
func TestLockHelperProcess(t *testing.T) {
	root := os.Getenv(helperEnvRoot)
	if root == "" {
		t.Skip("helper process only")
	}
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.LockCert(context.Background(), "proc.test", 0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv(helperEnvMarker), []byte("locked"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {} // hold the lock until SIGKILL
}

func TestLockCertProcesses(t *testing.T) {
	d := newDir(t)
	marker := filepath.Join(t.TempDir(), "marker")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnvRoot+"="+d.Root(), helperEnvMarker+"="+marker)
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	testenv.WaitFor(t, "helper holds the lock", 60*time.Second, func() error {
		select {
		case err := <-done:
			done <- err
			return errors.New("helper exited early")
		default:
		}
		_, err := os.Stat(marker)
		return err
	})

	_, err := d.LockCert(t.Context(), "proc.test", 0)
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("LockCert(held by helper) = %v; want *LockedError", err)
	}
	if le.HolderPID != cmd.Process.Pid {
		t.Errorf("LockedError.HolderPID = %d; want the helper's %d", le.HolderPID, cmd.Process.Pid)
	}

	// kill -9: the kernel releases the lock.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	done <- nil // for Cleanup
	unlock, err := d.LockCert(t.Context(), "proc.test", 10*time.Second)
	if err != nil {
		t.Fatalf("LockCert after SIGKILL of the holder = %v; want the lock", err)
	}
	unlock()
}
