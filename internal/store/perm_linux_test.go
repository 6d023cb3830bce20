package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/pathtrust"
)

const nobody = 65534

func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to give files to a second user (uid 65534)")
	}
}

// TestOpenRefusesStateDirOfAnotherUser: a state dir owned by another user
// (mode 0755, so not writable by others) was accepted, and the hooks in its
// settings.yaml ran as root. Open refuses it, and a state dir below a
// directory of that user.
func TestOpenRefusesStateDirOfAnotherUser(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	state := filepath.Join(base, "state")
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	_, err := Open(state)
	if !errors.Is(err, pathtrust.ErrUntrusted) || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("Open(state dir owned by uid 65534, 0755) = %v; want a refusal naming the owner", err)
	}
	// A root-owned state dir inside that user's directory.
	inner := filepath.Join(state, "inner")
	if err := os.Mkdir(inner, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(inner); !errors.Is(err, pathtrust.ErrUntrusted) {
		t.Fatalf("Open(state dir below a uid 65534 directory) = %v; want a refusal", err)
	}
}

// TestLoadRefusesFilesOfAnotherUser: settings.yaml and state.json owned by
// another user (0644) in a good state dir are refused.
func TestLoadRefusesFilesOfAnotherUser(t *testing.T) {
	needRoot(t)
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := &Settings{Names: client.MustNames("a.example.com"), Server: "https://ca.example/dir",
		Hooks: Hooks{Deploy: [][]string{{"/bin/true"}}}}
	if err := d.SaveSettings("a", s); err != nil {
		t.Fatal(err)
	}
	if err := d.SaveState("a", &State{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.LoadSettings("a"); err != nil {
		t.Fatalf("LoadSettings(own file) = %v", err)
	}
	dir := filepath.Join(d.Root(), "certificates", "a")
	for _, f := range []string{settingsFile, stateFile} {
		p := filepath.Join(dir, f)
		if err := os.Chown(p, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.LoadSettings("a"); !errors.Is(err, pathtrust.ErrUntrusted) {
		t.Errorf("LoadSettings(settings.yaml owned by uid 65534) = %v; want a refusal", err)
	}
	if _, err := d.LoadState("a"); !errors.Is(err, pathtrust.ErrUntrusted) {
		t.Errorf("LoadState(state.json owned by uid 65534) = %v; want a refusal", err)
	}
}
