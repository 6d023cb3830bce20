package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"golang.org/x/term"
)

// Env is the world a command runs in. main builds the real one from the
// OS; tests build their own. Run functions never touch os.* directly.
type Env struct {
	Args   []string // without the program name
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Environ is the process environment (for hooks, which filter it).
	Environ func() []string
	Now     func() time.Time
	// StdinTerminal / StderrTerminal: whether a person is there.
	StdinTerminal  bool
	StderrTerminal bool
	Euid           int
	Version        string
	// RootStateDir is root's default state dir ("" = /var/lib/acmectl).
	RootStateDir string
	// Failpoint is nil in release builds (see failpoint_*.go).
	Failpoint func(ctx context.Context, name string)

	logger *slog.Logger
}

// OSEnv is the Env of the real process.
func OSEnv(version string) *Env {
	if version == "" {
		version = buildVersion()
	}
	return &Env{
		Args: os.Args[1:], Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Getenv: os.Getenv, Environ: os.Environ, Now: time.Now,
		StdinTerminal:  term.IsTerminal(int(os.Stdin.Fd())),
		StderrTerminal: term.IsTerminal(int(os.Stderr.Fd())),
		Euid:           os.Geteuid(),
		Version:        version,
		Failpoint:      osFailpoint(os.Getenv),
	}
}

func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
}

func (e *Env) userAgent() string {
	return "acmectl/" + e.Version + " (+https://github.com/acmectl/acmectl)"
}

// rootStateDir is the default state dir of root.
func (e *Env) rootStateDir() string {
	if e.RootStateDir != "" {
		return e.RootStateDir
	}
	return "/var/lib/acmectl"
}
