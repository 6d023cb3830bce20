// Package bench is `make bench`: acmectl against the protocol floor
// (scripts/floor, a bare golang.org/x/crypto/acme program) and, where
// installed, lego and certbot, side by side in one run against the same
// local Pebble, with a PASS/FAIL per target of issue 17. It runs only when
// ACMECTL_BENCH=1 (scripts/bench.sh sets it).
//
// Times are compared within the run (medians of interleaved runs), so a
// busy machine slows both sides alike; CPU time (user+sys of the process)
// is printed beside wall time because it is the less noisy of the two.
package bench

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/testenv"
)

// binDir holds acmectl and acmectl-etcd; floorBin is scripts/floor.
var binDir, floorBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv("ACMECTL_BENCH") != "1" {
		os.Exit(m.Run())
	}
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		fmt.Fprintln(os.Stderr, "make bench needs GNU time (/usr/bin/time: apt-get install time)")
		os.Exit(1)
	}
	// The release build (make build: -trimpath -s -w) in place when given,
	// as shipped; else a plain build.
	floorDir, err := os.MkdirTemp("", "acmectl-bench-floor")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	floorBin = filepath.Join(floorDir, "floor")
	if dir := os.Getenv("ACMECTL_BENCH_BIN"); dir != "" {
		binDir = dir
	} else {
		bin, err := testenv.BuildAcmectl("acmectl-bench-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		binDir = filepath.Dir(bin)
	}
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", floorBin, "./scripts/floor")
	build.Dir = repoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build floor:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(floorDir)
	if os.Getenv("ACMECTL_BENCH_BIN") == "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Join(wd, "..", "..")
}

// run is one process run.
type run struct {
	wall, cpu time.Duration
	rssKiB    int64
	out       string
}

// runProc runs bin and measures it. Peak RSS comes from GNU time, which
// forks a small process to exec bin: the rusage of a child that Go starts
// directly counts the test binary's own pages (Go's fork shares its
// address space until exec, and Linux keeps that high-water mark).
func runProc(t *testing.T, env []string, bin string, args ...string) run {
	t.Helper()
	rssFile := filepath.Join(t.TempDir(), "rss")
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", rssFile, bin}, args...)...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	r := run{wall: wall, cpu: cpu, out: out.String()}
	if b, err := os.ReadFile(rssFile); err == nil {
		r.rssKiB, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	return r
}

func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ACMECTL_") && !strings.HasPrefix(kv, "GODEBUG=") {
			env = append(env, kv)
		}
	}
	return append(append(env, "HOME="+os.TempDir(), "XDG_CONFIG_HOME="+os.TempDir()+"/acmectl-bench-noconfig"), extra...)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianF(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// report collects the lines printed at the end.
type report struct {
	lines []string
	fails int
}

func (r *report) add(what, acmectl, floor, ratio, goal string, ok bool) {
	res := "PASS"
	if !ok {
		res = "FAIL"
		r.fails++
	}
	if goal == "" {
		res = "-"
	}
	r.lines = append(r.lines, fmt.Sprintf("%-46s %-16s %-16s %-8s %-14s %-6s %s", what, acmectl, floor, ratio, goal, res, loadavg()))
}

// loadavg is the machine's 1-minute load average when a line is added
// (the measurement just ended): ratios taken on a busy machine are
// noisier, and the table says how busy it was.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func (r *report) note(s string) { r.lines = append(r.lines, "  "+s) }

func (r *report) print(w io.Writer) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-46s %-16s %-16s %-8s %-14s %-6s %s\n", "measurement", "acmectl", "floor", "ratio", "goal", "result", "load")
	fmt.Fprintln(w, strings.Repeat("-", 120))
	for _, l := range r.lines {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w, strings.Repeat("-", 120))
	if r.fails == 0 {
		fmt.Fprintln(w, "bench: all targets PASS")
	} else {
		fmt.Fprintf(w, "bench: %d target(s) FAIL\n", r.fails)
	}
}

// only reports whether section runs: BENCH_ONLY lists the sections to
// run (init, issuance, requests, renew, noop, others); unset, all run.
func only(section string) bool {
	v := os.Getenv("BENCH_ONLY")
	return v == "" || slices.Contains(strings.Split(v, ","), section)
}

func iters(def int) int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_RUNS")); err == nil && n > 0 {
		return n
	}
	return def
}

// TestBench is the whole of `make bench`.
func TestBench(t *testing.T) {
	if os.Getenv("ACMECTL_BENCH") != "1" {
		t.Skip("make bench (ACMECTL_BENCH=1)")
	}
	acmectl := filepath.Join(binDir, "acmectl")
	floor := floorBin
	rep := &report{}
	defer rep.print(os.Stdout)

	start := time.Now()
	if only("init") {
		benchInit(t, rep, acmectl)
	}
	if only("issuance") {
		benchIssuance(t, rep, acmectl, floor)
	}
	if only("requests") {
		benchRequests(t, rep, acmectl)
	}
	if only("renew") {
		benchRenew100(t, rep, acmectl, floor)
	}
	if only("noop") {
		benchNoop10k(t, rep, acmectl)
	}
	if only("others") && os.Getenv("OTHERS") != "0" {
		benchOthers(t, rep, floor)
	}
	rep.note(fmt.Sprintf("bench took %s; %d CPUs", time.Since(start).Round(time.Second), runtime.NumCPU()))
	// A failed target is reported in the table (and by scripts/bench.sh's
	// exit status), not as a test failure: that would dump every server's
	// log.
}

// benchInit: the package initialisation of `acmectl version`
// (GODEBUG=inittrace=1, the sum of every init line's clock time).
func benchInit(t *testing.T, rep *report, acmectl string) {
	var sums []float64
	var rss []float64
	for range iters(31) {
		r := runProc(t, cleanEnv("GODEBUG=inittrace=1"), acmectl, "version")
		sum := 0.0
		for _, l := range strings.Split(r.out, "\n") {
			f := strings.Fields(l)
			if len(f) >= 6 && f[0] == "init" && f[4] != "" {
				v, _ := strconv.ParseFloat(f[4], 64)
				sum += v
			}
		}
		sums = append(sums, sum)
		rss = append(rss, float64(r.rssKiB)/1024)
	}
	med := medianF(sums)
	rep.add("init: acmectl version (median of sums)", fmt.Sprintf("%.2f ms", med), "", "", "<= 3 ms", med <= 3)
	rep.note(fmt.Sprintf("min %.2f ms over %d runs; peak RSS of acmectl version %.1f MB", slices.Min(sums), len(sums), medianF(rss)))
}

// pebble starts a Pebble with the validation instant and no nonce
// rejection.
func pebble(t *testing.T, env map[string]string) *testenv.Pebble {
	e := map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}
	for k, v := range env {
		e[k] = v
	}
	return testenv.StartPebble(t, testenv.PebbleOptions{Env: e})
}

// benchIssuance: one single-name issuance with an existing account,
// http-01 on Pebble's port, whole process, acmectl and the floor
// interleaved.
func benchIssuance(t *testing.T, rep *report, acmectl, floor string) {
	p := pebble(t, nil)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	httpAddr := "127.0.0.1:" + strconv.Itoa(p.HTTPPort)
	args := []string{"obtain", "--server", p.DirURL, "--ca-bundle", p.CABundle, "--state-dir", state,
		"--accept-tos", "-d", "bench.example.test", "--force", "--quiet", "--http-01", "--http-01-addr", httpAddr}
	acct := filepath.Join(dir, "floor-account.json")
	fargs := []string{"-directory", p.DirURL, "-ca-bundle", p.CABundle, "-account", acct, "-http-addr", httpAddr,
		"-name", "floor.example.test", "-out", dir}
	env := cleanEnv()
	runProc(t, env, acmectl, args...) // the account
	runProc(t, env, floor, "-directory", p.DirURL, "-ca-bundle", p.CABundle, "-account", acct, "-register")
	runProc(t, env, floor, fargs...) // warm the page cache alike

	var aw, ac, fw, fc []time.Duration
	var arss, frss int64
	var areq, freq int
	n := iters(15)
	for range n {
		before := p.Count("total")
		r := runProc(t, env, acmectl, args...)
		areq = p.Count("total") - before
		aw, ac, arss = append(aw, r.wall), append(ac, r.cpu), max(arss, r.rssKiB)
		before = p.Count("total")
		r = runProc(t, env, floor, fargs...)
		freq = p.Count("total") - before
		fw, fc, frss = append(fw, r.wall), append(fc, r.cpu), max(frss, r.rssKiB)
	}
	wr := float64(median(aw)) / float64(median(fw))
	cr := float64(median(ac)) / float64(median(fc))
	rep.add("one issuance, wall (median)", ms(median(aw)), ms(median(fw)), fmt.Sprintf("%.2fx", wr), "<= 1.5x", wr <= 1.5)
	rep.add("one issuance, CPU user+sys (median)", ms(median(ac)), ms(median(fc)), fmt.Sprintf("%.2fx", cr), "", true)
	rep.add("one issuance, peak RSS (max)", fmt.Sprintf("%.1f MB", float64(arss)/1024), fmt.Sprintf("%.1f MB", float64(frss)/1024), "", "<= 15 MB", arss <= 15*1024)
	rep.add("one issuance, requests", strconv.Itoa(areq), strconv.Itoa(freq), "", "9", areq == 9)
	rep.note(fmt.Sprintf("%d interleaved runs each; min wall acmectl %s floor %s", n, ms(slices.Min(aw)), ms(slices.Min(fw))))
}

// benchRequests: requests of one order of N names, counted on Pebble's
// side: 3N+6 with the validation instant; with it not instant, the
// extra polls.
func benchRequests(t *testing.T, rep *report, acmectl string) {
	for _, slow := range []bool{false, true} {
		env := map[string]string{}
		if slow {
			env = map[string]string{"PEBBLE_VA_NOSLEEP": "0", "PEBBLE_VA_SLEEPTIME": "3"}
		}
		p := pebble(t, env)
		state := filepath.Join(t.TempDir(), "state")
		httpAddr := "127.0.0.1:" + strconv.Itoa(p.HTTPPort)
		base := []string{"obtain", "--server", p.DirURL, "--ca-bundle", p.CABundle, "--state-dir", state,
			"--accept-tos", "--quiet", "--http-01", "--http-01-addr", httpAddr}
		runProc(t, cleanEnv(), acmectl, append(base, "-d", "account.example.test")...)
		ns := []int{1, 10, 100}
		if slow {
			ns = []int{1, 10}
		}
		for _, n := range ns {
			args := append([]string(nil), base...)
			for i := range n {
				args = append(args, "-d", fmt.Sprintf("n%d-%03d.example.test", n, i))
			}
			p.ResetCounts()
			r := runProc(t, cleanEnv(), acmectl, args...)
			got := p.Count("total")
			if !slow {
				ok, goal := got <= 3*n+6, fmt.Sprintf("<= %d (3N+6)", 3*n+6)
				if n == 1 {
					ok, goal = got == 9, "9"
				}
				rep.add(fmt.Sprintf("requests, order of %d name(s), instant VA", n), strconv.Itoa(got), "", "", goal, ok)
				rep.note(fmt.Sprintf("newNonce %d, order polls %d, authorization fetches %d, challenge POSTs %d",
					p.Count("HEAD /nonce-plz"), p.Count("POST /my-order"), p.Count("POST /authZ"), p.Count("POST /chalZ")))
				continue
			}
			rep.add(fmt.Sprintf("requests, order of %d name(s), VA sleeps 0-2 s", n), strconv.Itoa(got), "", "", "", true)
			rep.note(fmt.Sprintf("order polls %d, authorization fetches %d, newNonce %d; %s",
				p.Count("POST /my-order"), p.Count("POST /authZ"), p.Count("HEAD /nonce-plz"), ms(r.wall)))
		}
	}
}

// benchRenew100: `renew --force` of 100 certificates (webroot behind
// nginx) against the floor's in-process loop of the same 100 issuances at
// the same parallelism, for several --parallel values. Runs alternate
// (acmectl, floor, then floor, acmectl, ...) so that a change in the
// machine's load hits both sides; the default parallelism, the one with a
// goal, is measured five times (BENCH_RENEW_RUNS) and compared by
// medians, the others once.
func benchRenew100(t *testing.T, rep *report, acmectl, floor string) {
	p := pebble(t, nil)
	dir := t.TempDir()
	webroot := filepath.Join(dir, "webroot")
	if err := os.MkdirAll(webroot, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.StartNginx(t, webroot, p.HTTPPort)
	state := filepath.Join(dir, "state")
	env := cleanEnv()
	const n = 100
	for i := range n {
		runProc(t, env, acmectl, "obtain", "--server", p.DirURL, "--ca-bundle", p.CABundle, "--state-dir", state,
			"--accept-tos", "--quiet", "--webroot", webroot, "-d", fmt.Sprintf("host%03d.example.test", i))
	}
	acct := filepath.Join(dir, "floor-account.json")
	runProc(t, env, floor, "-directory", p.DirURL, "-ca-bundle", p.CABundle, "-account", acct, "-register")
	def := defaultParallel(t, acmectl)
	pars := []int{1, 4, 10}
	if !slices.Contains(pars, def) {
		pars = append(pars, def)
		slices.Sort(pars)
	}
	defRuns := 5
	if v, err := strconv.Atoi(os.Getenv("BENCH_RENEW_RUNS")); err == nil && v > 0 {
		defRuns = v
	}
	type side struct {
		wall, cpu []time.Duration
		req       int
		rssKiB    int64
	}
	runAcmectl := func(par int, s *side) {
		before := p.Count("total")
		r := runProc(t, env, acmectl, "renew", "--state-dir", state, "--force", "--no-random-sleep", "--quiet", "--parallel", strconv.Itoa(par))
		s.req = p.Count("total") - before
		s.wall, s.cpu, s.rssKiB = append(s.wall, r.wall), append(s.cpu, r.cpu), max(s.rssKiB, r.rssKiB)
	}
	runFloor := func(par int, s *side) {
		before := p.Count("total")
		r := runProc(t, env, floor, "-directory", p.DirURL, "-ca-bundle", p.CABundle, "-account", acct, "-webroot", webroot,
			"-name", "floor%03d.example.test", "-n", strconv.Itoa(n), "-parallel", strconv.Itoa(par))
		s.req = p.Count("total") - before
		s.wall, s.cpu, s.rssKiB = append(s.wall, r.wall), append(s.cpu, r.cpu), max(s.rssKiB, r.rssKiB)
	}
	for _, par := range pars {
		var a, f side
		runs := 1
		if par == def {
			runs = defRuns
		}
		for i := range runs {
			if i%2 == 0 {
				runAcmectl(par, &a)
				runFloor(par, &f)
			} else {
				runFloor(par, &f)
				runAcmectl(par, &a)
			}
		}
		r := float64(median(a.wall)) / float64(median(f.wall))
		what := fmt.Sprintf("renew --force of 100, --parallel %d", par)
		goal := ""
		if par == def {
			what += " (default)"
			goal = "<= 1.3x"
		}
		label := ms(median(a.wall))
		if runs > 1 {
			what += fmt.Sprintf(", median of %d", runs)
		}
		rep.add(what, label, ms(median(f.wall)), fmt.Sprintf("%.2fx", r), goal, goal == "" || r <= 1.3)
		rep.note(fmt.Sprintf("CPU user+sys acmectl %s floor %s (%.2fx); requests %d / %d; peak RSS %.1f MB / %.1f MB",
			ms(median(a.cpu)), ms(median(f.cpu)), float64(median(a.cpu))/float64(median(f.cpu)), a.req, f.req,
			float64(a.rssKiB)/1024, float64(f.rssKiB)/1024))
		if runs > 1 {
			var pair []float64
			for i := range a.wall {
				pair = append(pair, float64(a.wall[i])/float64(f.wall[i]))
			}
			rep.note(fmt.Sprintf("walls acmectl %s; floor %s; median of the %d pairs' ratios %.2fx", mss(a.wall), mss(f.wall), runs, medianF(pair)))
		}
	}
}

// mss lists durations in ms.
func mss(ds []time.Duration) string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%.0f", float64(d.Microseconds())/1000))
	}
	return strings.Join(out, " ") + " ms"
}

// defaultParallel reads renew's --parallel default from its help.
func defaultParallel(t *testing.T, acmectl string) int {
	r := runProc(t, cleanEnv(), acmectl, "renew", "--help")
	for _, l := range strings.Split(r.out, "\n") {
		if strings.Contains(l, "--parallel") {
			if i := strings.Index(l, "(default "); i >= 0 {
				v, _ := strconv.Atoi(strings.TrimRight(strings.Fields(l[i+9:])[0], ")"))
				if v > 0 {
					return v
				}
			}
			return 1
		}
	}
	t.Fatal("renew --help has no --parallel")
	return 0
}

// benchNoop10k: `renew` with nothing due over 10,000 certificates (one
// real issuance copied 10,000 times; the copy is not timed).
func benchNoop10k(t *testing.T, rep *report, acmectl string) {
	p := pebble(t, nil)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	env := cleanEnv()
	runProc(t, env, acmectl, "obtain", "--server", p.DirURL, "--ca-bundle", p.CABundle, "--state-dir", state,
		"--accept-tos", "--quiet", "--http-01", "--http-01-addr", "127.0.0.1:"+strconv.Itoa(p.HTTPPort), "-d", "tmpl.example.test")
	// One renew fetches the template's renewal info (ARI) and stores when
	// to fetch it next, so that the copies need no request either.
	runProc(t, env, acmectl, "renew", "--state-dir", state, "--no-random-sleep", "--quiet")
	src := filepath.Join(state, "certificates", "tmpl.example.test")
	const n = 10000
	for i := range n {
		if err := copyTree(src, filepath.Join(state, "certificates", fmt.Sprintf("c%05d.example.test", i))); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"renew", "--state-dir", state, "--no-random-sleep", "--quiet"}
	runProc(t, env, acmectl, args...) // the first run after a change (fills caches)
	var ws []time.Duration
	var cpus []time.Duration
	var rss int64
	before := p.Count("total")
	for range iters(7) {
		r := runProc(t, env, acmectl, args...)
		ws, cpus, rss = append(ws, r.wall), append(cpus, r.cpu), max(rss, r.rssKiB)
	}
	req := p.Count("total") - before
	rep.add("renew, nothing due, 10,001 certs (median)", ms(median(ws)), "", "", "<= 250 ms", median(ws) <= 250*time.Millisecond)
	rep.add("renew, nothing due, 10,001 certs, peak RSS", fmt.Sprintf("%.1f MB", float64(rss)/1024), "", "", "<= 32 MB", rss <= 32*1024)
	rep.note(fmt.Sprintf("CPU user+sys median %s; requests %d", ms(median(cpus)), req))
}

// copyTree copies a certificate directory (files and symlinks as they
// are; no fsync: setup only).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, to)
		case d.IsDir():
			return os.MkdirAll(to, info.Mode().Perm())
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, b, info.Mode().Perm())
		}
	})
}

// benchOthers: lego and certbot, one issuance with an existing account
// each (where installed), against the floor in the same Pebble.
func benchOthers(t *testing.T, rep *report, floor string) {
	type other struct {
		name string
		args func(p *testenv.Pebble, dir string) []string
		env  func(p *testenv.Pebble) []string
	}
	others := []other{
		{"lego", func(p *testenv.Pebble, dir string) []string {
			return []string{"--server", p.DirURL, "--accept-tos", "--email", "admin@example.test", "--path", dir,
				"--domains", "lego.example.test", "--http", "--http.port", "127.0.0.1:" + strconv.Itoa(p.HTTPPort), "run"}
		}, func(p *testenv.Pebble) []string { return []string{"LEGO_CA_CERTIFICATES=" + p.CABundle} }},
		{"certbot", func(p *testenv.Pebble, dir string) []string {
			return []string{"certonly", "--non-interactive", "--agree-tos", "--register-unsafely-without-email", "--server", p.DirURL,
				"--standalone", "--http-01-address", "127.0.0.1", "--http-01-port", strconv.Itoa(p.HTTPPort), "--force-renewal",
				"--config-dir", filepath.Join(dir, "c"), "--work-dir", filepath.Join(dir, "w"), "--logs-dir", filepath.Join(dir, "l"),
				"-d", "certbot.example.test"}
		}, func(p *testenv.Pebble) []string { return []string{"REQUESTS_CA_BUNDLE=" + p.CABundle} }},
	}
	for _, o := range others {
		bin, err := exec.LookPath(o.name)
		if err != nil {
			rep.note(o.name + ": not installed")
			continue
		}
		p := pebble(t, nil)
		dir := t.TempDir()
		env := append(cleanEnv(), o.env(p)...)
		runProc(t, env, bin, o.args(p, dir)...) // the account
		acct := filepath.Join(dir, "floor-account.json")
		runProc(t, cleanEnv(), floor, "-directory", p.DirURL, "-ca-bundle", p.CABundle, "-account", acct, "-register")
		var ow, fw []time.Duration
		var req int
		for range iters(3) {
			before := p.Count("total")
			r := runProc(t, env, bin, o.args(p, dir)...)
			req = p.Count("total") - before
			ow = append(ow, r.wall)
			r = runProc(t, cleanEnv(), floor, "-directory", p.DirURL, "-ca-bundle", p.CABundle, "-account", acct,
				"-http-addr", "127.0.0.1:"+strconv.Itoa(p.HTTPPort), "-name", "floor.example.test")
			fw = append(fw, r.wall)
		}
		rep.add("one issuance: "+o.name+" (median)", ms(median(ow)), ms(median(fw)), fmt.Sprintf("%.1fx", float64(median(ow))/float64(median(fw))), "", true)
		rep.note(fmt.Sprintf("%s requests per issuance: %d", o.name, req))
	}
}
