package fleet

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/acmectl/acmectl/internal/fleet/kv"
	"github.com/acmectl/acmectl/internal/testenv"
)

// helperBin is the acmectl-etcd built for this test binary: the tests go
// through the same process boundary as acmectl does.
var helperBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() {
		bin, err := testenv.BuildAcmectl("acmectl-fleet-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		helperBin = filepath.Join(filepath.Dir(bin), kv.HelperName)
		code := m.Run()
		os.RemoveAll(filepath.Dir(bin))
		os.Exit(code)
	}
	os.Exit(m.Run())
}
