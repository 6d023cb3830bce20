package azure_test

// The fakes follow Azure's published API descriptions, from
// Azure/azure-rest-api-specs, and validate every request and answer
// against them (converted from Swagger 2.0 to OpenAPI 3 at test time by
// kin-openapi's openapi2conv):
//   - public zones: Azure DNS management API 2018-05-01
//     (specification/dns/resource-manager/Microsoft.Network/stable/2018-05-01/dns.json,
//     commit 289b7e8f): testdata/dns-2018-05-01.json holds the operations
//     used;
//   - private zones: Private DNS management API 2024-06-01
//     (specification/privatedns/resource-manager/Microsoft.Network/stable/2024-06-01/privatedns.json,
//     commit e6eec14c): testdata/privatedns-2024-06-01.json is that whole
//     document, unchanged (testdata/SOURCE.md).
//
// The token endpoint follows the Microsoft identity platform's client
// credentials grant (v2.0).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/providers/azure"
	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
)

const (
	sub    = "00000000-1111-2222-3333-444444444444"
	tenant = "tenant-0001"
	client = "client-0001"
	secret = "s3cret-value"
)

// fakeARM is a stateful Azure DNS, public zones (Microsoft.Network/dnsZones)
// or, when private, private zones (Microsoft.Network/privateDnsZones):
// record sets live in Zones (served by the loopback DNS server); the ETag
// of a record set is a hash of its values, so any writer's change
// invalidates it.
type fakeARM struct {
	zones   *providertest.Zones
	groups  map[string]string // zone → resource group
	token   *atomic.Value     // the valid bearer token
	base    string            // set after start: http://127.0.0.1:P (for nextLink)
	private bool

	mu         sync.Mutex
	beforePut  func() // run once before the next PUT (a concurrent writer)
	preconFail int
}

// armAPI is what differs between the two APIs, spelled as their documents
// spell it.
type armAPI struct {
	resource       string // path segment of the zone resource type
	listAll        string // ... in the subscription-wide listing
	zoneType       string // a zone's "type"
	version        string // api-version
	ttlKey, txtKey string // RecordSetProperties keys
	zoneParam      string // the zone's path parameter
}

// listAllOp and recordSetOp are the documented operations, as Fake.Count
// names them.
func (a armAPI) listAllOp() string {
	return "GET /subscriptions/{subscriptionId}/providers/Microsoft.Network/" + a.listAll
}

func (a armAPI) recordSetOp(method string) string {
	return method + " /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/" +
		a.resource + "/{" + a.zoneParam + "}/{recordType}/{relativeRecordSetName}"
}

func (f *fakeARM) api() armAPI {
	if f.private {
		return armAPI{"privateDnsZones", "privateDnsZones", "Microsoft.Network/privateDnsZones", azure.PrivateAPIVersion, "ttl", "txtRecords", "privateZoneName"}
	}
	return armAPI{"dnsZones", "dnszones", "Microsoft.Network/dnszones", azure.PublicAPIVersion, "TTL", "TXTRecords", "zoneName"}
}

var rsPath = regexp.MustCompile(`^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Network/([^/]+)/([^/]+)/TXT/([^/]+)$`)

func cloudError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func etag(values []string) string {
	h := sha256.Sum256([]byte(strings.Join(values, "\x00")))
	return hex.EncodeToString(h[:8])
}

func (f *fakeARM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token.Load().(string) {
		cloudError(w, http.StatusUnauthorized, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing or invalid.")
		return
	}
	api := f.api()
	if v := r.URL.Query().Get("api-version"); v != api.version {
		cloudError(w, http.StatusBadRequest, "InvalidApiVersionParameter", "The api-version '"+v+"' is invalid. The supported version is '"+api.version+"'.")
		return
	}
	if m := rsPath.FindStringSubmatch(r.URL.Path); m != nil && m[3] == api.resource {
		f.recordSet(w, r, m[2], m[4], m[5])
		return
	}
	parts := strings.Split(r.URL.Path, "/")
	switch {
	case len(parts) == 6 && parts[3] == "providers" && parts[5] == api.listAll:
		f.listZones(w, r, "")
	case len(parts) == 8 && parts[3] == "resourceGroups" && parts[7] == api.resource:
		f.listZones(w, r, parts[4])
	default:
		cloudError(w, http.StatusNotFound, "NotFound", "no such path")
	}
}

// listZones pages one zone at a time ($skiptoken), like a large account;
// group "" lists the whole subscription.
func (f *fakeARM) listZones(w http.ResponseWriter, r *http.Request, group string) {
	api := f.api()
	var names []string
	for _, z := range f.zones.ZoneNames() {
		if group == "" || f.groups[z] == group {
			names = append(names, z)
		}
	}
	skip, _ := strconv.Atoi(r.URL.Query().Get("$skiptoken"))
	out := map[string]any{"value": []any{}}
	if skip < len(names) {
		z := names[skip]
		props := map[string]any{"maxNumberOfRecordSets": 10000, "numberOfRecordSets": 2, "nameServers": []string{"ns1-01.azure-dns.com."}, "zoneType": "Public"}
		if f.private {
			props = map[string]any{"maxNumberOfRecordSets": 25000, "numberOfRecordSets": 2, "maxNumberOfVirtualNetworkLinks": 1000,
				"numberOfVirtualNetworkLinks": 1, "maxNumberOfVirtualNetworkLinksWithRegistration": 100,
				"numberOfVirtualNetworkLinksWithRegistration": 0, "provisioningState": "Succeeded", "internalId": "Id-" + z}
		}
		out["value"] = []any{map[string]any{
			"id":   "/subscriptions/" + sub + "/resourceGroups/" + f.groups[z] + "/providers/" + api.zoneType + "/" + z,
			"name": z, "type": api.zoneType, "location": "global", "etag": "00000002-0000-0000-76c2-f7ad90b5d101",
			"properties": props,
		}}
		if skip+1 < len(names) {
			q := r.URL.Query()
			q.Set("$skiptoken", strconv.Itoa(skip+1))
			out["nextLink"] = f.base + r.URL.Path + "?" + q.Encode()
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (f *fakeARM) recordSet(w http.ResponseWriter, r *http.Request, group, zone, rel string) {
	if !f.zones.HasZone(zone) || f.groups[zone] != group {
		cloudError(w, http.StatusNotFound, "ParentResourceNotFound", "Can not perform requested operation on nested resource. Parent resource '"+zone+"' not found.")
		return
	}
	api := f.api()
	name := zone
	if rel != "@" {
		name = rel + "." + zone
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	values := f.zones.TXT(name)
	exists := len(values) > 0
	tag := etag(values)
	body := func(status int, values []string, ttl int) {
		recs := []any{}
		for _, v := range values {
			recs = append(recs, map[string]any{"value": []string{v}})
		}
		props := map[string]any{api.ttlKey: ttl, "fqdn": name + ".", api.txtKey: recs}
		if f.private {
			props["isAutoRegistered"] = false
		} else {
			props["provisioningState"] = "Succeeded"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id":   "/subscriptions/" + sub + "/resourceGroups/" + group + "/providers/" + api.zoneType + "/" + zone + "/TXT/" + rel,
			"name": rel, "type": api.zoneType + "/TXT", "etag": etag(values),
			"properties": props,
		})
	}
	switch r.Method {
	case http.MethodGet:
		if !exists {
			cloudError(w, http.StatusNotFound, "NotFound", "The resource record '"+rel+"' does not exist in resource group '"+group+"' of subscription '"+sub+"'.")
			return
		}
		body(http.StatusOK, values, 60)
	case http.MethodPut:
		if f.beforePut != nil {
			run := f.beforePut
			f.beforePut = nil
			run()
			values = f.zones.TXT(name)
			exists, tag = len(values) > 0, etag(values)
		}
		if m := r.Header.Get("If-Match"); m != "" && (!exists || m != tag) {
			f.preconFail++
			cloudError(w, http.StatusPreconditionFailed, "PreconditionFailed", "The condition '"+m+"' in the If-Match header was not satisfied. The current was '"+tag+"'.")
			return
		}
		if r.Header.Get("If-None-Match") == "*" && exists {
			f.preconFail++
			cloudError(w, http.StatusPreconditionFailed, "PreconditionFailed", "The condition '*' in the If-None-Match header was not satisfied.")
			return
		}
		// The keys exactly as the API's document spells them: Go's
		// decoder would match "TTL" to "ttl" and hide a wrong spelling.
		var in struct {
			Properties map[string]json.RawMessage `json:"properties"`
		}
		var ttl int
		var txt []struct {
			Value []string `json:"value"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil ||
			json.Unmarshal(in.Properties[api.ttlKey], &ttl) != nil || json.Unmarshal(in.Properties[api.txtKey], &txt) != nil || len(txt) == 0 {
			cloudError(w, http.StatusBadRequest, "BadRequest", "the record set needs properties."+api.ttlKey+" and properties."+api.txtKey)
			return
		}
		var vals []string
		for _, t := range txt {
			vals = append(vals, strings.Join(t.Value, ""))
		}
		f.zones.SetRRSet(zone, name, "TXT", ttl, vals)
		status := http.StatusOK
		if !exists {
			status = http.StatusCreated
		}
		body(status, vals, ttl)
	case http.MethodDelete:
		if m := r.Header.Get("If-Match"); m != "" && exists && m != tag {
			f.preconFail++
			cloudError(w, http.StatusPreconditionFailed, "PreconditionFailed", "The condition '"+m+"' in the If-Match header was not satisfied.")
			return
		}
		if !exists {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		f.zones.SetRRSet(zone, name, "TXT", 0, nil)
		w.WriteHeader(http.StatusOK)
	}
}

// tokenServer is Microsoft Entra ID's token endpoint for one tenant and
// one application with one secret.
func tokenServer(t *testing.T, tok *atomic.Value, issued *atomic.Int32) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method != http.MethodPost || r.URL.Path != "/"+tenant+"/oauth2/v2.0/token" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_ = r.ParseForm()
		if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != "https://management.azure.com/.default" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"AADSTS900144: bad grant or scope"}`))
			return
		}
		if r.PostForm.Get("client_id") != client || r.PostForm.Get("client_secret") != secret {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.\r\nTrace ID: 1"}`))
			return
		}
		issued.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3599, "access_token": tok.Load().(string)})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// openAPI3 converts the committed Swagger 2.0 document testdata/name.json
// to an OpenAPI 3 file the harness loads, after checking that it describes
// the API version the provider sends.
func openAPI3(t *testing.T, name, version string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var doc2 openapi2.T
	if err := json.Unmarshal(b, &doc2); err != nil {
		t.Fatal(err)
	}
	if doc2.Info.Version != version {
		t.Fatalf("testdata/%s.json describes API version %s; the provider sends %s", name, doc2.Info.Version, version)
	}
	doc3, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		t.Fatal(err)
	}
	return providertest.SpecFile(t, name+".openapi3.json", doc3)
}

func TestAzure(t *testing.T) {
	env := providertest.NewEnv(t, "example.test", "another.test", "zzz.test")
	var tok atomic.Value
	tok.Store("token-1")
	var issued atomic.Int32
	ts := tokenServer(t, &tok, &issued)
	var want atomic.Value
	want.Store("token-1")
	arm := &fakeARM{zones: env.Zones, token: &want, groups: map[string]string{"example.test": "rg-dns", "another.test": "rg-other", "zzz.test": "rg-dns"}}
	fake := providertest.StartFake(t, providertest.FakeOptions{Spec: openAPI3(t, "dns-2018-05-01", azure.PublicAPIVersion), Handler: arm, UndocumentedStatus: true})
	arm.base = fake.URL

	vars := map[string]string{
		"AZURE_CLIENT_ID": client, "AZURE_TENANT_ID": tenant, "AZURE_CLIENT_SECRET": secret,
		"AZURE_SUBSCRIPTION_ID": sub, "AZURE_AUTHORITY_HOST": ts.URL,
	}
	base := map[string]string{"endpoint": fake.URL}
	newProvider := func(_ *testing.T, vars, opts map[string]string) (dns01.Provider, error) {
		return providertest.Build("azure", base, opts, vars)
	}
	mustProvider := func(t *testing.T) dns01.Provider { return providertest.MustBuild(t, "azure", base, nil, vars) }
	armChecks(t, env, fake, arm, mustProvider, "subscription "+sub)
	t.Run("bad secret: one line naming the variable", func(t *testing.T) {
		bad := map[string]string{}
		for k, v := range vars {
			bad[k] = v
		}
		bad["AZURE_CLIENT_SECRET"] = "wrong"
		p, err := newProvider(t, bad, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = p.SetTXT(t.Context(), "_acme-challenge.example.test.", "v")
		if err == nil || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "wrong") ||
			!strings.HasPrefix(err.Error(), "azure: the credentials from AZURE_CLIENT_SECRET (client "+client+") were refused by Microsoft Entra ID (HTTP 401: invalid_client: AADSTS7000215") {
			t.Fatalf("err = %q", err)
		}
	})
	t.Run("token refused by ARM: one line naming the variable", func(t *testing.T) {
		p := mustProvider(t)
		want.Store("token-revoked") // the fake ARM refuses the token p gets
		defer want.Store("token-1")
		err := p.SetTXT(t.Context(), "_acme-challenge.example.test.", "v")
		if err == nil || !strings.HasPrefix(err.Error(), "azure: the credentials from AZURE_CLIENT_SECRET (client "+client+") were refused (HTTP 401") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("missing settings fail in New", func(t *testing.T) {
		_, err := newProvider(t, map[string]string{"AZURE_SUBSCRIPTION_ID": sub, "AZURE_CLIENT_SECRET": secret}, nil)
		if err == nil || !strings.Contains(err.Error(), "azure: a service principal needs the client ID: set ACMECTL_AZURE_CLIENT_ID or AZURE_CLIENT_ID") {
			t.Fatalf("err = %v", err)
		}
		_, err = newProvider(t, map[string]string{}, nil)
		if err == nil || !strings.Contains(err.Error(), "AZURE_SUBSCRIPTION_ID") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("plain http endpoint off loopback refused", func(t *testing.T) {
		_, err := newProvider(t, vars, map[string]string{"endpoint": "http://management.example.net"})
		if err == nil || !strings.Contains(err.Error(), "want https") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("private zones", func(t *testing.T) { privateZones(t, env, vars, &want) })
	t.Run("a nextLink off the API base is refused", func(t *testing.T) {
		// The fake's pages link to the validating server's address, which
		// is not this one: the token must not follow such a link.
		plain := httptest.NewServer(arm)
		defer plain.Close()
		p, err := newProvider(t, vars, map[string]string{"endpoint": plain.URL})
		if err != nil {
			t.Fatal(err)
		}
		err = p.SetTXT(t.Context(), "_acme-challenge.x.zzz.test.", "v")
		if err == nil || !strings.Contains(err.Error(), "azure: list zones: the next page") || !strings.Contains(err.Error(), "is not under "+plain.URL) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("token reused", func(t *testing.T) {
		p := mustProvider(t)
		before := issued.Load()
		for i := range 3 {
			name := "_acme-challenge.reuse" + strconv.Itoa(i) + ".example.test."
			if err := p.SetTXT(context.WithoutCancel(t.Context()), name, "v"); err != nil {
				t.Fatal(err)
			}
			_ = p.DeleteTXT(t.Context(), name, "v")
		}
		if got := issued.Load() - before; got != 1 {
			t.Fatalf("tokens issued = %d; want 1", got)
		}
	})
}

// privateZones runs the provider with private-zone=true against a fake of
// the Private DNS API validated against its published description, on the
// same zones and DNS server as the public one.
func privateZones(t *testing.T, env *providertest.Env, vars map[string]string, token *atomic.Value) {
	arm := &fakeARM{zones: env.Zones, token: token, private: true,
		groups: map[string]string{"example.test": "rg-dns", "another.test": "rg-other", "zzz.test": "rg-dns"}}
	fake := providertest.StartFake(t, providertest.FakeOptions{Spec: openAPI3(t, "privatedns-2024-06-01", azure.PrivateAPIVersion), Handler: arm, UndocumentedStatus: true})
	arm.base = fake.URL
	listAll := arm.api().listAllOp()
	const listGroup = "GET /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/privateDnsZones"
	base := map[string]string{"endpoint": fake.URL, "private-zone": "true"}
	mustProvider := func(t *testing.T) dns01.Provider { return providertest.MustBuild(t, "azure", base, nil, vars) }
	armChecks(t, env, fake, arm, mustProvider, "subscription "+sub+" (private zones)")
	t.Run("zones listed in the resource group", func(t *testing.T) {
		before := fake.Count(listGroup)
		p := providertest.MustBuild(t, "azure", base, map[string]string{"resource-group": "rg-dns"}, vars)
		if err := p.SetTXT(t.Context(), "_acme-challenge.g.zzz.test.", "v-group"); err != nil {
			t.Fatal(err)
		}
		_ = p.DeleteTXT(t.Context(), "_acme-challenge.g.zzz.test.", "v-group")
		if got := fake.Count(listGroup) - before; got != 2 {
			t.Fatalf("resource group listing requests = %d; want 2 (example.test and zzz.test, one per page)", got)
		}
		providertest.ZoneNotFound(t, p, "_acme-challenge.another.test.",
			"azure: add TXT _acme-challenge.another.test.: no zone holding it in subscription "+sub+" resource group rg-dns (private zones)")
	})
	t.Run("zone and resource group given: two values at one name, no listing", func(t *testing.T) {
		before := fake.Count(listAll) + fake.Count(listGroup)
		p := providertest.MustBuild(t, "azure", base, map[string]string{"zone": "example.test", "resource-group": "rg-dns"}, vars)
		name := "_acme-challenge.private.example.test."
		for _, v := range []string{"p1", "p2"} {
			if err := p.SetTXT(t.Context(), name, v); err != nil {
				t.Fatal(err)
			}
		}
		if got := env.Zones.TXT(name); !slices.Equal(got, []string{"p1", "p2"}) {
			t.Fatalf("TXT = %q", got)
		}
		for _, v := range []string{"p1", "p2"} {
			if err := p.DeleteTXT(t.Context(), name, v); err != nil {
				t.Fatal(err)
			}
		}
		if got := env.Zones.TXT(name); len(got) != 0 {
			t.Fatalf("TXT left = %q", got)
		}
		if got := fake.Count(listAll) + fake.Count(listGroup) - before; got != 0 {
			t.Fatalf("zone listing requests = %d; want none", got)
		}
	})
}

// armChecks runs, as subtests, what the public and the private zones paths
// both pass against their fakes, with providers (from mustProvider) that
// find their zone by listing the subscription's (scope names it in
// errors): the conformance checks, a wildcard-plus-apex issuance, a crash
// cleanup, the listing, the ETag, rate limiting and zone not found.
func armChecks(t *testing.T, env *providertest.Env, fake *providertest.Fake, arm *fakeARM, mustProvider func(*testing.T) dns01.Provider, scope string) {
	api := arm.api()
	p := mustProvider(t)
	env.Common(t, "example.test", mustProvider)
	t.Run("zones listed once, across pages, the longest match", func(t *testing.T) {
		before := fake.Count(api.listAllOp())
		p := mustProvider(t)
		zk := p.(dns01.ZoneKnower)
		for _, name := range []string{"_acme-challenge.a.zzz.test.", "_acme-challenge.b.zzz.test."} {
			zone, ok, err := zk.KnownZone(t.Context(), name)
			if err != nil || !ok || zone != "zzz.test." {
				t.Fatalf("KnownZone(%s) = %q, %v, %v", name, zone, ok, err)
			}
		}
		// Three zones, one per page: three listing requests, once.
		if got := fake.Count(api.listAllOp()) - before; got != 3 {
			t.Fatalf("zone listing requests = %d; want 3", got)
		}
		if err := p.SetTXT(t.Context(), "_acme-challenge.x.another.test.", "v-another"); err != nil {
			t.Fatal(err)
		}
		if got := env.Zones.TXT("_acme-challenge.x.another.test"); !slices.Equal(got, []string{"v-another"}) {
			t.Fatalf("TXT in another.test (resource group rg-other) = %q", got)
		}
		_ = p.DeleteTXT(t.Context(), "_acme-challenge.x.another.test.", "v-another")
	})
	t.Run("existing value is not written again", func(t *testing.T) {
		name := "_acme-challenge.exists.example.test."
		if err := p.SetTXT(t.Context(), name, "same"); err != nil {
			t.Fatal(err)
		}
		puts := fake.Count(api.recordSetOp(http.MethodPut))
		if err := p.SetTXT(t.Context(), name, "same"); err != nil {
			t.Fatal(err)
		}
		if got := fake.Count(api.recordSetOp(http.MethodPut)); got != puts {
			t.Fatalf("PUT requests went from %d to %d for a value already there", puts, got)
		}
		_ = p.DeleteTXT(t.Context(), name, "same")
	})
	t.Run("ETag: a concurrent writer's value survives", func(t *testing.T) {
		env.ConcurrentWriter(t, p, "example.test", "_acme-challenge.etag.example.test",
			func(hook func()) { arm.mu.Lock(); arm.beforePut = hook; arm.mu.Unlock() },
			func() int { arm.mu.Lock(); defer arm.mu.Unlock(); return arm.preconFail })
	})
	t.Run("rate limited: Retry-After followed", func(t *testing.T) {
		env.RateLimited(t, p, fake, providertest.Injected{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}},
			Body:  `{"error":{"code":"TooManyRequests","message":"The request is being throttled."}}`,
			Match: api.recordSetOp(http.MethodGet)},
			"_acme-challenge.throttled.example.test.", time.Now().Add(time.Second))
	})
	t.Run("zone not found", func(t *testing.T) {
		providertest.ZoneNotFound(t, p, "_acme-challenge.www.nowhere.test.", "azure: add TXT _acme-challenge.www.nowhere.test.: no zone holding it in "+scope)
	})
}
