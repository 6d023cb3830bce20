package hostile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/testenv"
)

var binDir string

func TestMain(m *testing.M) {
	// The release build (no failpoints): what ships is what is attacked.
	bin, err := testenv.BuildAcmectl("acmectl-hostile-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = filepath.Dir(bin)
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// result is one acmectl run.
type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
	maxRSS         int64 // bytes
}

// lab is one case's world: a fake CA, a state dir, a webroot, a canary
// deploy hook, a sentinel tree and private HOME/TMPDIR, all under root.
type lab struct {
	f                      *fakeCA
	root, state, www, hook string
	canaryLog              string
	name                   string
	base                   []string
	env                    []string
}

const certName = "hostile.example.test"

func newLab(t *testing.T) *lab {
	t.Helper()
	root := t.TempDir()
	l := &lab{f: newFakeCA(t), root: root, state: filepath.Join(root, "state"), www: filepath.Join(root, "www"),
		hook: filepath.Join(root, "hooks", "canary"), canaryLog: filepath.Join(root, "canary.log"), name: certName}
	for _, d := range []string{"www", "hooks", "sentinel/sub", "home", "tmp", "xdg"} {
		must(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(root, "www", "index.html"), []byte("<p>site</p>\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "sentinel", "a"), []byte("sentinel a"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "sentinel", "sub", "b"), []byte("sentinel b"), 0o600))
	must(t, os.WriteFile(l.hook, []byte("#!/bin/sh\necho \"$ACMECTL_HOOK_EVENT $*\" >> "+l.canaryLog+"\n"), 0o700))
	l.base = []string{"obtain", "--server", l.f.DirURL(), "--ca-bundle", l.f.bundle(filepath.Join(root, "hooks")),
		"--state-dir", l.state, "--accept-tos", "--email", "admin@example.test", "--webroot", l.www,
		"-d", l.name, "--deploy-hook", l.hook, "--order-timeout", "3s"}
	l.env = []string{"HOME=" + filepath.Join(root, "home"), "TMPDIR=" + filepath.Join(root, "tmp"),
		"XDG_CONFIG_HOME=" + filepath.Join(root, "xdg"), "PATH=/usr/bin:/bin"}
	return l
}

// run executes acmectl under a deadline and measures it.
func (l *lab) run(t *testing.T, deadline time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "acmectl"), args...)
	cmd.Env = l.env
	cmd.WaitDelay = time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("acmectl did not finish within %v (%v)\nstderr: %s", deadline, err, r.stderr)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run acmectl: %v", err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.maxRSS = ru.Maxrss * 1024
	}
	t.Logf("acmectl %s → %d in %v (maxrss %d MiB)\nstdout: %s\nstderr: %s", strings.Join(args[1:], " "), r.code, r.took.Round(time.Millisecond), r.maxRSS>>20, r.stdout, r.stderr)
	return r
}

// good runs the first, successful obtain.
func (l *lab) good(t *testing.T) {
	t.Helper()
	r := l.run(t, 30*time.Second, l.base...)
	if r.code != 0 {
		t.Fatalf("good obtain: exit %d\n%s", r.code, r.stderr)
	}
	if n := l.canaryRuns(t); n != 1 {
		t.Fatalf("deploy hook ran %d times after the good obtain; want 1", n)
	}
}

func (l *lab) canaryRuns(t *testing.T) int {
	b, err := os.ReadFile(l.canaryLog)
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	must(t, err)
	return strings.Count(string(b), "\n")
}

// live reads the stable files of the certificate.
func (l *lab) live(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range []string{"cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"} {
		b, err := os.ReadFile(filepath.Join(l.state, "certificates", l.name, f))
		must(t, err)
		out[f] = b
	}
	return out
}

// tree hashes every file and directory under root except the state dir
// and the canary log: what acmectl may not touch.
func (l *lab) tree(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(l.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == l.state {
			return filepath.SkipDir
		}
		if p == l.canaryLog {
			return nil
		}
		rel, _ := filepath.Rel(l.root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[rel] = "dir " + info.Mode().String()
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = fmt.Sprintf("%s %x", info.Mode(), sha256.Sum256(b))
		return nil
	})
	must(t, err)
	return out
}

// errorLine checks stderr holds exactly one "acmectl: " line, containing
// want, and no raw control characters anywhere.
func errorLine(t *testing.T, r result, want string) string {
	t.Helper()
	var lines []string
	for _, ln := range strings.Split(strings.TrimRight(r.stderr, "\n"), "\n") {
		if strings.HasPrefix(ln, "acmectl: ") && !strings.HasPrefix(ln, "acmectl: warning") {
			lines = append(lines, ln)
		}
	}
	if len(lines) != 1 {
		t.Errorf("want one error line; got %d:\n%s", len(lines), r.stderr)
		return ""
	}
	if !strings.Contains(lines[0], want) {
		t.Errorf("error line %q does not contain %q", lines[0], want)
	}
	if len(lines[0]) > 1024 {
		t.Errorf("error line is %d bytes; want ≤ 1024", len(lines[0]))
	}
	for _, s := range []string{r.stderr, r.stdout} {
		if i := strings.IndexFunc(s, func(c rune) bool { return c < 0x20 && c != '\n' && c != '\t' || c == 0x7f }); i >= 0 {
			t.Errorf("raw control character %q in output at %d", s[i], i)
		}
	}
	return lines[0]
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
