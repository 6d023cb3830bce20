package cli

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
)

// lockedBuffer is a bytes.Buffer safe for the UI's ticker goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fakeClock advances by step on every reading.
type fakeClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

func progressApp(terminal bool, quiet, jsonOut bool, getenv map[string]string) (*app, *lockedBuffer) {
	var errb lockedBuffer
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), step: 300 * time.Millisecond}
	env := &Env{Stderr: &errb, Getenv: func(k string) string { return getenv[k] }, Now: clk.Now, StderrTerminal: terminal}
	a := &app{env: env, log: slog.New(slog.NewTextHandler(&errb, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	a.g.quiet, a.g.json = quiet, jsonOut
	return a, &errb
}

func events() []client.Event {
	return []client.Event{
		{Step: "order", Detail: "creating order"},
		{Step: "present", Identifier: "www.example.test", Detail: "http-01"},
		{Step: "validate", Identifier: "www.example.test", Detail: "http-01"},
		{Step: "finalize", Detail: "finalizing"},
		{Step: "download", Detail: "downloading certificate"},
	}
}

func TestProgressTerminal(t *testing.T) {
	a, errb := progressApp(true, false, false, map[string]string{"LANG": "C.UTF-8", "COLUMNS": "60"})
	p := a.progress("www.example.test")
	if p == nil || p.ui == nil {
		t.Fatal("progress on a terminal has no live UI")
	}
	if got := errb.String(); got != "" {
		t.Errorf("before the first event the UI wrote %q; want nothing (hooks may print)", got)
	}
	for _, ev := range events() {
		p.Event(ev)
		if ev.Step == "validate" {
			// The ticker redraws while nothing happens.
			deadline := time.Now().Add(5 * time.Second)
			n := strings.Count(errb.String(), "waiting for the CA to validate")
			for strings.Count(errb.String(), "waiting for the CA to validate") < n+2 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond) // polling the output, not synchronising
			}
			if strings.Count(errb.String(), "waiting for the CA to validate") < n+2 {
				t.Errorf("live line was not redrawn while waiting:\n%q", errb.String())
			}
		}
	}
	p.Logger(a.log).Info("account registered")
	p.Done(nil)
	p.Done(errors.New("twice")) // idempotent
	out := errb.String()
	for _, want := range []string{"⠋ www.example.test: creating order", "waiting for the CA to validate w", "s\r\033[J", "\r\033[J", "✓ www.example.test: certificate issued in "} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, out)
		}
	}
	if strings.Contains(out, "failed") {
		t.Errorf("second Done changed the summary:\n%q", out)
	}
	for _, line := range strings.Split(strings.ReplaceAll(out, "\r", "\n"), "\n") {
		line = strings.TrimPrefix(line, "\033[J")
		if strings.HasPrefix(line, "time=") {
			continue // a log line: may wrap
		}
		if n := len([]rune(line)); n >= 60 {
			t.Errorf("line of %d runes would wrap a 60-column terminal: %q", n, line)
		}
	}
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("output does not end with the summary line: %q", out)
	}
	p.ui.mu.Lock()
	stopped := p.ui.stop == nil
	p.ui.mu.Unlock()
	if !stopped {
		t.Error("ticker still running after the last certificate finished")
	}
}

func TestProgressPromptPauses(t *testing.T) {
	a, errb := progressApp(true, false, false, nil)
	p := a.progress("a.example.test")
	p.Event(client.Event{Step: "order"})
	w := p.Writer(errb)
	_, _ = w.Write([]byte("Add TXT record ...; press Enter\n"))
	mark := len(errb.String())
	// Paused: the ticker must not draw until the next event.
	time.Sleep(3 * p.ui.tick) // giving a wrongly running ticker time to draw
	if tail := errb.String()[mark:]; tail != "" {
		t.Errorf("live line drawn during a prompt: %q", tail)
	}
	p.Event(client.Event{Step: "propagation", Identifier: "a.example.test"})
	if !strings.Contains(errb.String()[mark:], " a.example.test: waiting for DNS propagation of a.example.test  ") {
		t.Errorf("no ASCII live line after the prompt: %q", errb.String()[mark:])
	}
	p.Done(errors.New("boom"))
	if !strings.Contains(errb.String(), "FAILED a.example.test: failed after") {
		t.Errorf("no failure summary: %q", errb.String())
	}
}

func TestProgressOffTerminal(t *testing.T) {
	a, errb := progressApp(false, false, false, nil)
	p := a.progress("c.example.test")
	if p.ui != nil {
		t.Fatal("live UI off a terminal")
	}
	for _, ev := range events() {
		p.Event(ev)
	}
	p.Done(nil)
	out := errb.String()
	if strings.ContainsAny(out, "\r\033") {
		t.Errorf("control characters off a terminal: %q", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(events())+1 {
		t.Errorf("got %d lines; want one per event plus the result:\n%s", len(lines), out)
	}
	if !strings.Contains(out, `msg="waiting for the CA to validate www.example.test (http-01)"`) || !strings.Contains(out, `msg="certificate issued" cert_name=c.example.test`) {
		t.Errorf("unexpected lines:\n%s", out)
	}
}

func TestProgressQuiet(t *testing.T) {
	for _, tc := range []struct {
		name            string
		terminal, quiet bool
	}{{"quiet terminal", true, true}, {"quiet cron", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			a, errb := progressApp(tc.terminal, tc.quiet, false, nil)
			p := a.progress("q.example.test")
			for _, ev := range events() {
				p.Event(ev)
			}
			p.Done(nil)
			if errb.String() != "" {
				t.Errorf("--quiet printed %q", errb.String())
			}
		})
	}
}

func TestDescribeEventSanitizes(t *testing.T) {
	got := describeEvent(client.Event{Step: "present", Identifier: "x.example\033[2J", Detail: "http-01\n"})
	if strings.ContainsAny(got, "\033\n") {
		t.Errorf("describeEvent kept control characters: %q", got)
	}
}
