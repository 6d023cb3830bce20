package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/pathtrust"
)

// Sources of a setting, for `config show`.
const (
	sourceFlag    = "flag"
	sourceEnv     = "env"
	sourceFile    = "file"
	sourceDefault = "default"
)

// config resolves settings with the precedence flag > ACMECTL_* env >
// config file > default. viper reads the file; flags and env are looked up
// here so the source of every value is known and env comes from Env.
type config struct {
	env  *Env
	cmd  *cobra.Command
	file string // config file in use, "" if none
	v    *viper.Viper
}

// neverFromEnv are keys an environment variable must not set (docs/guide.md "Configuration":
// hooks, and the variables passed to them, never come from env).
func neverFromEnv(key string) bool {
	return strings.HasSuffix(key, "-hook") || key == "hooks" || key == "hook-env"
}

// envName is ACMECTL_ + upper snake case.
func envName(key string) string {
	return "ACMECTL_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

func loadConfig(cmd *cobra.Command, env *Env) (*config, error) {
	c := &config{env: env, cmd: cmd, v: viper.New()}
	path, explicit := "", false
	if f := cmd.Flags().Lookup("config"); f != nil && f.Changed {
		path, explicit = f.Value.String(), true
	} else if p := env.Getenv("ACMECTL_CONFIG"); p != "" {
		path, explicit = p, true
	} else {
		path = defaultConfigPath(env)
	}
	if path == "" {
		return c, nil
	}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return c, nil
	}
	if err != nil {
		return nil, usagef("config file: %v", err)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return nil, usagef("config file %s is writable by group or others (chmod go-w it)", path)
	}
	// It names hooks run as root: nobody but root and this user may be
	// able to change it or a directory above it.
	if abs, err := filepath.Abs(path); err != nil {
		return nil, usagef("config file: %v", err)
	} else if _, err := pathtrust.Check(abs, os.Getuid(), pathtrust.Regular); err != nil {
		return nil, usagef("config file: %v", err)
	}
	c.v.SetConfigFile(path)
	c.v.SetConfigType("yaml")
	if err := c.v.ReadInConfig(); err != nil {
		return nil, usagef("config file %s: %v", path, err)
	}
	c.file = path
	return c, nil
}

func defaultConfigPath(env *Env) string {
	if env.Euid == 0 {
		return "/etc/acmectl/config.yaml"
	}
	if x := env.Getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "acmectl", "config.yaml")
	}
	if h := env.Getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "acmectl", "config.yaml")
	}
	return ""
}

func defaultStateDir(env *Env) string {
	if env.Euid == 0 {
		return env.rootStateDir()
	}
	if x := env.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "acmectl")
	}
	if h := env.Getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "share", "acmectl")
	}
	return ""
}

func (c *config) flag(key string) *pflag.Flag { return c.cmd.Flags().Lookup(key) }

// source says where key's value comes from.
func (c *config) source(key string) string {
	if f := c.flag(key); f != nil && f.Changed {
		return sourceFlag
	}
	if !neverFromEnv(key) && c.env.Getenv(envName(key)) != "" {
		return sourceEnv
	}
	if c.file != "" && c.v.IsSet(key) {
		return sourceFile
	}
	return sourceDefault
}

func (c *config) String(key string) string {
	switch c.source(key) {
	case sourceFlag:
		return c.flag(key).Value.String()
	case sourceEnv:
		return c.env.Getenv(envName(key))
	case sourceFile:
		return c.v.GetString(key)
	}
	if f := c.flag(key); f != nil {
		return f.DefValue
	}
	return ""
}

func (c *config) Bool(key string) (bool, error) {
	switch c.source(key) {
	case sourceFlag:
		return c.cmd.Flags().GetBool(key)
	case sourceEnv:
		switch strings.ToLower(c.env.Getenv(envName(key))) {
		case "1", "true", "yes", "on":
			return true, nil
		case "0", "false", "no", "off":
			return false, nil
		}
		return false, usagef("%s: want true or false", envName(key))
	case sourceFile:
		return c.v.GetBool(key), nil
	}
	return false, nil
}

func (c *config) Strings(key string) []string {
	switch c.source(key) {
	case sourceFlag:
		f := c.flag(key)
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			return splitCommas(sv.GetSlice())
		}
		return splitCommas([]string{f.Value.String()})
	case sourceEnv:
		return splitCommas([]string{c.env.Getenv(envName(key))})
	case sourceFile:
		return splitCommas(c.fileStrings(key))
	}
	return nil
}

// RawStrings is Strings without splitting at commas (hooks, --solver);
// env values are never split either.
func (c *config) RawStrings(key string) []string {
	switch c.source(key) {
	case sourceFlag:
		f := c.flag(key)
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			return sv.GetSlice()
		}
		return []string{f.Value.String()}
	case sourceEnv:
		return []string{c.env.Getenv(envName(key))}
	case sourceFile:
		return c.fileStrings(key)
	}
	return nil
}

// fileStrings is a list setting of the config file: a YAML list, or one
// string as one entry (viper's GetStringSlice would split "systemctl
// reload nginx" at spaces into three hooks).
func (c *config) fileStrings(key string) []string {
	if s, ok := c.v.Get(key).(string); ok {
		return []string{s}
	}
	return c.v.GetStringSlice(key)
}

func (c *config) Duration(key string) (time.Duration, error) {
	s := c.String(key)
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, usagef("--%s %q: want a duration like 90s or 5m", key, s)
	}
	return d, nil
}

func splitCommas(in []string) []string {
	var out []string
	for _, s := range in {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// serverAliases are the directory URLs behind --server aliases.
func serverAliases() map[string]string {
	return map[string]string{
		"letsencrypt":         lifecycle.LetsEncrypt,
		"letsencrypt-staging": lifecycle.LetsEncryptStaging,
		"letsencrypt-v1":      "https://acme-v01.api.letsencrypt.org/directory",
		"zerossl":             "https://acme.zerossl.com/v2/DV90",
		"google":              "https://dv.acme-v02.api.pki.goog/directory",
		"google-staging":      "https://dv.acme-v02.test-api.pki.goog/directory",
		"buypass":             "https://api.buypass.com/acme/directory",
		"buypass-staging":     "https://api.test4.buypass.no/acme/directory",
	}
}

// resolveServer turns --server into a directory URL.
func resolveServer(s string) (string, error) {
	if strings.Contains(s, "://") {
		return s, nil
	}
	aliases := serverAliases()
	if u, ok := aliases[s]; ok {
		return u, nil
	}
	names := make([]string, 0, len(aliases))
	for n := range aliases {
		names = append(names, n)
	}
	slices.Sort(names)
	return "", usagef("--server %q: unknown alias (known: %s, or a directory URL)", s, strings.Join(names, ", "))
}

// readSecretFile reads a secret from a file, warning when group or others
// can read it. The value never reaches a log.
func readSecretFile(env *Env, what, path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, usagef("%s: %v", what, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(env.Stderr, "acmectl: warning: %s %s is readable by group or others\n", what, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("%s: %v", what, err)
	}
	return []byte(strings.TrimSpace(string(data))), nil
}
