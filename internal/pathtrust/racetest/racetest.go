//go:build linux

// Package racetest reproduces the attack pathtrust stops: a second user
// swaps a program acmectl is about to run with their own, in a loop of
// rename-exchanges (renameat2 RENAME_EXCHANGE), while the test runs it.
// The swapping process is the test binary itself, re-executed under
// setpriv as uid/gid 65534; a test package calls Main from its TestMain.
package racetest

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// envSwap tells a re-executed test binary to swap two paths forever.
const envSwap = "ACMECTL_RACETEST_SWAP"

// Nobody is the uid and gid the attacker runs as.
const Nobody = 65534

// Main runs m, unless this process is the swapper started by Swapper.
func Main(m *testing.M) {
	if v := os.Getenv(envSwap); v != "" {
		a, b, _ := strings.Cut(v, "\n")
		for {
			_ = unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
		}
	}
	os.Exit(m.Run())
}

// Skip skips the test unless it runs as root with setpriv available.
func Skip(t *testing.T) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to act as a second user (uid 65534)")
	}
	sp, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv")
	}
	return sp
}

// Swapper starts the test binary as uid 65534 exchanging a and b (both in a
// directory that user may write) until the test ends.
func Swapper(t *testing.T, a, b string) {
	t.Helper()
	sp := Skip(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A copy that uid 65534 can execute (the go test binary sits in a
	// 0700 build directory).
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "swapper")
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sp, "--reuid", "65534", "--regid", "65534", "--clear-groups", bin)
	cmd.Env = []string{envSwap + "=" + a + "\n" + b}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
}
