package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/testenv"
)

// TestConcurrentRenewAndObtain: while an obtain --force holds a
// certificate at before-new-order, two renew and another obtain started on
// the same state dir each exit 75 naming the lock and touch nothing; once
// released, exactly one order is made and the files are whole. Then the
// holder is killed with SIGKILL while holding the lock, and the next run
// gets the lock at once (the kernel released it).
func TestConcurrentRenewAndObtain(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Pebble")
	}
	l := newLab(t, quietPebble(nil))
	name := "concurrent.example.test"
	mustObtain(t, l, name)
	makeDue(t, l, name)
	live := snapshot(t, l.certDir(name))
	l.p.ResetCounts()

	fp := t.TempDir()
	hold := []string{"ACMECTL_FAILPOINT=before-new-order:pause", "ACMECTL_FAILPOINT_DIR=" + fp}
	obtain := l.args("obtain", append(l.http01(), "-d", name, "--force")...)
	_, _, _, wait1 := renewStart(t, hold, obtain...)
	renewWaitFile(t, filepath.Join(fp, "before-new-order.reached"), time.Minute)

	type res struct {
		what string
		r    result
	}
	results := make(chan res, 3)
	start := func(what string, args ...string) {
		go func() {
			_, _, _, wait := renewStart(t, nil, args...)
			results <- res{what, wait()}
		}()
	}
	start("renew 1", l.renewArgs("--force")...)
	start("renew 2", l.renewArgs("--force", "--cert-name", name)...)
	start("obtain", append(obtain, "--lock-wait", "0s")...)
	for range 3 {
		x := <-results
		if x.r.code != 75 {
			t.Errorf("%s while locked: exit %d; want 75", x.what, x.r.code)
		}
		if !strings.Contains(x.r.stderr, "locked by pid") {
			t.Errorf("%s: stderr does not say who holds the lock:\n%s", x.what, x.r.stderr)
		}
	}
	sameSnapshot(t, live, snapshot(t, l.certDir(name)))
	if n := l.p.Count("POST /order-plz 201"); n != 0 {
		t.Errorf("orders while locked = %d; want 0", n)
	}

	// A waiting obtain says at once who holds the lock, and Ctrl-C
	// (SIGINT) while it waits is "interrupted", exit 130, nothing done.
	waiter, _, werr, waitW := renewStart(t, nil, append(obtain, "--lock-wait", "2m")...)
	testenv.WaitFor(t, "the lock-wait notice", time.Minute, func() error {
		if !strings.Contains(werr.String(), "locked by pid") {
			return fmt.Errorf("stderr so far: %q", werr.String())
		}
		return nil
	})
	if !strings.Contains(werr.String(), "waiting up to 2m0s") {
		t.Errorf("lock-wait notice does not say how long: %q", werr.String())
	}
	must(t, waiter.Process.Signal(syscall.SIGINT))
	if r := waitW(); r.code != 130 || !strings.HasSuffix(r.stderr, "acmectl: interrupted\n") {
		t.Errorf("SIGINT while waiting for the lock: exit %d, stderr %q; want 130 and \"acmectl: interrupted\"", r.code, r.stderr)
	}
	if n := l.p.Count("POST /order-plz 201"); n != 0 {
		t.Errorf("orders while locked = %d; want 0", n)
	}

	must(t, os.WriteFile(filepath.Join(fp, "before-new-order.release"), nil, 0o644))
	if r := wait1(); r.code != 0 {
		t.Fatalf("holder: exit %d", r.code)
	}
	if n := l.p.Count("POST /order-plz 201"); n != 1 {
		t.Errorf("orders = %d; want exactly 1", n)
	}
	livePair(t, l.certDir(name), false)

	// C3: a holder killed by SIGKILL releases the lock with its life.
	fp2 := t.TempDir()
	cmd, _, _, wait2 := renewStart(t, []string{"ACMECTL_FAILPOINT=before-new-order:pause", "ACMECTL_FAILPOINT_DIR=" + fp2}, obtain...)
	renewWaitFile(t, filepath.Join(fp2, "before-new-order.reached"), time.Minute)
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	wait2()
	start2 := time.Now()
	if r := run(t, nil, append(obtain, "--lock-wait", "0s")...); r.code != 0 {
		t.Errorf("after the holder was killed: exit %d; want 0", r.code)
	}
	if d := time.Since(start2); d > 30*time.Second {
		t.Errorf("took %v", d)
	}
	livePair(t, l.certDir(name), false)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
