package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/acmectl/acmectl/client"
)

// Progress output (stderr only; stdout stays for results):
//
//   - on a terminal: one live line per certificate in flight, with a
//     spinner, what acmectl is waiting for and the elapsed time, redrawn a
//     few times a second; when the certificate is done the line is replaced
//     by a one-line summary.
//   - off a terminal (cron, systemd, pipes) or with --json: one Info log
//     line per real event (order created, challenge answered, propagation
//     wait, validation, finalization, issued), nothing in between.
//   - --quiet: nothing.

// progressUI draws the live lines of certificates in flight. Create it with
// a.newProgressUI(); it starts its redraw ticker with the first certificate
// and stops it when the last one is done. Logs and prompts written through
// it appear above the live lines instead of mangling them.
type progressUI struct {
	w      io.Writer
	now    func() time.Time
	width  int
	frames []string
	tick   time.Duration

	mu      sync.Mutex
	active  []*certProgress
	pending []string // finished summaries not yet printed
	drawn   int      // live lines on screen
	frame   int
	// suspended: something else (a prompt, manual DNS instructions) owns
	// the terminal until the next event.
	suspended bool
	stop      chan struct{}
	stopped   chan struct{}
}

// certProgress is one certificate's progress. Its methods are safe to call
// on a nil receiver (no progress wanted).
type certProgress struct {
	a     *app
	ui    *progressUI // nil off a terminal
	name  string
	start time.Time

	mu     sync.Mutex
	status string
	done   bool
}

// newProgressUI returns a terminal UI, or nil when there is no person
// watching (or --quiet/--json). Commands that work on several certificates
// at once share one; a.progress makes one per certificate.
func (a *app) newProgressUI() *progressUI {
	if !a.env.StderrTerminal || a.g.quiet || a.g.json {
		return nil
	}
	width := 80
	if c, err := strconv.Atoi(a.env.Getenv("COLUMNS")); err == nil && c > 20 {
		width = c
	}
	frames := []string{"|", "/", "-", "\\"}
	if utf8Locale(a.env.Getenv) {
		frames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
	}
	return &progressUI{w: a.env.Stderr, now: a.env.Now, width: width, frames: frames, tick: 120 * time.Millisecond}
}

// progress starts the progress of certificate name on its own UI. Pass
// Event as issue.Request.Progress and call Done when the certificate is
// finished (Done is idempotent: defer it too). Nil with --quiet.
func (a *app) progress(name string) *certProgress {
	return a.progressOn(a.newProgressUI(), name)
}

// progressOn starts the progress of certificate name on ui (nil: events
// become log lines).
func (a *app) progressOn(ui *progressUI, name string) *certProgress {
	if a.g.quiet {
		return nil
	}
	p := &certProgress{a: a, ui: ui, name: name, start: a.env.Now(), status: "starting"}
	if ui != nil {
		// The live line appears with the first event: hooks and account
		// setup before the order print undisturbed.
		ui.mu.Lock()
		ui.suspended = len(ui.active) == 0
		ui.mu.Unlock()
		ui.add(p)
	}
	return p
}

// Logger returns l writing above the live lines.
func (p *certProgress) Logger(l *slog.Logger) *slog.Logger {
	if p == nil || p.ui == nil {
		return l
	}
	return slog.New(&uiHandler{h: l.Handler(), ui: p.ui})
}

// Writer returns w for prompts and instructions (manual DNS): writing
// clears the live lines and pauses them until the next event.
func (p *certProgress) Writer(w io.Writer) io.Writer {
	if p == nil || p.ui == nil {
		return w
	}
	return &uiWriter{w: w, ui: p.ui}
}

// Confirm wraps a terminal question so the live line pauses for it.
func (p *certProgress) Confirm(f func(string) (bool, error)) func(string) (bool, error) {
	if p == nil || p.ui == nil || f == nil {
		return f
	}
	return func(q string) (bool, error) {
		p.ui.suspend()
		return f(q)
	}
}

// Event records one workflow step (client.OrderRequest.Progress).
func (p *certProgress) Event(ev client.Event) {
	if p == nil {
		return
	}
	msg := describeEvent(ev)
	if p.ui == nil {
		// Only what the event carries: no empty identifier="" detail="".
		attrs := []any{"cert_name", p.name, "step", ev.Step}
		if ev.Identifier != "" {
			attrs = append(attrs, "identifier", ev.Identifier)
		}
		if ev.Detail != "" && ev.Detail != msg {
			attrs = append(attrs, "detail", ev.Detail)
		}
		p.a.log.Info(msg, attrs...)
		return
	}
	p.mu.Lock()
	p.status = msg
	p.mu.Unlock()
	p.ui.resume()
}

// Done ends the certificate's progress with err (nil: success). On a
// terminal the live line becomes a one-line summary.
// Drop ends p without a result line (nothing was ordered).
func (p *certProgress) Drop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	done := p.done
	p.done = true
	p.mu.Unlock()
	if !done && p.ui != nil {
		p.ui.finish(p, "")
	}
}

func (p *certProgress) Done(err error) {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return
	}
	p.done = true
	p.mu.Unlock()
	el := roundElapsed(p.a.env.Now().Sub(p.start))
	if p.ui == nil {
		if err == nil {
			p.a.log.Info("certificate issued", "cert_name", p.name, "elapsed", el.String())
		}
		return
	}
	var line string
	if err == nil {
		line = fmt.Sprintf("%s %s: certificate issued in %s", p.ui.mark(true), p.name, el)
	} else {
		line = fmt.Sprintf("%s %s: failed after %s", p.ui.mark(false), p.name, el)
	}
	p.ui.finish(p, line)
}

// describeEvent says in a few words what acmectl is doing or waiting for.
func describeEvent(ev client.Event) string {
	id, typ := client.Sanitize(ev.Identifier, 80), client.Sanitize(ev.Detail, 40)
	switch ev.Step {
	case "order":
		return "creating order"
	case "present":
		return "answering " + typ + " for " + id
	case "propagation":
		return "waiting for DNS propagation of " + id
	case "validate":
		return "waiting for the CA to validate " + id + " (" + typ + ")"
	case "finalize":
		return "waiting for the CA to issue"
	case "download":
		return "downloading certificate"
	}
	s := client.Sanitize(ev.Step, 40)
	if id != "" {
		s += " " + id
	}
	if typ != "" {
		s += ": " + typ
	}
	return s
}

func roundElapsed(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

func utf8Locale(getenv func(string) string) bool {
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if v := getenv(k); v != "" {
			v = strings.ToLower(v)
			return strings.Contains(v, "utf-8") || strings.Contains(v, "utf8")
		}
	}
	return false
}

func (u *progressUI) mark(ok bool) string {
	if len(u.frames[0]) > 1 { // UTF-8 terminal
		if ok {
			return "✓"
		}
		return "✗"
	}
	if ok {
		return "ok"
	}
	return "FAILED"
}

func (u *progressUI) add(p *certProgress) {
	u.mu.Lock()
	u.active = append(u.active, p)
	if u.stop == nil {
		u.stop, u.stopped = make(chan struct{}), make(chan struct{})
		go u.run(u.stop, u.stopped)
	}
	u.mu.Unlock()
	u.redraw()
}

// run redraws until stop is closed, so the spinner and the elapsed time
// move while acmectl waits.
func (u *progressUI) run(stop, stopped chan struct{}) {
	defer close(stopped)
	t := time.NewTicker(u.tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			u.mu.Lock()
			u.frame++
			u.mu.Unlock()
			u.redraw()
		}
	}
}

func (u *progressUI) finish(p *certProgress, line string) {
	u.mu.Lock()
	for i, q := range u.active {
		if q == p {
			u.active = append(u.active[:i], u.active[i+1:]...)
			break
		}
	}
	if line != "" {
		u.pending = append(u.pending, line)
	}
	var stop, stopped chan struct{}
	if len(u.active) == 0 && u.stop != nil {
		stop, stopped = u.stop, u.stopped
		u.stop, u.stopped = nil, nil
	}
	u.mu.Unlock()
	if stop != nil {
		close(stop)
		<-stopped
	}
	u.redraw()
}

// redraw rewrites the live block: finished summaries scroll up, one line
// per active certificate below them.
func (u *progressUI) redraw() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.redrawLocked()
}

func (u *progressUI) redrawLocked() {
	if u.suspended && len(u.pending) == 0 {
		return
	}
	var b strings.Builder
	if u.drawn > 1 {
		fmt.Fprintf(&b, "\033[%dA", u.drawn-1)
	}
	b.WriteString("\r\033[J")
	for _, l := range u.pending {
		b.WriteString(u.fit(l))
		b.WriteString("\n")
	}
	u.pending = nil
	spin := u.frames[u.frame%len(u.frames)]
	for i, p := range u.active {
		p.mu.Lock()
		status := p.status
		p.mu.Unlock()
		el := "  " + roundElapsed(u.now().Sub(p.start)).String()
		// Cut the status, never the elapsed time.
		head := []rune(fmt.Sprintf("%s %s: %s", spin, p.name, status))
		if max := u.width - 1 - len(el); len(head) > max && max > 0 {
			head = head[:max]
		}
		b.WriteString(u.fit(string(head) + el))
		if i < len(u.active)-1 {
			b.WriteString("\n")
		}
	}
	u.drawn = len(u.active)
	if u.suspended {
		// Summaries only; the live lines stay away while paused.
		b.WriteString("\r\033[J")
		u.drawn = 0
	}
	_, _ = io.WriteString(u.w, b.String())
}

// clearLocked removes the live lines so that other output starts on a
// clean line.
func (u *progressUI) clearLocked() {
	if u.drawn == 0 {
		return
	}
	var b strings.Builder
	if u.drawn > 1 {
		fmt.Fprintf(&b, "\033[%dA", u.drawn-1)
	}
	b.WriteString("\r\033[J")
	_, _ = io.WriteString(u.w, b.String())
	u.drawn = 0
}

func (u *progressUI) suspend() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.clearLocked()
	u.suspended = true
}

func (u *progressUI) resume() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.suspended = false
	u.redrawLocked()
}

// uiHandler prints log records above the live lines.
type uiHandler struct {
	h  slog.Handler
	ui *progressUI
}

func (h *uiHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *uiHandler) Handle(ctx context.Context, r slog.Record) error {
	h.ui.mu.Lock()
	defer h.ui.mu.Unlock()
	h.ui.clearLocked()
	err := h.h.Handle(ctx, r)
	h.ui.redrawLocked()
	return err
}

func (h *uiHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &uiHandler{h: h.h.WithAttrs(as), ui: h.ui}
}

func (h *uiHandler) WithGroup(name string) slog.Handler {
	return &uiHandler{h: h.h.WithGroup(name), ui: h.ui}
}

// uiWriter pauses the live lines for a prompt or instructions.
type uiWriter struct {
	w  io.Writer
	ui *progressUI
}

func (w *uiWriter) Write(b []byte) (int, error) {
	w.ui.suspend()
	return w.w.Write(b)
}

// fit cuts a line to the terminal width so that it never wraps (a wrapped
// line would break the redraw).
func (u *progressUI) fit(s string) string {
	r := []rune(s)
	if len(r) < u.width {
		return s
	}
	return string(r[:u.width-1])
}
