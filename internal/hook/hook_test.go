package hook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

var parentEnv = []string{
	"PATH=/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8",
	"ACMECTL_SERVER=https://evil.test/dir", "ACMECTL_HOOK_EVENT=spoofed", "ACMECTL_EAB_HMAC_KEY=c2VjcmV0",
	"AWS_SECRET_ACCESS_KEY=s", "GITHUB_TOKEN=t", "DB_PASSWORD=p", "RFC2136_TSIG_SECRET=x", "SSH_KEY=k",
	"RENEWED_LINEAGE=/stale", "CREDENTIALS_DIRECTORY=/run/credentials/acmectl.service",
}

func testEvent(k Kind) Event {
	return Event{
		Kind: k, CertName: "example.test", Domains: []string{"example.test", "*.example.test"},
		CertPath: "/var/lib/acmectl/certificates/example.test/cert.pem", KeyPath: "/var/lib/acmectl/certificates/example.test/privkey.pem",
		ChainPath: "/var/lib/acmectl/certificates/example.test/chain.pem", FullchainPath: "/var/lib/acmectl/certificates/example.test/fullchain.pem",
		Lineage: "/var/lib/acmectl/certificates/example.test", Server: "https://127.0.0.1:14000/dir",
		NotAfter: time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC), Renewed: []string{"example.test"},
		Error: "rate limited", ErrorClass: "rate_limited",
	}
}

// The hook sees exactly the inherited safe variables plus the documented
// ones: /usr/bin/env itself is the hook, so no shell adds anything.
func TestRunEnvironmentExact(t *testing.T) {
	for _, k := range []Kind{Pre, Post, Deploy, Failure} {
		t.Run(string(k), func(t *testing.T) {
			var out bytes.Buffer
			r := &Runner{Env: parentEnv, Output: &out}
			res := r.Run(t.Context(), Spec{Argv: []string{"env"}, Event: testEvent(k)})
			if !res.OK() {
				t.Fatalf("Run(env) = %+v; want success", res)
			}
			var got []string
			for line := range strings.Lines(out.String()) {
				v, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "hook env: ")
				if !ok {
					t.Fatalf("output line %q lacks the %q prefix", line, "hook env: ")
				}
				got = append(got, v)
			}
			want := append([]string{"PATH=/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8"}, testEvent(k).Vars()...)
			slices.Sort(got)
			slices.Sort(want)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("hook environment mismatch (-want +got):\n%s", d)
			}
			for _, kv := range got {
				name, _, _ := strings.Cut(kv, "=")
				documented := strings.HasPrefix(name, "ACMECTL_HOOK_") || name == "RENEWED_LINEAGE" || name == "RENEWED_DOMAINS"
				if strings.HasPrefix(name, "ACMECTL_") && !documented || strings.Contains(kv, "spoofed") || strings.Contains(kv, "evil") {
					t.Errorf("hook saw %q", kv)
				}
			}
		})
	}
}

// The brief's form of the same check: a script dumps its environment to a file.
func TestRunEnvironmentScript(t *testing.T) {
	dir := t.TempDir()
	dump := filepath.Join(dir, "env.txt")
	script := writeScript(t, dir, "dump-env", `exec /usr/bin/env > "$1"`+"\n", 0o755)
	res := (&Runner{Env: parentEnv}).Run(t.Context(), Spec{Argv: []string{script, dump}, Event: testEvent(Deploy)})
	if !res.OK() {
		t.Fatalf("Run = %+v", res)
	}
	b, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(line, "PWD=") { // dash exports PWD itself
			got = append(got, strings.TrimSuffix(line, "\n"))
		}
	}
	want := append([]string{"PATH=/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8"}, testEvent(Deploy).Vars()...)
	slices.Sort(got)
	slices.Sort(want)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("script environment mismatch (-want +got):\n%s", d)
	}
}

// procGone reports whether pid has exited (gone, or a zombie nobody reaped).
func procGone(pid int) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 && s[i+2] == 'Z' {
		return nil
	}
	return fmt.Errorf("pid %d still running: %.60s", pid, s)
}

func readPID(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the hook did not record its child's pid before the timeout: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Fatalf("bad pid %q: %v", b, err)
	}
	// Whatever happens in the test, nothing the hook started outlives it.
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := strings.LastIndexByte(string(st), ')'); i >= 0 {
			if f := strings.Fields(string(st)[i+1:]); len(f) > 2 {
				if pgid, err := strconv.Atoi(f[2]); err == nil && pgid > 1 && pgid != syscall.Getpgrp() {
					t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
				}
			}
		}
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

func TestRunTimeoutKillsProcessGroup(t *testing.T) {
	tests := []struct {
		name  string
		trap  string
		grace time.Duration
	}{
		{"SIGTERM", "", 10 * time.Second},
		{"SIGKILL after grace when TERM is ignored", "trap '' TERM\n", 300 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "child.pid")
			script := writeScript(t, dir, "spawner", tc.trap+"sleep 1000 &\necho $! > \"$1.tmp\" && mv \"$1.tmp\" \"$1\"\nsleep 1000\n", 0o755)
			r := &Runner{Env: parentEnv, Timeout: time.Second, KillGrace: tc.grace}
			start := time.Now()
			res := r.Run(t.Context(), Spec{Argv: []string{script, pidFile}, Event: Event{Kind: Deploy}})
			elapsed := time.Since(start)
			if !res.TimedOut || !errors.Is(res.Err, ErrTimeout) || res.ExitCode != -1 || res.OK() {
				t.Errorf("Run = TimedOut %v, Err %v, ExitCode %d; want true, ErrTimeout, -1", res.TimedOut, res.Err, res.ExitCode)
			}
			if elapsed > 8*time.Second {
				t.Errorf("Run took %v after a 1s timeout", elapsed)
			}
			pid := readPID(t, pidFile)
			testenv.WaitFor(t, fmt.Sprintf("grandchild %d to die", pid), 10*time.Second, func() error { return procGone(pid) })
		})
	}
}

func TestRunCancelKillsHook(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	script := writeScript(t, dir, "spawner", "sleep 1000 &\necho $! > \"$1.tmp\" && mv \"$1.tmp\" \"$1\"\nsleep 1000\n", 0o755)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan Result, 1)
	go func() {
		done <- (&Runner{Env: parentEnv}).Run(ctx, Spec{Argv: []string{script, pidFile}, Event: Event{Kind: Post}})
	}()
	testenv.WaitFor(t, "hook to start its child", 10*time.Second, func() error { _, err := os.Stat(pidFile); return err })
	cancel()
	var res Result
	select {
	case res = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if res.TimedOut || !errors.Is(res.Err, context.Canceled) {
		t.Errorf("Run after cancel = TimedOut %v, Err %v; want false, context.Canceled", res.TimedOut, res.Err)
	}
	pid := readPID(t, pidFile)
	testenv.WaitFor(t, fmt.Sprintf("grandchild %d to die", pid), 10*time.Second, func() error { return procGone(pid) })
}

func TestRunExitStatus(t *testing.T) {
	dir := t.TempDir()
	script := writeScript(t, dir, "failing", "echo out\necho err >&2\nexit 3\n", 0o755)
	var out bytes.Buffer
	res := (&Runner{Env: parentEnv, Output: &out}).Run(t.Context(), Spec{Argv: []string{script}, Event: Event{Kind: Deploy}})
	var ee *exec.ExitError
	if res.OK() || res.ExitCode != 3 || res.TimedOut || !errors.As(res.Err, &ee) {
		t.Errorf("Run(exit 3) = OK %v, ExitCode %d, TimedOut %v, Err %v; want false, 3, false, *exec.ExitError", res.OK(), res.ExitCode, res.TimedOut, res.Err)
	}
	if want := "hook failing: out\nhook failing: err\n"; out.String() != want {
		t.Errorf("output = %q; want %q", out.String(), want)
	}
	ok := writeScript(t, dir, "ok", "exit 0\n", 0o755)
	if res := (&Runner{Env: parentEnv}).Run(t.Context(), Spec{Name: "named", Argv: []string{ok}, Event: Event{Kind: Pre}}); !res.OK() || res.ExitCode != 0 || res.Name != "named" {
		t.Errorf("Run(exit 0) = %+v; want OK, exit 0, name kept", res)
	}
}

// Arguments reach argv exactly as Split produced them: no expansion.
func TestRunNoShellExpansion(t *testing.T) {
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args.txt")
	script := writeScript(t, dir, "dump-args", "out=$1; shift\nprintf '%s\\n' \"$@\" > \"$out\"\n", 0o755)
	hookString := script + " " + argsFile + ` '$HOME' "$HOME" "$(id)" '` + "`id`" + `' 'a;b' "x  y" \$PATH '*' ~ '>x'`
	argv, err := Split(hookString)
	if err != nil {
		t.Fatalf("Split(%q): %v", hookString, err)
	}
	res := (&Runner{Env: parentEnv, Dir: dir}).Run(t.Context(), Spec{Argv: argv, Event: Event{Kind: Deploy}})
	if !res.OK() {
		t.Fatalf("Run = %+v", res)
	}
	b, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	want := "$HOME\n$HOME\n$(id)\n`id`\na;b\nx  y\n$PATH\n*\n~\n>x\n"
	if string(b) != want {
		t.Errorf("hook argv = %q; want %q", b, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
		t.Error("'>x' created a file: something redirected")
	}
}

func TestRunRefusesUnsafeProgram(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	script := writeScript(t, dir, "groupwritable", "touch \""+marker+"\"\n", 0o775)
	res := (&Runner{Env: parentEnv}).Run(t.Context(), Spec{Argv: []string{script}, Event: Event{Kind: Deploy}})
	if !errors.Is(res.Err, ErrUnsafeProgram) || res.Program != "" || res.ExitCode != -1 {
		t.Errorf("Run(group-writable) = Err %v, Program %q, ExitCode %d; want ErrUnsafeProgram, \"\", -1", res.Err, res.Program, res.ExitCode)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the refused program ran")
	}
	// Bare names use the runner's PATH, not the process's.
	if res := (&Runner{Env: []string{"PATH=" + dir}}).Run(t.Context(), Spec{Argv: []string{"env"}, Event: Event{Kind: Pre}}); res.OK() {
		t.Errorf("Run(env) with PATH=%s = OK; want not found", dir)
	}
	for _, spec := range []Spec{{}, {Argv: []string{"/bin/true"}, Event: Event{Kind: "bogus"}}} {
		if res := (&Runner{}).Run(t.Context(), spec); res.OK() {
			t.Errorf("Run(%+v) = OK; want an error", spec)
		}
	}
}

func TestRunStdinIsDevNull(t *testing.T) {
	script := writeScript(t, t.TempDir(), "stdin", "readlink /proc/$$/fd/0\n", 0o755)
	var out bytes.Buffer
	if res := (&Runner{Env: parentEnv, Output: &out}).Run(t.Context(), Spec{Argv: []string{script}, Event: Event{Kind: Pre}}); !res.OK() {
		t.Fatalf("Run = %+v", res)
	}
	if want := "hook stdin: /dev/null\n"; out.String() != want {
		t.Errorf("output = %q; want %q", out.String(), want)
	}
}

func TestRunOutputBounded(t *testing.T) {
	script := writeScript(t, t.TempDir(), "chatty", "i=0\nwhile [ $i -lt 2000 ]; do echo \"line $i\"; i=$((i+1)); done\n", 0o755)
	var out bytes.Buffer
	res := (&Runner{Env: parentEnv, Output: &out, MaxOutput: 1000}).Run(t.Context(), Spec{Argv: []string{script}, Event: Event{Kind: Pre}})
	if !res.OK() {
		t.Fatalf("Run = %+v; want success (output limit does not fail the hook)", res)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if lines[0] != "hook chatty: line 0" || len(out.String()) > 1000+len(lines)*len("hook chatty: ")+64 {
		t.Errorf("output starts %q, %d bytes in %d lines; want line 0 first and ~1000 bytes", lines[0], out.Len(), len(lines))
	}
	total := 0
	for i := range 2000 {
		total += len(fmt.Sprintf("line %d\n", i))
	}
	if want := fmt.Sprintf("hook chatty: [%d more bytes of output not shown]", total-1000); lines[len(lines)-1] != want {
		t.Errorf("last line = %q; want %q", lines[len(lines)-1], want)
	}
}

func TestLineWriter(t *testing.T) {
	var out bytes.Buffer
	lw := newLineWriter(&out, "p: ", 20000)
	for _, s := range []string{"a", "b\nc", "\n", strings.Repeat("x", maxLine+10), "\ntail"} {
		if n, err := lw.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v", len(s), n, err)
		}
	}
	lw.flush()
	want := "p: ab\np: c\np: " + strings.Repeat("x", maxLine) + "\np: " + strings.Repeat("x", 10) + "\np: tail\n"
	if out.String() != want {
		t.Errorf("lineWriter output = %.120q...; want %.120q...", out.String(), want)
	}
}

// A hook that exits 0 but leaves a background process holding its output
// succeeds once KillGrace has passed; the background process is left alone.
func TestRunLeftBackgroundProcess(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "bg.pid")
	script := writeScript(t, dir, "bg", "sleep 1000 &\necho $! > \"$1\"\nexit 0\n", 0o755)
	res := (&Runner{Env: parentEnv, KillGrace: 200 * time.Millisecond}).Run(t.Context(), Spec{Argv: []string{script, pidFile}, Event: Event{Kind: Deploy}})
	if !res.OK() || res.ExitCode != 0 {
		t.Errorf("Run = %+v; want success", res)
	}
	pid := readPID(t, pidFile)
	if err := procGone(pid); err == nil {
		t.Errorf("background process %d was killed after a successful hook", pid)
	}
}
