package httpreq_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/dnstest"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
	"github.com/acmectl/acmectl/challenges/dns01/providers/registry"
)

// The webhook follows lego's httpreq protocol (default mode), written down
// in testdata/httpreq.yaml; every request and answer is validated against
// it.

// webhook is a lego-style httpreq service writing into a Zones store. Its
// read-modify-write of the record set is serialized, as a real service's
// update is atomic: the wildcard's and the apex's cleanups arrive at once,
// and without the lock one removal was lost now and then ("TXT records
// left after the order" in a fresh-clone make test).
type webhook struct {
	z          *providertest.Zones
	user, pass string
	mu         sync.Mutex
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.user != "" {
		if u, p, ok := r.BasicAuth(); !ok || u != h.user || p != h.pass {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
	}
	var m struct{ FQDN, Value string }
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, "bad json", 400)
		return
	}
	zone := "example.test"
	h.mu.Lock()
	defer h.mu.Unlock()
	rs, _ := h.z.Records(zone)
	var have []string
	for _, rec := range rs {
		if rec.Name == strings.TrimSuffix(m.FQDN, ".") && rec.Type == "TXT" && rec.Value != m.Value {
			have = append(have, rec.Value)
		}
	}
	if r.URL.Path == "/present" {
		have = append(have, m.Value)
	}
	h.z.SetRRSet(zone, m.FQDN, "TXT", 60, have)
	w.WriteHeader(200)
}

func TestHTTPReq(t *testing.T) {
	env := providertest.NewEnv(t, "example.test")
	hook := &webhook{z: env.Zones, user: "acme", pass: "s3cret"}
	api := providertest.StartFake(t, providertest.FakeOptions{Spec: "testdata/httpreq.yaml", Handler: hook})
	newProvider := func(t *testing.T, vars map[string]string) (dns01.Provider, error) {
		return registry.New("httpreq", providers.Config{
			Creds: &creds.Source{Provider: "httpreq", Getenv: func(k string) string { return vars[k] }}})
	}
	good := map[string]string{"HTTPREQ_ENDPOINT": api.URL, "HTTPREQ_USERNAME": "acme", "HTTPREQ_PASSWORD": "s3cret"}
	p, err := newProvider(t, good)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("conformance", func(t *testing.T) { dnstest.Run(t, p, "example.test", env.Check) })
	t.Run("issue", func(t *testing.T) { env.Issue(t, p, "example.test") })
	t.Run("crash between present and cleanup", func(t *testing.T) {
		env.CrashCleanup(t, func() dns01.Provider { q, _ := newProvider(t, good); return q }, "_acme-challenge.crash.example.test.")
	})
	t.Run("bad password", func(t *testing.T) {
		q, err := newProvider(t, map[string]string{"HTTPREQ_ENDPOINT": api.URL, "HTTPREQ_USERNAME": "acme", "HTTPREQ_PASSWORD": "wrong"})
		if err != nil {
			t.Fatal(err)
		}
		err = q.SetTXT(t.Context(), "_acme-challenge.example.test.", "v")
		want := "httpreq: the credentials from HTTPREQ_USERNAME and HTTPREQ_PASSWORD were refused (HTTP 401 on POST /present: bad credentials)"
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v\nwant  %s", err, want)
		}
	})
	t.Run("no endpoint", func(t *testing.T) {
		_, err := newProvider(t, nil)
		if err == nil || err.Error() != "httpreq: no endpoint: set ACMECTL_HTTPREQ_ENDPOINT or HTTPREQ_ENDPOINT (or ACMECTL_HTTPREQ_ENDPOINT_FILE)" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("RAW mode refused", func(t *testing.T) {
		_, err := newProvider(t, map[string]string{"HTTPREQ_ENDPOINT": api.URL, "HTTPREQ_MODE": "RAW"})
		if err == nil || !strings.Contains(err.Error(), `mode "RAW" (from HTTPREQ_MODE) is not supported`) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("plain http off loopback refused", func(t *testing.T) {
		_, err := newProvider(t, map[string]string{"HTTPREQ_ENDPOINT": "http://192.0.2.1:9090"})
		if err == nil || !strings.Contains(err.Error(), "want https") {
			t.Fatalf("err = %v", err)
		}
	})
}
