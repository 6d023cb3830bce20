package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/acmectl/acmectl/internal/testenv"
)

// TestKeepVersions: --keep-versions N keeps the newest N versions, the
// current one among them, and the stable paths point at the newest.
func TestKeepVersions(t *testing.T) {
	l := newLab(t, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	name := "keep2.example.test"
	for i := range 4 {
		r := run(t, nil, l.args("obtain", append(l.http01(), "-d", name, "--force", "--keep-versions", "2")...)...)
		if r.code != 0 {
			t.Fatalf("obtain %d: exit %d", i, r.code)
		}
	}
	entries, err := os.ReadDir(filepath.Join(l.certDir(name), "versions"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if len(got) != 2 || got[0] != "0003" || got[1] != "0004" {
		t.Errorf("versions = %v; want [0003 0004]", got)
	}
	cur, err := os.Readlink(filepath.Join(l.certDir(name), "current"))
	if err != nil || filepath.Base(cur) != "0004" {
		t.Errorf("current -> %q (%v); want versions/0004", cur, err)
	}
	if r := run(t, nil, l.args("obtain", "-d", name, "--keep-versions", "0")...); r.code != 2 {
		t.Errorf("--keep-versions 0: exit %d; want 2", r.code)
	}
}
