//go:build !unix

package pathtrust

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrUntrusted is matched (errors.Is) by an *Error refusing a path.
var ErrUntrusted = errors.New("path not trusted")

// Error is a path that cannot be used.
type Error struct {
	Path, Component, Reason string
	Err                     error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Path, e.Reason) }
func (e *Error) Unwrap() error { return e.Err }

// Kind says what the last component must be.
type Kind int

// Kinds of final component.
const (
	Any Kind = iota
	Dir
	Regular
	ForeignDir
)

// Check only requires an absolute path on systems without unix ownership.
func Check(path string, uid int, want Kind) (string, error) {
	if !filepath.IsAbs(path) {
		return "", &Error{Path: path, Reason: "relative path: give an absolute path", Err: ErrUntrusted}
	}
	return filepath.Clean(path), nil
}

// checkFile does nothing on systems without unix ownership.
func checkFile(p string, st fs.FileInfo, uid int) error { return nil }

// Owner is unknown here.
func Owner(fs.FileInfo) (int, bool) { return 0, false }

// Program is a program path.
type Program struct{ Path string }

// OpenProgram refuses every program: without file owners nothing tells
// who could have changed it.
func OpenProgram(path string, uid int) (*Program, error) {
	return nil, &Error{Path: path, Reason: "owner cannot be told on this system", Err: ErrUntrusted}
}

// ExtraFile is nil here.
func (p *Program) ExtraFile() *os.File { return nil }

// ExecPath is the path.
func (p *Program) ExecPath() string { return p.Path }

// Close does nothing.
func (p *Program) Close() error { return nil }
