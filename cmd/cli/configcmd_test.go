package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

type configDoc struct {
	ConfigFile string        `json:"config_file"`
	Settings   []configEntry `json:"settings"`
	Secrets    []struct {
		Name  string `json:"name"`
		Set   bool   `json:"set"`
		Value string `json:"value"`
	} `json:"secrets"`
	Solvers  map[string]map[string]any `json:"solvers"`
	Warnings []string                  `json:"warnings"`
}

func configShow(t *testing.T, vars map[string]string, args ...string) (cliResult, configDoc) {
	t.Helper()
	r := runCLI(t, time.Now, vars, append([]string{"config", "show", "--json"}, args...)...)
	var doc configDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("config show --json: %v\n%s", err, r.stdout)
	}
	return r, doc
}

func entry(t *testing.T, doc configDoc, key string) configEntry {
	t.Helper()
	for _, e := range doc.Settings {
		if e.Key == key {
			return e
		}
	}
	t.Fatalf("config show lacks %q", key)
	return configEntry{}
}

func TestConfigShowSources(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	err := os.WriteFile(cfg, []byte(`server: letsencrypt-staging
key-type: ec384
log-level: warn
deploy-hook: ["systemctl reload nginx"]
bogus-key: 1
solvers:
  ns-a:
    type: dns-01
    provider: rfc2136
    tsig-secret: c2VjcmV0
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"ACMECTL_KEY_TYPE":            "rsa2048",
		"ACMECTL_EAB_HMAC_KEY":        "very-secret-hmac",
		"ACMECTL_ETCD_PASSWORD":       "very-secret-pw",
		"ACMECTL_SERVR":               "typo",
		"ACMECTL_DEPLOY_HOOK":         "rm -rf /",
		"ACMECTL_CONFIG":              cfg,
		"ACMECTL_LOG_FORMAT":          "text",
		"ACMECTL_HOOK_CERT_NAME":      "x",
		"ACMECTL_RFC2136_TSIG_SECRET": "",
	}
	environ := []string{}
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	r, doc := configShowEnv(t, vars, environ, "--log-level", "debug", "--state-dir", filepath.Join(dir, "state"))
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	if doc.ConfigFile != cfg {
		t.Errorf("config_file %q; want %q", doc.ConfigFile, cfg)
	}
	for _, tc := range []struct{ key, value, source string }{
		{"log-level", "debug", sourceFlag},
		{"key-type", "rsa2048", sourceEnv},
		{"server", "https://acme-staging-v02.api.letsencrypt.org/directory (letsencrypt-staging)", sourceFile},
		{"account", "default", sourceDefault},
		{"log-format", "text", sourceEnv},
	} {
		e := entry(t, doc, tc.key)
		if e.Value != tc.value || e.Source != tc.source {
			t.Errorf("%s = %v from %s; want %v from %s", tc.key, e.Value, e.Source, tc.value, tc.source)
		}
	}
	if e := entry(t, doc, "deploy-hook"); e.Source != sourceFile || e.Env != "" {
		t.Errorf("deploy-hook from %s (env %q); want file, and no env variable (hooks never come from env)", e.Source, e.Env)
	}
	if got := doc.Solvers["ns-a"]["tsig-secret"]; got != masked {
		t.Errorf("named solver secret shown as %v", got)
	}
	if strings.Contains(r.stdout, "very-secret") || strings.Contains(r.stdout, "c2VjcmV0") || strings.Contains(r.stderr, "very-secret") {
		t.Errorf("a secret value leaked:\n%s\n%s", r.stdout, r.stderr)
	}
	sec := map[string]bool{}
	for _, s := range doc.Secrets {
		sec[s.Name] = s.Set
	}
	if !sec["ACMECTL_EAB_HMAC_KEY"] || !sec["ACMECTL_ETCD_PASSWORD"] || sec["ACMECTL_RFC2136_TSIG_SECRET"] {
		t.Errorf("secrets = %v; want EAB and etcd password set, TSIG unset", sec)
	}
	w := strings.Join(doc.Warnings, "\n")
	for _, want := range []string{`unknown key "bogus-key"`, "ACMECTL_SERVR is not a known variable", "ACMECTL_DEPLOY_HOOK is ignored"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	if strings.Contains(w, "HOOK_CERT_NAME") {
		t.Errorf("hook environment variables reported: %s", w)
	}
}

// configShowEnv is configShow with an explicit process environment list.
func configShowEnv(t *testing.T, vars map[string]string, environ []string, args ...string) (cliResult, configDoc) {
	t.Helper()
	cfgHome := filepath.Join(t.TempDir(), "config")
	var out, errb strings.Builder
	env := &Env{
		Args: append([]string{"config", "show", "--json"}, args...), Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string {
			if k == "XDG_CONFIG_HOME" {
				return cfgHome
			}
			return vars[k]
		},
		Environ: func() []string { return environ },
		Now:     time.Now, Euid: 1000, Version: "test",
	}
	code := Run(t.Context(), env)
	r := cliResult{code: code, stdout: out.String(), stderr: errb.String()}
	t.Logf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	var doc configDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("config show --json: %v\n%s", err, r.stdout)
	}
	return r, doc
}

// TestConfigExample: config.example.yaml loads without warnings and names
// every config key (as a key or a commented-out key).
func TestConfigExample(t *testing.T) {
	example := filepath.Join("..", "..", "config.example.yaml")
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	r, doc := configShow(t, nil, "--config", cfg, "--state-dir", filepath.Join(t.TempDir(), "state"))
	if r.code != 0 || len(doc.Warnings) > 0 {
		t.Errorf("example config: exit %d, warnings %v", r.code, doc.Warnings)
	}
	text := string(data)
	_, def := configShow(t, nil, "--state-dir", filepath.Join(t.TempDir(), "state"))
	for _, e := range doc.Settings {
		if !regexp.MustCompile(`(?m)^(# )?` + regexp.QuoteMeta(e.Key) + `:`).MatchString(text) {
			t.Errorf("config.example.yaml does not document %q", e.Key)
		}
		if e.Source == sourceFile && e.Key != "server" {
			// Active keys in the example hold the defaults: copying it
			// changes nothing until a line is edited.
			if d := entry(t, def, e.Key); showValue(d.Value) != showValue(e.Value) {
				t.Errorf("example sets %s to %v; the default is %v", e.Key, e.Value, d.Value)
			}
		}
	}
}
