// Package cloudflaretest is a fake of the Cloudflare API v4 for tests of
// the cloudflare provider and of acmectl end to end: zones and DNS records
// kept in a providertest.Zones (which a loopback DNS server serves),
// validated against Cloudflare's published OpenAPI description (see
// ../testdata/openapi.yaml for the document and version).
package cloudflaretest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
	"github.com/acmectl/acmectl/internal/testenv"
)

// Start serves a Fake for zones z accepting token behind the OpenAPI
// validator; the provider's endpoint is the returned fake's URL.
func Start(t testing.TB, z *providertest.Zones, token string) (*Fake, *providertest.Fake) {
	t.Helper()
	f := &Fake{Z: z, Token: token}
	// UndocumentedStatus: the document lists error answers of the DNS
	// record operations under "4xx", a lowercase range key OpenAPI does not
	// define (the validator knows "4XX" only); their bodies are still
	// checked.
	api := providertest.StartFake(t, providertest.FakeOptions{
		Spec:     filepath.Join(testenv.RepoRoot(t), "challenges/dns01/providers/cloudflare/testdata/openapi.yaml"),
		BasePath: "/client/v4", Handler: f, UndocumentedStatus: true})
	return f, api
}

// Fake is a stateful Cloudflare API v4 (zones and DNS records) over a
// providertest.Zones, accepting one API token.
type Fake struct {
	Z     *providertest.Zones
	Token string
	// PerPage, when set, is the page size forced on the client.
	PerPage int
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

func (f *Fake) zoneJSON(name string) map[string]any {
	return map[string]any{"id": zoneID(f.Z.ZoneID(name)), "name": name, "development_mode": 0,
		"owner": map[string]any{"type": "user"}, "account": map[string]any{"id": zoneID(1), "name": "acct"},
		"meta": map[string]any{}, "name_servers": []string{"ns1." + name}, "original_name_servers": nil,
		"original_registrar": nil, "original_dnshost": nil, "created_on": "2024-01-01T00:00:00Z",
		"modified_on": "2024-01-01T00:00:00Z", "activated_on": "2024-01-01T00:00:00Z"}
}

func recordJSON(r providertest.Record) map[string]any {
	return map[string]any{"id": fmt.Sprintf("%032s", r.ID), "type": r.Type, "name": r.Name, "content": r.Value,
		"proxiable": false, "ttl": r.TTL, "created_on": "2024-01-01T00:00:00Z", "modified_on": "2024-01-01T00:00:00Z"}
}

func (f *Fake) zoneByID(id string) (string, bool) {
	n, err := strconv.ParseInt(id, 16, 64)
	if err != nil {
		return "", false
	}
	return f.Z.ZoneByID(int(n))
}

func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.Token {
		failure(w, 403, 10000, "Authentication error")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/client/v4")
	if path == "/zones" {
		var out []any
		for _, n := range f.Z.ZoneNames() {
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
		rs, _ := f.Z.Records(zone)
		var match []any
		for _, rec := range rs {
			if (q.Get("name") == "" || q.Get("name") == rec.Name) && (q.Get("type") == "" || q.Get("type") == rec.Type) {
				match = append(match, recordJSON(rec))
			}
		}
		per, _ := strconv.Atoi(q.Get("per_page"))
		if f.PerPage > 0 {
			per = f.PerPage
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
		rs, _ := f.Z.Records(zone)
		for _, rec := range rs {
			if rec.Name == in.Name && rec.Type == in.Type && rec.Value == in.Content {
				failure(w, 400, 81058, "An identical record already exists.")
				return
			}
		}
		rec, _ := f.Z.Add(zone, providertest.Record{Name: in.Name, Type: in.Type, TTL: in.TTL, Value: in.Content})
		writeJSON(w, 200, map[string]any{"success": true, "errors": []any{}, "messages": []any{}, "result": recordJSON(rec)})
	case len(parts) == 3 && r.Method == http.MethodDelete:
		id := strings.TrimLeft(parts[2], "0")
		if !f.Z.Delete(zone, id) {
			failure(w, 404, 81044, "Record does not exist.")
			return
		}
		writeJSON(w, 200, map[string]any{"result": map[string]any{"id": parts[2]}})
	default:
		failure(w, 405, 10405, "Method not allowed")
	}
}
