package http01_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/acmectl/acmectl/challenges/http01"
	"github.com/acmectl/acmectl/internal/testenv"
)

func TestWebrootPresentCleanUp(t *testing.T) {
	// A umask that would make the file unreadable to the web server.
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })

	dir := t.TempDir()
	w := http01.NewWebroot(dir, testLogger(t))
	ch := chal("tok_-123")
	if err := w.Present(t.Context(), ch); err != nil {
		t.Fatalf("Present: %v", err)
	}
	file := filepath.Join(dir, ".well-known", "acme-challenge", ch.Token)
	b, err := os.ReadFile(file)
	if err != nil || string(b) != ch.KeyAuthorization {
		t.Fatalf("ReadFile(%s) = %q, %v; want %q", file, b, err, ch.KeyAuthorization)
	}
	for p, want := range map[string]fs.FileMode{
		file:                              0o644,
		filepath.Join(dir, ".well-known"): fs.ModeDir | 0o755,
		filepath.Join(dir, ".well-known", "acme-challenge"): fs.ModeDir | 0o755,
	} {
		if st, err := os.Lstat(p); err != nil || st.Mode() != want {
			t.Errorf("Lstat(%s) mode = %v, %v; want %v", p, modeOf(st), err, want)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(file))
	if len(entries) != 1 {
		t.Errorf("challenge dir holds %d entries; want only the token file (no temporary left)", len(entries))
	}

	if err := w.CleanUp(t.Context(), ch); err != nil {
		t.Fatalf("CleanUp: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, ".well-known")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after CleanUp, .well-known: %v; want it removed (Present created it)", err)
	}
}

func modeOf(fi fs.FileInfo) fs.FileMode {
	if fi == nil {
		return 0
	}
	return fi.Mode()
}

func TestWebrootKeepsExistingDirs(t *testing.T) {
	dir := t.TempDir()
	acme := filepath.Join(dir, ".well-known", "acme-challenge")
	if err := os.MkdirAll(acme, 0o755); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(acme, "someone-elses")
	if err := os.WriteFile(other, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := http01.NewWebroot(dir, testLogger(t))
	ch := chal("mine")
	if err := w.Present(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	if err := w.CleanUp(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(acme, ch.Token)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("token file after CleanUp: %v; want removed", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("other file after CleanUp: %v; want kept", err)
	}
}

func TestWebrootRejectsBadTokens(t *testing.T) {
	dir := t.TempDir()
	w := http01.NewWebroot(dir, testLogger(t))
	for _, tok := range []string{"../x", "a/b", "..", ".", "", "a+b", "ab==", "a\x00b", `a\b`} {
		t.Run(fmt.Sprintf("%q", tok), func(t *testing.T) {
			if err := w.Present(t.Context(), chal(tok)); err == nil {
				t.Errorf("Present(token %q) = nil; want an error", tok)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("webroot holds %d entries after refused tokens; want none", len(entries))
	}
}

func TestWebrootRefusesSymlinks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir, outside string)
	}{
		{"well-known", func(t *testing.T, dir, outside string) {
			if err := os.Symlink(outside, filepath.Join(dir, ".well-known")); err != nil {
				t.Fatal(err)
			}
		}},
		{"acme-challenge", func(t *testing.T, dir, outside string) {
			if err := os.Mkdir(filepath.Join(dir, ".well-known"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, filepath.Join(dir, ".well-known", "acme-challenge")); err != nil {
				t.Fatal(err)
			}
		}},
		{"relative inside", func(t *testing.T, dir, _ string) {
			// Even a link staying inside the webroot is refused.
			if err := os.Mkdir(filepath.Join(dir, "real"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("real", filepath.Join(dir, ".well-known")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, outside := t.TempDir(), t.TempDir()
			tc.setup(t, dir, outside)
			w := http01.NewWebroot(dir, testLogger(t))
			ch := chal("tok")
			err := w.Present(t.Context(), ch)
			if !errors.Is(err, http01.ErrSymlink) {
				t.Errorf("Present = %v; want ErrSymlink", err)
			}
			for _, d := range []string{outside, filepath.Join(dir, "real")} {
				entries, _ := os.ReadDir(d)
				if len(entries) != 0 {
					t.Errorf("%s holds %v after refused Present; want nothing written", d, entries)
				}
			}
			if err := w.CleanUp(t.Context(), ch); err != nil {
				t.Errorf("CleanUp after failed Present = %v; want nil", err)
			}
		})
	}
}

func TestWebrootReplacesSymlinkedTokenFile(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	acme := filepath.Join(dir, ".well-known", "acme-challenge")
	if err := os.MkdirAll(acme, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(outside, "victim")
	if err := os.WriteFile(target, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	ch := chal("tok")
	if err := os.Symlink(target, filepath.Join(acme, ch.Token)); err != nil {
		t.Fatal(err)
	}
	w := http01.NewWebroot(dir, testLogger(t))
	if err := w.Present(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("file outside the webroot was changed to %q", b)
	}
	if st, err := os.Lstat(filepath.Join(acme, ch.Token)); err != nil || !st.Mode().IsRegular() {
		t.Errorf("token file = %v, %v; want a regular file replacing the link", modeOf(st), err)
	}
}

func TestWebrootMissingDir(t *testing.T) {
	w := http01.NewWebroot(filepath.Join(t.TempDir(), "absent"), testLogger(t))
	if err := w.Present(t.Context(), chal("tok")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Present with missing webroot = %v; want fs.ErrNotExist", err)
	}
}

func TestWebrootConcurrent(t *testing.T) {
	dir := t.TempDir()
	w := http01.NewWebroot(dir, testLogger(t))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Go(func() {
			ch := chal(fmt.Sprintf("tok%d", i))
			if err := w.Present(t.Context(), ch); err != nil {
				errs <- err
				return
			}
			b, err := os.ReadFile(filepath.Join(dir, ".well-known", "acme-challenge", ch.Token))
			if err != nil || string(b) != ch.KeyAuthorization {
				errs <- fmt.Errorf("%s: %q, %v", ch.Token, b, err)
			}
			if err := w.CleanUp(t.Context(), ch); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("webroot holds %v after all CleanUps; want empty", entries)
	}
}

func TestWebrootBehindNginx(t *testing.T) {
	dir := t.TempDir()
	ng := testenv.StartNginx(t, dir, 0)
	w := http01.NewWebroot(dir, testLogger(t))
	ch := chal("nginx-token_1")

	fetch := func() (int, string) {
		t.Helper()
		resp, err := http.Get(ng.URL + ch.HTTP01Path())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, _ := fetch(); status != http.StatusNotFound {
		t.Fatalf("GET before Present = %d; want 404", status)
	}
	if err := w.Present(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	if status, body := fetch(); status != http.StatusOK || body != ch.KeyAuthorization {
		t.Errorf("GET via nginx = %d %q; want 200 %q", status, body, ch.KeyAuthorization)
	}
	if err := w.CleanUp(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	if status, _ := fetch(); status != http.StatusNotFound {
		t.Errorf("GET after CleanUp = %d; want 404", status)
	}
}
