package plugin_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/dnstest"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
	"github.com/acmectl/acmectl/challenges/dns01/providers/plugin"
	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
	"github.com/acmectl/acmectl/challenges/dns01/providers/registry"
	"github.com/acmectl/acmectl/internal/testenv"
)

// fileDNS serves the example plugin's JSON file as the zone example.test.
type fileDNS struct{ file string }

func (f fileDNS) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	z := providertest.NewZones("example.test")
	if data, err := os.ReadFile(f.file); err == nil {
		var records map[string][]string
		_ = json.Unmarshal(data, &records)
		for name, values := range records {
			z.SetRRSet("example.test", name, "TXT", 1, values)
		}
	}
	z.ServeDNS(w, r)
}

// buildExample builds examples/dns-plugin as DIR/acmectl-dns-example.
func buildExample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "acmectl-dns-example"), "./examples/dns-plugin")
	cmd.Dir = testenv.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the example plugin: %v\n%s", err, out)
	}
	return dir
}

func TestExamplePlugin(t *testing.T) {
	dir := buildExample(t)
	state := filepath.Join(t.TempDir(), "records.json")
	env := providertest.NewEnvFor(t, nil, fileDNS{file: state})
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	newProvider := func(t *testing.T, environ ...string) *plugin.Provider {
		t.Helper()
		p, err := plugin.New(plugin.Config{Name: "example", Client: "acmectl/test", Logger: log,
			Getenv:  func(k string) string { return map[string]string{plugin.PathEnv: dir, "PATH": "/usr/bin"}[k] },
			Environ: append([]string{"EXAMPLE_DNS_FILE=" + state, "ACMECTL_CLOUDFLARE_API_TOKEN=not-for-plugins"}, environ...)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	p := newProvider(t)
	t.Run("conformance", func(t *testing.T) { dnstest.Run(t, p, "example.test", env.Check) })
	t.Run("issue, one process per order", func(t *testing.T) {
		// Built through the registry, as --dns-01 example does.
		q, err := registry.New("example", providers.Config{UserAgent: "acmectl/test", Logger: log,
			Creds:   &creds.Source{Getenv: func(k string) string { return map[string]string{plugin.PathEnv: dir, "PATH": "/usr/bin"}[k] }},
			Environ: []string{"EXAMPLE_DNS_FILE=" + state}})
		if err != nil {
			t.Fatal(err)
		}
		logs.Reset()
		env.Issue(t, q, "example.test")
		q.(io.Closer).Close()
		if n := strings.Count(logs.String(), "dns plugin started"); n != 1 {
			t.Fatalf("plugin started %d times for one order; want 1\n%s", n, logs.String())
		}
		if !strings.Contains(logs.String(), "dns plugin stopped") {
			t.Fatalf("plugin not shut down:\n%s", logs.String())
		}
	})
	t.Run("crash between present and cleanup", func(t *testing.T) {
		env.CrashCleanup(t, func() dns01.Provider { return newProvider(t) }, "_acme-challenge.crash.example.test.")
	})
	t.Run("check", func(t *testing.T) {
		if err := p.CheckAccess(t.Context(), "_acme-challenge.example.test."); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("error answer", func(t *testing.T) {
		err := p.SetTXT(t.Context(), "_acme-challenge.example.test.", "")
		if err == nil || err.Error() != "plugin example: present: want fqdn and value" {
			t.Fatalf("err = %v", err)
		}
		// The plugin is still usable after an error answer.
		if err := p.SetTXT(t.Context(), "_acme-challenge.after.example.test.", "v"); err != nil {
			t.Fatal(err)
		}
		_ = p.DeleteTXT(t.Context(), "_acme-challenge.after.example.test.", "v")
	})
	t.Run("hello refused", func(t *testing.T) {
		q, err := plugin.New(plugin.Config{Name: "example", Getenv: func(k string) string { return map[string]string{plugin.PathEnv: dir}[k] }})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		err = q.SetTXT(t.Context(), "_acme-challenge.example.test.", "v")
		if err == nil || err.Error() != "plugin example: hello: EXAMPLE_DNS_FILE is not set" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no ACMECTL_ variables in the plugin's environment", func(t *testing.T) {
		// The plugin gets its own credentials, not acmectl's other secrets:
		// checked through /proc of the running plugin.
		q := newProvider(t)
		if err := q.CheckAccess(t.Context(), "x.example.test."); err != nil {
			t.Fatal(err)
		}
		pid := strings.TrimSpace(logs.String()[strings.LastIndex(logs.String(), "pid=")+4:])
		pid, _, _ = strings.Cut(pid, "\n")
		environ, err := os.ReadFile("/proc/" + pid + "/environ")
		if err != nil {
			t.Skipf("no /proc: %v", err)
		}
		if bytes.Contains(environ, []byte("ACMECTL_")) || !bytes.Contains(environ, []byte("EXAMPLE_DNS_FILE=")) {
			t.Fatalf("plugin environment: %q", environ)
		}
	})
	t.Run("not found", func(t *testing.T) {
		_, err := plugin.New(plugin.Config{Name: "nosuch", Getenv: func(k string) string { return map[string]string{plugin.PathEnv: dir, "PATH": dir}[k] }})
		var nf *plugin.NotFoundError
		if err == nil || !strings.Contains(err.Error(), "no acmectl-dns-nosuch in "+dir+" or PATH") || !errorsAs(err, &nf) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("untrusted program refused", func(t *testing.T) {
		bad := t.TempDir()
		data, _ := os.ReadFile(filepath.Join(dir, "acmectl-dns-example"))
		os.WriteFile(filepath.Join(bad, "acmectl-dns-example"), data, 0o777)
		os.Chmod(filepath.Join(bad, "acmectl-dns-example"), 0o777)
		_, err := plugin.New(plugin.Config{Name: "example", Getenv: func(k string) string { return map[string]string{plugin.PathEnv: bad}[k] }})
		if err == nil {
			t.Fatal("a world-writable plugin program was accepted")
		}
	})
}

func errorsAs(err error, target **plugin.NotFoundError) bool {
	e, ok := err.(*plugin.NotFoundError)
	*target = e
	return ok
}
