package cli

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// configShowOptions: config show explains every option of the command
// line it was given (its flags are obtain's).
type configShowOptions struct{ cmd *cobra.Command }

func newConfigCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use: "config",
		Example: `  acmectl config show
  acmectl config show --json --server letsencrypt-staging`,
		Short: "Inspect acmectl's configuration",
		Long: `Inspect acmectl's configuration. Every global flag, and every order flag used as a
default for new certificates, is also a key of the config file (same kebab-case
name) and an environment variable ACMECTL_<UPPER_SNAKE>; precedence is
flag > environment > config file > default. See config.example.yaml.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration and where each value comes from",
		Long: `Print every setting with its effective value and its source: flag, env (ACMECTL_*),
file (the config file) or default. Secret values (EAB HMAC key, TSIG secret,
passwords) are never printed: only whether they are set. Unknown keys in the
config file and unknown ACMECTL_* variables are reported as warnings.

Certificate settings already stored in <state-dir>/certificates/<name>/settings.yaml
win over these values for that certificate; see "acmectl show NAME".`,
		Example: `  acmectl config show
  ACMECTL_SERVER=letsencrypt-staging acmectl config show --json
  acmectl config show --webroot /var/www/html --deploy-hook "systemctl reload nginx"   # what obtain would use`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), a, &configShowOptions{cmd: cmd}, func(_ context.Context, o *configShowOptions) error { return a.runConfigShow(o.cmd) })
		},
	}
	// The order settings it explains can be given as flags too, to see
	// what obtain would make of them.
	newObtainCmd(a).Flags().VisitAll(func(f *pflag.Flag) {
		if !slices.Contains(runOnlyFlags(), f.Name) && show.Flags().Lookup(f.Name) == nil {
			show.Flags().AddFlag(f)
		}
	})
	cmd.AddCommand(show)
	return cmd
}

// configEntry is one setting in `config show`.
type configEntry struct {
	Key    string `json:"key"`
	Scope  string `json:"scope"` // global or order
	Value  any    `json:"value"`
	Source string `json:"source"`
	Env    string `json:"env,omitempty"`
}

// runOnlyFlags are flags that describe one run, not a setting: they are
// not config keys.
func runOnlyFlags() []string {
	return []string{
		"help", "config", "domain", "cert-name", "csr", "force", "dry-run", "allow-name-removal",
		"new-name", "yes", "daemon", "revoke", "delete", "reason", "cert", "key", "from",
	}
}

// secretEnvVars are the environment variables that carry secrets
// (docs/guide.md "Configuration").
func secretEnvVars() []string {
	return []string{"ACMECTL_EAB_HMAC_KEY", "ACMECTL_RFC2136_TSIG_SECRET", "ACMECTL_PKCS12_PASSWORD"}
}

// isSecretName says whether a key or variable name denotes a secret value.
func isSecretName(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"password", "passwd", "secret", "hmac", "token", "api-key", "api_key", "apikey"} {
		if strings.Contains(n, s) {
			// A path to a secret is not the secret.
			return !strings.HasSuffix(n, "-file") && !strings.HasSuffix(n, "_file")
		}
	}
	return false
}

const masked = "********"

func (a *app) runConfigShow(cmd *cobra.Command) error {
	var entries []configEntry
	known := map[string]bool{"config": true, "solvers": true}
	add := func(scope string, c *config, f *pflag.Flag) {
		if slices.Contains(runOnlyFlags(), f.Name) || known[f.Name] {
			return
		}
		known[f.Name] = true
		e := configEntry{Key: f.Name, Scope: scope, Source: c.source(f.Name)}
		if !neverFromEnv(f.Name) {
			e.Env = envName(f.Name)
		}
		switch f.Value.Type() {
		case "stringSlice", "stringArray":
			v := c.Strings(f.Name)
			if f.Value.Type() == "stringArray" {
				v = c.RawStrings(f.Name)
			}
			if v == nil {
				v = []string{}
			}
			e.Value = v
		case "bool":
			b, err := c.Bool(f.Name)
			if err != nil {
				e.Value = c.String(f.Name) + " (invalid)"
			} else {
				e.Value = b
			}
		default:
			e.Value = c.String(f.Name)
		}
		if isSecretName(f.Name) && e.Value != "" {
			e.Value = masked
		}
		entries = append(entries, e)
	}

	// Globals: the root's persistent flags, as this run resolved them.
	root := cmd.Root()
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) { add("global", a.cfg, f) })
	for i := range entries {
		switch entries[i].Key {
		case "state-dir":
			entries[i].Value = a.g.stateDir
		case "server":
			if s, ok := entries[i].Value.(string); ok && s != a.g.server {
				entries[i].Value = a.g.server + " (" + s + ")"
			}
		case "lock-wait":
			if entries[i].Source == sourceDefault {
				entries[i].Value = "0s for renew, 2m0s for the other commands"
			}
		}
	}
	// Order settings (defaults for new certificates): obtain's flags, read
	// as obtain reads them (file and env only, here). renew's own flags
	// (--parallel, --metrics-file, ...) are per run, not config keys.
	oc := &config{env: a.env, cmd: cmd, file: a.cfg.file, v: a.cfg.v}
	newObtainCmd(a).Flags().VisitAll(func(f *pflag.Flag) {
		if own := cmd.Flags().Lookup(f.Name); own != nil {
			add("order", oc, own)
		}
	})

	// Named solvers from the file, secrets masked.
	solvers := map[string]map[string]any{}
	if a.cfg.file != "" {
		for name, raw := range a.cfg.v.GetStringMap("solvers") {
			m, ok := raw.(map[string]any)
			if !ok {
				continue
			}
			out := map[string]any{}
			for k, v := range m {
				if isSecretName(k) {
					v = masked
				}
				out[k] = v
			}
			solvers[name] = out
		}
	}

	var warnings []string
	if a.cfg.file != "" {
		for _, k := range a.cfg.v.AllKeys() {
			top, _, _ := strings.Cut(k, ".")
			if !known[top] {
				warnings = append(warnings, fmt.Sprintf("config file %s: unknown key %q", a.cfg.file, top))
			}
		}
	}
	type secretState struct {
		Name  string `json:"name"`
		Set   bool   `json:"set"`
		Value string `json:"value,omitempty"`
	}
	var secrets []secretState
	seen := map[string]bool{}
	for _, name := range secretEnvVars() {
		seen[name] = true
		s := secretState{Name: name, Set: a.env.Getenv(name) != ""}
		if s.Set {
			s.Value = masked
		}
		secrets = append(secrets, s)
	}
	if a.env.Environ != nil {
		knownEnv := map[string]bool{"ACMECTL_CONFIG": true}
		for _, e := range entries {
			knownEnv[e.Env] = true
		}
		for _, kv := range a.env.Environ() {
			name, _, _ := strings.Cut(kv, "=")
			if !strings.HasPrefix(name, "ACMECTL_") || seen[name] {
				continue
			}
			switch {
			case isSecretName(name):
				seen[name] = true
				secrets = append(secrets, secretState{Name: name, Set: true, Value: masked})
			case strings.HasPrefix(name, "ACMECTL_HOOK_") || strings.HasPrefix(name, "ACMECTL_FAILPOINT"):
			case strings.HasSuffix(name, "_HOOK"):
				warnings = append(warnings, fmt.Sprintf("%s is ignored: hooks never come from the environment", name))
			case !knownEnv[name]:
				warnings = append(warnings, fmt.Sprintf("%s is not a known variable", name))
			}
		}
	}
	sort.Strings(warnings)

	if a.g.json {
		doc := map[string]any{"config_file": a.cfg.file, "settings": entries, "secrets": secrets, "solvers": solvers, "warnings": warnings}
		if warnings == nil {
			doc["warnings"] = []string{}
		}
		return a.writeJSON(doc)
	}
	w := a.env.Stdout
	if a.cfg.file != "" {
		fmt.Fprintf(w, "# config file: %s\n", a.cfg.file)
	} else {
		fmt.Fprintf(w, "# config file: none (looked for %s)\n", orNone(defaultConfigPath(a.env)))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE\tSCOPE")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Key, showValue(e.Value), e.Source, e.Scope)
	}
	_ = tw.Flush()
	if len(solvers) > 0 {
		fmt.Fprintln(w, "\n# named solvers (config file)")
		names := make([]string, 0, len(solvers))
		for n := range solvers {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			keys := make([]string, 0, len(solvers[n]))
			for k := range solvers[n] {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var parts []string
			for _, k := range keys {
				parts = append(parts, fmt.Sprintf("%s=%v", k, solvers[n][k]))
			}
			fmt.Fprintf(w, "%s: %s\n", n, strings.Join(parts, " "))
		}
	}
	fmt.Fprintln(w, "\n# secrets (values never shown)")
	for _, s := range secrets {
		state := "not set"
		if s.Set {
			state = "set (" + masked + ")"
		}
		fmt.Fprintf(w, "%s: %s\n", s.Name, state)
	}
	for _, m := range warnings {
		fmt.Fprintf(a.env.Stderr, "acmectl: warning: %s\n", m)
	}
	return nil
}

func showValue(v any) string {
	switch x := v.(type) {
	case []string:
		if len(x) == 0 {
			return "-"
		}
		return strings.Join(x, ",")
	case string:
		if x == "" {
			return "-"
		}
		return x
	}
	return fmt.Sprint(v)
}

func orNone(s string) string {
	if s == "" {
		return "(no default path: HOME unset)"
	}
	return s
}
