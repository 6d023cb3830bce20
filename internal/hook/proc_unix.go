//go:build unix

package hook

import (
	"syscall"
)

// groupAttr puts the hook in a new process group whose id is its pid, so
// killGroup reaches everything it started (unless something left the group
// on purpose, as daemons do with setsid).
func groupAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// killGroup signals every process in the group led by pid.
func killGroup(pid int, sig syscall.Signal) error { return syscall.Kill(-pid, sig) }

const (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)
