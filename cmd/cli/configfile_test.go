package cli

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/spf13/cobra"
)

// TestFileConfigLists: in the config file a hook given as one string is
// one hook, and a list is a list (viper's GetStringSlice split the string
// at spaces into several hooks: "systemctl", "reload", "nginx").
func TestFileConfigLists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("deploy-hook: systemctl reload nginx\npost-hook: [/bin/true, \"/usr/bin/logger done\"]\nemail: a@example.com,b@example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := &cobra.Command{Use: "x"}
	cmd.Flags().String("config", "", "")
	if err := cmd.Flags().Set("config", path); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(cmd, &Env{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.fileStrings("deploy-hook"); !slices.Equal(got, []string{"systemctl reload nginx"}) {
		t.Errorf("deploy-hook %q; want one hook", got)
	}
	if got := c.fileStrings("post-hook"); !slices.Equal(got, []string{"/bin/true", "/usr/bin/logger done"}) {
		t.Errorf("post-hook %q", got)
	}
	if got := c.Strings("email"); !slices.Equal(got, []string{"a@example.com", "b@example.com"}) {
		t.Errorf("email %q", got)
	}
}
