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

// BenchmarkOtherClients runs lego and certbot (Debian's) through the same
// measurement as BenchmarkIssuance, for comparison: one single-name
// issuance with an existing account, wall time and requests on Pebble's
// side. Skipped when a client is not installed.
//
//	go test -run '^$' -bench OtherClients -benchtime 3x ./test/e2e
func BenchmarkOtherClients(b *testing.B) {
	b.Run("lego", func(b *testing.B) {
		lego, err := exec.LookPath("lego")
		if err != nil {
			b.Skip("lego not installed")
		}
		p := testenv.StartPebble(b, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
		path := b.TempDir()
		args := []string{"--server", p.DirURL, "--accept-tos", "--email", "admin@example.test", "--path", path,
			"--domains", "lego.example.test", "--http", "--http.port", "127.0.0.1:" + strconv.Itoa(p.HTTPPort), "run"}
		benchOther(b, p, lego, args, []string{"LEGO_CA_CERTIFICATES=" + p.CABundle})
	})
	b.Run("certbot", func(b *testing.B) {
		certbot, err := exec.LookPath("certbot")
		if err != nil {
			b.Skip("certbot not installed")
		}
		p := testenv.StartPebble(b, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
		dir := b.TempDir()
		args := []string{"certonly", "--non-interactive", "--agree-tos", "--register-unsafely-without-email", "--server", p.DirURL,
			"--standalone", "--http-01-address", "127.0.0.1", "--http-01-port", strconv.Itoa(p.HTTPPort), "--force-renewal",
			"--config-dir", filepath.Join(dir, "c"), "--work-dir", filepath.Join(dir, "w"), "--logs-dir", filepath.Join(dir, "l"),
			"-d", "certbot.example.test"}
		benchOther(b, p, certbot, args, []string{"REQUESTS_CA_BUNDLE=" + p.CABundle})
	})
}

func benchOther(b *testing.B, p *testenv.Pebble, bin string, args, env []string) {
	runOnce := func() {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(cleanEnv(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", bin, err, out)
		}
	}
	runOnce() // creates the account
	before := p.Count("total")
	b.ResetTimer()
	for b.Loop() {
		runOnce()
	}
	b.StopTimer()
	b.ReportMetric(float64(p.Count("total")-before)/float64(b.N), "requests/op")
}
