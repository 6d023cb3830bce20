// Package exec is a dns01.Provider that runs a user's program to add and
// remove TXT records, without a shell:
//
//	PROGRAM present FQDN VALUE
//	PROGRAM cleanup FQDN VALUE
//
// with ACMECTL_DNS_ACTION, ACMECTL_DNS_FQDN and ACMECTL_DNS_VALUE set to the
// same. The program MUST add (remove) only that one record and exit 0, also
// when the record already exists (is already gone). Its environment is the
// one hooks get (hook.BaseEnv: PATH, HOME, LANG, LANGUAGE, LC_*, TZ and the
// variables named in Config.Pass), plus those three.
package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/pathtrust"
)

// DefaultTimeout bounds one run of the program.
const DefaultTimeout = 2 * time.Minute

// maxOutput bounds the program output kept for errors and logs.
const maxOutput = 4 << 10

// Config configures a Provider.
type Config struct {
	// Program is the path of the program (or a name looked up in PATH).
	Program string
	// Timeout bounds one run (default 2m); the program's process group is
	// killed when it passes or ctx ends.
	Timeout time.Duration
	// Environ is the environment to start from (default os.Environ()).
	// The program gets only what hooks would (hook.BaseEnv): an
	// allowlist, so secrets in acmectl's environment (MYSQL_PWD, proxy
	// credentials, SSH_AUTH_SOCK, ACMECTL_*, ...) never reach it.
	Environ []string
	// Pass names further variables of Environ the program gets (the
	// hook-env setting; ACMECTL_* names are never passed).
	Pass []string
	// Logger gets the program's output at debug level; nil discards.
	Logger *slog.Logger
}

// Provider runs Config.Program. It is safe for concurrent use (the program
// may run several times at once).
type Provider struct {
	cfg Config
	log *slog.Logger
}

var _ dns01.Provider = (*Provider)(nil)

// ErrUnsafeProgram is wrapped by errors refusing a program whose file is
// not owned by root or the running user, or is writable by group or others.
var ErrUnsafeProgram = errors.New("exec: unsafe program")

// RunError is a run of the program that failed.
type RunError struct {
	Program string
	Action  string // present or cleanup
	FQDN    string
	Err     error  // the *exec.ExitError, a timeout or a start error
	Output  string // combined stdout and stderr, bounded
}

func (e *RunError) Error() string {
	msg := fmt.Sprintf("exec: %s %s %s: %v", e.Program, e.Action, e.FQDN, e.Err)
	if out := strings.TrimSpace(e.Output); out != "" {
		msg += ": " + out
	}
	return msg
}

func (e *RunError) Unwrap() error { return e.Err }

// New returns a Provider for cfg. It does no I/O: the program is checked
// before every run (and by Check).
func New(cfg Config) (*Provider, error) {
	if cfg.Program == "" {
		return nil, errors.New("exec: no program configured")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Environ == nil {
		cfg.Environ = os.Environ()
	}
	p := &Provider{cfg: cfg, log: cfg.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	return p, nil
}

// Check resolves the program and refuses it (wrapping ErrUnsafeProgram)
// unless it is a regular executable owned by root or the running user, not
// writable by group or others, in directories that only root or the running
// user can change (package pathtrust). A relative path is refused; a bare
// name is looked up in PATH. It returns the resolved path.
func (p *Provider) Check() (string, error) {
	prog, err := p.open()
	if err != nil {
		return "", err
	}
	defer prog.Close()
	return prog.Path, nil
}

// open checks the program and holds the checked file open, so that run
// executes that file and not whatever the path names a moment later.
func (p *Provider) open() (*pathtrust.Program, error) {
	path := p.cfg.Program
	if !strings.ContainsRune(path, filepath.Separator) {
		lp, err := osexec.LookPath(path)
		if err != nil {
			return nil, fmt.Errorf("exec: %w", err)
		}
		path = lp
	}
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("%w: %s is a relative path: give an absolute path, or a bare name found in PATH", ErrUnsafeProgram, path)
	}
	prog, err := pathtrust.OpenProgram(path, os.Getuid())
	if errors.Is(err, pathtrust.ErrUntrusted) {
		return nil, fmt.Errorf("%w: %w", ErrUnsafeProgram, err)
	}
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	return prog, nil
}

// SetTXT runs `PROGRAM present FQDN VALUE`.
func (p *Provider) SetTXT(ctx context.Context, fqdn, value string) error {
	return p.run(ctx, "present", fqdn, value)
}

// DeleteTXT runs `PROGRAM cleanup FQDN VALUE`.
func (p *Provider) DeleteTXT(ctx context.Context, fqdn, value string) error {
	return p.run(ctx, "cleanup", fqdn, value)
}

func (p *Provider) run(ctx context.Context, action, fqdn, value string) error {
	prog, err := p.open()
	if err != nil {
		return err
	}
	defer prog.Close()
	path := prog.Path
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	cmd := osexec.CommandContext(ctx, prog.ExecPath(), action, fqdn, value)
	cmd.Args[0] = path
	if f := prog.ExtraFile(); f != nil {
		cmd.ExtraFiles = []*os.File{f}
	}
	cmd.Env = append(hook.BaseEnv(p.cfg.Environ, p.cfg.Pass...),
		"ACMECTL_DNS_ACTION="+action, "ACMECTL_DNS_FQDN="+fqdn, "ACMECTL_DNS_VALUE="+value)
	cmd.Stdin = nil
	out := &limitedBuffer{max: maxOutput}
	cmd.Stdout = out
	cmd.Stderr = out
	setProcessGroup(cmd)
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err = cmd.Run()
	p.log.Debug("dns exec ran", "program", path, "action", action, "name", fqdn,
		"took", time.Since(start).Round(time.Millisecond), "output", out.String())
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("killed after %v: %w", time.Since(start).Round(time.Millisecond), ctx.Err())
		}
		return &RunError{Program: path, Action: action, FQDN: fqdn, Err: err, Output: out.String()}
	}
	return nil
}

// limitedBuffer keeps the first max bytes written and counts the rest.
type limitedBuffer struct {
	mu      sync.Mutex
	max     int
	buf     bytes.Buffer
	dropped int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
		b.dropped += max(0, len(p)-room)
	} else {
		b.dropped += len(p)
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.ToValidUTF8(b.buf.String(), "?")
	if b.dropped > 0 {
		s += fmt.Sprintf(" [%d more bytes]", b.dropped)
	}
	return s
}
