//go:build unix

package exec_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01/dnstest"
	dnsexec "github.com/acmectl/acmectl/challenges/dns01/exec"
	"github.com/acmectl/acmectl/internal/testenv"
)

// script writes an executable sh script (mode 0700) into dir.
func script(t *testing.T, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "dns-hook")
	if err := os.WriteFile(path, []byte("#!/bin/sh\nset -eu\n"+body), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// fileDNS keeps "FQDN VALUE" lines in a file: a DNS for the conformance
// suite. It also fails when argv and env disagree or a secret leaked.
const fileDNS = `db="$DB_FILE"
[ "$1" = "$ACMECTL_DNS_ACTION" ] && [ "$2" = "$ACMECTL_DNS_FQDN" ] && [ "$3" = "$ACMECTL_DNS_VALUE" ] || { echo "argv and env differ" >&2; exit 3; }
if env | grep -q -e '^ACMECTL_SECRET_X=' -e '^CREDENTIALS_DIRECTORY='; then echo "secret leaked" >&2; exit 4; fi
touch "$db"
case "$1" in
present) grep -qxF "$2 $3" "$db" || echo "$2 $3" >> "$db" ;;
cleanup) grep -vxF "$2 $3" "$db" > "$db.tmp" || true; mv "$db.tmp" "$db" ;;
*) echo "bad action $1" >&2; exit 2 ;;
esac
`

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "records")
	p, err := dnsexec.New(dnsexec.Config{
		Program: script(t, dir, fileDNS),
		Environ: []string{"PATH=" + os.Getenv("PATH"), "DB_FILE=" + db, "ACMECTL_SECRET_X=s3cret", "CREDENTIALS_DIRECTORY=/run/creds"},
		Pass:    []string{"DB_FILE"},
		Logger:  slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	dnstest.Run(t, p, "acme.test", func(fqdn string) []string {
		data, err := os.ReadFile(db)
		if err != nil && !os.IsNotExist(err) {
			t.Error(err)
		}
		var out []string
		for _, line := range strings.Split(string(data), "\n") {
			if name, value, ok := strings.Cut(line, " "); ok && name == fqdn {
				out = append(out, value)
			}
		}
		return out
	})
}

// TestEnvironAllowlist is the dns-exec half of issue 14 item 9: the program
// got acmectl's whole environment minus ACMECTL_* (a denylist), so
// MYSQL_PWD, DATABASE_URL, proxy credentials and SSH_AUTH_SOCK reached it.
// It now gets exactly what hooks get (hook.BaseEnv, one function for
// both): PATH, HOME, LANG, LC_*, TZ, the names given in Pass (hook-env),
// and its three ACMECTL_DNS_* variables.
func TestEnvironAllowlist(t *testing.T) {
	dir := t.TempDir()
	dump := filepath.Join(dir, "env")
	prog := script(t, dir, "env > "+strconv.Quote(dump)+"\n")
	p, err := dnsexec.New(dnsexec.Config{
		Program: prog,
		Environ: []string{
			"PATH=/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TZ=UTC",
			"MYSQL_PWD=s3cret", "DATABASE_URL=postgres://u:pw@db/x", "HTTPS_PROXY=http://u:pw@proxy:3128",
			"SSH_AUTH_SOCK=/tmp/ssh-x/agent.1", "AWS_SECRET_ACCESS_KEY=abc", "CREDENTIALS_DIRECTORY=/run/creds",
			"ACMECTL_EAB_HMAC_KEY=k", "ACMECTL_DNS_VALUE=stale", "VAULT_ADDR=https://vault",
		},
		Pass: []string{"VAULT_ADDR", "ACMECTL_EAB_HMAC_KEY"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetTXT(t.Context(), "_acme-challenge.x.test.", "v1"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		got[line] = true
	}
	// sh itself may add PWD, SHLVL and _; nothing else may appear.
	delete(got, "SHLVL=1")
	for l := range got {
		if strings.HasPrefix(l, "PWD=") || strings.HasPrefix(l, "_=") || strings.HasPrefix(l, "OLDPWD=") {
			delete(got, l)
		}
	}
	want := []string{"PATH=/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TZ=UTC", "VAULT_ADDR=https://vault",
		"ACMECTL_DNS_ACTION=present", "ACMECTL_DNS_FQDN=_acme-challenge.x.test.", "ACMECTL_DNS_VALUE=v1"}
	for _, w := range want {
		if !got[w] {
			t.Errorf("program environment lacks %s", w)
		}
		delete(got, w)
	}
	for l := range got {
		t.Errorf("program environment has %s; want only the allowlist, hook-env names and ACMECTL_DNS_*", l)
	}
}

func TestRefusesUnsafeProgram(t *testing.T) {
	for _, mode := range []os.FileMode{0o770, 0o702, 0o777} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			marker := filepath.Join(dir, "ran")
			prog := script(t, dir, "touch "+strconv.Quote(marker)+"\n")
			if err := os.Chmod(prog, mode); err != nil {
				t.Fatal(err)
			}
			p, err := dnsexec.New(dnsexec.Config{Program: prog})
			if err != nil {
				t.Fatal(err)
			}
			err = p.SetTXT(t.Context(), "_acme-challenge.x.test.", "v")
			if !errors.Is(err, dnsexec.ErrUnsafeProgram) {
				t.Fatalf("SetTXT with a mode %v program = %v; want ErrUnsafeProgram", mode, err)
			}
			if !strings.Contains(err.Error(), "writable by ") || !strings.Contains(err.Error(), prog) {
				t.Errorf("error %q does not name the program and the problem", err)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("the unsafe program ran")
			}
		})
	}
}

func TestFailureCarriesOutput(t *testing.T) {
	dir := t.TempDir()
	p, err := dnsexec.New(dnsexec.Config{Program: script(t, dir, "echo \"no zone for $2\" >&2\nexit 7\n")})
	if err != nil {
		t.Fatal(err)
	}
	err = p.SetTXT(t.Context(), "_acme-challenge.x.test.", "v")
	var re *dnsexec.RunError
	if !errors.As(err, &re) {
		t.Fatalf("SetTXT = %v; want *RunError", err)
	}
	if re.Action != "present" || !strings.Contains(err.Error(), "no zone for _acme-challenge.x.test.") || !strings.Contains(err.Error(), "exit status 7") {
		t.Errorf("error %q lacks the action, output or exit status", err)
	}
	if !strings.HasPrefix(err.Error(), "exec: ") {
		t.Errorf("error %q lacks the exec: prefix", err)
	}
}

func TestOutputBounded(t *testing.T) {
	dir := t.TempDir()
	p, err := dnsexec.New(dnsexec.Config{Program: script(t, dir, "i=0; while [ $i -lt 2000 ]; do echo 0123456789012345678901234567890123456789012345678901234567890123456789; i=$((i+1)); done; exit 1\n")})
	if err != nil {
		t.Fatal(err)
	}
	err = p.DeleteTXT(t.Context(), "_acme-challenge.x.test.", "v")
	if err == nil {
		t.Fatal("DeleteTXT succeeded; want the exit status")
	}
	if n := len(err.Error()); n > 5000 {
		t.Errorf("error is %d bytes; want output bounded to about 4 KiB", n)
	}
	if !strings.Contains(err.Error(), "more bytes]") {
		t.Errorf("error does not say output was cut")
	}
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	p, err := dnsexec.New(dnsexec.Config{
		Program: script(t, dir, "sleep 60 &\necho $! > "+strconv.Quote(pidFile)+"\nwait\n"),
		Timeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	err = p.SetTXT(t.Context(), "_acme-challenge.x.test.", "v")
	if err == nil || !strings.Contains(err.Error(), "killed after") {
		t.Fatalf("SetTXT = %v; want a timeout", err)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(data))
	testenv.WaitFor(t, "background child "+pid+" to die", 5*time.Second, func() error {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return nil // gone
		}
		if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
			return nil // killed, not yet reaped by init
		}
		return errors.New("still running")
	})
}
