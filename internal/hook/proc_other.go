//go:build !unix

package hook

import (
	"errors"
	"syscall"
)

// Hooks need process groups and file ownership; elsewhere every program is
// refused (pathtrust cannot tell owners) and nothing is started.

func groupAttr() *syscall.SysProcAttr { return nil }

func killGroup(int, syscall.Signal) error { return errors.New("hook: process groups unsupported") }

const (
	sigTerm = syscall.Signal(15)
	sigKill = syscall.Signal(9)
)
