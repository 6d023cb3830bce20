package cloudflare_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/dnstest"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
	"github.com/acmectl/acmectl/challenges/dns01/providers/cloudflare/cloudflaretest"
	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
	"github.com/acmectl/acmectl/challenges/dns01/providers/registry"
)

// The fake follows Cloudflare's published OpenAPI description
// (github.com/cloudflare/api-schemas openapi.json, info.version 4.0.0,
// commit cca3064f of 2024-08-06; see testdata/openapi.yaml): every request
// and answer is validated against it.

const token = "cf-token-0123456789"

func TestCloudflare(t *testing.T) {
	env := providertest.NewEnv(t, "example.test", "sub.example.test")
	f, api := cloudflaretest.Start(t, env.Zones, token)
	newProvider := func(t *testing.T, env map[string]string, opts map[string]string) (dns01.Provider, error) {
		o := map[string]string{"endpoint": api.URL}
		for k, v := range opts {
			o[k] = v
		}
		return registry.New("cloudflare", providers.Config{Options: o,
			Creds: &creds.Source{Provider: "cloudflare", Getenv: func(k string) string { return env[k] }, INIFile: o["credentials"]}})
	}
	must := func(p dns01.Provider, err error) dns01.Provider {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := must(newProvider(t, map[string]string{"CF_DNS_API_TOKEN": token}, nil))

	t.Run("conformance", func(t *testing.T) { dnstest.Run(t, p, "sub.example.test", env.Check) })
	t.Run("issue", func(t *testing.T) { env.Issue(t, p, "www.example.test") })
	t.Run("certbot credentials file", func(t *testing.T) {
		ini := filepath.Join(t.TempDir(), "cloudflare.ini")
		os.WriteFile(ini, []byte("# certbot-dns-cloudflare\ndns_cloudflare_api_token = "+token+"\n"), 0o600)
		q := must(newProvider(t, nil, map[string]string{"credentials": ini}))
		env.CrashCleanup(t, func() dns01.Provider { return q }, "_acme-challenge.ini.example.test.")
	})
	t.Run("crash between present and cleanup", func(t *testing.T) {
		env.CrashCleanup(t, func() dns01.Provider {
			return must(newProvider(t, map[string]string{"CLOUDFLARE_DNS_API_TOKEN": token}, nil))
		}, "_acme-challenge.crash.example.test.")
	})
	t.Run("pagination", func(t *testing.T) {
		f.PerPage = 5
		defer func() { f.PerPage = 0 }()
		name := "_acme-challenge.pages.example.test."
		for i := range 12 {
			if err := p.SetTXT(t.Context(), name, fmt.Sprint("v", i)); err != nil {
				t.Fatal(err)
			}
		}
		posts := api.Count("POST /zones/{zone_id}/dns_records")
		if err := p.SetTXT(t.Context(), name, "v11"); err != nil || api.Count("POST /zones/{zone_id}/dns_records") != posts {
			t.Fatalf("SetTXT of a value on page 3: %v (posts %d → %d)", err, posts, api.Count("POST /zones/{zone_id}/dns_records"))
		}
		for i := range 12 {
			if err := p.DeleteTXT(t.Context(), name, fmt.Sprint("v", i)); err != nil {
				t.Fatal(err)
			}
		}
		if got := env.Zones.TXT(name); len(got) != 0 {
			t.Fatalf("left: %q", got)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		q := must(newProvider(t, map[string]string{"CF_DNS_API_TOKEN": "wrong"}, nil))
		err := q.SetTXT(t.Context(), "_acme-challenge.example.test.", "v")
		want := "cloudflare: the credentials from CF_DNS_API_TOKEN were refused (HTTP 403 on GET /zones?name=_acme-challenge.example.test: 10000 Authentication error)"
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v\nwant  %s", err, want)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		_, err := newProvider(t, nil, nil)
		if err == nil || !strings.HasPrefix(err.Error(), "cloudflare: no API token: set ACMECTL_CLOUDFLARE_API_TOKEN, CLOUDFLARE_DNS_API_TOKEN or CF_DNS_API_TOKEN") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("zone not found", func(t *testing.T) {
		providertest.ZoneNotFound(t, p, "_acme-challenge.other.test.", "cloudflare: no zone holding _acme-challenge.other.test in this account")
	})
	t.Run("record already exists", func(t *testing.T) {
		// Another process added the same value between our list and our
		// create: Cloudflare answers 81058, which is success.
		name := "_acme-challenge.race.example.test."
		api.Inject(providertest.Injected{Status: 200, Match: "GET /zones/{zone_id}/dns_records",
			Body: `{"success": true, "errors": [], "messages": [], "result": [], "result_info": {"page": 1, "per_page": 100, "count": 0, "total_count": 0}}`})
		env.Zones.Add("example.test", providertest.Record{Name: name, Type: "TXT", TTL: 120, Value: "raced"})
		if err := p.SetTXT(t.Context(), name, "raced"); err != nil {
			t.Fatalf("SetTXT of a value added concurrently: %v", err)
		}
		if got := env.Zones.TXT(name); len(got) != 1 {
			t.Fatalf("TXT = %q; want one value", got)
		}
		_ = p.DeleteTXT(t.Context(), name, "raced")
	})
	t.Run("rate limited", func(t *testing.T) {
		env.RateLimited(t, p, api, providertest.Injected{Status: 429, Header: http.Header{"Retry-After": {"1"}}, Match: "POST /zones/{zone_id}/dns_records",
			Body: `{"success": false, "errors": [{"code": 10429, "message": "Rate limited"}], "messages": [], "result": null}`},
			"_acme-challenge.rl.example.test.", time.Now().Add(time.Second))
	})
}
