//go:build acmectl_failpoints

package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// osFailpoint (test builds only, tag acmectl_failpoints) reads
// ACMECTL_FAILPOINT=name:action[,name:action] with ACMECTL_FAILPOINT_DIR.
// At a named step: "kill" SIGKILLs the process; "pause" writes
// DIR/name.reached and waits until DIR/name.release exists (or ctx ends).
func osFailpoint(getenv func(string) string) func(context.Context, string) {
	spec := getenv("ACMECTL_FAILPOINT")
	if spec == "" {
		return nil
	}
	dir := getenv("ACMECTL_FAILPOINT_DIR")
	actions := map[string]string{}
	for _, part := range strings.Split(spec, ",") {
		name, action, _ := strings.Cut(part, ":")
		actions[name] = action
	}
	return func(ctx context.Context, name string) {
		switch actions[name] {
		case "kill":
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		case "pause":
			_ = os.WriteFile(filepath.Join(dir, name+".reached"), []byte("1"), 0o644)
			for {
				if _, err := os.Stat(filepath.Join(dir, name+".release")); err == nil {
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
	}
}
