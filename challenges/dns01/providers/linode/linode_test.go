package linode_test

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
	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
	"github.com/acmectl/acmectl/challenges/dns01/providers/registry"
)

// The fake follows Linode's published OpenAPI description
// (github.com/linode/linode-api-docs openapi.yaml, info.version 4.189.0,
// commit 40e7c7d2 of 2024-10-21; see testdata/openapi.yaml): every request
// and answer is validated against it.

const token = "linode-token-0123456789"

type fake struct {
	z        *providertest.Zones
	pageSize int
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func errs(w http.ResponseWriter, status int, reason string) {
	writeJSON(w, status, map[string]any{"errors": []any{map[string]any{"reason": reason}}})
}

// paginate answers one page of items as Linode does.
func (f *fake) paginate(w http.ResponseWriter, r *http.Request, items []any) {
	size, _ := strconv.Atoi(r.URL.Query().Get("page_size"))
	if f.pageSize > 0 {
		size = f.pageSize
	}
	size = max(size, 25)
	n, _ := strconv.Atoi(r.URL.Query().Get("page"))
	n = max(n, 1)
	pages := max(1, (len(items)+size-1)/size)
	lo, hi := min((n-1)*size, len(items)), min(n*size, len(items))
	writeJSON(w, 200, map[string]any{"data": append([]any{}, items[lo:hi]...), "page": n, "pages": pages, "results": len(items)})
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+token {
		errs(w, 401, "Invalid Token")
		return
	}
	var filter map[string]string
	_ = json.Unmarshal([]byte(r.Header.Get("X-Filter")), &filter)
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v4/domains"), "/")
	if len(parts) == 1 {
		var out []any
		for _, n := range f.z.ZoneNames() {
			if filter["domain"] == "" || filter["domain"] == n {
				out = append(out, map[string]any{"id": f.z.ZoneID(n), "domain": n, "type": "master", "status": "active",
					"soa_email": "hostmaster@" + n, "ttl_sec": 0, "tags": []string{}})
			}
		}
		f.paginate(w, r, out)
		return
	}
	id, _ := strconv.Atoi(parts[1])
	zone, ok := f.z.ZoneByID(id)
	if !ok {
		errs(w, 404, "Not found")
		return
	}
	recJSON := func(rec providertest.Record) map[string]any {
		n, _ := strconv.Atoi(rec.ID)
		return map[string]any{"id": n, "type": rec.Type, "name": strings.TrimSuffix(strings.TrimSuffix(rec.Name, zone), "."),
			"target": rec.Value, "ttl_sec": rec.TTL, "priority": 0, "weight": 0, "port": 0, "service": nil, "protocol": nil, "tag": nil,
			"created": "2024-01-01T00:00:00Z", "updated": "2024-01-01T00:00:00Z"}
	}
	switch {
	case len(parts) == 3 && r.Method == http.MethodGet:
		rs, _ := f.z.Records(zone)
		var out []any
		for _, rec := range rs {
			j := recJSON(rec)
			if (filter["type"] == "" || filter["type"] == rec.Type) && (filter["name"] == "" || filter["name"] == j["name"]) {
				out = append(out, j)
			}
		}
		f.paginate(w, r, out)
	case len(parts) == 3 && r.Method == http.MethodPost:
		var in struct {
			Type, Name, Target string
			TTLSec             int `json:"ttl_sec"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		rec, _ := f.z.Add(zone, providertest.Record{Name: in.Name + "." + zone, Type: in.Type, TTL: in.TTLSec, Value: in.Target})
		writeJSON(w, 200, recJSON(rec))
	case len(parts) == 4 && r.Method == http.MethodDelete:
		if !f.z.Delete(zone, parts[3]) {
			errs(w, 404, "Not found")
			return
		}
		writeJSON(w, 200, map[string]any{})
	default:
		errs(w, 404, "Not found")
	}
}

func TestLinode(t *testing.T) {
	env := providertest.NewEnv(t, "example.test", "sub.example.test")
	f := &fake{z: env.Zones}
	// UndocumentedStatus: the document lists only 200 and "default" for
	// some operations' errors; every body is still checked.
	api := providertest.StartFake(t, providertest.FakeOptions{Spec: "testdata/openapi.yaml", Handler: f, UndocumentedStatus: true})
	newProvider := func(t *testing.T, tok string) dns01.Provider {
		t.Helper()
		p, err := registry.New("linode", providers.Config{Options: map[string]string{"endpoint": api.URL},
			Creds: &creds.Source{Provider: "linode", Getenv: func(k string) string { return map[string]string{"LINODE_TOKEN": tok}[k] }}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := newProvider(t, token)
	t.Run("conformance", func(t *testing.T) { dnstest.Run(t, p, "sub.example.test", env.Check) })
	t.Run("issue", func(t *testing.T) { env.Issue(t, p, "www.example.test") })
	t.Run("crash between present and cleanup", func(t *testing.T) {
		env.CrashCleanup(t, func() dns01.Provider { return newProvider(t, token) }, "_acme-challenge.crash.example.test.")
	})
	t.Run("pagination", func(t *testing.T) {
		f.pageSize = 25
		defer func() { f.pageSize = 0 }()
		name := "_acme-challenge.pages.example.test."
		for i := range 30 {
			if err := p.SetTXT(t.Context(), name, fmt.Sprint("v", i)); err != nil {
				t.Fatal(err)
			}
		}
		posts := api.Count("POST /{apiVersion}/domains/{domainId}/records")
		if err := p.SetTXT(t.Context(), name, "v29"); err != nil || api.Count("POST /{apiVersion}/domains/{domainId}/records") != posts {
			t.Fatalf("SetTXT of a value on page 2: %v", err)
		}
		for i := range 30 {
			if err := p.DeleteTXT(t.Context(), name, fmt.Sprint("v", i)); err != nil {
				t.Fatal(err)
			}
		}
		if got := env.Zones.TXT(name); len(got) != 0 {
			t.Fatalf("left: %q", got)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		err := newProvider(t, "wrong").SetTXT(t.Context(), "_acme-challenge.example.test.", "v")
		want := "linode: the credentials from LINODE_TOKEN were refused (HTTP 401 on GET /v4/domains?page=1&page_size=100: Invalid Token)"
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v\nwant  %s", err, want)
		}
	})
	t.Run("zone not found", func(t *testing.T) {
		providertest.ZoneNotFound(t, p, "_acme-challenge.other.test.", "linode: no zone holding _acme-challenge.other.test in this account")
	})
	t.Run("record already exists", func(t *testing.T) {
		env.ExistingValue(t, p, api, "example.test", "_acme-challenge.exists.example.test.", "POST /{apiVersion}/domains/{domainId}/records")
	})
	t.Run("rate limited", func(t *testing.T) {
		env.RateLimited(t, p, api, providertest.Injected{Status: 429, Header: http.Header{"Retry-After": {"1"}}, Match: "POST /{apiVersion}/domains/{domainId}/records",
			Body: `{"errors": [{"reason": "Too Many Requests"}]}`}, "_acme-challenge.rl.example.test.", time.Now().Add(time.Second))
	})
}
