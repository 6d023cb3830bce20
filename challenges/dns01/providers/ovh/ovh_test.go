package ovh_test

// The fake follows OVHcloud API 1.0 (/domain/zone records, /auth/time) as
// OVH publishes it: testdata/domain.json and auth.json are the relevant
// part of https://eu.api.ovh.com/1.0/domain.json and auth.json (apiVersion
// 1.0, as cached on 2024-06-07; testdata/SOURCE.md), converted to OpenAPI
// 3 at test time (spec_test.go); every request and answer is validated
// against them. It verifies the
// "$1$" signatures of application key credentials and checks OAuth2
// bearer tokens.

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
	"github.com/acmectl/acmectl/challenges/dns01/providers/ovh"
	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
)

const (
	appKey    = "ak-0123456789"
	appSecret = "as-secret-0123456789"
	consumer  = "ck-0123456789"
	clientID  = "EU.0123456789"
	clientSec = "oauth-secret"
	bearer    = "ovh-bearer-token"
)

type fakeOVH struct {
	zones *providertest.Zones
	base  string // URL prefix the client signs (http://127.0.0.1:P/1.0)

	mu        sync.Mutex
	refreshes int
}

func ovhError(w http.ResponseWriter, status int, body map[string]string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeOVH) authenticate(w http.ResponseWriter, r *http.Request, body []byte) bool {
	if r.Header.Get("Authorization") == "Bearer "+bearer {
		return true
	}
	switch {
	case r.Header.Get("X-Ovh-Application") != appKey:
		ovhError(w, http.StatusForbidden, map[string]string{"errorCode": "INVALID_KEY", "httpCode": "403 Forbidden", "message": "Invalid application key"})
		return false
	case r.Header.Get("X-Ovh-Consumer") != consumer:
		ovhError(w, http.StatusForbidden, map[string]string{"errorCode": "INVALID_CREDENTIAL", "httpCode": "403 Forbidden", "message": "This credential does not exist"})
		return false
	}
	ts := r.Header.Get("X-Ovh-Timestamp")
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(n, 0)).Abs() > time.Minute {
		ovhError(w, http.StatusBadRequest, map[string]string{"errorCode": "QUERY_TIME_OUT", "httpCode": "400 Bad Request", "message": "Query out of time"})
		return false
	}
	h := sha1.Sum([]byte(appSecret + "+" + consumer + "+" + r.Method + "+" + f.base + strings.TrimPrefix(r.URL.RequestURI(), "/1.0") + "+" + string(body) + "+" + ts))
	if r.Header.Get("X-Ovh-Signature") != "$1$"+hex.EncodeToString(h[:]) {
		ovhError(w, http.StatusBadRequest, map[string]string{"errorCode": "INVALID_SIGNATURE", "httpCode": "400 Bad Request", "message": "Invalid signature"})
		return false
	}
	return true
}

func (f *fakeOVH) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path := strings.TrimPrefix(r.URL.Path, "/1.0")
	if path == "/auth/time" {
		writeJSON(w, time.Now().Unix())
		return
	}
	if !f.authenticate(w, r, body) {
		return
	}
	if path == "/domain/zone" {
		writeJSON(w, f.zones.ZoneNames())
		return
	}
	rest, ok := strings.CutPrefix(path, "/domain/zone/")
	if !ok {
		ovhError(w, http.StatusNotFound, map[string]string{"class": "Client::NotFound", "message": "Got an invalid (or empty) URL"})
		return
	}
	parts := strings.Split(rest, "/")
	zone := parts[0]
	if !f.zones.HasZone(zone) {
		ovhError(w, http.StatusNotFound, map[string]string{"class": "Client::NotFound", "message": "This service does not exist"})
		return
	}
	recs, _ := f.zones.Records(zone)
	full := func(sub string) string {
		if sub == "" {
			return zone
		}
		return sub + "." + zone
	}
	wire := func(rec providertest.Record) map[string]any {
		id, _ := strconv.ParseInt(rec.ID, 10, 64)
		sub, _ := providers.Relative(rec.Name, zone)
		return map[string]any{"id": id, "zone": zone, "subDomain": sub, "fieldType": rec.Type, "target": providers.TXTQuote(rec.Value), "ttl": rec.TTL}
	}
	switch {
	case len(parts) == 2 && parts[1] == "record" && r.Method == http.MethodGet:
		q := r.URL.Query()
		ids := []int64{}
		for _, rec := range recs {
			if (q.Get("fieldType") == "" || rec.Type == q.Get("fieldType")) && (!q.Has("subDomain") || rec.Name == full(q.Get("subDomain"))) {
				id, _ := strconv.ParseInt(rec.ID, 10, 64)
				ids = append(ids, id)
			}
		}
		writeJSON(w, ids)
	case len(parts) == 2 && parts[1] == "record" && r.Method == http.MethodPost:
		var in struct {
			FieldType string `json:"fieldType"`
			SubDomain string `json:"subDomain"`
			Target    string `json:"target"`
			TTL       int    `json:"ttl"`
		}
		if json.Unmarshal(body, &in) != nil {
			ovhError(w, http.StatusBadRequest, map[string]string{"class": "Client::BadRequest", "message": "malformed"})
			return
		}
		rec, _ := f.zones.Add(zone, providertest.Record{Name: full(in.SubDomain), Type: in.FieldType, TTL: in.TTL, Value: providers.TXTUnquote(in.Target)})
		writeJSON(w, wire(rec))
	case len(parts) == 3 && parts[1] == "record":
		rec, ok := f.zones.Get(zone, parts[2])
		if !ok {
			ovhError(w, http.StatusNotFound, map[string]string{"class": "Client::NotFound", "message": "The requested object (id = " + parts[2] + ") does not exist"})
			return
		}
		if r.Method == http.MethodDelete {
			f.zones.Delete(zone, rec.ID)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, "null")
			return
		}
		writeJSON(w, wire(rec))
	case len(parts) == 2 && parts[1] == "refresh":
		f.mu.Lock()
		f.refreshes++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "null")
	default:
		ovhError(w, http.StatusNotFound, map[string]string{"class": "Client::NotFound", "message": "Got an invalid (or empty) URL"})
	}
}

func TestOVH(t *testing.T) {
	env := providertest.NewEnv(t, "example.test", "other.test")
	f := &fakeOVH{zones: env.Zones}
	fake := providertest.StartFake(t, providertest.FakeOptions{Spec: openAPI3(t, "testdata/domain.json", "testdata/auth.json"), BasePath: "/1.0", Handler: f, UndocumentedStatus: true})
	f.base = fake.URL
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("client_id") != clientID || r.PostForm.Get("client_secret") != clientSec || r.PostForm.Get("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client","error_description":"client authentication failed"}`)
			return
		}
		_, _ = io.WriteString(w, `{"access_token":"`+bearer+`","token_type":"Bearer","expires_in":3600,"scope":"all"}`)
	}))
	t.Cleanup(tokens.Close)

	vars := map[string]string{"OVH_APPLICATION_KEY": appKey, "OVH_APPLICATION_SECRET": appSecret, "OVH_CONSUMER_KEY": consumer}
	base := map[string]string{"endpoint": fake.URL}
	newProvider := func(vars, opts map[string]string) (dns01.Provider, error) {
		return providertest.Build("ovh", base, opts, vars)
	}
	mustProvider := func(t *testing.T) dns01.Provider { return providertest.MustBuild(t, "ovh", base, nil, vars) }
	p := mustProvider(t)

	env.Common(t, "example.test", mustProvider)
	t.Run("existing value not added twice; changes refreshed", func(t *testing.T) {
		name := "_acme-challenge.twice.example.test."
		f.mu.Lock()
		before := f.refreshes
		f.mu.Unlock()
		posts := fake.Count("POST /domain/zone/{zoneName}/record")
		for range 2 {
			if err := p.SetTXT(t.Context(), name, "v"); err != nil {
				t.Fatal(err)
			}
		}
		if got := fake.Count("POST /domain/zone/{zoneName}/record") - posts; got != 1 {
			t.Fatalf("creates = %d; want 1", got)
		}
		f.mu.Lock()
		refreshed := f.refreshes - before
		f.mu.Unlock()
		if refreshed != 1 {
			t.Fatalf("zone refreshes = %d; want 1", refreshed)
		}
		_ = p.DeleteTXT(t.Context(), name, "v")
	})
	t.Run("rate limited: Retry-After followed", func(t *testing.T) {
		env.RateLimited(t, p, fake, providertest.Injected{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}},
			Body: `{"class":"Client::TooManyRequests","message":"Too many requests"}`, Match: "POST /domain/zone/{zoneName}/record"},
			"_acme-challenge.throttled.example.test.", time.Now().Add(time.Second))
	})
	t.Run("zone not found", func(t *testing.T) {
		providertest.ZoneNotFound(t, p, "_acme-challenge.www.nowhere.test.", "ovh: no zone holding _acme-challenge.www.nowhere.test")
	})
	t.Run("wrong secret: one line naming the variables", func(t *testing.T) {
		bad := map[string]string{"OVH_APPLICATION_KEY": appKey, "OVH_APPLICATION_SECRET": "wrong", "OVH_CONSUMER_KEY": consumer}
		p, err := newProvider(bad, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = p.SetTXT(t.Context(), "_acme-challenge.example.test.", "v")
		if err == nil || !strings.HasPrefix(err.Error(), "ovh: the credentials from OVH_APPLICATION_SECRET and OVH_CONSUMER_KEY were refused (HTTP 400 on GET /domain/zone: INVALID_SIGNATURE: Invalid signature)") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unknown consumer key", func(t *testing.T) {
		bad := map[string]string{"OVH_APPLICATION_KEY": appKey, "OVH_APPLICATION_SECRET": appSecret, "OVH_CONSUMER_KEY": "ck-revoked"}
		p, _ := newProvider(bad, nil)
		err := p.SetTXT(t.Context(), "_acme-challenge.example.test.", "v")
		if err == nil || !strings.HasPrefix(err.Error(), "ovh: the credentials from OVH_APPLICATION_SECRET and OVH_CONSUMER_KEY were refused (HTTP 403 on GET /domain/zone: INVALID_CREDENTIAL") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("certbot INI credentials", func(t *testing.T) {
		ini := filepath.Join(t.TempDir(), "ovh.ini")
		_ = os.WriteFile(ini, []byte("dns_ovh_endpoint = "+fake.URL+"\ndns_ovh_application_key = "+appKey+"\ndns_ovh_application_secret = "+appSecret+"\ndns_ovh_consumer_key = "+consumer+"\n"), 0o600)
		p, err := ovh.New(providers.Config{Name: "ovh", Options: map[string]string{"credentials": ini},
			Creds: &creds.Source{Provider: "ovh", INIFile: ini, Getenv: func(string) string { return "" }}})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.(dns01.AccessChecker).CheckAccess(t.Context(), "_acme-challenge.example.test."); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("OAuth2 client credentials", func(t *testing.T) {
		o := map[string]string{"OVH_CLIENT_ID": clientID, "OVH_CLIENT_SECRET": clientSec}
		p, err := newProvider(o, map[string]string{"token-url": tokens.URL})
		if err != nil {
			t.Fatal(err)
		}
		name := "_acme-challenge.oauth.other.test."
		if err := p.SetTXT(t.Context(), name, "v"); err != nil {
			t.Fatal(err)
		}
		if got := env.Check(name); !slices.Equal(got, []string{"v"}) {
			t.Fatalf("TXT = %q", got)
		}
		_ = p.DeleteTXT(t.Context(), name, "v")
		o["OVH_CLIENT_SECRET"] = "wrong"
		p, _ = newProvider(o, map[string]string{"token-url": tokens.URL})
		err = p.SetTXT(t.Context(), name, "v")
		if err == nil || !strings.HasPrefix(err.Error(), "ovh: the credentials from OVH_CLIENT_SECRET (client "+clientID+") were refused by the token endpoint (HTTP 401: invalid_client") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("endpoint names", func(t *testing.T) {
		for _, ep := range []string{"ovh-eu", "ovh-ca", "ovh-us"} {
			if _, err := newProvider(vars, map[string]string{"endpoint": ep}); err != nil {
				t.Fatalf("%s: %v", ep, err)
			}
		}
		_, err := newProvider(vars, map[string]string{"endpoint": "http://eu.api.ovh.example"})
		if err == nil || !strings.Contains(err.Error(), "want https") {
			t.Fatalf("err = %v", err)
		}
	})
}
