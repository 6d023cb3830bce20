package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/acmectl/acmectl/challenges/dns01/providers/cloudflare/cloudflaretest"
	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
	"github.com/acmectl/acmectl/internal/testenv"
)

// TestImportCertbotDNSCloudflare: a certificate whose certbot renewal conf
// uses certbot-dns-cloudflare (authenticator = dns-cloudflare, a
// credentials INI with dns_cloudflare_api_token) is imported and renewed by
// acmectl's cloudflare provider, reading that same file, against the
// Cloudflare API fake (validated against Cloudflare's OpenAPI document)
// whose zone a loopback DNS server serves to Pebble.
func TestImportCertbotDNSCloudflare(t *testing.T) {
	t.Parallel() // own servers and state
	certbot := testenv.LookTool(t, "certbot", "apt-get install certbot")
	const token = "cf-e2e-token-0123456789"
	name := "cf.example.test"
	env := providertest.NewEnv(t, "example.test")
	env.Zones.Add("example.test", providertest.Record{Name: name, Type: "A", TTL: 1, Value: "127.0.0.1"})
	_, api := cloudflaretest.Start(t, env.Zones, token)
	l := newLab(t, testenv.PebbleOptions{DNSServer: env.DNS, Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})

	// certbot obtains the first certificate (standalone: certbot-dns-cloudflare
	// itself is not installed here), then its renewal conf is given the
	// renewalparams certbot-dns-cloudflare writes.
	cb := t.TempDir()
	cmd := exec.Command(certbot, "certonly", "--non-interactive", "--agree-tos", "--register-unsafely-without-email",
		"--server", l.p.DirURL, "--standalone", "--http-01-address", "127.0.0.1", "--http-01-port", strconv.Itoa(l.p.HTTPPort),
		"--config-dir", filepath.Join(cb, "config"), "--work-dir", filepath.Join(cb, "work"), "--logs-dir", filepath.Join(cb, "logs"),
		"-d", name)
	cmd.Env = append(os.Environ(), "REQUESTS_CA_BUNDLE="+l.p.CABundle)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("certbot: %v\n%s", err, out)
	}
	ini := filepath.Join(cb, "cloudflare.ini")
	if err := os.WriteFile(ini, []byte("# Cloudflare API token used by Certbot\ndns_cloudflare_api_token = "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(cb, "config", "renewal", name+".conf")
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`(?m)^authenticator = standalone$`).ReplaceAllString(string(data),
		"authenticator = dns-cloudflare\ndns_cloudflare_credentials = "+ini+"\ndns_cloudflare_propagation_seconds = 1")
	text = regexp.MustCompile(`(?m)^http01_(port|address) = .*\n`).ReplaceAllString(text, "")
	if !strings.Contains(text, "dns-cloudflare") {
		t.Fatalf("renewal conf without an authenticator line:\n%s", data)
	}
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	r := run(t, nil, "import", "certbot", "--from", filepath.Join(cb, "config"), "--state-dir", l.state, "--yes")
	if r.code != 0 || strings.Contains(r.stderr, "no acmectl equivalent") {
		t.Fatalf("import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	settings, err := os.ReadFile(filepath.Join(l.certDir(name), "settings.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"provider: cloudflare", "credentials: " + ini, "propagation-wait: 1s"} {
		if !strings.Contains(string(settings), want) {
			t.Fatalf("settings.yaml lacks %q:\n%s", want, settings)
		}
	}
	if strings.Contains(string(settings), token) {
		t.Fatal("settings.yaml holds the API token")
	}
	// Lookups go to the test's DNS server (settings.yaml is meant to be
	// edited by hand; nothing else of the imported settings changes).
	var doc map[string]any
	if err := yaml.Unmarshal(settings, &doc); err != nil {
		t.Fatal(err)
	}
	doc["dns"].(map[string]any)["resolvers"] = []string{env.DNS}
	edited, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.certDir(name), "settings.yaml"), edited, 0o600); err != nil {
		t.Fatal(err)
	}

	posts := api.Count("POST /zones/{zone_id}/dns_records")
	orders := l.p.Count("POST /order-plz 201")
	r = run(t, []string{"ACMECTL_CLOUDFLARE_ENDPOINT=" + api.URL}, "renew", "--state-dir", l.state, "--ca-bundle", l.p.CABundle,
		"--cert-name", name, "--force", "--no-random-sleep")
	if r.code != 0 {
		t.Fatalf("renew: exit %d\n%s", r.code, r.stderr)
	}
	if got := l.p.Count("POST /order-plz 201") - orders; got != 1 {
		t.Errorf("orders = %d; want 1", got)
	}
	if got := api.Count("POST /zones/{zone_id}/dns_records") - posts; got != 1 {
		t.Errorf("Cloudflare records created = %d; want 1", got)
	}
	if left := env.Zones.TXT("_acme-challenge." + name); len(left) != 0 {
		t.Errorf("TXT records left at Cloudflare: %q", left)
	}
}

// TestNamedSolverCloudflare: a named solver in the config file with
// provider cloudflare and its options (endpoint, credentials INI, zone)
// obtains a wildcard-plus-apex certificate, and settings.yaml keeps the
// options but never the token.
func TestNamedSolverCloudflare(t *testing.T) {
	t.Parallel()
	const token = "cf-named-token-0123456789"
	env := providertest.NewEnv(t, "named.test")
	_, api := cloudflaretest.Start(t, env.Zones, token)
	l := newLab(t, testenv.PebbleOptions{DNSServer: env.DNS, Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	dir := t.TempDir()
	ini := filepath.Join(dir, "cf.ini")
	if err := os.WriteFile(ini, []byte("dns_cloudflare_api_token = "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("solvers:\n  cf:\n    type: dns-01\n    provider: cloudflare\n    endpoint: "+api.URL+
		"\n    credentials: "+ini+"\n    zone: named.test\n    resolvers: ["+env.DNS+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, l.args("obtain", "--config", cfg, "-d", "*.named.test", "-d", "named.test", "--solver", "default=cf")...)
	if r.code != 0 {
		t.Fatalf("obtain: exit %d\n%s", r.code, r.stderr)
	}
	if got := api.Count("POST /zones/{zone_id}/dns_records"); got != 2 {
		t.Errorf("records created = %d; want 2 (wildcard and apex)", got)
	}
	if left := env.Zones.TXT("_acme-challenge.named.test"); len(left) != 0 {
		t.Errorf("TXT records left: %q", left)
	}
	settings, err := os.ReadFile(filepath.Join(l.certDir("_wildcard.named.test"), "settings.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(settings), ini) || strings.Contains(string(settings), token) {
		t.Errorf("settings.yaml should name the credentials file, never the token:\n%s", settings)
	}
}
