package hook

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/acmectl/acmectl/internal/pathtrust"
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
	p, err := lookup(name, pathList)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", &ProgramError{Path: p, Reason: "resolve", Err: err}
	}
	return real, nil
}

// lookup is Resolve without resolving symlinks: openProgram checks each
// link on the way (who owns it) instead of jumping to its target.
func lookup(name, pathList string) (string, error) {
	if name == "" {
		return "", &ProgramError{Path: name, Reason: "empty program name"}
	}
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) {
			return "", &ProgramError{Path: name, Reason: "relative path: give an absolute path, or a bare name found in PATH"}
		}
		return name, nil
	}
	if pathList == "" {
		pathList = DefaultPath
	}
	for _, dir := range filepath.SplitList(pathList) {
		if !filepath.IsAbs(dir) {
			continue
		}
		cand := filepath.Join(dir, name)
		if st, err := os.Stat(cand); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return cand, nil
		}
	}
	return "", &ProgramError{Path: name, Reason: "not found in PATH " + pathList}
}

// CheckProgram refuses a hook program that others could change: after
// Resolve (bare names searched in this process's PATH), every directory
// from "/" to the file must be owned by root or the running user and not
// writable by group or others unless root-owned and sticky, and the file
// must be a regular executable file owned by root or the running user and
// not writable by group or others (package pathtrust; docs/renewal.md "Which files acmectl trusts").
// The error, a *ProgramError matching ErrUnsafeProgram for owner and mode
// problems, names the file and the reason.
func CheckProgram(path string) error {
	prog, err := openProgram(path, os.Getenv("PATH"))
	if err != nil {
		return err
	}
	return prog.Close()
}

// openProgram resolves name and opens the checked file for execution.
func openProgram(name, pathList string) (*pathtrust.Program, error) {
	p, err := lookup(name, pathList)
	if err != nil {
		return nil, err
	}
	prog, err := pathtrust.OpenProgram(p, os.Getuid())
	if err != nil {
		pe := &ProgramError{Path: p, Reason: err.Error(), Err: err}
		var te *pathtrust.Error
		if errors.As(err, &te) {
			pe.Reason = te.Reason
			if te.Component != "" && !strings.Contains(te.Reason, te.Component) {
				pe.Path = te.Component // the file itself, symlinks resolved
			}
			if errors.Is(err, pathtrust.ErrUntrusted) {
				pe.Err = ErrUnsafeProgram
			} else {
				pe.Err = te.Err
			}
		}
		return nil, pe
	}
	return prog, nil
}
