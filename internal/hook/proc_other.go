//go:build !unix

package hook

import (
	"errors"
	"io/fs"
	"syscall"
)

// Hooks need process groups and file ownership; elsewhere every program is
// refused (fileOwner reports unknown) and nothing is started.

func fileOwner(fs.FileInfo) (int, bool) { return 0, false }

func groupAttr() *syscall.SysProcAttr { return nil }

func killGroup(int, syscall.Signal) error { return errors.New("hook: process groups unsupported") }

const (
	sigTerm = syscall.Signal(15)
	sigKill = syscall.Signal(9)
)
