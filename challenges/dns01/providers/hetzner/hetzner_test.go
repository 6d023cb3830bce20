package hetzner_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/dnstest"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
	"github.com/acmectl/acmectl/challenges/dns01/providers/registry"
)

// The fake follows Hetzner's published OpenAPI description of the Cloud
// API (cloud.spec.json, info.version 1.0.0, as cached on 2026-03-01; see
// testdata/openapi.yaml): every request and answer is validated against
// it. Its RRSet actions succeed at once, or (running) start "running" and
// succeed on the first poll.

const token = "hcloud-token-0123456789"

type fake struct {
	z       *providertest.Zones
	mu      sync.Mutex
	actions map[int64]int // id → polls seen
	next    int64
	running bool // actions start "running" (else they succeed at once)
	// rrsets serializes RRSet changes: Hetzner applies an action to an
	// RRSet atomically, so two removals at one name never lose each other
	// (the fake's read-modify-write did, now and then, under load).
	rrsets sync.Mutex
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg, "details": map[string]any{}}})
}

func actionJSON(id int64, status string) map[string]any {
	var finished any
	if status == "success" {
		finished = "2026-01-01T00:00:01Z"
	}
	return map[string]any{"id": id, "command": "add_rrset_records", "status": status, "progress": 100,
		"started": "2026-01-01T00:00:00Z", "finished": finished, "resources": []any{}, "error": nil}
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.rrsets.Lock()
	defer f.rrsets.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+token {
		apiErr(w, 401, "unauthorized", "unable to authenticate")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1")
	if path == "/zones" {
		var out []any
		for _, n := range f.z.ZoneNames() {
			if q := r.URL.Query().Get("name"); q == "" || q == n {
				out = append(out, map[string]any{"id": f.z.ZoneID(n), "name": n, "mode": "primary", "ttl": 3600, "labels": map[string]any{},
					"protection": map[string]any{"delete": false}, "status": "ok", "record_count": 2, "created": "2026-01-01T00:00:00Z",
					"registrar": "other", "authoritative_nameservers": map[string]any{"assigned": []string{"ns1." + n}, "delegated": []string{"ns1." + n},
						"delegation_last_check": nil, "delegation_status": "valid"}})
			}
		}
		writeJSON(w, 200, map[string]any{"zones": append([]any{}, out...), "meta": map[string]any{"pagination": map[string]any{
			"page": 1, "per_page": 25, "previous_page": nil, "next_page": nil, "last_page": 1, "total_entries": len(out)}}})
		return
	}
	if strings.HasPrefix(path, "/zones/actions/") {
		id, _ := strconv.ParseInt(strings.TrimPrefix(path, "/zones/actions/"), 10, 64)
		f.mu.Lock()
		_, ok := f.actions[id]
		f.actions[id]++
		f.mu.Unlock()
		if !ok {
			apiErr(w, 404, "not_found", "action not found")
			return
		}
		writeJSON(w, 200, map[string]any{"action": actionJSON(id, "success")})
		return
	}
	// /zones/{id}/rrsets/{name}/{type}[/actions/{what}]
	parts := strings.Split(strings.TrimPrefix(path, "/zones/"), "/")
	id, _ := strconv.Atoi(parts[0])
	zone, ok := f.z.ZoneByID(id)
	if !ok || len(parts) < 4 || parts[1] != "rrsets" {
		apiErr(w, 404, "not_found", "zone not found")
		return
	}
	name := parts[2] + "." + zone
	if parts[2] == "@" {
		name = zone
	}
	var values []string
	rs, _ := f.z.Records(zone)
	for _, rec := range rs {
		if rec.Name == name && rec.Type == parts[3] {
			values = append(values, rec.Value)
		}
	}
	if len(parts) == 4 && r.Method == http.MethodGet {
		if len(values) == 0 {
			apiErr(w, 404, "not_found", "rrset not found")
			return
		}
		var recs []any
		for _, v := range values {
			recs = append(recs, map[string]any{"value": `"` + v + `"`, "comment": ""})
		}
		writeJSON(w, 200, map[string]any{"rrset": map[string]any{"id": parts[2] + "/" + parts[3], "name": parts[2], "type": parts[3], "ttl": nil,
			"labels": map[string]any{}, "protection": map[string]any{"change": false}, "records": recs, "zone": id}})
		return
	}
	if len(parts) == 6 && r.Method == http.MethodPost {
		var in struct {
			Records []struct{ Value string }
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		for _, rec := range in.Records {
			v, err := strconv.Unquote(rec.Value)
			if err != nil {
				apiErr(w, 422, "invalid_input", "TXT value must be quoted")
				return
			}
			switch parts[5] {
			case "add_records":
				values = append(values, v)
			case "remove_records":
				for i := range values {
					if values[i] == v {
						values = append(values[:i], values[i+1:]...)
						break
					}
				}
			}
		}
		f.z.SetRRSet(zone, name, parts[3], 60, values)
		f.mu.Lock()
		f.next++
		aid := f.next
		f.actions[aid] = 0
		status := "success"
		if f.running {
			status = "running"
		}
		f.mu.Unlock()
		writeJSON(w, 201, map[string]any{"action": actionJSON(aid, status)})
		return
	}
	apiErr(w, 404, "not_found", "no such operation")
}

func TestHetzner(t *testing.T) {
	env := providertest.NewEnv(t, "example.test", "sub.example.test")
	f := &fake{z: env.Zones, actions: map[int64]int{}}
	// UndocumentedStatus: the document lists error answers under "4xx", a
	// lowercase range key OpenAPI does not define (the validator knows "4XX"
	// only).
	api := providertest.StartFake(t, providertest.FakeOptions{Spec: "testdata/openapi.yaml", BasePath: "/v1", Handler: f, UndocumentedStatus: true})
	newProvider := func(t *testing.T, vars map[string]string) (dns01.Provider, error) {
		return registry.New("hetzner", providers.Config{Options: map[string]string{"endpoint": api.URL},
			Creds: &creds.Source{Provider: "hetzner", Getenv: func(k string) string { return vars[k] }}})
	}
	good := map[string]string{"HETZNER_API_TOKEN": token}
	p, err := newProvider(t, good)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("conformance", func(t *testing.T) { dnstest.Run(t, p, "sub.example.test", env.Check) })
	t.Run("issue", func(t *testing.T) { env.Issue(t, p, "www.example.test") })
	t.Run("actions are waited for", func(t *testing.T) {
		f.mu.Lock()
		f.running = true
		f.mu.Unlock()
		defer func() { f.mu.Lock(); f.running = false; f.mu.Unlock() }()
		polls := api.Count("GET /zones/actions/{id}")
		if err := p.SetTXT(t.Context(), "_acme-challenge.act.example.test.", "v"); err != nil {
			t.Fatal(err)
		}
		if api.Count("GET /zones/actions/{id}") != polls+1 {
			t.Fatal("SetTXT returned without polling its running action")
		}
		_ = p.DeleteTXT(t.Context(), "_acme-challenge.act.example.test.", "v")
	})
	t.Run("crash between present and cleanup", func(t *testing.T) {
		env.CrashCleanup(t, func() dns01.Provider { q, _ := newProvider(t, good); return q }, "_acme-challenge.crash.example.test.")
	})
	t.Run("bad token", func(t *testing.T) {
		q, _ := newProvider(t, map[string]string{"HETZNER_API_TOKEN": "wrong"})
		err := q.SetTXT(t.Context(), "_acme-challenge.example.test.", "v")
		want := "hetzner: the credentials from HETZNER_API_TOKEN were refused (HTTP 401 on GET /zones?name=_acme-challenge.example.test: unauthorized: unable to authenticate)"
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v\nwant  %s", err, want)
		}
	})
	t.Run("old DNS console token", func(t *testing.T) {
		_, err := newProvider(t, map[string]string{"HETZNER_API_KEY": "old"})
		if err == nil || !strings.Contains(err.Error(), "HETZNER_API_KEY is a token of the old DNS console API") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("zone not found", func(t *testing.T) {
		providertest.ZoneNotFound(t, p, "_acme-challenge.other.test.", "hetzner: no zone holding _acme-challenge.other.test in this account")
	})
	t.Run("record already exists", func(t *testing.T) {
		env.ExistingValue(t, p, api, "example.test", "_acme-challenge.exists.example.test.", "POST /zones/{id_or_name}/rrsets/{rr_name}/{rr_type}/actions/add_records")
	})
	t.Run("rate limited", func(t *testing.T) {
		resetAt := time.Unix(time.Now().Unix()+1, 0)
		env.RateLimited(t, p, api, providertest.Injected{Status: 429, Match: "POST /zones/{id_or_name}/rrsets/{rr_name}/{rr_type}/actions/add_records",
			Header: http.Header{"Ratelimit-Limit": {"3600"}, "Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {strconv.FormatInt(resetAt.Unix(), 10)}},
			Body:   `{"error": {"code": "rate_limit_exceeded", "message": "limit of 3600 requests per hour reached", "details": {}}}`},
			"_acme-challenge.rl.example.test.", resetAt)
	})
}
