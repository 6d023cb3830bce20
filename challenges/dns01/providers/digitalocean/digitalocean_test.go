package digitalocean_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/dnstest"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
	"github.com/acmectl/acmectl/challenges/dns01/providers/digitalocean"
	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
	"github.com/acmectl/acmectl/challenges/dns01/providers/registry"
)

// The fake follows DigitalOcean's published OpenAPI description
// (github.com/digitalocean/openapi, info.version "2.0", commit 7c1300c4 of
// 2026-08-07; see testdata/openapi/openapi.yaml): every request and answer
// is validated against it.

const token = "dop_v1_0123456789abcdef"

// fake is a stateful DigitalOcean domains API over a providertest.Zones.
type fake struct {
	z       *providertest.Zones
	perPage int // pagination size forced on the client (0: as asked)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func errBody(id, msg string) map[string]any { return map[string]any{"id": id, "message": msg} }

func (f *fake) recordJSON(zone string, r providertest.Record) map[string]any {
	id, _ := strconv.Atoi(r.ID)
	rel := strings.TrimSuffix(strings.TrimSuffix(r.Name, zone), ".")
	if rel == "" {
		rel = "@"
	}
	return map[string]any{"id": id, "type": r.Type, "name": rel, "data": r.Value, "ttl": r.TTL,
		"priority": nil, "port": nil, "weight": nil, "flags": nil, "tag": nil}
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+token {
		writeJSON(w, 401, errBody("unauthorized", "Unable to authenticate you"))
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v2/domains/"), "/")
	zone := parts[0]
	if !f.z.HasZone(zone) {
		writeJSON(w, 404, errBody("not_found", "The resource you were accessing could not be found."))
		return
	}
	switch {
	case len(parts) == 1 && r.Method == http.MethodGet:
		writeJSON(w, 200, map[string]any{"domain": map[string]any{"name": zone, "ttl": 1800, "zone_file": nil}})
	case len(parts) == 2 && r.Method == http.MethodGet:
		q := r.URL.Query()
		rs, _ := f.z.Records(zone)
		var match []map[string]any
		for _, rec := range rs {
			if (q.Get("name") == "" || q.Get("name") == rec.Name) && (q.Get("type") == "" || q.Get("type") == rec.Type) {
				match = append(match, f.recordJSON(zone, rec))
			}
		}
		per, _ := strconv.Atoi(q.Get("per_page"))
		if per <= 0 {
			per = 20
		}
		if f.perPage > 0 {
			per = f.perPage
		}
		page, _ := strconv.Atoi(q.Get("page"))
		page = max(page, 1)
		lo, hi := min((page-1)*per, len(match)), min(page*per, len(match))
		out := map[string]any{"domain_records": append([]map[string]any{}, match[lo:hi]...), "meta": map[string]any{"total": len(match)}, "links": map[string]any{}}
		if hi < len(match) {
			next := fmt.Sprintf("https://api.digitalocean.com/v2/domains/%s/records?page=%d&per_page=%d", zone, page+1, per)
			last := fmt.Sprintf("https://api.digitalocean.com/v2/domains/%s/records?page=%d&per_page=%d", zone, (len(match)+per-1)/per, per)
			out["links"] = map[string]any{"pages": map[string]any{"next": next, "last": last}}
		}
		writeJSON(w, 200, out)
	case len(parts) == 2 && r.Method == http.MethodPost:
		var in struct {
			Type, Name, Data string
			TTL              int
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.TTL < 30 {
			writeJSON(w, 422, errBody("unprocessable_entity", "bad record"))
			return
		}
		name := zone
		if in.Name != "@" {
			name = in.Name + "." + zone
		}
		rec, _ := f.z.Add(zone, providertest.Record{Name: name, Type: in.Type, TTL: in.TTL, Value: in.Data})
		writeJSON(w, 201, map[string]any{"domain_record": f.recordJSON(zone, rec)})
	case len(parts) == 3 && r.Method == http.MethodDelete:
		if !f.z.Delete(zone, parts[2]) {
			writeJSON(w, 404, errBody("not_found", "The resource you were accessing could not be found."))
			return
		}
		w.WriteHeader(204)
	default:
		writeJSON(w, 404, errBody("not_found", "no such operation"))
	}
}

func TestDigitalOcean(t *testing.T) {
	env := providertest.NewEnv(t, "example.test", "sub.example.test")
	f := &fake{z: env.Zones}
	api := providertest.StartFake(t, providertest.FakeOptions{Spec: "testdata/openapi/openapi.yaml", Handler: f})
	newProvider := func(t *testing.T, tok string, opts map[string]string) dns01.Provider {
		t.Helper()
		o := map[string]string{"endpoint": api.URL}
		for k, v := range opts {
			o[k] = v
		}
		p, err := registry.New("digitalocean", providers.Config{Options: o,
			Creds: &creds.Source{Provider: "digitalocean", Getenv: func(k string) string {
				if k == "DO_AUTH_TOKEN" {
					return tok
				}
				return ""
			}}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := newProvider(t, token, nil)

	t.Run("conformance", func(t *testing.T) { dnstest.Run(t, p, "sub.example.test", env.Check) })
	t.Run("issue", func(t *testing.T) { env.Issue(t, p, "www.example.test") })
	t.Run("crash between present and cleanup", func(t *testing.T) {
		env.CrashCleanup(t, func() dns01.Provider { return newProvider(t, token, nil) }, "_acme-challenge.crash.example.test.")
	})
	t.Run("pagination", func(t *testing.T) {
		f.perPage = 2
		defer func() { f.perPage = 0 }()
		ctx := t.Context()
		name := "_acme-challenge.pages.example.test."
		for i := range 5 {
			if err := p.SetTXT(ctx, name, fmt.Sprint("v", i)); err != nil {
				t.Fatal(err)
			}
		}
		// The last value is on page 3: adding it again must find it.
		before := env.Zones.Count("TXT")
		if err := p.SetTXT(ctx, name, "v4"); err != nil || env.Zones.Count("TXT") != before {
			t.Fatalf("SetTXT of a value on page 3: %v; records %d → %d", err, before, env.Zones.Count("TXT"))
		}
		for i := range 5 {
			if err := p.DeleteTXT(ctx, name, fmt.Sprint("v", i)); err != nil {
				t.Fatal(err)
			}
		}
		if got := env.Zones.TXT(name); len(got) != 0 {
			t.Fatalf("left: %q", got)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		err := newProvider(t, "wrong", nil).SetTXT(t.Context(), "_acme-challenge.example.test.", "v")
		want := "digitalocean: the credentials from DO_AUTH_TOKEN were refused (HTTP 401 on GET /v2/domains/_acme-challenge.example.test: unauthorized: Unable to authenticate you)"
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v\nwant  %s", err, want)
		}
	})
	t.Run("no token", func(t *testing.T) {
		_, err := digitalocean.New(providers.Config{Name: "digitalocean", Creds: &creds.Source{Provider: "digitalocean", Getenv: func(string) string { return "" }}})
		if err == nil || !strings.HasPrefix(err.Error(), "digitalocean: no API token: set ACMECTL_DIGITALOCEAN_TOKEN or DO_AUTH_TOKEN") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("zone not found", func(t *testing.T) {
		providertest.ZoneNotFound(t, p, "_acme-challenge.www.other.test.", "digitalocean: no zone holding _acme-challenge.www.other.test in this account (tried _acme-challenge.www.other.test, www.other.test, other.test)")
	})
	t.Run("record already exists", func(t *testing.T) {
		env.ExistingValue(t, p, api, "example.test", "_acme-challenge.exists.example.test.", "POST /v2/domains/{domain_name}/records")
	})
	t.Run("rate limited", func(t *testing.T) {
		resetAt := time.Unix(time.Now().Unix()+1, 0) // the next whole second
		reset := strconv.FormatInt(resetAt.Unix(), 10)
		q := newProvider(t, token, nil) // a fresh zone cache
		env.RateLimited(t, q, api, providertest.Injected{Status: 429, Header: http.Header{"Ratelimit-Limit": {"5000"}, "Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {reset}},
			Body: `{"id": "too_many_requests", "message": "API rate limit exceeded."}`, Match: "GET /v2/domains/{domain_name}"},
			"_acme-challenge.rl.example.test.", resetAt)
	})
}
