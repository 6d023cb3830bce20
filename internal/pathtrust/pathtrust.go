//go:build unix

// Package pathtrust decides whether a file acmectl acts on (a hook or
// dns-exec program, the state dir, the config file, settings.yaml,
// state.json) could have been put there or changed by anyone but root and
// the running user.
//
// The rule, for every component from "/" to the file, symlinks followed
// (at most 40) and their targets checked the same way:
//
//   - a directory is owned by root or the running uid, and is not writable
//     by group or others unless it is root-owned and sticky (as /tmp is: then
//     only the owner of an entry can rename or remove it, and that entry
//     is checked next);
//   - a symlink is owned by root or the running uid (a link someone else
//     planted in a sticky directory is refused, as the kernel's
//     protected_symlinks would);
//   - the file itself is owned by root or the running uid and is not
//     writable by group or others.
//
// Check applies the rule to a path. OpenProgram applies it to a program and
// returns an O_PATH descriptor of the very file it checked, so the caller
// executes that file (through /proc/self/fd) and not whatever the path
// names a moment later.
package pathtrust

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrUntrusted is matched (errors.Is) by an *Error refusing a path for the
// owner or mode of one of its components.
var ErrUntrusted = errors.New("path not trusted")

// maxLinks bounds the symlinks followed in one path, as the kernel does.
const maxLinks = 40

// Error is a path that cannot be used or must not be trusted.
type Error struct {
	Path      string // as given
	Component string // the offending component (a directory, link or the file)
	Reason    string // names Component when it is not the file itself
	Err       error  // ErrUntrusted, or the underlying I/O error
}

func (e *Error) Error() string {
	msg := e.Path + ": " + e.Reason
	if e.Err != nil && !errors.Is(e.Err, ErrUntrusted) {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Kind says what the last component must be.
type Kind int

// Kinds of final component.
const (
	Any     Kind = iota // a directory or a regular file
	Dir                 // a directory
	Regular             // a regular file
	// ForeignDir is a directory whose own owner and mode do not matter (a
	// web server's document root): only the components above it, and the
	// symlinks that lead to it, must obey the rule, so nobody but root and
	// the running user can change which directory the path names.
	ForeignDir
)

// Check refuses path unless every component obeys the package rule for a
// user with uid (normally os.Getuid()). The path must be absolute. It
// returns the path with every symlink resolved, each of them having been
// checked.
func Check(path string, uid int, want Kind) (string, error) {
	w := walker{path: path, uid: uid}
	return w.walk(want)
}

type walker struct {
	path  string
	uid   int
	links int
}

func (w *walker) fail(component, reason string, err error) *Error {
	if err == nil {
		err = ErrUntrusted
	}
	return &Error{Path: w.path, Component: component, Reason: reason, Err: err}
}

func (w *walker) walk(want Kind) (string, error) {
	if !filepath.IsAbs(w.path) {
		return "", &Error{Path: w.path, Reason: "relative path: give an absolute path", Err: ErrUntrusted}
	}
	st, err := os.Lstat("/")
	if err != nil {
		return "", w.fail("/", "stat", err)
	}
	if err := w.checkDir("/", st); err != nil {
		return "", err
	}
	cur := "/"
	todo := splitPath(w.path)
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur) // an ancestor: already checked
			continue
		}
		next := filepath.Join(cur, c)
		st, err := os.Lstat(next)
		if err != nil {
			return "", w.fail(next, "stat "+next, err)
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			if err := w.checkOwner(next, st, "symlink"); err != nil {
				return "", err
			}
			if w.links++; w.links > maxLinks {
				return "", w.fail(next, "too many levels of symbolic links at "+next, nil)
			}
			target, err := os.Readlink(next)
			if err != nil {
				return "", w.fail(next, "readlink "+next, err)
			}
			if filepath.IsAbs(target) {
				cur = "/"
			}
			todo = append(splitPath(target), todo...)
			continue
		}
		last := len(todo) == 0
		switch {
		case last && want == ForeignDir:
			if !st.IsDir() {
				return "", w.fail(next, next+" is not a directory", nil)
			}
		case !last || want == Dir:
			if !st.IsDir() {
				return "", w.fail(next, next+" is not a directory", nil)
			}
			if err := w.checkDir(next, st); err != nil {
				return "", err
			}
		case want == Regular && !st.Mode().IsRegular():
			return "", w.fail(next, next+" is not a regular file", nil)
		case st.IsDir():
			if err := w.checkDir(next, st); err != nil {
				return "", err
			}
		default:
			if err := checkFile(next, st, w.uid); err != nil {
				var pe *Error
				if errors.As(err, &pe) {
					pe.Path = w.path
					if next != w.path {
						pe.Component = next
					}
				}
				return "", err
			}
		}
		cur = next
	}
	return cur, nil
}

func splitPath(p string) []string { return strings.Split(p, "/") }

func (w *walker) checkOwner(p string, st fs.FileInfo, what string) error {
	owner, ok := Owner(st)
	if !ok {
		return w.fail(p, "owner cannot be told on this system", nil)
	}
	if owner != 0 && owner != w.uid {
		return w.fail(p, fmt.Sprintf("%s %s is owned by uid %d, not by root or the running user (uid %d)", what, p, owner, w.uid), nil)
	}
	return nil
}

func (w *walker) checkDir(p string, st fs.FileInfo) error {
	if err := w.checkOwner(p, st, "directory"); err != nil {
		return err
	}
	perm := st.Mode().Perm()
	if perm&0o022 == 0 {
		return nil
	}
	if owner, _ := Owner(st); owner == 0 && st.Mode()&fs.ModeSticky != 0 {
		return nil
	}
	return w.fail(p, fmt.Sprintf("directory %s is %s (mode %04o) and not a root-owned sticky directory", p, writable(perm), perm), nil)
}

// checkFile applies the rule for the last component to a file already
// stat'ed (or fstat'ed): owned by root or uid, not writable by group or
// others.
func checkFile(p string, st fs.FileInfo, uid int) error {
	owner, ok := Owner(st)
	if !ok {
		return &Error{Path: p, Reason: "owner cannot be told on this system", Err: ErrUntrusted}
	}
	if owner != 0 && owner != uid {
		return &Error{Path: p, Reason: fmt.Sprintf("owned by uid %d, not by root or the running user (uid %d)", owner, uid), Err: ErrUntrusted}
	}
	if perm := st.Mode().Perm(); perm&0o022 != 0 {
		return &Error{Path: p, Reason: fmt.Sprintf("%s (mode %04o)", writable(perm), perm), Err: ErrUntrusted}
	}
	return nil
}

func writable(perm fs.FileMode) string {
	switch {
	case perm&0o022 == 0o022:
		return "writable by group and others"
	case perm&0o020 != 0:
		return "writable by group"
	default:
		return "writable by others"
	}
}
