//go:build unix

package exec

import (
	"fmt"
	"os"
	osexec "os/exec"
	"syscall"
)

// setProcessGroup starts cmd in its own process group and makes
// cancellation kill the whole group, so helpers it spawned die with it.
func setProcessGroup(cmd *osexec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// checkOwner refuses a file not owned by root or the running user.
func checkOwner(path string, st os.FileInfo) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%w: cannot read the owner of %s", ErrUnsafeProgram, path)
	}
	if sys.Uid != 0 && int(sys.Uid) != os.Getuid() {
		return fmt.Errorf("%w: %s is owned by uid %d, not root or the running user (uid %d)", ErrUnsafeProgram, path, sys.Uid, os.Getuid())
	}
	return nil
}
