package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/acmectl/acmectl/internal/testenv"
)

// TestImportCertbot: a certificate obtained by the real certbot from Pebble
// is adopted with its account (no new account at the CA), the live files
// are byte-identical to certbot's, and acmectl renews it.
func TestImportCertbot(t *testing.T) {
	t.Parallel() // own servers and state; long, so it runs beside the others (docs/dev/testing.md)
	certbot := testenv.LookTool(t, "certbot", "apt-get install certbot")
	l := newLab(t, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	cb := t.TempDir()
	name := "certbot.example.test"
	cmd := exec.Command(certbot, "certonly", "--non-interactive", "--agree-tos", "--register-unsafely-without-email",
		"--server", l.p.DirURL, "--standalone", "--http-01-address", "127.0.0.1", "--http-01-port", strconv.Itoa(l.p.HTTPPort),
		"--config-dir", filepath.Join(cb, "config"), "--work-dir", filepath.Join(cb, "work"), "--logs-dir", filepath.Join(cb, "logs"),
		"-d", name)
	cmd.Env = append(os.Environ(), "REQUESTS_CA_BUNDLE="+l.p.CABundle)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("certbot: %v\n%s", err, out)
	}
	accounts := l.p.Count("POST /sign-me-up 201")
	orders := l.p.Count("POST /order-plz 201")

	// Without --yes: a plan, nothing written.
	r := run(t, nil, "import", "certbot", "--from", filepath.Join(cb, "config"), "--state-dir", l.state)
	if r.code != 0 || !strings.Contains(r.stdout, "Would import certificate "+name) {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stdout)
	}
	if _, err := os.Stat(l.certDir(name)); !os.IsNotExist(err) {
		t.Fatalf("plan wrote %s", l.certDir(name))
	}
	r = run(t, nil, "import", "certbot", "--from", filepath.Join(cb, "config"), "--state-dir", l.state, "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "Imported account default on "+l.p.DirURL) {
		t.Fatalf("import: exit %d\n%s", r.code, r.stdout)
	}
	live := filepath.Join(cb, "config", "live", name)
	for _, f := range []string{"cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"} {
		want, _ := os.ReadFile(filepath.Join(live, f))
		got, err := os.ReadFile(filepath.Join(l.certDir(name), f))
		if err != nil || !bytes.Equal(want, got) {
			t.Errorf("%s differs from certbot's (%v)", f, err)
		}
	}
	// Renewal with the imported account and solver settings.
	r = run(t, nil, "renew", "--state-dir", l.state, "--ca-bundle", l.p.CABundle, "--cert-name", name, "--force", "--no-random-sleep")
	if r.code != 0 {
		t.Fatalf("renew: exit %d\n%s", r.code, r.stderr)
	}
	if got := l.p.Count("POST /sign-me-up 201") - accounts; got != 0 {
		t.Errorf("new accounts at the CA = %d; want 0 (certbot's account adopted)", got)
	}
	if got := l.p.Count("POST /order-plz 201") - orders; got != 1 {
		t.Errorf("orders = %d; want 1", got)
	}
	// Importing again skips what is already managed.
	r = run(t, nil, "import", "certbot", "--from", filepath.Join(cb, "config"), "--state-dir", l.state, "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "already managed") {
		t.Errorf("second import: exit %d\n%s", r.code, r.stdout)
	}
}

// TestImportLego: the same for lego, whose solver comes from import's flags.
func TestImportLego(t *testing.T) {
	t.Parallel() // own servers and state; long, so it runs beside the others (docs/dev/testing.md)
	lego := testenv.LookTool(t, "lego", "apt-get install lego")
	l := newLab(t, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	lp := t.TempDir()
	name := "lego.example.test"
	cmd := exec.Command(lego, "--server", l.p.DirURL, "--accept-tos", "--email", "admin@example.test", "--path", lp,
		"--domains", name, "--http", "--http.port", "127.0.0.1:"+strconv.Itoa(l.p.HTTPPort), "run")
	cmd.Env = append(os.Environ(), "LEGO_CA_CERTIFICATES="+l.p.CABundle)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lego: %v\n%s", err, out)
	}
	accounts := l.p.Count("POST /sign-me-up 201")
	r := run(t, nil, append([]string{"import", "lego", "--from", lp, "--state-dir", l.state, "--server", l.p.DirURL, "--yes"}, l.http01()...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "Imported certificate "+name) {
		t.Fatalf("import: exit %d\n%s", r.code, r.stdout)
	}
	key, _ := os.ReadFile(filepath.Join(lp, "certificates", name+".key"))
	got, _ := os.ReadFile(filepath.Join(l.certDir(name), "privkey.pem"))
	if !bytes.Equal(key, got) {
		t.Error("privkey.pem differs from lego's key")
	}
	r = run(t, nil, "renew", "--state-dir", l.state, "--ca-bundle", l.p.CABundle, "--cert-name", name, "--force", "--no-random-sleep")
	if r.code != 0 {
		t.Fatalf("renew: exit %d\n%s", r.code, r.stderr)
	}
	if got := l.p.Count("POST /sign-me-up 201") - accounts; got != 0 {
		t.Errorf("new accounts = %d; want 0 (lego's account adopted)", got)
	}
}
