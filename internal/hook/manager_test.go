package hook

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// logScript writes a hook program appending "EVENT CERT RENEWED|ERROR_CLASS"
// to log, exiting with code.
func logScript(t *testing.T, dir, name, log string, code int) string {
	t.Helper()
	p := filepath.Join(dir, name)
	body := "#!/bin/sh\necho \"$ACMECTL_HOOK_EVENT $ACMECTL_HOOK_CERT_NAME $ACMECTL_HOOK_RENEWED$ACMECTL_HOOK_ERROR_CLASS\" >> " + log + "\nexit " + string(rune('0'+code)) + "\n"
	if err := os.WriteFile(p, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func lines(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// TestManagerRun: over one pass, a pre hook two certificates share runs
// once, the post hook once at the end with the renewed names, deploy hooks
// per certificate with deploy_pending recorded from their outcome, failure
// hooks with the error class; the next pass starts afresh.
func TestManagerRun(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	pre, post := logScript(t, dir, "pre", log, 0), logScript(t, dir, "post", log, 0)
	deployOK, deployBad := logScript(t, dir, "deploy-ok", log, 0), logScript(t, dir, "deploy-bad", log, 1)
	fail := logScript(t, dir, "fail", log, 0)
	m := &Manager{Env: []string{"PATH=/usr/bin:/bin"}, Classify: func(error) string { return "rate_limited" }}
	a := Cert{Name: "a.test", Domains: []string{"a.test"}, Hooks: Hooks{Pre: [][]string{{pre}}, Post: [][]string{{post}}, Deploy: [][]string{{deployOK}}}}
	b := Cert{Name: "b.test", Domains: []string{"b.test"}, Hooks: Hooks{Pre: [][]string{{pre}}, Post: [][]string{{post}}, Deploy: [][]string{{deployBad}}, Failure: [][]string{{fail}}}, Timeout: time.Minute}
	ctx := context.Background()
	inst := Installed{Cert: filepath.Join(dir, "cert.pem")}
	var pending []bool
	record := func(p bool) error { pending = append(pending, p); return nil }

	m.Pre(ctx, a)
	m.Pre(ctx, b)
	if err := m.Deploy(ctx, a, inst, record); err != nil {
		t.Errorf("deploy of a: %v", err)
	}
	if err := m.Deploy(ctx, b, inst, record); err == nil || !strings.Contains(err.Error(), "b.test") {
		t.Errorf("failed deploy of b: err %v; want one naming b.test", err)
	}
	m.Failure(ctx, b, errors.New("slow down"))
	m.Post(ctx, []string{"a.test"}, []string{"b.test"})
	want := []string{"pre  ", "deploy a.test ", "deploy b.test ", "failure b.test rate_limited", "post  a.test"}
	if got := lines(t, log); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("hook runs:\n%q\nwant\n%q", got, want)
	}
	if len(pending) != 2 || pending[0] || !pending[1] {
		t.Errorf("deploy_pending recorded %v; want [false true]", pending)
	}
	// A new pass: the pre hook runs again, the post hook once more.
	os.Remove(log)
	m.Pre(ctx, a)
	m.Post(ctx, nil, nil)
	if got := lines(t, log); len(got) != 2 || !strings.HasPrefix(got[0], "pre") || !strings.HasPrefix(got[1], "post") {
		t.Errorf("second pass: %q", got)
	}
	// Nothing ran: no post hook.
	os.Remove(log)
	m.Post(ctx, nil, nil)
	if got := lines(t, log); got != nil {
		t.Errorf("post without pre: %q", got)
	}
}
