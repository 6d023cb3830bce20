package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigOfAnotherUserRefused: a config file owned by another user (mode
// 0644) was read and its hooks run as root. It is refused with exit 2,
// as is one in a directory owned by that user.
func TestConfigOfAnotherUserRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give a file to a second user (uid 65534)")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("deploy-hook: [\"/bin/sh -c 'touch /tmp/pwned'\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(cfg, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, time.Now, nil, "config", "show", "--config", cfg)
	if r.code != 2 || !strings.Contains(r.stderr, "owned by uid 65534") {
		t.Fatalf("config owned by uid 65534: exit %d, stderr %q; want 2 naming the owner", r.code, r.stderr)
	}
	if err := os.Chown(cfg, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, time.Now, nil, "config", "show", "--config", cfg)
	if r.code != 2 || !strings.Contains(r.stderr, "owned by uid 65534") {
		t.Fatalf("config in a directory owned by uid 65534: exit %d, stderr %q; want 2 naming the owner", r.code, r.stderr)
	}
}
