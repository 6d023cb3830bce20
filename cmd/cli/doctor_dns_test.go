package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01/providers/cloudflare/cloudflaretest"
	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
	"github.com/acmectl/acmectl/internal/testenv"
)

// TestDoctorAPIProvider: doctor checks an API provider's credentials and
// zone access without changing any record (the Cloudflare fake counts
// every request), and a refused token is a FAIL naming its variable.
func TestDoctorAPIProvider(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Pebble")
	}
	p := testenv.StartPebble(t, testenv.PebbleOptions{})
	zones := providertest.NewZones("acme.test")
	_, api := cloudflaretest.Start(t, zones, "doctor-token")
	resolver := caaStub(t, nil)
	state := filepath.Join(t.TempDir(), "state")
	base := []string{"doctor", "--json", "--server", p.DirURL, "--ca-bundle", p.CABundle, "--state-dir", state,
		"--dns-resolvers", resolver, "-d", "*.acme.test", "--dns-01", "cloudflare"}

	r := runCLI(t, time.Now, map[string]string{"CF_DNS_API_TOKEN": "doctor-token", "ACMECTL_CLOUDFLARE_ENDPOINT": api.URL}, base...)
	doc := parseDoctor(t, r)
	if v, d := verdictOf(t, doc, "dns-01", ""); v != verdictOK || !strings.Contains(d, "no record changed") {
		t.Errorf("cloudflare with a good token: %s %s; want OK", v, d)
	}
	if n := api.Count("POST /zones/{zone_id}/dns_records") + api.Count("DELETE /zones/{zone_id}/dns_records/{dns_record_id}"); n != 0 {
		t.Errorf("doctor changed records: %d POST/DELETE requests", n)
	}
	if api.Count("GET /zones/{zone_id}/dns_records") == 0 {
		t.Error("doctor did not read the zone's records")
	}

	r = runCLI(t, time.Now, map[string]string{"CF_DNS_API_TOKEN": "wrong", "ACMECTL_CLOUDFLARE_ENDPOINT": api.URL}, base...)
	doc = parseDoctor(t, r)
	if v, d := verdictOf(t, doc, "dns-01", ""); v != verdictFail || !strings.Contains(d, "credentials from CF_DNS_API_TOKEN were refused") {
		t.Errorf("cloudflare with a wrong token: %s %s; want FAIL naming CF_DNS_API_TOKEN", v, d)
	}
	if r.code != 1 {
		t.Errorf("exit %d; want 1", r.code)
	}
}
