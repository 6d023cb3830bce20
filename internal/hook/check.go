package hook

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultPath is searched for bare program names when the environment has no
// PATH (or an empty one).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ProgramError reports a hook program that cannot or must not be run.
type ProgramError struct {
	Path   string // as given, or as resolved when the problem is with the file
	Reason string
	Err    error // underlying error, if any
}

func (e *ProgramError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("hook program %s: %s: %v", e.Path, e.Reason, e.Err)
	}
	return fmt.Sprintf("hook program %s: %s", e.Path, e.Reason)
}

func (e *ProgramError) Unwrap() error { return e.Err }

// ErrUnsafeProgram is matched (errors.Is) by a *ProgramError refusing a
// program for its owner or mode.
var ErrUnsafeProgram = errors.New("unsafe hook program")

// Resolve finds the file a hook's argv[0] names: a bare name is looked up in
// pathList (colon-separated; empty means DefaultPath; empty and relative
// entries are skipped, so "." in PATH never applies); a name with a slash
// must be absolute. Symlinks are then resolved (filepath.EvalSymlinks), so
// the result is the file that CheckProgram inspects and Run executes.
// Errors are *ProgramError.
func Resolve(name, pathList string) (string, error) {
	if name == "" {
		return "", &ProgramError{Path: name, Reason: "empty program name"}
	}
	var p string
	switch {
	case strings.Contains(name, "/"):
		if !filepath.IsAbs(name) {
			return "", &ProgramError{Path: name, Reason: "relative path: give an absolute path, or a bare name found in PATH"}
		}
		p = name
	default:
		if pathList == "" {
			pathList = DefaultPath
		}
		for _, dir := range filepath.SplitList(pathList) {
			if !filepath.IsAbs(dir) {
				continue
			}
			cand := filepath.Join(dir, name)
			if st, err := os.Stat(cand); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
				p = cand
				break
			}
		}
		if p == "" {
			return "", &ProgramError{Path: name, Reason: "not found in PATH " + pathList}
		}
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", &ProgramError{Path: p, Reason: "resolve", Err: err}
	}
	return real, nil
}

// CheckProgram refuses a hook program file that others could change: after
// Resolve (bare names searched in this process's PATH), the file must be a
// regular executable file owned by root or by the running user, and not
// writable by group or others (DESIGN.md "Hooks"). The error, a
// *ProgramError matching ErrUnsafeProgram for owner and mode problems, names
// the resolved file and the reason.
func CheckProgram(path string) error {
	real, err := Resolve(path, os.Getenv("PATH"))
	if err != nil {
		return err
	}
	return checkFile(real, os.Getuid())
}

// checkFile checks a resolved (symlink-free) program path for user uid.
func checkFile(real string, uid int) error {
	st, err := os.Stat(real)
	if err != nil {
		return &ProgramError{Path: real, Reason: "stat", Err: err}
	}
	if !st.Mode().IsRegular() {
		return &ProgramError{Path: real, Reason: "not a regular file"}
	}
	if owner, ok := fileOwner(st); !ok {
		return &ProgramError{Path: real, Reason: "cannot tell the file's owner on this system", Err: ErrUnsafeProgram}
	} else if owner != 0 && owner != uid {
		return &ProgramError{Path: real, Err: ErrUnsafeProgram,
			Reason: fmt.Sprintf("owned by uid %d, not by root or the running user (uid %d)", owner, uid)}
	}
	switch perm := st.Mode().Perm(); {
	case perm&0o022 == 0o022:
		return &ProgramError{Path: real, Reason: fmt.Sprintf("writable by group and others (mode %04o)", perm), Err: ErrUnsafeProgram}
	case perm&0o020 != 0:
		return &ProgramError{Path: real, Reason: fmt.Sprintf("writable by group (mode %04o)", perm), Err: ErrUnsafeProgram}
	case perm&0o002 != 0:
		return &ProgramError{Path: real, Reason: fmt.Sprintf("writable by others (mode %04o)", perm), Err: ErrUnsafeProgram}
	case perm&0o111 == 0:
		return &ProgramError{Path: real, Reason: fmt.Sprintf("not executable (mode %04o)", perm)}
	}
	return nil
}
