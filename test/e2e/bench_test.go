package e2e

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/testenv"
)

// BenchmarkIssuance measures one single-name issuance with an existing
// account against Pebble (PEBBLE_VA_NOSLEEP=1, no nonce rejection): the
// whole acmectl process, wall time per op, ACME requests per op counted on
// Pebble's side, and the peak RSS of the acmectl process.
//
//	go test -run '^$' -bench Issuance -benchtime 20x ./test/e2e
func BenchmarkIssuance(b *testing.B) {
	p := testenv.StartPebble(b, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	state := filepath.Join(b.TempDir(), "state")
	args := []string{"obtain", "--server", p.DirURL, "--ca-bundle", p.CABundle, "--state-dir", state,
		"--accept-tos", "-d", "bench.example.test", "--profile", "default", "--force", "--quiet",
		"--http-01", "--http-01-addr", "127.0.0.1:" + strconv.Itoa(p.HTTPPort)}
	bin := filepath.Join(binDir, "acmectl")
	runOnce := func() (time.Duration, int64) {
		cmd := exec.Command(bin, args...)
		cmd.Env = cleanEnv()
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("acmectl: %v\n%s", err, out)
		}
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
		return time.Since(start), rss
	}
	runOnce() // creates the account
	before := p.Count("total")
	var maxRSS int64
	b.ResetTimer()
	for b.Loop() {
		_, rss := runOnce()
		maxRSS = max(maxRSS, rss)
	}
	b.StopTimer()
	b.ReportMetric(float64(p.Count("total")-before)/float64(b.N), "requests/op")
	b.ReportMetric(float64(maxRSS)/1024, "peak-RSS-MiB")
}
