package cli

import (
	"slices"
	"testing"
)

// TestFileConfig: the config file's keys are case-insensitive at every
// level, scalars convert to the type a setting wants, and a hook given as
// one string is one hook (viper split it at spaces into several hooks).
func TestFileConfig(t *testing.T) {
	var f fileConfig
	err := f.parse([]byte(`Server: https://acme.example/dir
lock-wait: 30s
keep-versions: 3
json: yes
quiet: 1
verbose: "false"
deploy-hook: systemctl reload nginx
post-hook: [/bin/true, "/usr/bin/logger done"]
email: [a@example.com, 7]
empty:
Solvers:
  NS-A: {Type: dns-01, Provider: rfc2136}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.GetString("server"); got != "https://acme.example/dir" {
		t.Errorf("server %q", got)
	}
	if got := f.GetString("keep-versions"); got != "3" {
		t.Errorf("keep-versions %q", got)
	}
	// "yes" is a string in YAML 1.2 and no boolean to strconv (as with viper).
	if f.GetBool("json") || !f.GetBool("quiet") || f.GetBool("verbose") {
		t.Errorf("bools: json %v quiet %v verbose %v", f.GetBool("json"), f.GetBool("quiet"), f.GetBool("verbose"))
	}
	if got := f.GetStringSlice("deploy-hook"); !slices.Equal(got, []string{"systemctl reload nginx"}) {
		t.Errorf("deploy-hook %q; want one hook", got)
	}
	if got := f.GetStringSlice("post-hook"); !slices.Equal(got, []string{"/bin/true", "/usr/bin/logger done"}) {
		t.Errorf("post-hook %q", got)
	}
	if got := f.GetStringSlice("email"); !slices.Equal(got, []string{"a@example.com", "7"}) {
		t.Errorf("email %q", got)
	}
	if f.IsSet("empty") || f.IsSet("absent") || !f.IsSet("SERVER") {
		t.Errorf("IsSet: empty %v absent %v SERVER %v", f.IsSet("empty"), f.IsSet("absent"), f.IsSet("SERVER"))
	}
	ns, ok := f.GetStringMap("solvers")["ns-a"].(map[string]any)
	if !ok || ns["type"] != "dns-01" || ns["provider"] != "rfc2136" {
		t.Errorf("solvers: %#v", f.GetStringMap("solvers"))
	}
	if got := f.Keys(); !slices.Equal(got, []string{"deploy-hook", "email", "empty", "json", "keep-versions", "lock-wait", "post-hook", "quiet", "server", "solvers", "verbose"}) {
		t.Errorf("keys %q", got)
	}
	if err := new(fileConfig).parse([]byte("- a\n- b\n")); err == nil {
		t.Error("a list at the top level parsed")
	}
}
