package gcloud_test

// The fake follows Cloud DNS API v1 as described by Google's discovery
// document dns:v1, revision 20261002 (googleapis/google-api-go-client
// dns/v1/dns-api.json as published in google.golang.org/api v0.304.0):
// testdata/dns-v1.json is the part acmectl uses, unchanged
// (testdata/SOURCE.md), converted to OpenAPI 3 at test time (spec_test.go,
// a mechanical converter of the discovery schema keywords it meets), and
// every request and answer is validated against it with kin-openapi.
// Credentials go through golang.org/x/oauth2/google for real: a service
// account key file whose token_uri is a loopback token endpoint that
// checks the signed JWT assertion.

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
	"github.com/acmectl/acmectl/challenges/dns01/providers/gcloud"
	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
)

const project = "proj-1"

type fakeZone struct{ id, dnsName, visibility string }

// fakeDNS is a stateful Cloud DNS for one project.
type fakeDNS struct {
	zones   *providertest.Zones
	managed []fakeZone
	token   *atomic.Value

	mu        sync.Mutex
	changes   map[string]int // change id → polls before done
	nextID    int
	conflicts int
	pending   int    // polls a new change stays pending
	before    func() // run once before the next change (a concurrent writer)
}

func gerror(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg,
		"errors": []any{map[string]string{"domain": "global", "reason": reason, "message": msg}}}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeDNS) zoneByID(id string) (fakeZone, bool) {
	for _, z := range f.managed {
		if z.id == id {
			return z, true
		}
	}
	return fakeZone{}, false
}

func (f *fakeDNS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token.Load().(string) {
		gerror(w, http.StatusUnauthorized, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/dns/v1/projects/"), "/")
	if parts[0] != project {
		gerror(w, http.StatusForbidden, "forbidden", "The caller does not have permission")
		return
	}
	switch {
	case len(parts) == 2 && parts[1] == "managedZones":
		f.listZones(w, r)
		return
	case len(parts) >= 4:
		z, ok := f.zoneByID(parts[2])
		if !ok {
			gerror(w, http.StatusNotFound, "notFound", "The 'parameters.managedZone' resource named '"+parts[2]+"' does not exist.")
			return
		}
		switch {
		case len(parts) == 4 && parts[3] == "rrsets":
			f.listRRSets(w, r, z)
			return
		case len(parts) == 4 && parts[3] == "changes" && r.Method == http.MethodPost:
			f.createChange(w, r, z)
			return
		case len(parts) == 5 && parts[3] == "changes":
			f.getChange(w, parts[4])
			return
		}
	}
	gerror(w, http.StatusNotFound, "notFound", "not found")
}

// listZones answers one zone per page.
func (f *fakeDNS) listZones(w http.ResponseWriter, r *http.Request) {
	var match []fakeZone
	for _, z := range f.managed {
		if q := r.URL.Query().Get("dnsName"); q == "" || q == z.dnsName+"." {
			match = append(match, z)
		}
	}
	start, _ := strconv.Atoi(r.URL.Query().Get("pageToken"))
	out := map[string]any{"kind": "dns#managedZonesListResponse", "managedZones": []any{}}
	if start < len(match) {
		z := match[start]
		out["managedZones"] = []any{map[string]any{"kind": "dns#managedZone", "name": z.id, "dnsName": z.dnsName + ".",
			"id": "4711", "visibility": z.visibility, "nameServers": []string{"ns-cloud-a1.googledomains.com."}}}
		if start+1 < len(match) {
			out["nextPageToken"] = strconv.Itoa(start + 1)
		}
	}
	writeJSON(w, out)
}

func (f *fakeDNS) rrset(z fakeZone, name string) map[string]any {
	var rrdatas []string
	ttl := 0
	recs, _ := f.zones.Records(z.dnsName)
	for _, rec := range recs {
		if rec.Type == "TXT" && rec.Name+"." == name {
			rrdatas = append(rrdatas, providers.TXTQuote(rec.Value))
			ttl = rec.TTL
		}
	}
	if len(rrdatas) == 0 {
		return nil
	}
	return map[string]any{"kind": "dns#resourceRecordSet", "name": name, "type": "TXT", "ttl": ttl, "rrdatas": rrdatas}
}

func (f *fakeDNS) listRRSets(w http.ResponseWriter, r *http.Request, z fakeZone) {
	q := r.URL.Query()
	rrsets := []any{}
	if q.Get("type") == "TXT" {
		f.mu.Lock()
		if rs := f.rrset(z, strings.ToLower(q.Get("name"))); rs != nil {
			rrsets = append(rrsets, rs)
		}
		f.mu.Unlock()
	}
	writeJSON(w, map[string]any{"kind": "dns#resourceRecordSetsListResponse", "rrsets": rrsets})
}

type wireRRSet struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	TTL     int      `json:"ttl"`
	Rrdatas []string `json:"rrdatas"`
}

func (f *fakeDNS) createChange(w http.ResponseWriter, r *http.Request, z fakeZone) {
	var ch struct {
		Additions []wireRRSet `json:"additions"`
		Deletions []wireRRSet `json:"deletions"`
	}
	if err := json.NewDecoder(r.Body).Decode(&ch); err != nil {
		gerror(w, http.StatusBadRequest, "invalid", "malformed change")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.before != nil {
		run := f.before
		f.before = nil
		run()
	}
	deleted := map[string]bool{}
	for i, d := range ch.Deletions {
		cur := f.rrset(z, d.Name)
		if cur == nil || cur["ttl"] != d.TTL || !sameSet(cur["rrdatas"].([]string), d.Rrdatas) {
			f.conflicts++
			gerror(w, http.StatusPreconditionFailed, "conditionNotMet", fmt.Sprintf("Precondition not met for 'entity.change.deletions[%d]'", i))
			return
		}
		deleted[d.Name] = true
	}
	for i, a := range ch.Additions {
		if f.rrset(z, a.Name) != nil && !deleted[a.Name] {
			f.conflicts++
			gerror(w, http.StatusConflict, "alreadyExists", fmt.Sprintf("The resource 'entity.change.additions[%d]' named '%s (TXT)' already exists", i, a.Name))
			return
		}
	}
	for _, d := range ch.Deletions {
		f.zones.SetRRSet(z.dnsName, d.Name, "TXT", 0, nil)
	}
	for _, a := range ch.Additions {
		var vals []string
		for _, d := range a.Rrdatas {
			vals = append(vals, providers.TXTUnquote(d))
		}
		f.zones.SetRRSet(z.dnsName, a.Name, "TXT", a.TTL, vals)
	}
	f.nextID++
	id := strconv.Itoa(f.nextID)
	status := "done"
	if f.pending > 0 {
		f.changes[id] = f.pending // pending for that many polls
		status = "pending"
	}
	out := map[string]any{"kind": "dns#change", "id": id, "status": status, "startTime": "2026-12-03T14:00:00.000Z"}
	if len(ch.Additions) > 0 {
		out["additions"] = ch.Additions
	}
	if len(ch.Deletions) > 0 {
		out["deletions"] = ch.Deletions
	}
	writeJSON(w, out)
}

func (f *fakeDNS) getChange(w http.ResponseWriter, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.changes[id]
	if !ok {
		gerror(w, http.StatusNotFound, "notFound", "The 'parameters.changeId' resource named '"+id+"' does not exist.")
		return
	}
	status := "done"
	if n > 0 {
		f.changes[id] = n - 1
		status = "pending"
	}
	writeJSON(w, map[string]any{"kind": "dns#change", "id": id, "status": status})
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// tokenEndpoint accepts JWT bearer assertions signed by key for one
// service account and the Cloud DNS scope.
func tokenEndpoint(t *testing.T, key *rsa.PrivateKey, email string, tok *atomic.Value, issued *atomic.Int32) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = r.ParseForm()
		refuse := func(msg string) {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": msg})
		}
		if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			refuse("bad grant type")
			return
		}
		jws, err := jwt.ParseSigned(r.PostForm.Get("assertion"), []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			refuse("malformed assertion")
			return
		}
		var claims struct {
			jwt.Claims
			Scope string `json:"scope"`
		}
		if err := jws.Claims(&key.PublicKey, &claims); err != nil {
			refuse("Invalid JWT Signature.")
			return
		}
		if claims.Issuer != email || claims.Scope != gcloud.Scope {
			refuse("wrong issuer or scope")
			return
		}
		issued.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok.Load().(string), "token_type": "Bearer", "expires_in": 3599})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// keyFile writes a service account key file for key whose token_uri is
// tokenURI.
func keyFile(t *testing.T, key *rsa.PrivateKey, email, tokenURI string) string {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": project, "private_key_id": "k1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": email, "client_id": "1", "token_uri": tokenURI,
	})
	p := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGoogleCloudDNS(t *testing.T) {
	env := providertest.NewEnv(t, "example.test", "other.test")
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const email = "acme@proj-1.iam.gserviceaccount.com"
	var tok atomic.Value
	tok.Store("ya29.token-1")
	var issued atomic.Int32
	ts := tokenEndpoint(t, key, email, &tok, &issued)
	var want atomic.Value
	want.Store("ya29.token-1")
	f := &fakeDNS{zones: env.Zones, token: &want, changes: map[string]int{}, managed: []fakeZone{
		{"example-test-private", "example.test", "private"}, {"example-test", "example.test", "public"}, {"other-test", "other.test", "public"},
	}}
	fake := providertest.StartFake(t, providertest.FakeOptions{Spec: openAPI3(t, "testdata/dns-v1.json"), Handler: f, UndocumentedStatus: true})
	sa := keyFile(t, key, email, ts.URL+"/token")

	vars := map[string]string{"GCE_SERVICE_ACCOUNT_FILE": sa}
	base := map[string]string{"endpoint": strings.TrimSuffix(fake.URL, "/")}
	newProvider := func(vars, opts map[string]string) (dns01.Provider, error) {
		return providertest.Build("gcloud", base, opts, vars)
	}
	mustProvider := func(t *testing.T) dns01.Provider { return providertest.MustBuild(t, "gcloud", base, nil, vars) }
	p := mustProvider(t)

	env.Common(t, "example.test", mustProvider)
	t.Run("public zone chosen over the private one of the same name", func(t *testing.T) {
		zone, ok, err := p.(dns01.ZoneKnower).KnownZone(t.Context(), "_acme-challenge.www.example.test.")
		if err != nil || !ok || zone != "example.test" {
			t.Fatalf("KnownZone = %q, %v, %v", zone, ok, err)
		}
		if n := fake.Count("POST /dns/v1/projects/{project}/managedZones/{managedZone}/changes"); n == 0 {
			t.Fatal("no change was posted")
		}
	})
	t.Run("a change waits until done", func(t *testing.T) {
		before := fake.Count("GET /dns/v1/projects/{project}/managedZones/{managedZone}/changes/{changeId}")
		f.mu.Lock()
		f.pending = 1
		f.mu.Unlock()
		defer func() { f.mu.Lock(); f.pending = 0; f.mu.Unlock() }()
		if err := p.SetTXT(t.Context(), "_acme-challenge.wait.example.test.", "v"); err != nil {
			t.Fatal(err)
		}
		if got := fake.Count("GET /dns/v1/projects/{project}/managedZones/{managedZone}/changes/{changeId}") - before; got != 2 {
			t.Fatalf("change polls = %d; want 2 (pending, then done)", got)
		}
		_ = p.DeleteTXT(t.Context(), "_acme-challenge.wait.example.test.", "v")
	})
	t.Run("a concurrent writer's value survives", func(t *testing.T) {
		env.ConcurrentWriter(t, p, "example.test", "_acme-challenge.race.example.test",
			func(hook func()) { f.mu.Lock(); f.before = hook; f.mu.Unlock() },
			func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.conflicts })
	})
	t.Run("rate limited: Retry-After followed", func(t *testing.T) {
		env.RateLimited(t, p, fake, providertest.Injected{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}},
			Body:  `{"error":{"code":429,"message":"Quota exceeded","errors":[{"domain":"usageLimits","reason":"rateLimitExceeded"}]}}`,
			Match: "POST /dns/v1/projects/{project}/managedZones/{managedZone}/changes"},
			"_acme-challenge.throttled.example.test.", time.Now().Add(time.Second))
	})
	t.Run("zone not found", func(t *testing.T) {
		providertest.ZoneNotFound(t, p, "_acme-challenge.www.nowhere.test.", "gcloud: no zone holding _acme-challenge.www.nowhere.test")
	})
	t.Run("key not accepted: one line naming the variable", func(t *testing.T) {
		other, _ := rsa.GenerateKey(rand.Reader, 2048)
		bad := map[string]string{"GCE_SERVICE_ACCOUNT_FILE": keyFile(t, other, email, ts.URL+"/token")}
		p, err := newProvider(bad, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = p.SetTXT(t.Context(), "_acme-challenge.example.test.", "v")
		if err == nil || strings.Contains(err.Error(), "\n") ||
			!strings.HasPrefix(err.Error(), "gcloud: the credentials from GCE_SERVICE_ACCOUNT_FILE (") ||
			!strings.Contains(err.Error(), "were refused by the token endpoint (HTTP 400: invalid_grant: Invalid JWT Signature.)") {
			t.Fatalf("err = %q", err)
		}
	})
	t.Run("token refused by the API: one line naming the variable", func(t *testing.T) {
		p := mustProvider(t)
		want.Store("ya29.revoked") // the API refuses the token p gets
		defer want.Store("ya29.token-1")
		err := p.SetTXT(t.Context(), "_acme-challenge.x.other.test.", "v")
		if err == nil || !strings.HasPrefix(err.Error(), "gcloud: the credentials from GCE_SERVICE_ACCOUNT_FILE (") || !strings.Contains(err.Error(), "were refused (HTTP 401") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("GOOGLE_APPLICATION_CREDENTIALS and gcloud's file", func(t *testing.T) {
		if _, err := newProvider(map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": sa}, nil); err != nil {
			t.Fatal(err)
		}
		home := t.TempDir()
		dir := filepath.Join(home, ".config", "gcloud")
		_ = os.MkdirAll(dir, 0o700)
		b, _ := os.ReadFile(sa)
		_ = os.WriteFile(filepath.Join(dir, "application_default_credentials.json"), b, 0o600)
		p, err := newProvider(map[string]string{"HOME": home}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.(dns01.AccessChecker).CheckAccess(t.Context(), "_acme-challenge.example.test."); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("plain http endpoint off loopback refused", func(t *testing.T) {
		_, err := newProvider(vars, map[string]string{"endpoint": "http://dns.example.net"})
		if err == nil || !strings.Contains(err.Error(), "want https") {
			t.Fatalf("err = %v", err)
		}
	})
}
