package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
)

// bound is one command line run in process through the test seam: the
// options the command was given, as bound, and nothing run.
type boundRun struct {
	a      *app
	opts   any
	code   int
	stderr string
}

func bindArgs(t *testing.T, vars map[string]string, config string, args ...string) boundRun {
	t.Helper()
	home := t.TempDir()
	if config != "" {
		dir := filepath.Join(home, "acmectl")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb bytes.Buffer
	env := &Env{Args: args, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Euid: 1000, Version: "test", Now: time.Now,
		Getenv: func(k string) string {
			switch k {
			case "XDG_CONFIG_HOME":
				return home
			case "XDG_DATA_HOME":
				return filepath.Join(home, "data")
			}
			return vars[k]
		},
		Environ: func() []string { return nil }}
	r := boundRun{}
	r.a = &app{env: env, runF: func(_ context.Context, opts any) error { r.opts = opts; return nil }}
	r.code = r.a.execute(context.Background())
	r.stderr = errb.String()
	return r
}

// TestCommandOptions: every command binds its flags into its typed
// options in one place and runs through the one seam (run): the options
// the command would run with, for a command line of each.
func TestCommandOptions(t *testing.T) {
	webroot := t.TempDir()
	cases := []struct {
		args []string
		want any // compared with reflect.DeepEqual, order options left out
	}{
		{[]string{"obtain", "-d", "example.com", "--cert-name", "web", "--force", "--dry-run", "--allow-name-removal", "--not-before", "1h", "--pkcs12", "/tmp/x.p12", "--pkcs12-legacy"},
			&obtainOptions{certName: "web", force: true, dryRun: true, allowNameRemoval: true,
				extras: extraFlags{notBefore: "1h", pkcs12File: "/tmp/x.p12", pkcs12Legacy: true}}},
		{[]string{"reconfigure", "--cert-name", "web", "--new-name", "web2", "--dry-run"}, &reconfigureOptions{certName: "web", newName: "web2", dryRun: true}},
		{[]string{"renew", "--cert-name", "a", "--cert-name", "b", "--force", "--parallel", "2", "--no-random-sleep", "--daemon-poll", "5s", "--metrics-file", "/tmp/m"},
			&renewOptions{certNames: []string{"a", "b"}, force: true, parallel: 2, noRandomSleep: true, daemonPoll: 5 * time.Second, metricsFile: "/tmp/m"}},
		{[]string{"deploy", "--cert-name", "web"}, &deployOptions{certName: "web"}},
		{[]string{"delete", "--cert-name", "web", "--revoke", "--reason", "superseded", "--yes"}, &deleteOptions{certName: "web", revoke: true, reason: "superseded", yes: true}},
		{[]string{"revoke", "--cert-name", "web", "--reason", "keyCompromise", "--delete", "--yes", "--with-cert-key"},
			&revokeOptions{certName: "web", reason: "keyCompromise", del: true, yes: true, withCertKey: true}},
		{[]string{"revoke", "--cert", "/c.pem", "--key", "/k.pem"}, &revokeOptions{certFile: "/c.pem", keyFile: "/k.pem"}},
		{[]string{"list", "--wide"}, &listOptions{wide: true}},
		{[]string{"show", "web"}, &showOptions{certName: "web"}},
		{[]string{"show", "--cert-name", "web"}, &showOptions{certName: "web"}},
		{[]string{"directory"}, &directoryOptions{}},
		{[]string{"import", "lego", "--from", "/x/.lego", "--yes"}, &importOptions{kind: "lego", from: "/x/.lego", yes: true}},
		{[]string{"import", "certbot", "--symlink-live"}, &importOptions{kind: "certbot", symlinkLive: true}},
		{[]string{"doctor", "-d", "a.example.com", "--http-port", "8080", "--tls-port", "8443", "--timeout", "3s", "--cert-name", "web"},
			&doctorOptions{certName: "web", httpPort: 8080, tlsPort: 8443, timeout: 3 * time.Second}},
		{[]string{"dns-persist", "record", "-d", "example.com", "--wildcard", "--issuer", "letsencrypt.org", "--check", "--dns-resolvers", "127.0.0.1:53", "--persist-until", "2030-01-01T00:00:00Z"},
			&dnsPersistOptions{domain: "example.com", wildcard: true, issuer: "letsencrypt.org", check: true, resolvers: []string{"127.0.0.1:53"}, persistUntil: "2030-01-01T00:00:00Z"}},
		{[]string{"version"}, &versionOptions{}},
		{[]string{"completion", "bash"}, &completionOptions{shell: "bash"}},
		{[]string{"account", "register", "--replace"}, &accountRegisterOptions{replace: true}},
		{[]string{"account", "list"}, &accountListOptions{}},
		{[]string{"account", "show", "--offline"}, &accountShowOptions{offline: true}},
		{[]string{"account", "update", "--no-email"}, &accountUpdateOptions{noEmail: true}},
		{[]string{"account", "rollover", "--key-type", "ec384"}, &accountRolloverOptions{keyType: "ec384"}},
		{[]string{"account", "rollover"}, &accountRolloverOptions{keyType: "ec256"}},
		{[]string{"account", "deactivate", "--yes"}, &accountDeactivateOptions{yes: true}},
		{[]string{"account", "recover", "--key", "/k.pem"}, &accountRecoverOptions{keyFile: "/k.pem"}},
		{[]string{"account", "migrate", "--from", "letsencrypt-v1", "--to", "letsencrypt", "--yes"}, &migrateOptions{from: "letsencrypt-v1", to: "letsencrypt", yes: true}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := bindArgs(t, nil, "", tc.args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			got := r.opts
			// Order options are checked by TestOrderOptions; renew's
			// command and config show's are cobra's.
			switch o := got.(type) {
			case *obtainOptions:
				if o.order == nil {
					t.Error("obtain ran without its order options")
				}
				c := *o
				c.order = nil
				got = &c
			case *reconfigureOptions:
				c := *o
				c.order = nil
				got = &c
			case *importOptions:
				c := *o
				c.order, c.renewalFlags = nil, nil
				got = &c
			case *doctorOptions:
				c := *o
				c.order = nil
				got = &c
			case *renewOptions:
				c := *o
				c.cmd = nil
				got = &c
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("options:\n%#v\nwant\n%#v", got, tc.want)
			}
		})
	}
	if r := bindArgs(t, nil, "", "config", "show", "--webroot", webroot); r.code != 0 {
		t.Errorf("config show: exit %d: %s", r.code, r.stderr)
	} else if _, ok := r.opts.(*configShowOptions); !ok {
		t.Errorf("config show bound %T", r.opts)
	}
	// Flags cobra refuses never reach a command.
	for _, args := range [][]string{{"renew", "--parallel", "many"}, {"doctor", "--timeout", "soon"}, {"obtain", "--hook-timeout", "5"}} {
		if r := bindArgs(t, nil, "", args...); r.code != ExitUsage || r.opts != nil {
			t.Errorf("%v: exit %d, ran with %v; want exit 2 before the command", args, r.code, r.opts)
		}
	}
}

// TestOrderOptions: the order options bound from flags, ACMECTL_* env and
// the config file, and what obtain makes of them against stored settings
// (orderGiven, then lifecycle.Merge): a flag replaces a stored value; env
// and the config file count for a new certificate only; solver flags
// replace the stored set; bad values are usage errors naming the flag.
func TestOrderOptions(t *testing.T) {
	webroot := t.TempDir()
	config := "key-type: rsa2048\ndeploy-hook: [\"/usr/bin/touch /tmp/deployed\"]\n"
	vars := map[string]string{"ACMECTL_PROFILE": "shortlived"}
	r := bindArgs(t, vars, config, "obtain", "-d", "Example.COM,www.example.com", "-d", "example.com", "--webroot", webroot,
		"--email", "new@example.com", "--hook-timeout", "90s", "--solver", "www.example.com=dns")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	o := r.opts.(*obtainOptions).order
	if want := []string{"example.com", "www.example.com"}; !slices.Equal(o.names.v.Strings(), want) || o.names.src != sourceFlag {
		t.Errorf("names = %v from %s; want %v from the flag", o.names.v, o.names.src, want)
	}
	if o.keyType.v != "rsa2048" || o.keyType.src != sourceFile || o.profile.v != "shortlived" || o.profile.src != sourceEnv {
		t.Errorf("key type %q from %s, profile %q from %s; want rsa2048 from the file, shortlived from env",
			o.keyType.v, o.keyType.src, o.profile.v, o.profile.src)
	}

	stored := &store.Settings{Names: client.MustNames("example.com", "www.example.com"), Server: r.a.g.server, Account: "default",
		KeyType: "ec256", HTTP01Addrs: []string{":80"}, Email: []string{"old@example.com"}, Profile: "classic",
		Hooks: store.Hooks{Pre: [][]string{{"/bin/true"}}}}
	g, err := r.a.orderGiven(false)
	if err != nil {
		t.Fatal(err)
	}
	merged, ch := lifecycle.Merge(stored, g)
	want := &store.Settings{Names: client.MustNames("example.com", "www.example.com"), Server: r.a.g.server, Account: "default",
		KeyType: "ec256", Webroot: webroot, Email: []string{"new@example.com"}, Profile: "classic", HookTimeout: "90s",
		Solvers: map[string][]string{"www.example.com": {"dns"}}, Hooks: store.Hooks{Pre: [][]string{{"/bin/true"}}}}
	if !reflect.DeepEqual(merged, want) {
		t.Errorf("existing certificate:\n%+v\nwant\n%+v", merged, want)
	}
	if len(ch.Shaping) != 0 {
		t.Errorf("shaping changes %v; want none (env and file do not move a stored certificate)", ch.Shaping)
	}

	g, err = r.a.orderGiven(true)
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := lifecycle.Merge(nil, g)
	if fresh.KeyType != "rsa2048" || fresh.Profile != "shortlived" || !reflect.DeepEqual(fresh.Hooks.Deploy, [][]string{{"/usr/bin/touch", "/tmp/deployed"}}) {
		t.Errorf("new certificate: key type %q, profile %q, deploy hooks %v; want the file's and env's values", fresh.KeyType, fresh.Profile, fresh.Hooks.Deploy)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-d", "bad_name.example.com"}, `-d "bad_name.example.com"`},
		{[]string{"-d", "example.com", "--key-type", "dsa"}, `--key-type "dsa"`},
		{[]string{"-d", "example.com", "--dns-01", "no such provider"}, `--dns-01 "no such provider"`},
		{[]string{"-d", "example.com", "--webroot", filepath.Join(webroot, "missing")}, "--webroot"},
		{[]string{"-d", "example.com", "--solver", "example.com"}, `--solver "example.com"`},
		{[]string{"-d", "example.com", "--deploy-hook", "echo $HOME"}, "--deploy-hook"},
		{[]string{"-d", "example.com", "--hook-env", "ACMECTL_X"}, "ACMECTL_X"},
	} {
		r := bindArgs(t, nil, "", append([]string{"obtain"}, tc.args...)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, r.code, r.stderr)
		}
		_, err := r.a.orderGiven(true)
		if exitCode(err) != ExitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v (exit %d); want a usage error naming %s", tc.args, err, exitCode(err), tc.want)
		}
	}
}
