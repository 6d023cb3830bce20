package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/acmectl/acmectl/internal/testenv"
)

// TestMissingCABundleExit2: a --ca-bundle that cannot be read is a
// configuration error: exit 2, one line naming the flag, no order and
// nothing stored for the certificate.
func TestMissingCABundleExit2(t *testing.T) {
	t.Parallel()
	l := newLab(t, testenv.PebbleOptions{})
	name := "exit2.example.test"
	args := append([]string{"obtain", "--server", l.p.DirURL, "--ca-bundle", filepath.Join(t.TempDir(), "absent.pem"),
		"--state-dir", l.state, "--accept-tos", "-d", name}, l.http01()...)
	r := run(t, nil, args...)
	if r.code != 2 {
		t.Errorf("exit %d; want 2", r.code)
	}
	oneLine(t, r, "--ca-bundle")
	if _, err := os.Stat(l.certDir(name)); !os.IsNotExist(err) {
		t.Errorf("certificate directory left behind: %v", err)
	}
	if n := l.p.Count("POST /order-plz"); n != 0 {
		t.Errorf("orders = %d; want 0", n)
	}
}
