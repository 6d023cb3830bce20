package pathtrust

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Program is a checked program file held open (O_PATH) so that it, and not
// whatever its path names later, is what runs.
type Program struct {
	// Path is the checked file's path, symlinks resolved.
	Path string
	file *os.File
}

// OpenProgram checks path (Check with Regular), opens the file it resolved
// to without following a symlink there (O_PATH|O_NOFOLLOW), and checks the
// opened file again through fstat: regular, owned by root or uid, not
// writable by group or others, executable. The caller runs it with
// ExecFile/ExtraFile and closes it.
func OpenProgram(path string, uid int) (*Program, error) {
	real, err := Check(path, uid, Regular)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(real, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &Error{Path: path, Component: real, Reason: "open", Err: err}
	}
	f := os.NewFile(uintptr(fd), real)
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &Error{Path: path, Component: real, Reason: "fstat", Err: err}
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, &Error{Path: path, Component: real, Reason: "is not a regular file", Err: ErrUntrusted}
	}
	if err := checkFile(real, st, uid); err != nil {
		f.Close()
		return nil, err
	}
	if st.Mode().Perm()&0o111 == 0 {
		f.Close()
		return nil, &Error{Path: path, Component: real, Reason: fmt.Sprintf("is not executable (mode %04o)", st.Mode().Perm())}
	}
	return &Program{Path: real, file: f}, nil
}

// ExtraFile is the descriptor to hand the child as its first extra file
// (exec.Cmd.ExtraFiles[0], which becomes fd 3).
func (p *Program) ExtraFile() *os.File { return p.file }

// ExecPath is the path the child executes: its own fd 3, the file checked.
// A script's interpreter opens the same path, so it reads the checked file
// too.
func (p *Program) ExecPath() string { return "/proc/self/fd/" + strconv.Itoa(3) }

// Close releases the descriptor.
func (p *Program) Close() error { return p.file.Close() }
