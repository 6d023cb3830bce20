//go:build unix

package store

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/acmectl/acmectl/client"
)

// TestSaveSettingsUnchangedKeepsFile: saving the settings already on disk
// writes nothing (no temporary file, no rename, no fsync: the inode stays);
// a change, or a mode changed by hand, is written.
func TestSaveSettingsUnchangedKeepsFile(t *testing.T) {
	d := newDir(t)
	s := &Settings{Names: client.MustNames("a.example"), Server: "https://ca.example/dir"}
	if err := d.SaveSettings("a.example", s); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(d.Root(), "certificates", "a.example", "settings.yaml")
	inode := func() uint64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	before := inode()
	if err := d.SaveSettings("a.example", s); err != nil {
		t.Fatal(err)
	}
	if inode() != before {
		t.Error("identical settings were written again")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.SaveSettings("a.example", s); err != nil {
		t.Fatal(err)
	}
	if inode() == before || mode(t, path) != filePerm {
		t.Errorf("settings with a changed mode not rewritten (mode %v)", mode(t, path))
	}
	before = inode()
	s.Names = append(s.Names, client.MustNames("b.example")...)
	if err := d.SaveSettings("a.example", s); err != nil {
		t.Fatal(err)
	}
	if got, err := d.LoadSettings("a.example"); inode() == before || err != nil || len(got.Names) != 2 {
		t.Errorf("changed settings not written: %+v, %v", got, err)
	}
}
