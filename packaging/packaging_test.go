package packaging

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const repo = ".."

func units() []string {
	return []string{"acmectl-renew.service", "acmectl-renew.timer", "acmectl.service"}
}

// binDir holds the acmectl binary TestMain builds once for the package.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "acmectl-packaging")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "acmectl"), "./cmd/acmectl")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildAcmectl returns the release binary built by TestMain.
func buildAcmectl(t *testing.T) string {
	t.Helper()
	return filepath.Join(binDir, "acmectl")
}

// verify runs systemd-analyze verify on copies of files in which
// /usr/bin/acmectl is bin, and returns its combined output.
func verify(t *testing.T, analyze, bin string, files map[string]string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	var args []string
	for name, text := range files {
		text = strings.ReplaceAll(text, "/usr/bin/acmectl", bin)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, filepath.Join(dir, name))
	}
	slices.Sort(args)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, analyze, append([]string{"verify"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSystemdUnits checks the shipped units with `systemd-analyze verify`
// (any message is a failure) and the properties the docs promise.
func TestSystemdUnits(t *testing.T) {
	files := map[string]string{}
	for _, u := range units() {
		data, err := os.ReadFile(filepath.Join("systemd", u))
		if err != nil {
			t.Fatalf("unit %s: %v (the release and the docs ship it)", u, err)
		}
		files[u] = string(data)
	}
	timer := files["acmectl-renew.timer"]
	for _, want := range []string{"OnCalendar=", "RandomizedDelaySec=", "Persistent=", "WantedBy=timers.target"} {
		if !strings.Contains(timer, want) {
			t.Errorf("acmectl-renew.timer lacks %s", want)
		}
	}
	for _, u := range []string{"acmectl-renew.service", "acmectl.service"} {
		for _, want := range []string{"ProtectSystem=strict", "/var/lib/acmectl", "ExecStart=/usr/bin/acmectl renew", "NoNewPrivileges=yes"} {
			if !strings.Contains(files[u], want) {
				t.Errorf("%s lacks %s", u, want)
			}
		}
	}
	// The documented setups must work under the units: every --webroot
	// the README and docs show is writable (ProtectSystem=strict makes the
	// rest read-only, and the first timer renewal failed with
	// "read-only file system").
	webroots := documentedWebroots(t)
	if len(webroots) == 0 {
		t.Fatal("no --webroot example found in README.md or docs/: the check is blind")
	}
	for _, u := range []string{"acmectl-renew.service", "acmectl.service"} {
		rw := readWritePaths(files[u])
		for _, dir := range webroots {
			if !underAny(dir, rw) {
				t.Errorf("%s: documented --webroot %s is read-only under ProtectSystem=strict (ReadWritePaths: %v)", u, dir, rw)
			}
		}
	}
	if !strings.Contains(files["acmectl.service"], "renew --daemon") {
		t.Error("acmectl.service does not run renew --daemon")
	}
	if !regexp.MustCompile(`(?m)^SuccessExitStatus=.*\b75\b`).MatchString(files["acmectl-renew.service"]) {
		t.Error("acmectl-renew.service does not treat exit 75 (deferred) as success")
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd)")
	}
	bin := buildAcmectl(t)
	out, err := verify(t, analyze, bin, files)
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The check itself must be able to fail: a misspelt directive is caught.
	bad := map[string]string{"acmectl-renew.service": strings.Replace(files["acmectl-renew.service"], "ProtectSystem=strict", "ProtectSystm=strict", 1)}
	if out, err := verify(t, analyze, bin, bad); err == nil && strings.TrimSpace(out) == "" {
		t.Error("systemd-analyze verify accepted a misspelt directive; the check is blind")
	}
}

// cronJobs returns the job lines of the ```crontab blocks of a markdown file.
func cronJobs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var jobs []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "```crontab"):
			in = true
		case in && strings.HasPrefix(line, "```"):
			in = false
		case in:
			l := strings.TrimSpace(line)
			if l == "" || strings.HasPrefix(l, "#") || regexp.MustCompile(`^[A-Z_]+=`).MatchString(l) {
				continue
			}
			jobs = append(jobs, l)
		}
	}
	return jobs
}

// cronField checks one time field of a crontab line (numbers, ranges,
// lists, steps, *, and names for months and days).
func cronField(f string, lo, hi int, names []string) bool {
	for _, part := range strings.Split(f, ",") {
		rng, step, hasStep := strings.Cut(part, "/")
		if hasStep {
			if n, err := strconv.Atoi(step); err != nil || n < 1 || n > hi {
				return false
			}
		}
		if rng == "*" {
			continue
		}
		a, b, isRange := strings.Cut(rng, "-")
		val := func(s string) (int, bool) {
			if i := slices.Index(names, strings.ToLower(s)); i >= 0 && names != nil {
				return i + lo, true
			}
			n, err := strconv.Atoi(s)
			return n, err == nil && n >= lo && n <= hi
		}
		x, ok := val(a)
		if !ok {
			return false
		}
		if isRange {
			y, ok := val(b)
			if !ok || y < x {
				return false
			}
		} else if hasStep {
			return false // "5/10" is not valid in Vixie cron
		}
	}
	return true
}

// parseCronLine splits an /etc/cron.d line: five time fields, a user, the
// command.
func parseCronLine(line string) (user, command string, ok bool) {
	f := strings.Fields(line)
	if len(f) < 7 {
		return "", "", false
	}
	months := []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	days := []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	if !cronField(f[0], 0, 59, nil) || !cronField(f[1], 0, 23, nil) || !cronField(f[2], 1, 31, nil) ||
		!cronField(f[3], 1, 12, months) || !cronField(f[4], 0, 7, days) {
		return "", "", false
	}
	return f[5], strings.Join(f[6:], " "), true
}

func TestCronParser(t *testing.T) {
	for line, want := range map[string]bool{
		"17 3,15 * * * root /usr/bin/acmectl renew": true,
		"*/5 * * * mon-fri root true":               true,
		"0 0 1 jan * root true":                     true,
		"60 * * * * root true":                      false,
		"0 24 * * * root true":                      false,
		"17 3,15 * * root /usr/bin/acmectl renew":   false,
		"5/10 * * * * root true":                    false,
		"0 0 0 * * root true":                       false,
	} {
		_, _, ok := parseCronLine(line)
		if ok != want {
			t.Errorf("parseCronLine(%q) ok = %v; want %v", line, ok, want)
		}
	}
}

// TestGuideCronLine: the guide's cron line parses, and its command, run as
// cron runs it (sh -c, no terminal, cron's minimal environment) on a state
// dir with nothing due, exits 0 and prints nothing (cron mails any output).
func TestGuideCronLine(t *testing.T) {
	jobs := cronJobs(t, filepath.Join(repo, "docs", "guide.md"))
	if len(jobs) == 0 {
		t.Fatal("docs/guide.md has no ```crontab block")
	}
	bin := buildAcmectl(t)
	for _, job := range jobs {
		user, command, ok := parseCronLine(job)
		if !ok || strings.HasPrefix(user, "/") {
			t.Errorf("cron line %q: not an /etc/cron.d line (m h dom mon dow user command)", job)
			continue
		}
		if !strings.HasPrefix(command, "/usr/bin/acmectl ") {
			t.Errorf("cron line %q: the command should name /usr/bin/acmectl (cron's PATH is minimal)", job)
			continue
		}
		if strings.ContainsAny(command, "%") {
			t.Errorf("cron line %q: %% is special in crontabs", job)
		}
		home := t.TempDir()
		state := filepath.Join(home, "state")
		if err := os.Mkdir(state, 0o700); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(t.Context(), "/bin/sh", "-c", strings.Replace(command, "/usr/bin/acmectl", bin, 1))
		cmd.Env = []string{"PATH=/usr/bin:/bin", "SHELL=/bin/sh", "HOME=" + home, "LOGNAME=" + user,
			"ACMECTL_STATE_DIR=" + state, "ACMECTL_CONFIG=" + filepath.Join(home, "none.yaml"), "XDG_CONFIG_HOME=" + home}
		// An explicit ACMECTL_CONFIG must exist; an empty file is "no settings".
		if err := os.WriteFile(filepath.Join(home, "none.yaml"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil || stdout.Len() != 0 || stderr.Len() != 0 {
			t.Errorf("cron command %q with nothing due: err %v\nstdout: %q\nstderr: %q\nwant exit 0 and no output", command, err, stdout.String(), stderr.String())
		}
	}
}

// TestGoreleaserConfig checks the release configuration: only cmd/acmectl
// and its etcd helper cmd/acmectl-etcd are built, statically, for the
// promised platforms, both go into every archive and package, every file the
// archives and packages name exists, and `goreleaser check` passes when
// .tools/goreleaser is installed (`make release-check` installs it).
func TestGoreleaserConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repo, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Before struct{ Hooks []string }
		Builds []struct {
			ID, Main, Binary string
			Env, Flags       []string
			Ldflags          []string
			Goos, Goarch     []string
		}
		Archives []struct {
			IDs   []string `yaml:"ids"`
			Files []any
		}
		Nfpms []struct {
			IDs      []string `yaml:"ids"`
			Formats  []string
			Contents []struct {
				Src, Dst, Type string
				FileInfo       struct{ Mode int } `yaml:"file_info"`
			}
			Scripts map[string]string
		}
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Builds) != 2 {
		t.Fatalf("%d builds; want exactly two (acmectl and acmectl-etcd)", len(cfg.Builds))
	}
	if regexp.MustCompile(`(?m)^[^#\n]*testca`).Match(data) {
		t.Errorf("the release names the test CA")
	}
	want := map[string]string{"acmectl": "./cmd/acmectl", "acmectl-etcd": "./cmd/acmectl-etcd"}
	for _, b := range cfg.Builds {
		if want[b.ID] != b.Main || b.Binary != b.ID {
			t.Errorf("build %q: main %q binary %q; want %v", b.ID, b.Main, b.Binary, want)
		}
		if !slices.Contains(b.Env, "CGO_ENABLED=0") || !slices.Contains(b.Flags, "-trimpath") ||
			len(b.Ldflags) != 1 || !strings.Contains(b.Ldflags[0], "-s -w -X main.version={{ .Version }}") {
			t.Errorf("build %s is not static/trimmed/stamped: env %v flags %v ldflags %v", b.ID, b.Env, b.Flags, b.Ldflags)
		}
		for _, os := range []string{"linux", "darwin", "windows", "freebsd"} {
			if !slices.Contains(b.Goos, os) {
				t.Errorf("build %s: goos lacks %s", b.ID, os)
			}
		}
		if !slices.Equal(b.Goarch, []string{"amd64", "arm64"}) {
			t.Errorf("build %s: goarch %v; want amd64, arm64", b.ID, b.Goarch)
		}
	}
	// acmectl finds its helper beside itself: every archive and package
	// carries both.
	for _, a := range cfg.Archives {
		if !slices.Equal(a.IDs, []string{"acmectl", "acmectl-etcd"}) {
			t.Errorf("archive ids %v; want acmectl and acmectl-etcd", a.IDs)
		}
	}
	for _, n := range cfg.Nfpms {
		if !slices.Equal(n.IDs, []string{"acmectl", "acmectl-etcd"}) {
			t.Errorf("package ids %v; want acmectl and acmectl-etcd", n.IDs)
		}
	}
	if len(cfg.Nfpms) != 1 || !slices.Equal(cfg.Nfpms[0].Formats, []string{"deb", "rpm"}) {
		t.Fatalf("nfpms: want one with deb and rpm")
	}
	var dsts []string
	for _, c := range cfg.Nfpms[0].Contents {
		dsts = append(dsts, c.Dst)
		if c.Src != "" && !strings.HasPrefix(c.Src, "bin/") { // bin/ is generated by the before hook
			if _, err := os.Stat(filepath.Join(repo, c.Src)); err != nil {
				t.Errorf("package content %s: %v", c.Src, err)
			}
		}
		if c.Dst == "/var/lib/acmectl" && (c.Type != "dir" || c.FileInfo.Mode != 0o700) {
			t.Errorf("/var/lib/acmectl: type %q mode %o; want a 0700 dir", c.Type, c.FileInfo.Mode)
		}
	}
	for _, want := range []string{"/usr/lib/systemd/system/acmectl-renew.timer", "/usr/share/man/man1/", "/etc/acmectl", "/var/lib/acmectl",
		"/usr/share/bash-completion/completions/acmectl", "/usr/share/fish/vendor_completions.d/acmectl.fish"} {
		if !slices.Contains(dsts, want) {
			t.Errorf("packages lack %s", want)
		}
	}
	for _, s := range cfg.Nfpms[0].Scripts {
		if _, err := os.Stat(filepath.Join(repo, s)); err != nil {
			t.Errorf("package script: %v", err)
		}
		if out, err := exec.Command("sh", "-n", filepath.Join(repo, s)).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", s, err, out)
		}
	}

	gr, err := filepath.Abs(filepath.Join(repo, ".tools", "goreleaser"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(gr); err != nil {
		t.Skip(".tools/goreleaser not installed: run `make release-check`")
	}
	cmd := exec.CommandContext(t.Context(), gr, "check")
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(strings.ToLower(string(out)), "deprecat") {
		t.Errorf("goreleaser check: %v\n%s", err, out)
	}
}

// documentedWebroots returns the absolute --webroot directories shown in
// README.md and docs/*.md.
func documentedWebroots(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob("../docs/*.md")
	files = append(files, "../README.md")
	re := regexp.MustCompile("--webroot (/[^\\s`\"']+)")
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(data), -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				out = append(out, m[1])
			}
		}
	}
	return out
}

// readWritePaths lists a unit's ReadWritePaths= entries ("-" prefix
// dropped).
func readWritePaths(unit string) []string {
	var out []string
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "ReadWritePaths="); ok {
			for _, p := range strings.Fields(v) {
				out = append(out, strings.TrimPrefix(p, "-"))
			}
		}
	}
	return out
}

func underAny(dir string, roots []string) bool {
	for _, r := range roots {
		if dir == r || strings.HasPrefix(dir, strings.TrimSuffix(r, "/")+"/") {
			return true
		}
	}
	return false
}

// TestMakeInstall: `make install DESTDIR=...` puts both binaries, the man
// pages (man finds acmectl) and the three completion scripts where the
// system looks for them.
func TestMakeInstall(t *testing.T) {
	if os.Getenv("ACMECTL_TEST_INSTALL") == "" {
		// A release build of both binaries plus the man pages: minutes on
		// 2 cores beside the other suites, so it runs in make test-long.
		t.Skip("set ACMECTL_TEST_INSTALL=1 (make test-long does)")
	}
	dest := t.TempDir()
	cmd := exec.Command("make", "-s", "-C", "..", "install", "DESTDIR="+dest, "PREFIX=/usr")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, f := range []string{"usr/bin/acmectl", "usr/bin/acmectl-etcd", "usr/share/man/man1/acmectl.1", "usr/share/man/man1/acmectl-obtain.1",
		"usr/share/bash-completion/completions/acmectl", "usr/share/zsh/site-functions/_acmectl", "usr/share/fish/vendor_completions.d/acmectl.fish"} {
		if _, err := os.Stat(filepath.Join(dest, f)); err != nil {
			t.Errorf("make install: %v", err)
		}
	}
	if man, err := exec.LookPath("man"); err == nil {
		c := exec.Command(man, "-w", "acmectl")
		c.Env = append(os.Environ(), "MANPATH="+filepath.Join(dest, "usr/share/man"))
		if out, err := c.CombinedOutput(); err != nil || !strings.Contains(string(out), dest) {
			t.Errorf("man -w acmectl after make install: %v %s", err, out)
		}
	}
}
