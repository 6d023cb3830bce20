// Package plugin runs a DNS provider that is a separate program,
// acmectl-dns-NAME, speaking the co-process protocol documented in
// docs/dns-plugins.md: JSON objects, one per line, on the plugin's stdin
// (requests) and stdout (answers); its stderr is logged. The program is
// started once, on the first record of an order, and stopped with
// "shutdown" when the order's solvers close.
//
// Requests are {"id": N, "method": M, "params": {...}}; answers
// {"id": N, "result": {...}} or {"id": N, "error": {"message": "..."}}.
// Methods: hello {"protocol": 1, "client": "acmectl/V"} → {"protocol": 1,
// "name": "...", "capabilities": {"single_value": bool, "check": bool}};
// present and cleanup {"fqdn": "...", "value": "..."} → {}; check {"fqdn":
// "..."} → {} (optional: credentials and zone access, read-only); shutdown
// → {} and exit. One request is outstanding at a time.
//
// Credentials reach the plugin in its environment (acmectl's, without
// ACMECTL_* variables) or files it reads itself, never in its arguments.
package plugin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/internal/pathtrust"
)

// Protocol is the version this client speaks.
const Protocol = 1

// Prefix is the plugin programs' name prefix.
const Prefix = "acmectl-dns-"

// PathEnv lists directories searched for plugins before PATH (colon
// separated); DefaultDirs are used when it is unset.
const PathEnv = "ACMECTL_PLUGIN_PATH"

// DefaultDirs are searched for plugins before PATH.
func DefaultDirs() []string {
	return []string{"/usr/local/lib/acmectl/plugins", "/usr/lib/acmectl/plugins"}
}

// Limits.
const (
	maxLine        = 64 << 10
	startTimeout   = 10 * time.Second
	requestTimeout = 2 * time.Minute
	stopTimeout    = 5 * time.Second
)

// ValidName reports whether name is a well-formed plugin NAME
// (acmectl-dns-NAME): ^[a-z0-9][a-z0-9_-]{0,62}$. A loop, not a regexp:
// a package-level regexp with {0,62} cost every acmectl run 0.2 ms and
// 52 KB at init.
func ValidName(name string) bool {
	if name == "" || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// Config configures a plugin provider.
type Config struct {
	Name    string              // NAME of acmectl-dns-NAME
	Getenv  func(string) string // for PATH and ACMECTL_PLUGIN_PATH
	Environ []string            // the plugin's environment (ACMECTL_* are removed)
	Client  string              // "acmectl/VERSION", sent in hello
	Logger  *slog.Logger
}

// NotFoundError: no program acmectl-dns-NAME in the plugin directories
// or PATH.
type NotFoundError struct {
	Name string
	Dirs []string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("DNS provider %q is neither built in nor a plugin: no %s%s in %s or PATH", e.Name, Prefix, e.Name, strings.Join(e.Dirs, ", "))
}

// Find returns the absolute path of acmectl-dns-NAME.
func Find(name string, getenv func(string) string) (string, error) {
	if !ValidName(name) {
		return "", fmt.Errorf("plugin name %q: want lowercase letters, digits, - and _", name)
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	dirs := DefaultDirs()
	if v := getenv(PathEnv); v != "" {
		dirs = filepath.SplitList(v)
	}
	search := append(append([]string{}, dirs...), filepath.SplitList(getenv("PATH"))...)
	for _, d := range search {
		if d == "" || !filepath.IsAbs(d) {
			continue // a relative PATH entry would depend on the working directory
		}
		p := filepath.Join(d, Prefix+name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &NotFoundError{Name: name, Dirs: dirs}
}

// Provider is a running (or not yet started) plugin.
type Provider struct {
	cfg  Config
	path string
	log  *slog.Logger

	mu     sync.Mutex // one request at a time; guards the fields below
	cmd    *osexec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	done   chan struct{}
	nextID int
	caps   capabilities
	dead   error // why the plugin can no longer be used
}

type capabilities struct {
	SingleValue bool `json:"single_value"`
	Check       bool `json:"check"`
}

var (
	_ dns01.Provider      = (*Provider)(nil)
	_ dns01.AccessChecker = (*Provider)(nil)
	_ io.Closer           = (*Provider)(nil)
)

// New finds the plugin program and checks it can be trusted (owned by
// root or the running user, not writable by others, like --dns-exec
// programs); it does not start it.
func New(cfg Config) (*Provider, error) {
	path, err := Find(cfg.Name, cfg.Getenv)
	if err != nil {
		return nil, err
	}
	prog, err := pathtrust.OpenProgram(path, os.Getuid())
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", cfg.Name, err)
	}
	prog.Close()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provider{cfg: cfg, path: path, log: log.With("dns_plugin", cfg.Name)}, nil
}

// Path is the program's path.
func (p *Provider) Path() string { return p.path }

// Error is an error answer of the plugin.
type Error struct {
	Plugin  string
	Method  string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("plugin %s: %s: %s", e.Plugin, e.Method, e.Message)
}

type request struct {
	ID     int    `json:"id"`
	Method string `json:"method"`
	Params any    `json:"params,omitempty"`
}

type answer struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// start runs the program and says hello; p.mu is held.
func (p *Provider) start(ctx context.Context) error {
	if p.dead != nil {
		return p.dead
	}
	if p.cmd != nil {
		return nil
	}
	prog, err := pathtrust.OpenProgram(p.path, os.Getuid())
	if err != nil {
		return fmt.Errorf("plugin %s: %w", p.cfg.Name, err)
	}
	defer prog.Close()
	cmd := osexec.Command(prog.ExecPath())
	cmd.Args[0] = p.path
	if f := prog.ExtraFile(); f != nil {
		cmd.ExtraFiles = []*os.File{f}
	}
	cmd.Env = filterEnv(p.cfg.Environ)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("plugin %s: start %s: %w", p.cfg.Name, p.path, err)
	}
	p.cmd, p.stdin, p.out, p.done = cmd, stdin, bufio.NewReaderSize(stdout, 4096), make(chan struct{})
	go p.logStderr(stderr)
	go func() { _ = cmd.Wait(); close(p.done) }()
	p.log.Debug("dns plugin started", "path", p.path, "pid", cmd.Process.Pid)

	hctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	var hello struct {
		Protocol     int          `json:"protocol"`
		Name         string       `json:"name"`
		Capabilities capabilities `json:"capabilities"`
	}
	if err := p.call(hctx, "hello", map[string]any{"protocol": Protocol, "client": p.cfg.Client}, &hello); err != nil {
		p.fail(err)
		return err
	}
	if hello.Protocol != Protocol {
		err := fmt.Errorf("plugin %s speaks protocol %d; acmectl speaks %d", p.cfg.Name, hello.Protocol, Protocol)
		p.fail(err)
		return err
	}
	p.caps = hello.Capabilities
	return nil
}

// fail stops the plugin for good; p.mu is held.
func (p *Provider) fail(err error) {
	p.dead = err
	if p.cmd != nil {
		_ = p.stdin.Close()
		_ = p.cmd.Process.Kill()
	}
}

func (p *Provider) logStderr(r io.Reader) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 4096), maxLine)
	for s.Scan() {
		p.log.Info("dns plugin says", "line", sanitize(s.Text(), 300))
	}
}

// call sends one request and reads its answer; p.mu is held.
func (p *Provider) call(ctx context.Context, method string, params, result any) error {
	p.nextID++
	id := p.nextID
	line, err := json.Marshal(request{ID: id, Method: method, Params: params})
	if err != nil {
		return err
	}
	if _, err := p.stdin.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("plugin %s: %s: write: %w", p.cfg.Name, method, err)
	}
	type read struct {
		line []byte
		err  error
	}
	ch := make(chan read, 1)
	go func() {
		l, err := readLine(p.out)
		ch <- read{l, err}
	}()
	var r read
	select {
	case r = <-ch:
	case <-ctx.Done():
		err := fmt.Errorf("plugin %s: %s: no answer: %w", p.cfg.Name, method, ctx.Err())
		p.fail(err) // the stream is out of step now
		return err
	}
	if r.err != nil {
		err := fmt.Errorf("plugin %s: %s: %w", p.cfg.Name, method, r.err)
		p.fail(err)
		return err
	}
	var a answer
	if err := json.Unmarshal(r.line, &a); err != nil || a.ID != id {
		err := fmt.Errorf("plugin %s: %s: malformed answer %q", p.cfg.Name, method, sanitize(string(r.line), 120))
		p.fail(err)
		return err
	}
	if a.Error != nil {
		return &Error{Plugin: p.cfg.Name, Method: method, Message: sanitize(a.Error.Message, 300)}
	}
	if result != nil && len(a.Result) > 0 {
		if err := json.Unmarshal(a.Result, result); err != nil {
			return fmt.Errorf("plugin %s: %s: malformed result: %w", p.cfg.Name, method, err)
		}
	}
	return nil
}

func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			if err == io.EOF {
				return nil, errors.New("the plugin exited")
			}
			return nil, err
		}
		buf = append(buf, chunk...)
		if len(buf) > maxLine {
			return nil, fmt.Errorf("answer longer than %d bytes", maxLine)
		}
		if !isPrefix {
			return buf, nil
		}
	}
}

func (p *Provider) do(ctx context.Context, method string, params any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.start(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	return p.call(ctx, method, params, nil)
}

type record struct {
	FQDN  string `json:"fqdn"`
	Value string `json:"value"`
}

// SetTXT sends present.
func (p *Provider) SetTXT(ctx context.Context, fqdn, value string) error {
	return p.do(ctx, "present", record{fqdn, value})
}

// DeleteTXT sends cleanup.
func (p *Provider) DeleteTXT(ctx context.Context, fqdn, value string) error {
	return p.do(ctx, "cleanup", record{fqdn, value})
}

// SingleTXTValue reports the plugin's single_value capability; it starts
// the plugin to learn it.
func (p *Provider) SingleTXTValue() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.start(context.Background()); err != nil {
		return false
	}
	return p.caps.SingleValue
}

// CheckAccess sends check when the plugin has that capability, else
// starts it (hello) only.
func (p *Provider) CheckAccess(ctx context.Context, fqdn string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.start(ctx); err != nil {
		return err
	}
	if !p.caps.Check {
		return nil
	}
	return p.call(ctx, "check", map[string]string{"fqdn": fqdn}, nil)
}

// Close sends shutdown and waits briefly for the plugin to exit, then
// kills it.
func (p *Provider) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	if p.dead == nil {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		_ = p.call(ctx, "shutdown", nil, nil)
		cancel()
		_ = p.stdin.Close()
	}
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Debug("dns plugin stopped")
	p.cmd = nil
	if p.dead == nil {
		p.dead = errors.New("plugin " + p.cfg.Name + " was shut down")
	}
	return nil
}

// filterEnv drops ACMECTL_* variables (other providers' secrets).
func filterEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(strings.ToUpper(k), "ACMECTL_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func sanitize(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "..."
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = '?'
		}
	}
	return string(b)
}
