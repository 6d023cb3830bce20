package e2e

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acmectl/acmectl/internal/testenv"
)

// canaries are secrets planted in a run; none may appear in any output.
type canaries map[string]string // what → secret text

func (c canaries) check(t *testing.T, where string, outputs ...string) {
	t.Helper()
	for what, secret := range c {
		for _, out := range outputs {
			if secret != "" && strings.Contains(out, secret) {
				t.Errorf("%s: the %s appears in the output", where, what)
			}
		}
	}
}

// keyCanaries adds every base64 line of the PEM private keys under dir.
func keyCanaries(t *testing.T, c canaries, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".pem") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		blk, _ := pem.Decode(b)
		if blk == nil || !strings.Contains(blk.Type, "PRIVATE KEY") {
			return nil
		}
		enc := base64.StdEncoding.EncodeToString(blk.Bytes)
		for i := 0; i+40 <= len(enc); i += 40 {
			c[fmt.Sprintf("private key %s[%d]", filepath.Base(p), i)] = enc[i : i+40]
		}
		return nil
	})
}

// TestSecretsNeverLeak: an EAB account, a full issuance at --log-level
// debug with --json, failing runs with a planted EAB key and TSIG secret:
// no private key, EAB HMAC key or TSIG secret in any stdout, stderr, JSON
// document or hook environment; keys are 0600 in 0700 directories; hooks
// get their data only through the environment.
func TestSecretsNeverLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Pebble")
	}
	hmacRaw := []byte("canary-eab-hmac-key-0123456789abcdef")
	hmac := base64.RawURLEncoding.EncodeToString(hmacRaw)
	l := newLab(t, testenv.PebbleOptions{EAB: map[string]string{"kid-canary": hmac}})
	secrets := canaries{"EAB HMAC key": hmac, "EAB HMAC key (raw)": string(hmacRaw)}

	// A deploy hook that records its argv and environment.
	dump := filepath.Join(t.TempDir(), "hook.env")
	hook := filepath.Join(t.TempDir(), "dump-hook")
	must(t, os.WriteFile(hook, []byte("#!/bin/sh\n{ echo \"argc=$#\"; env; } > "+dump+"\n"), 0o700))

	name := "secret.example.test"
	args := l.args("obtain", append(l.http01(), "-d", name, "--eab-kid", "kid-canary", "--log-level", "debug", "--json",
		"--deploy-hook", hook)...)
	r := run(t, []string{"ACMECTL_EAB_HMAC_KEY=" + hmac}, args...)
	if r.code != 0 {
		t.Fatalf("obtain with EAB: exit %d", r.code)
	}
	keyCanaries(t, secrets, l.state)
	if len(secrets) < 10 {
		t.Fatalf("only %d canaries: no private keys found", len(secrets))
	}
	secrets.check(t, "obtain --log-level debug --json", r.stdout, r.stderr)

	// Hook: no argv, data in ACMECTL_HOOK_*, no secret variable.
	env, err := os.ReadFile(dump)
	if err != nil {
		t.Fatalf("deploy hook did not run: %v", err)
	}
	if !strings.Contains(string(env), "argc=0\n") {
		t.Errorf("deploy hook got arguments:\n%s", env)
	}
	if !strings.Contains(string(env), "ACMECTL_HOOK_CERT_NAME="+name) {
		t.Errorf("deploy hook lacks ACMECTL_HOOK_CERT_NAME:\n%s", env)
	}
	if strings.Contains(string(env), "ACMECTL_EAB_HMAC_KEY") {
		t.Error("deploy hook environment has ACMECTL_EAB_HMAC_KEY")
	}
	secrets.check(t, "deploy hook environment", string(env))

	// Modes: keys 0600, directories 0700.
	filepath.WalkDir(l.state, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, _ := d.Info()
		mode := info.Mode().Perm()
		switch {
		case d.IsDir() && mode != 0o700:
			t.Errorf("%s: directory mode %04o; want 0700", p, mode)
		case !d.IsDir() && (strings.HasSuffix(p, "key.pem") || strings.HasSuffix(p, "privkey.pem")) && mode != 0o600:
			t.Errorf("%s: key mode %04o; want 0600", p, mode)
		case !d.IsDir() && mode&0o022 != 0:
			t.Errorf("%s: writable by group or others (%04o)", p, mode)
		}
		return nil
	})

	// Error paths with planted secrets.
	t.Run("wrong EAB key", func(t *testing.T) {
		bad := base64.RawURLEncoding.EncodeToString([]byte("canary-wrong-hmac-key-fedcba9876543210"))
		keyFile := filepath.Join(t.TempDir(), "eab.key")
		must(t, os.WriteFile(keyFile, []byte(bad+"\n"), 0o600))
		state := filepath.Join(t.TempDir(), "state")
		r := run(t, nil, "obtain", "--server", l.p.DirURL, "--ca-bundle", l.p.CABundle, "--state-dir", state, "--accept-tos",
			"--eab-kid", "kid-canary", "--eab-hmac-key-file", keyFile, "--log-level", "debug", "--json",
			"-d", "eab-bad.example.test", "--http-01", "--http-01-addr", fmt.Sprintf("127.0.0.1:%d", l.p.HTTPPort))
		if r.code == 0 {
			t.Fatal("obtain with a wrong EAB key succeeded")
		}
		c := canaries{"wrong EAB key": bad}
		keyCanaries(t, c, state)
		c.check(t, "failed EAB registration", r.stdout, r.stderr)
	})
	t.Run("TSIG secret", func(t *testing.T) {
		secret := base64.StdEncoding.EncodeToString([]byte("canary-tsig-secret-0123456789abcdef"))
		dir := t.TempDir()
		good := filepath.Join(dir, "good.key")
		must(t, os.WriteFile(good, []byte("key \"acme\" {\n\talgorithm hmac-sha256;\n\tsecret \""+secret+"\";\n};\n"), 0o600))
		broken := filepath.Join(dir, "broken.key")
		must(t, os.WriteFile(broken, []byte("key \"acme\" {\n\talgorithm hmac-sha256;\n\tsecret \""+secret+"\"\n garbage "+secret+" };\n"), 0o600))
		for _, f := range []string{good, broken} {
			state := filepath.Join(t.TempDir(), "state")
			r := run(t, []string{"ACMECTL_EAB_HMAC_KEY=" + hmac}, "obtain", "--server", l.p.DirURL, "--ca-bundle", l.p.CABundle, "--state-dir", state, "--accept-tos",
				"--eab-kid", "kid-canary", "--log-level", "debug", "--json", "--order-timeout", "20s",
				"-d", "tsig.example.test", "--dns-01", "rfc2136", "--rfc2136-server", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
				"--rfc2136-tsig-file", f, "--dns-propagation-wait", "1s")
			if r.code == 0 {
				t.Fatalf("%s: obtain against a dead DNS server succeeded", filepath.Base(f))
			}
			if f == good && !strings.Contains(r.stderr, "rfc2136") {
				t.Errorf("the run did not get to the DNS update:\n%s", r.stderr)
			}
			canaries{"TSIG secret": secret}.check(t, filepath.Base(f), r.stdout, r.stderr)
			settings, _ := os.ReadFile(filepath.Join(state, "certificates", "tsig.example.test", "settings.yaml"))
			canaries{"TSIG secret": secret}.check(t, "settings.yaml", string(settings))
		}
	})
}
