package cloudflare_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/dnstest"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
	"github.com/acmectl/acmectl/challenges/dns01/providers/cloudflare"
	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
)

// The fake follows Cloudflare's published OpenAPI description
// (github.com/cloudflare/api-schemas openapi.json, info.version 4.0.0,
// commit cca3064f of 2024-08-06; see testdata/openapi.yaml): every request
// and answer is validated against it.

const token = "cf-token-0123456789"

type fake struct {
	z       *providertest.Zones
	perPage int
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func failure(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"success": false, "result": nil, "messages": []any{},
		"errors": []any{map[string]any{"code": code, "message": msg}}})
}

func zoneID(id int) string { return fmt.Sprintf("%032x", id) }

func (f *fake) zoneJSON(name string) map[string]any {
	return map[string]any{"id": zoneID(f.z.ZoneID(name)), "name": name, "development_mode": 0,
		"owner": map[string]any{"type": "user"}, "account": map[string]any{"id": zoneID(1), "name": "acct"},
		"meta": map[string]any{}, "name_servers": []string{"ns1." + name}, "original_name_servers": nil,
		"original_registrar": nil, "original_dnshost": nil, "created_on": "2024-01-01T00:00:00Z",
		"modified_on": "2024-01-01T00:00:00Z", "activated_on": "2024-01-01T00:00:00Z"}
}

func recordJSON(r providertest.Record) map[string]any {
	return map[string]any{"id": fmt.Sprintf("%032s", r.ID), "type": r.Type, "name": r.Name, "content": r.Value,
		"proxiable": false, "ttl": r.TTL, "created_on": "2024-01-01T00:00:00Z", "modified_on": "2024-01-01T00:00:00Z"}
}

func (f *fake) zoneByID(id string) (string, bool) {
	n, err := strconv.ParseInt(id, 16, 64)
	if err != nil {
		return "", false
	}
	return f.z.ZoneByID(int(n))
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+token {
		failure(w, 403, 10000, "Authentication error")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/client/v4")
	if path == "/zones" {
		var out []any
		for _, n := range f.z.ZoneNames() {
			if q := r.URL.Query().Get("name"); q == "" || q == n {
				out = append(out, f.zoneJSON(n))
			}
		}
		writeJSON(w, 200, map[string]any{"success": true, "errors": []any{}, "messages": []any{}, "result": append([]any{}, out...),
			"result_info": map[string]any{"page": 1, "per_page": 20, "count": len(out), "total_count": len(out)}})
		return
	}
	parts := strings.Split(strings.TrimPrefix(path, "/zones/"), "/")
	zone, ok := f.zoneByID(parts[0])
	if !ok || len(parts) < 2 || parts[1] != "dns_records" {
		failure(w, 404, 7003, "Could not route to "+path+", perhaps your object identifier is invalid?")
		return
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		q := r.URL.Query()
		rs, _ := f.z.Records(zone)
		var match []any
		for _, rec := range rs {
			if (q.Get("name") == "" || q.Get("name") == rec.Name) && (q.Get("type") == "" || q.Get("type") == rec.Type) {
				match = append(match, recordJSON(rec))
			}
		}
		per, _ := strconv.Atoi(q.Get("per_page"))
		if f.perPage > 0 {
			per = f.perPage
		}
		per = max(per, 5)
		page := max(1, func() int { n, _ := strconv.Atoi(q.Get("page")); return n }())
		lo, hi := min((page-1)*per, len(match)), min(page*per, len(match))
		writeJSON(w, 200, map[string]any{"success": true, "errors": []any{}, "messages": []any{}, "result": append([]any{}, match[lo:hi]...),
			"result_info": map[string]any{"page": page, "per_page": per, "count": hi - lo, "total_count": len(match)}})
	case len(parts) == 2 && r.Method == http.MethodPost:
		var in struct {
			Type, Name, Content string
			TTL                 int
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		rs, _ := f.z.Records(zone)
		for _, rec := range rs {
			if rec.Name == in.Name && rec.Type == in.Type && rec.Value == in.Content {
				failure(w, 400, 81058, "An identical record already exists.")
				return
			}
		}
		rec, _ := f.z.Add(zone, providertest.Record{Name: in.Name, Type: in.Type, TTL: in.TTL, Value: in.Content})
		writeJSON(w, 200, map[string]any{"success": true, "errors": []any{}, "messages": []any{}, "result": recordJSON(rec)})
	case len(parts) == 3 && r.Method == http.MethodDelete:
		id := strings.TrimLeft(parts[2], "0")
		if !f.z.Delete(zone, id) {
			failure(w, 404, 81044, "Record does not exist.")
			return
		}
		writeJSON(w, 200, map[string]any{"result": map[string]any{"id": parts[2]}})
	default:
		failure(w, 405, 10405, "Method not allowed")
	}
}

func TestCloudflare(t *testing.T) {
	env := providertest.NewEnv(t, "example.test", "sub.example.test")
	f := &fake{z: env.Zones}
	// UndocumentedStatus: the document lists error answers of the DNS
	// record operations under "4xx", a lowercase range key OpenAPI does not
	// define (the validator knows "4XX" only); their bodies are still
	// checked against the success schema where one applies.
	api := providertest.StartFake(t, providertest.FakeOptions{Spec: "testdata/openapi.yaml", BasePath: "/client/v4", Handler: f, UndocumentedStatus: true})
	newProvider := func(t *testing.T, env map[string]string, opts map[string]string) (dns01.Provider, error) {
		o := map[string]string{"endpoint": api.URL}
		for k, v := range opts {
			o[k] = v
		}
		return cloudflare.New(providers.Config{Name: "cloudflare", Options: o,
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
		f.perPage = 5
		defer func() { f.perPage = 0 }()
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
		err := p.SetTXT(t.Context(), "_acme-challenge.other.test.", "v")
		if err == nil || !strings.Contains(err.Error(), "cloudflare: no zone holding _acme-challenge.other.test in this account") {
			t.Fatalf("err = %v", err)
		}
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
		api.Inject(providertest.Injected{Status: 429, Header: http.Header{"Retry-After": {"1"}}, Match: "POST /zones/{zone_id}/dns_records",
			Body: `{"success": false, "errors": [{"code": 10429, "message": "Rate limited"}], "messages": [], "result": null}`})
		posts := api.Count("POST /zones/{zone_id}/dns_records")
		start := time.Now()
		if err := p.SetTXT(t.Context(), "_acme-challenge.rl.example.test.", "v"); err != nil {
			t.Fatal(err)
		}
		if n := api.Count("POST /zones/{zone_id}/dns_records") - posts; n != 2 {
			t.Fatalf("%d POSTs; want 2 (one 429, one retry)", n)
		}
		if d := time.Since(start); d < time.Second {
			t.Fatalf("retried after %v, before Retry-After: 1", d)
		}
		_ = p.DeleteTXT(t.Context(), "_acme-challenge.rl.example.test.", "v")
	})
}
