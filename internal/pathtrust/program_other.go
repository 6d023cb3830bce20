//go:build unix && !linux

package pathtrust

import (
	"fmt"
	"os"
)

// Program is a checked program file. Without O_PATH this system executes
// the checked path itself; the check of every component still keeps others
// from changing what it names.
type Program struct {
	Path string
}

// OpenProgram checks path (Check with Regular) and its execute bits.
func OpenProgram(path string, uid int) (*Program, error) {
	real, err := Check(path, uid, Regular)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(real)
	if err != nil {
		return nil, &Error{Path: path, Component: real, Reason: "stat", Err: err}
	}
	if st.Mode().Perm()&0o111 == 0 {
		return nil, &Error{Path: path, Component: real, Reason: fmt.Sprintf("is not executable (mode %04o)", st.Mode().Perm())}
	}
	return &Program{Path: real}, nil
}

// ExtraFile is nil here.
func (p *Program) ExtraFile() *os.File { return nil }

// ExecPath is the checked path.
func (p *Program) ExecPath() string { return p.Path }

// Close does nothing here.
func (p *Program) Close() error { return nil }
