package http01_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/acmectl/acmectl/challenges/http01"
	"github.com/acmectl/acmectl/internal/pathtrust"
)

// TestWebrootSymlinkSwapByOtherUser is issue 14 item 8: the web server's
// user (uid 65534 here) owns the directory above the webroot, replaces the
// webroot with a symlink to a directory of root's, and acmectl, running as
// root, wrote .well-known/acme-challenge/<token> there. The webroot is
// refused; a webroot owned by that user below a root-owned directory, and
// a root-owned symlink to a webroot, still work.
func TestWebrootSymlinkSwapByOtherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to act as a second user (uid 65534)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv")
	}
	base := t.TempDir()
	for _, d := range []string{base, filepath.Dir(base)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rootOnly := filepath.Join(base, "etc-like")
	www := filepath.Join(base, "www")
	html := filepath.Join(www, "html")
	for _, d := range []string{rootOnly, www, html} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{www, html} {
		if err := os.Chown(d, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	// The other user swaps the webroot for a link to root's directory.
	swap := exec.Command(setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups",
		"/bin/sh", "-c", `mv "$1" "$1.old" && ln -s "$2" "$1"`, "sh", html, rootOnly)
	if out, err := swap.CombinedOutput(); err != nil {
		t.Fatalf("swap as uid 65534: %v\n%s", err, out)
	}
	w := http01.NewWebroot(html, testLogger(t))
	err = w.Present(t.Context(), chal("tok_swap"))
	if _, serr := os.Lstat(filepath.Join(rootOnly, ".well-known")); serr == nil {
		t.Fatalf("Present wrote into %s through the other user's symlink (err %v)", rootOnly, err)
	}
	if !errors.Is(err, pathtrust.ErrUntrusted) {
		t.Fatalf("Present through the other user's symlink = %v; want a refusal", err)
	}

	// A webroot the web server's user owns, below a root-owned directory.
	if err := os.Chown(www, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(html); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(html+".old", html); err != nil {
		t.Fatal(err)
	}
	ch := chal("tok_ok")
	if err := http01.NewWebroot(html, testLogger(t)).Present(t.Context(), ch); err != nil {
		t.Fatalf("Present(webroot owned by uid 65534 under a root directory) = %v; want nil", err)
	}
	// A root-owned symlink to it: resolved once, used.
	link := filepath.Join(base, "docroot")
	if err := os.Symlink(html, link); err != nil {
		t.Fatal(err)
	}
	if err := http01.NewWebroot(link, testLogger(t)).Present(t.Context(), chal("tok_link")); err != nil {
		t.Fatalf("Present(root's symlink to the webroot) = %v; want nil", err)
	}
	if _, err := os.Stat(filepath.Join(html, ".well-known", "acme-challenge", "tok_link")); err != nil {
		t.Fatalf("token written through root's symlink: %v", err)
	}
}
