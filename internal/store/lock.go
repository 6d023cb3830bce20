package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrLocked matches (via errors.Is) every *LockedError.
var ErrLocked = errors.New("locked")

// stateLockName is the lock file of the state-dir lock. It cannot collide
// with a certificate's: no valid certificate name starts with "_state".
const stateLockName = "_state"

// LockedError is returned when a lock is held by another process (or another
// open of the lock in this process) past the wait. HolderPID and Since come
// from the lock file and are zero if it could not be read.
type LockedError struct {
	Name      string // certificate name, or "" for the state-dir lock
	HolderPID int
	Since     time.Time
}

func (e *LockedError) Error() string {
	what := "certificate " + e.Name
	if e.Name == "" {
		what = "the state directory"
	}
	msg := what + " is locked"
	if e.HolderPID > 0 {
		msg += " by pid " + strconv.Itoa(e.HolderPID)
	}
	if !e.Since.IsZero() {
		msg += " since " + e.Since.Format(time.RFC3339)
	}
	return msg
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// formatHolder is what a holder writes into its lock file.
func formatHolder(pid int, since time.Time) []byte {
	return fmt.Appendf(nil, "%d %s\n", pid, since.UTC().Format(time.RFC3339Nano))
}

// parseHolder reads a lock file's content, tolerating garbage: whatever does
// not parse is left zero.
func parseHolder(b []byte) (pid int, since time.Time) {
	if len(b) > 256 {
		b = b[:256]
	}
	fields := strings.Fields(string(bytes.ToValidUTF8(b, nil)))
	if len(fields) >= 1 {
		if n, err := strconv.Atoi(fields[0]); err == nil && n > 0 {
			pid = n
		}
	}
	if len(fields) >= 2 {
		if t, err := time.Parse(time.RFC3339Nano, fields[1]); err == nil {
			since = t
		}
	}
	return pid, since
}

// LockCert takes the kernel lock (flock) of certificate name, in
// locks/<name>.lock. It tries once without blocking and, if the lock is
// held, polls with a short backoff until wait has passed (wait <= 0: one
// try). On success it writes this process's PID and the time into the lock
// file and returns the function that releases the lock (safe to call more
// than once). The kernel releases the lock if the process dies, even by
// kill -9. When the wait runs out the error is a *LockedError (errors.Is
// ErrLocked); when ctx ends first, ctx's error (wrapped).
//
// Locks are per open file: two LockCert calls in one process exclude each
// other too. Read-only commands take no lock.
func (d *Dir) LockCert(ctx context.Context, name string, wait time.Duration) (unlock func(), err error) {
	if err := ValidCertName(name); err != nil {
		return nil, err
	}
	return d.lock(ctx, name, name, wait)
}

// LockState takes the short state-directory lock (locks/_state.lock) that
// serializes account writes. Same semantics as LockCert; a *LockedError for
// it has an empty Name.
func (d *Dir) LockState(ctx context.Context, wait time.Duration) (unlock func(), err error) {
	return d.lock(ctx, stateLockName, "", wait)
}

const (
	lockPollMin = 5 * time.Millisecond
	lockPollMax = 200 * time.Millisecond
)

func (d *Dir) lock(ctx context.Context, file, name string, wait time.Duration) (func(), error) {
	deadline := time.Now().Add(wait)
	delay := lockPollMin
	noticed := false
	for {
		unlock, holder, err := tryLock(d.locksDir(), file+".lock")
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", file, err)
		}
		if unlock != nil {
			return unlock, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			pid, since := parseHolder(holder)
			return nil, &LockedError{Name: name, HolderPID: pid, Since: since}
		}
		if !noticed && d.lockWaiting != nil {
			noticed = true
			pid, since := parseHolder(holder)
			d.lockWaiting(&LockedError{Name: name, HolderPID: pid, Since: since}, left)
		}
		t := time.NewTimer(min(delay, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("lock %s: %w", file, ctx.Err())
		case <-t.C:
		}
		delay = min(delay*2, lockPollMax)
	}
}
