// Package store is acmectl's on-disk state directory: accounts, certificate
// settings and state, installed certificate versions, and the per-certificate
// kernel locks. The layout (docs/dev/architecture.md "State directory"):
//
//	accounts/<server-id>/<label>/{key.pem,account.json}
//	certificates/<name>/settings.yaml, state.json, pending-key.pem
//	certificates/<name>/versions/<NNNN>/{cert,chain,fullchain,privkey}.pem
//	certificates/<name>/current -> versions/<NNNN>
//	certificates/<name>/{cert,chain,fullchain,privkey}.pem -> current/...
//	locks/<name>.lock, locks/_state.lock
//
// Every write is atomic: a temporary file in the same directory is written,
// synced and renamed over the target, and the directory is synced. A new
// certificate version is built completely in a temporary directory before
// one rename of a symlink switches "current" to it, so a kill -9 or a full
// disk at any instant leaves "current" at a complete, matching version.
//
// Every path is built from a name checked by ValidCertName (certificates and
// account labels) or produced by ServerID; nothing read from outside reaches
// a path unvalidated.
//
// A *Dir does no network I/O. Its methods are safe for concurrent use by
// goroutines as far as the file system allows, but writers of one
// certificate must hold its lock (LockCert), and account writers the state
// lock (LockState): the store does not take locks itself.
//
// Additions to the agreed API, all source-compatible with it: Open takes
// optional Options (WithLogger); Install takes an optional InstallOptions as a
// variadic third argument (Install(name, files) stays valid) and, when it
// fails after the new version went live, returns an *InstallError saying so;
// Installed also carries the parsed leaf, and State.RecordInstall copies its
// facts into the cached fields. SettingsError, ErrInvalidName and the file
// name constants are exported for callers' messages and tests.
package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/acmectl/acmectl/internal/pathtrust"
)

// ErrNotFound is returned (wrapped) when an account, certificate, pending key
// or installed version does not exist. Test with errors.Is.
var ErrNotFound = errors.New("not found")

// Permissions used for what the store writes.
const (
	dirPerm      = 0o700
	groupDirPerm = 0o750
	keyPerm      = 0o600
	groupKeyPerm = 0o640
	filePerm     = 0o600
	certPerm     = 0o644

	maxJSONSize     = 1 << 20
	maxSettingsSize = 1 << 20
	maxKeySize      = 64 << 10
)

// Dir is a state directory. Create it with Open.
type Dir struct {
	root string
	log  *slog.Logger
	keep int // versions kept by Install unless InstallOptions.Keep says otherwise

	// failAt, when set (tests only), is called after each step of Install
	// and may return an error to stop there. errSimulatedCrash makes
	// Install return without any cleanup, as a kill -9 would.
	failAt func(step string) error

	// lockWaiting, when set, is called once per lock that has to wait,
	// naming who holds it (a person should not wait in silence).
	lockWaiting func(err *LockedError, wait time.Duration)
}

// Option configures Open.
type Option func(*Dir)

// WithLockWaitNotice sets f to be called once whenever a lock is held by
// another process and the caller is about to wait for it (wait > 0).
func WithLockWaitNotice(f func(held *LockedError, wait time.Duration)) Option {
	return func(d *Dir) { d.lockWaiting = f }
}

// WithLogger sets the logger for rare events (pruning, cleanup of leftovers).
// Nil means discard.
func WithLogger(l *slog.Logger) Option {
	return func(d *Dir) {
		if l != nil {
			d.log = l
		}
	}
}

// WithKeepVersions sets how many versions Install keeps per certificate
// (--keep-versions; default 10, at least 1).
func WithKeepVersions(n int) Option {
	return func(d *Dir) {
		if n > 0 {
			d.keep = n
		}
	}
}

// WithFailpoint sets a function Install calls after each of its steps
// ("mkdir", "write cert.pem", …, "switch current", "stable links",
// "prune"): crash tests kill or pause the process there, fault tests
// return an error (e.g. syscall.ENOSPC) to make that step fail. Nil means
// none. Release builds never set it.
func WithFailpoint(f func(step string) error) Option {
	return func(d *Dir) { d.failAt = f }
}

// Open opens the state directory root, creating it (mode 0700, parents
// included) if it is missing. It refuses a root that is not a directory or
// that is writable by group or others, or that (or a directory above it) is
// owned by someone other than root and the running user, or writable by
// others unless root-owned and sticky (package pathtrust). Open does no
// network I/O.
func Open(root string, opts ...Option) (*Dir, error) {
	if root == "" {
		return nil, errors.New("open state dir: empty path")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open state dir: %w", err)
	}
	if err := os.MkdirAll(abs, dirPerm); err != nil {
		return nil, fmt.Errorf("open state dir: %w", err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("open state dir: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("open state dir: %s is not a directory", abs)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("open state dir: %s is writable by group or others (mode %04o); run: chmod go-w %s",
			abs, st.Mode().Perm(), abs)
	}
	if err := checkTrusted(abs, pathtrust.Dir); err != nil {
		return nil, fmt.Errorf("open state dir: %w", err)
	}
	d := &Dir{root: abs, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(d)
	}
	return d, nil
}

// Root is the absolute path of the state directory.
func (d *Dir) Root() string { return d.root }

func (d *Dir) certsDir() string    { return filepath.Join(d.root, "certificates") }
func (d *Dir) accountsDir() string { return filepath.Join(d.root, "accounts") }
func (d *Dir) locksDir() string    { return filepath.Join(d.root, "locks") }

// certDir is the directory of a certificate, after validating its name.
func (d *Dir) certDir(name string) (string, error) {
	if err := ValidCertName(name); err != nil {
		return "", err
	}
	return filepath.Join(d.certsDir(), name), nil
}

// ensureDir creates dir (and parents) with mode 0700 if missing.
func ensureDir(dir string) error {
	return os.MkdirAll(dir, dirPerm)
}

// syncDir fsyncs a directory so that renames and creations in it are durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// writeFileAtomic replaces dir/base with data: temp file in dir, write,
// chmod, optional chgrp (gid >= 0), fsync, rename, fsync dir.
func writeFileAtomic(dir, base string, data []byte, perm os.FileMode, gid int) error {
	if err := writeFileRenamed(dir, base, data, perm, gid); err != nil {
		return err
	}
	return syncDir(dir)
}

// writeFileRenamed is writeFileAtomic without the directory's fsync: the
// content is durable, its name only once something fsyncs dir.
func writeFileRenamed(dir, base string, data []byte, perm os.FileMode, gid int) (err error) {
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if gid >= 0 {
		if err = f.Chown(-1, gid); err != nil {
			return err
		}
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, base))
}

// unchanged reports whether path already is a regular file holding
// exactly data with mode perm. Writing it again would cost two fsyncs for
// nothing: the run that wrote it fsynced it and its directory.
func unchanged(path string, data []byte, perm os.FileMode, limit int64) bool {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != perm || fi.Size() != int64(len(data)) {
		return false
	}
	old, err := readFileLimit(path, limit)
	return err == nil && bytes.Equal(old, data)
}

// readFileLimit reads a regular file of at most limit bytes. A missing file
// yields an error wrapping both fs.ErrNotExist and ErrNotFound.
func readFileLimit(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}
