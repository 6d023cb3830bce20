package http01

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/internal/pathtrust"
)

// Webroot solves http-01 for a web server that already serves a document
// root: Present writes DIR/.well-known/acme-challenge/<token> holding the key
// authorization, CleanUp removes it. It implements challenges.Solver and is
// safe for concurrent use.
//
// It never writes outside DIR/.well-known/acme-challenge: tokens must be
// base64url, every access goes through os.Root (so nothing resolves outside
// DIR), and a symbolic link at .well-known or acme-challenge is refused
// (ErrSymlink) rather than followed. DIR itself is resolved once per use:
// every directory above it, and every symlink on the way (DIR may be one),
// must obey the trust rule of package pathtrust (owned by root or the
// running user, not writable by others unless root-owned and sticky), so
// nobody else can swap DIR for a link elsewhere; DIR itself may belong to
// the web server's user, as os.Root confines what happens inside it. Files are 0644 and the directories it
// creates 0755 whatever the umask, so a web server running as another user
// can read them; CleanUp removes those directories again once empty.
type Webroot struct {
	dir    string
	logger *slog.Logger

	mu      sync.Mutex     // serializes all file system work
	tokens  map[string]int // token → Present calls not yet cleaned up
	created []string       // directories Present created, relative to dir, parents first
}

var _ challenges.Solver = (*Webroot)(nil)

// ErrSymlink is returned (wrapped) when .well-known or acme-challenge under
// the webroot is a symbolic link.
var ErrSymlink = errors.New("refusing to follow a symbolic link")

const (
	wellKnownDir = ".well-known"
	challengeDir = "acme-challenge"
)

// NewWebroot returns a Webroot writing under dir (the document root the web
// server serves for the names being validated). It does no I/O. A nil logger
// discards.
func NewWebroot(dir string, logger *slog.Logger) *Webroot {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Webroot{dir: dir, logger: logger, tokens: make(map[string]int)}
}

// Present writes the key authorization to
// DIR/.well-known/acme-challenge/<token> (atomically: a temporary file in the
// same directory, then a rename), creating the two directories if needed.
// It returns an error for a token that is not base64url, a missing DIR, and
// ErrSymlink (wrapped) for a symbolic link in the path.
func (w *Webroot) Present(ctx context.Context, ch challenges.Challenge) error {
	if !validToken(ch.Token) {
		return fmt.Errorf("webroot: refusing token %q: not base64url", ch.Token)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("webroot: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()

	acme, err := w.openChallengeDir(true)
	if err != nil {
		return err
	}
	defer acme.Close()
	if err := writeAtomic(acme, ch.Token, []byte(ch.KeyAuthorization)); err != nil {
		return fmt.Errorf("webroot: write %s: %w", w.rel(ch.Token), err)
	}
	w.tokens[ch.Token]++
	w.logger.Debug("http-01 webroot file written", "path", w.rel(ch.Token), "domain", ch.Identifier.Value)
	return nil
}

// CleanUp removes the token's file and, when no presented token remains, the
// directories Present created if they are empty. It is a no-op for a
// challenge that was not presented.
func (w *Webroot) CleanUp(_ context.Context, ch challenges.Challenge) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, ok := w.tokens[ch.Token]
	if !ok {
		return nil
	}
	if n > 1 {
		w.tokens[ch.Token] = n - 1
		return nil
	}
	delete(w.tokens, ch.Token)

	var errs []error
	acme, err := w.openChallengeDir(false)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		errs = append(errs, err)
	default:
		if err := acme.Remove(ch.Token); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("webroot: remove %s: %w", w.rel(ch.Token), err))
		} else {
			w.logger.Debug("http-01 webroot file removed", "path", w.rel(ch.Token))
		}
		acme.Close()
	}
	if len(w.tokens) == 0 {
		errs = append(errs, w.removeCreated())
	}
	return errors.Join(errs...)
}

// rel names a file under the challenge directory for messages.
func (w *Webroot) rel(name string) string {
	return path.Join(w.dir, wellKnownDir, challengeDir, name)
}

// openChallengeDir opens DIR/.well-known/acme-challenge as an os.Root,
// creating missing directories when create is set. Called with w.mu held.
func (w *Webroot) openChallengeDir(create bool) (*os.Root, error) {
	root, err := w.openDir()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	wk, err := w.openSubdir(root, wellKnownDir, wellKnownDir, create)
	if err != nil {
		return nil, err
	}
	defer wk.Close()
	return w.openSubdir(wk, challengeDir, path.Join(wellKnownDir, challengeDir), create)
}

// openDir resolves DIR through pathtrust (ForeignDir) and opens the
// resolved directory.
func (w *Webroot) openDir() (*os.Root, error) {
	abs, err := filepath.Abs(w.dir)
	if err != nil {
		return nil, fmt.Errorf("webroot: %w", err)
	}
	real, err := pathtrust.Check(abs, os.Getuid(), pathtrust.ForeignDir)
	if err != nil {
		return nil, fmt.Errorf("webroot: %w", err)
	}
	root, err := os.OpenRoot(real)
	if err != nil {
		return nil, fmt.Errorf("webroot: %w", err)
	}
	return root, nil
}

// openSubdir opens parent/name as an os.Root, refusing a symbolic link and
// checking that the directory opened is the one inspected (no swap in
// between). rel is the path relative to the webroot, for messages and for
// recording what was created.
func (w *Webroot) openSubdir(parent *os.Root, name, rel string, create bool) (*os.Root, error) {
	full := path.Join(w.dir, rel)
	fi, err := parent.Lstat(name)
	made := false
	if errors.Is(err, fs.ErrNotExist) && create {
		err = parent.Mkdir(name, 0o755)
		switch {
		case err == nil:
			made = true
		case errors.Is(err, fs.ErrExist):
		default:
			return nil, fmt.Errorf("webroot: create directory: %w", err)
		}
		fi, err = parent.Lstat(name)
	}
	if err != nil {
		return nil, fmt.Errorf("webroot: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("webroot: %s is a symbolic link: %w", full, ErrSymlink)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("webroot: %s is not a directory", full)
	}
	sub, err := parent.OpenRoot(name)
	if err != nil {
		return nil, fmt.Errorf("webroot: %w", err)
	}
	st, err := sub.Stat(".")
	if err != nil {
		sub.Close()
		return nil, fmt.Errorf("webroot: %w", err)
	}
	if !os.SameFile(fi, st) {
		sub.Close()
		return nil, fmt.Errorf("webroot: %s changed while being opened: %w", full, ErrSymlink)
	}
	if made {
		// Mkdir is subject to the umask; the web server must traverse it.
		if err := sub.Chmod(".", 0o755); err != nil {
			sub.Close()
			return nil, fmt.Errorf("webroot: %w", err)
		}
		w.created = append(w.created, rel)
		w.logger.Debug("http-01 webroot directory created", "path", full)
	}
	return sub, nil
}

// removeCreated removes the directories Present created, deepest first, if
// they are still empty directories. Called with w.mu held.
func (w *Webroot) removeCreated() error {
	if len(w.created) == 0 {
		return nil
	}
	root, err := w.openDir()
	if err != nil {
		return err
	}
	defer root.Close()
	var errs []error
	for i := len(w.created) - 1; i >= 0; i-- {
		rel := w.created[i]
		fi, err := root.Lstat(rel)
		if err != nil || !fi.IsDir() {
			continue // gone or replaced: not ours any more
		}
		if err := root.Remove(rel); err != nil && !isNotEmpty(err) {
			errs = append(errs, fmt.Errorf("webroot: remove directory: %w", err))
		}
	}
	w.created = nil
	return errors.Join(errs...)
}

func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}

// writeAtomic writes data to name in dir with mode 0644: a new temporary
// file, then a rename over name (which replaces, never follows, whatever was
// there).
func writeAtomic(dir *os.Root, name string, data []byte) error {
	tmp := ".acmectl-tmp-" + name + "-" + rand.Text()[:8]
	f, err := dir.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644) // whatever the umask
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = dir.Rename(tmp, name)
	}
	if err != nil {
		_ = dir.Remove(tmp)
	}
	return err
}
