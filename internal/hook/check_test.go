package hook

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeScript writes an executable script and sets its mode exactly.
func writeScript(t *testing.T, dir, name, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // not subject to umask
		t.Fatal(err)
	}
	return p
}

func TestCheckProgram(t *testing.T) {
	dir := t.TempDir()
	good := writeScript(t, dir, "good", "exit 0\n", 0o755)
	if err := CheckProgram(good); err != nil {
		t.Errorf("CheckProgram(0755 own file) = %v; want nil", err)
	}
	if err := CheckProgram("sh"); err != nil { // bare name, via PATH, through the /bin/sh symlink
		t.Errorf("CheckProgram(sh) = %v; want nil", err)
	}
	link := filepath.Join(dir, "link-to-good")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	if err := CheckProgram(link); err != nil {
		t.Errorf("CheckProgram(symlink to good) = %v; want nil", err)
	}

	tests := []struct {
		name     string
		mode     os.FileMode
		unsafe   bool
		inReason string
	}{
		{"group-writable", 0o775, true, "writable by group (mode 0775)"},
		{"other-writable", 0o757, true, "writable by others (mode 0757)"},
		{"world-writable", 0o777, true, "writable by group and others (mode 0777)"},
		{"not executable", 0o644, false, "not executable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeScript(t, dir, tc.name, "exit 0\n", tc.mode)
			checkRefused(t, p, p, tc.unsafe, tc.inReason)
			// Through a symlink the error names the real file.
			l := filepath.Join(dir, "link-"+tc.name)
			if err := os.Symlink(p, l); err != nil {
				t.Fatal(err)
			}
			checkRefused(t, l, p, tc.unsafe, tc.inReason)
		})
	}

	t.Run("other owner", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root to chown a file to nobody")
		}
		p := writeScript(t, dir, "nobodys", "exit 0\n", 0o755)
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		checkRefused(t, p, p, true, "owned by uid 65534, not by root or the running user (uid 0)")
	})

	for _, bad := range []string{"", "./good", "rel/good", "no-such-program-acmectl-test", filepath.Join(dir, "missing"), dir} {
		if err := CheckProgram(bad); err == nil {
			t.Errorf("CheckProgram(%q) = nil; want an error", bad)
		}
	}
}

func checkRefused(t *testing.T, path, real string, unsafe bool, inReason string) {
	t.Helper()
	err := CheckProgram(path)
	var pe *ProgramError
	if !errors.As(err, &pe) {
		t.Fatalf("CheckProgram(%s) = %v; want *ProgramError", path, err)
	}
	if errors.Is(err, ErrUnsafeProgram) != unsafe {
		t.Errorf("CheckProgram(%s) = %v; errors.Is(ErrUnsafeProgram) = %v, want %v", path, err, !unsafe, unsafe)
	}
	if pe.Path != real || !strings.Contains(err.Error(), real) || !strings.Contains(err.Error(), inReason) {
		t.Errorf("CheckProgram(%s) = %q; want it to name %s and say %q", path, err, real, inReason)
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	p := writeScript(t, dir, "myhook", "exit 0\n", 0o755)
	notExec := writeScript(t, t.TempDir(), "myhook", "exit 0\n", 0o644)
	tests := []struct {
		name, prog, path, want string
	}{
		{"bare in PATH", "myhook", "/nonexistent:" + dir, p},
		{"first executable wins", "myhook", filepath.Dir(notExec) + ":" + dir, p},
		{"absolute ignores PATH", p, "", p},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.prog, tc.path)
			if err != nil {
				t.Fatalf("Resolve(%q, %q): %v", tc.prog, tc.path, err)
			}
			want, _ := filepath.EvalSymlinks(tc.want)
			if got != want {
				t.Errorf("Resolve(%q, %q) = %q; want %q", tc.prog, tc.path, got, want)
			}
		})
	}
	if a, err := Resolve("sh", ""); err != nil {
		t.Errorf("Resolve(sh, \"\") = %v; want found in DefaultPath", err)
	} else if b, _ := Resolve("sh", DefaultPath); a != b {
		t.Errorf("Resolve(sh, \"\") = %q; want %q as with DefaultPath", a, b)
	}
	// "." and other relative PATH entries never apply.
	t.Chdir(dir)
	for _, path := range []string{".", "", ":", "rel"} {
		if got, err := Resolve("myhook", path); err == nil {
			t.Errorf("Resolve(myhook, %q) in its directory = %q; want not found", path, got)
		}
	}
}
