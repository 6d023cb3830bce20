package hook

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acmectl/acmectl/internal/pathtrust/racetest"
)

func TestMain(m *testing.M) { racetest.Main(m) }

// attackerDir makes a directory owned by uid 65534 (0755) holding a
// root-owned hook and that user's own program, which appends a line to
// marker when it runs.
func attackerDir(t *testing.T) (dir, good, evil, marker string) {
	t.Helper()
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(base), 0o755); err != nil {
		t.Fatal(err)
	}
	marker = filepath.Join(base, "evil-ran")
	dir = filepath.Join(base, "hooks")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	good = writeScript(t, dir, "deploy", "exit 0\n", 0o755)
	evil = writeScript(t, dir, "evil", "echo ran >> "+marker+"\n", 0o755)
	for _, p := range []string{dir, evil} {
		if err := os.Chown(p, racetest.Nobody, racetest.Nobody); err != nil {
			t.Fatal(err)
		}
	}
	return dir, good, evil, marker
}

// TestRunRaceRenameExchange is the reported attack: a root-owned hook in a
// directory another user owns; that user swaps it with their own program in
// a rename-exchange loop while acmectl runs the hook. Their program must
// never run as root: the directory is refused, every time.
func TestRunRaceRenameExchange(t *testing.T) {
	racetest.Skip(t)
	_, good, evil, marker := attackerDir(t)
	racetest.Swapper(t, good, evil)
	r := &Runner{Env: []string{"PATH=/usr/bin:/bin"}}
	const runs = 2000
	refused := 0
	for range runs {
		res := r.Run(context.Background(), Spec{Argv: []string{good}, Event: Event{Kind: Pre}})
		if errors.Is(res.Err, ErrUnsafeProgram) {
			refused++
		}
	}
	if data, err := os.ReadFile(marker); err == nil {
		t.Fatalf("the other user's program ran as root %d times in %d runs", strings.Count(string(data), "\n"), runs)
	}
	if refused != runs {
		t.Errorf("%d of %d runs refused; want all (the hook's directory is owned by uid 65534)", refused, runs)
	}
}

// TestCheckProgramRefusesUntrustedDirectory: a root-owned, 0755 program in a
// directory owned by another user, or in a group-writable one, is refused
// with the directory named; a root-owned sticky world-writable directory
// (as /tmp) is allowed above a file the running user owns.
func TestCheckProgramRefusesUntrustedDirectory(t *testing.T) {
	racetest.Skip(t)
	dir, good, _, _ := attackerDir(t)
	err := CheckProgram(good)
	if !errors.Is(err, ErrUnsafeProgram) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("CheckProgram(root hook in a uid 65534 directory) = %v; want ErrUnsafeProgram naming %s", err, dir)
	}
	if err := os.Chown(dir, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o775); err != nil {
		t.Fatal(err)
	}
	if err := CheckProgram(good); !errors.Is(err, ErrUnsafeProgram) || !strings.Contains(err.Error(), "writable by group") {
		t.Fatalf("CheckProgram(hook in a group-writable directory) = %v; want ErrUnsafeProgram", err)
	}
	if err := os.Chmod(dir, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	if err := CheckProgram(good); err != nil {
		t.Fatalf("CheckProgram(root hook in a root-owned sticky directory) = %v; want nil", err)
	}
	// A symlink another user planted in the sticky directory is refused.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, racetest.Nobody, racetest.Nobody); err != nil {
		t.Fatal(err)
	}
	if _, err := openProgram(link, ""); err == nil {
		t.Fatal("a program behind another user's symlink was accepted")
	}
}
