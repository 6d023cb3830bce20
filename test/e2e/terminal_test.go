package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/testenv"
)

// runTTY runs acmectl under script(1), so stdin and stderr are a terminal,
// typing input at its prompt.
func runTTY(t *testing.T, input string, args ...string) result {
	t.Helper()
	script := testenv.LookTool(t, "script", "apt-get install bsdutils")
	line := filepath.Join(binDir, "acmectl")
	for _, a := range args {
		line += " '" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	cmd := exec.CommandContext(testenv.Context(t, 2*time.Minute), script, "-qec", line, "/dev/null")
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(input)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("tty acmectl %v → %d\n%s", args, code, out.String())
	return result{code: code, stdout: out.String()}
}

// TestPromptsOnTerminal: irreversible commands ask on a terminal; "n"
// does nothing (exit 2, no request to the CA), "y" goes ahead.
func TestPromptsOnTerminal(t *testing.T) {
	l := newLab(t, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	if r := run(t, nil, l.args("account", "register")...); r.code != 0 {
		t.Fatalf("register: exit %d", r.code)
	}
	// Off a terminal the command needs --yes.
	if r := run(t, nil, l.args("account", "deactivate")...); r.code != 2 || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("off a terminal without --yes: exit %d; want 2 asking for --yes", r.code)
	}
	posts := l.p.Count("POST /my-account")
	r := runTTY(t, "n\n", l.args("account", "deactivate")...)
	if r.code != 2 || !strings.Contains(r.stdout, "Deactivate account") || !strings.Contains(r.stdout, "not confirmed") {
		t.Errorf("answer n: exit %d; want 2 after the question and \"not confirmed\"", r.code)
	}
	if got := l.p.Count("POST /my-account"); got != posts {
		t.Errorf("account requests after \"n\" = %d; want none", got-posts)
	}
	r = runTTY(t, "y\n", l.args("account", "deactivate")...)
	if r.code != 0 {
		t.Errorf("answer y: exit %d; want 0", r.code)
	}
	if got := l.p.Count("POST /my-account 200"); got <= posts {
		t.Error("no deactivation request reached the CA after \"y\"")
	}
}
