package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzConfig: any config file either loads (exit 0) or is a usage error
// (exit 2) with one "acmectl: " line; never a panic or another code.
func FuzzConfig(f *testing.F) {
	f.Add([]byte("server: https://acme.example/dir\nemail: [a@example.com]\nlock-wait: 30s\nsolvers:\n  ns-a: {type: dns-01, provider: rfc2136, server: 192.0.2.53:53}\n"))
	f.Add([]byte("deploy-hook: [/bin/echo, hi]\nlog-level: loud\n"))
	f.Add([]byte("state-dir: [1, 2]\n\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(cfg, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		env := &Env{
			Args:  []string{"--config", cfg, "--state-dir", filepath.Join(dir, "state"), "config", "show"},
			Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
			Getenv: func(string) string { return "" }, Environ: func() []string { return nil },
			Now: time.Now, Euid: 1000, Version: "fuzz",
		}
		code := Run(context.Background(), env)
		switch code {
		case ExitOK:
		case ExitUsage:
			if !strings.HasPrefix(errb.String(), "acmectl: ") {
				t.Fatalf("usage error without the one line: %q", errb.String())
			}
		default:
			t.Fatalf("exit %d for a config file; want 0 or 2\nstderr: %s", code, errb.String())
		}
	})
}
