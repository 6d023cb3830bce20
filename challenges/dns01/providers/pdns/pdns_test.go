package pdns_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/dnstest"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
	"github.com/acmectl/acmectl/challenges/dns01/providers/registry"
	"github.com/acmectl/acmectl/internal/testenv"
)

// These tests run against the real PowerDNS Authoritative server (Debian's
// pdns-server with pdns-backend-sqlite3), its DNS and HTTP API on loopback.

const apiKey = "pdns-test-key-0123456789"

type server struct {
	API string // http://127.0.0.1:PORT
	DNS string // 127.0.0.1:PORT
}

func startPDNS(t *testing.T, zones ...string) *server {
	t.Helper()
	bin := testenv.LookTool(t, "pdns_server", "apt-get install pdns-server pdns-backend-sqlite3")
	sqlite := testenv.LookTool(t, "sqlite3", "apt-get install sqlite3")
	var schema string
	for _, p := range []string{"/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql", "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"} {
		if _, err := os.Stat(p); err == nil {
			schema = p
			break
		}
	}
	if schema == "" {
		t.Skip("pdns-backend-sqlite3's schema.sqlite3.sql not found (apt-get install pdns-backend-sqlite3)")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "pdns.sqlite3")
	sql, err := os.ReadFile(schema)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sqlite, db)
	cmd.Stdin = bytes.NewReader(sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("create the sqlite database: %v: %s", err, out)
	}
	dnsPort, webPort := testenv.FreeUDPTCPPort(t), testenv.FreePort(t)
	conf := fmt.Sprintf(`launch=gsqlite3
gsqlite3-database=%s
local-address=127.0.0.1
local-port=%d
api=yes
api-key=%s
webserver=yes
webserver-address=127.0.0.1
webserver-port=%d
webserver-allow-from=127.0.0.0/8
socket-dir=%s
guardian=no
daemon=no
disable-syslog=yes
write-pid=no
setuid=
setgid=
cache-ttl=0
negquery-cache-ttl=0
query-cache-ttl=0
security-poll-suffix=
`, db, dnsPort, apiKey, webPort, dir)
	if err := os.WriteFile(filepath.Join(dir, "pdns.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.Start(t, "pdns_server", exec.Command(bin, "--config-dir="+dir))
	s := &server{API: "http://127.0.0.1:" + strconv.Itoa(webPort), DNS: "127.0.0.1:" + strconv.Itoa(dnsPort)}
	do := func(method, path, body string) (*http.Response, error) {
		req, _ := http.NewRequest(method, s.API+path, strings.NewReader(body))
		req.Header.Set("X-API-Key", apiKey)
		return http.DefaultClient.Do(req)
	}
	testenv.WaitFor(t, "pdns_server API", 10*time.Second, func() error {
		resp, err := do("GET", "/api/v1/servers/localhost", "")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	for _, z := range zones {
		body := fmt.Sprintf(`{"name": %q, "kind": "Native", "nameservers": ["ns1.%s."]}`, z+".", z)
		resp, err := do("POST", "/api/v1/servers/localhost/zones", body)
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("create zone %s: %v %v", z, err, resp)
		}
		resp.Body.Close()
	}
	return s
}

func TestPowerDNS(t *testing.T) {
	srv := startPDNS(t, "example.test", "sub.example.test")
	env := providertest.NewEnvAt(t, srv.DNS)
	newProvider := func(t *testing.T, vars, opts map[string]string) (dns01.Provider, error) {
		return registry.New("pdns", providers.Config{Options: opts,
			Creds: &creds.Source{Provider: "pdns", Getenv: func(k string) string { return vars[k] }}})
	}
	good := map[string]string{"PDNS_API_URL": srv.API, "PDNS_API_KEY": apiKey}
	p, err := newProvider(t, good, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("conformance", func(t *testing.T) { dnstest.Run(t, p, "sub.example.test", env.Check) })
	t.Run("issue", func(t *testing.T) { env.Issue(t, p, "www.example.test") })
	t.Run("crash between present and cleanup", func(t *testing.T) {
		env.CrashCleanup(t, func() dns01.Provider { q, _ := newProvider(t, good, nil); return q }, "_acme-challenge.crash.example.test.")
	})
	t.Run("keeps other TXT values", func(t *testing.T) {
		// A value someone else put at the name (an SPF-like record) stays.
		name := "_acme-challenge.keep.example.test."
		q, _ := newProvider(t, good, map[string]string{"endpoint": srv.API + "/api/v1"})
		if err := q.SetTXT(t.Context(), name, "v=spf1 -all"); err != nil {
			t.Fatal(err)
		}
		if err := p.SetTXT(t.Context(), name, "acme"); err != nil {
			t.Fatal(err)
		}
		if err := p.DeleteTXT(t.Context(), name, "acme"); err != nil {
			t.Fatal(err)
		}
		if got := env.Check(name); len(got) != 1 || got[0] != "v=spf1 -all" {
			t.Fatalf("TXT = %q; want the other value kept", got)
		}
	})
	t.Run("bad key", func(t *testing.T) {
		q, _ := newProvider(t, map[string]string{"PDNS_API_URL": srv.API, "PDNS_API_KEY": "wrong"}, nil)
		err := q.SetTXT(t.Context(), "_acme-challenge.example.test.", "v")
		want := "pdns: the credentials from PDNS_API_KEY were refused (HTTP 401 on GET /api/v1/servers/localhost/zones?zone=_acme-challenge.example.test.:"
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("err = %v\nwant  %s...", err, want)
		}
	})
	t.Run("zone not found", func(t *testing.T) {
		providertest.ZoneNotFound(t, p, "_acme-challenge.www.other.test.", "pdns: no zone holding _acme-challenge.www.other.test in this account")
	})
	t.Run("no key", func(t *testing.T) {
		_, err := newProvider(t, map[string]string{"PDNS_API_URL": srv.API}, nil)
		if err == nil || !strings.HasPrefix(err.Error(), "pdns: no API key: set ACMECTL_PDNS_API_KEY or PDNS_API_KEY") {
			t.Fatalf("err = %v", err)
		}
	})
}
