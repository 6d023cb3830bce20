package acmedns_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
	"github.com/acmectl/acmectl/challenges/dns01/providers/acmedns"
	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
	"github.com/acmectl/acmectl/challenges/dns01/providers/registry"
)

// The fake follows the acme-dns API as its README documents it (written
// down in testdata/acme-dns.yaml); every request and answer is validated
// against that. Its DNS side keeps the two newest values per subdomain,
// as acme-dns does.

const authZone = "auth.example.test"

type fake struct {
	z        *providertest.Zones
	mu       sync.Mutex
	accounts map[string]acmedns.Account // by username
	values   map[string][]string        // subdomain → newest last
	n        int
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case "/register":
		f.n++
		sub := fmt.Sprintf("%08d-0000-4000-8000-000000000000", f.n)
		a := acmedns.Account{Username: fmt.Sprint("user", f.n), Password: fmt.Sprint("pass", f.n), SubDomain: sub, FullDomain: sub + "." + authZone, AllowFrom: []string{}}
		f.accounts[a.Username] = a
		writeJSON(w, 201, a)
	case "/update":
		a, ok := f.accounts[r.Header.Get("X-Api-User")]
		if !ok || a.Password != r.Header.Get("X-Api-Key") {
			writeJSON(w, 401, map[string]string{"error": "forbidden"})
			return
		}
		var in struct{ Subdomain, Txt string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		if in.Subdomain != a.SubDomain {
			writeJSON(w, 401, map[string]string{"error": "forbidden"})
			return
		}
		v := append(f.values[in.Subdomain], in.Txt)
		f.values[in.Subdomain] = v[max(0, len(v)-2):]
		f.z.SetRRSet(authZone, a.FullDomain, "TXT", 1, f.values[in.Subdomain])
		writeJSON(w, 200, map[string]string{"txt": in.Txt})
	}
}

func value(c byte) string { return strings.Repeat(string(c), 43) }

func TestACMEDNS(t *testing.T) {
	env := providertest.NewEnv(t, "example.test", authZone)
	f := &fake{z: env.Zones, accounts: map[string]acmedns.Account{}, values: map[string][]string{}}
	api := providertest.StartFake(t, providertest.FakeOptions{Spec: "testdata/acme-dns.yaml", Handler: f})
	storage := filepath.Join(t.TempDir(), "acmedns.json")
	newProvider := func(t *testing.T) dns01.Provider {
		t.Helper()
		p, err := registry.New("acme-dns", providers.Config{Creds: &creds.Source{Provider: "acme-dns", Getenv: func(k string) string {
			return map[string]string{"ACME_DNS_API_BASE": api.URL, "ACME_DNS_STORAGE_PATH": storage}[k]
		}}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := newProvider(t)
	// cname registers domain and publishes its CNAME, as the user would.
	cname := func(t *testing.T, domain string) string {
		t.Helper()
		err := p.SetTXT(t.Context(), "_acme-challenge."+domain+".", value('x'))
		var ce *acmedns.CNAMEError
		if !errors.As(err, &ce) || !ce.New {
			t.Fatalf("first SetTXT for %s: %v; want a CNAMEError after registration", domain, err)
		}
		env.Zones.Add("example.test", providertest.Record{Name: "_acme-challenge." + domain, Type: "CNAME", TTL: 1, Value: ce.Target})
		return ce.Target
	}

	t.Run("registration saves lego/certbot JSON and asks for the CNAME", func(t *testing.T) {
		err := p.SetTXT(t.Context(), "_acme-challenge.reg.example.test.", value('a'))
		if err == nil || !strings.Contains(err.Error(), "create the record `_acme-challenge.reg.example.test. CNAME ") {
			t.Fatalf("err = %v", err)
		}
		st, _ := os.Stat(storage)
		var accts map[string]acmedns.Account
		data, _ := os.ReadFile(storage)
		if err := json.Unmarshal(data, &accts); err != nil || accts["reg.example.test"].Password == "" || st.Mode().Perm() != 0o600 {
			t.Fatalf("storage %s (mode %v): %s", storage, st.Mode(), data)
		}
		// A second attempt without the CNAME: the same instruction, no new
		// registration.
		regs := api.Count("POST /register")
		err = p.SetTXT(t.Context(), "_acme-challenge.reg.example.test.", value('a'))
		if err == nil || !strings.Contains(err.Error(), "has no CNAME") || api.Count("POST /register") != regs {
			t.Fatalf("err = %v, registrations %d → %d", err, regs, api.Count("POST /register"))
		}
	})
	t.Run("conformance (what acme-dns keeps)", func(t *testing.T) {
		target := cname(t, "conf.example.test") + "."
		for _, v := range []string{value('a'), value('b'), value('b')} {
			if err := p.SetTXT(t.Context(), target, v); err != nil {
				t.Fatal(err)
			}
		}
		if got := env.Check(target); len(got) != 2 {
			t.Fatalf("TXT %s = %q; want the two newest values", target, got)
		}
		if err := p.DeleteTXT(t.Context(), target, value('a')); err != nil {
			t.Fatalf("DeleteTXT (a no-op): %v", err)
		}
	})
	t.Run("issue", func(t *testing.T) {
		cname(t, "www.example.test")
		env.IssueOnly(t, p, "www.example.test") // the values stay: acme-dns cannot delete
	})
	t.Run("crash between present and cleanup", func(t *testing.T) {
		// Another process (a new provider value) finds the account in the
		// file by the CNAME target.
		target := cname(t, "crash.example.test") + "."
		if err := newProvider(t).SetTXT(t.Context(), target, value('c')); err != nil {
			t.Fatal(err)
		}
		if err := newProvider(t).DeleteTXT(t.Context(), target, value('c')); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bad credentials", func(t *testing.T) {
		var accts map[string]acmedns.Account
		data, _ := os.ReadFile(storage)
		json.Unmarshal(data, &accts)
		a := accts["www.example.test"]
		a.Password = "wrong"
		accts["www.example.test"] = a
		data, _ = json.Marshal(accts)
		bad := filepath.Join(t.TempDir(), "bad.json")
		os.WriteFile(bad, data, 0o600)
		q, _ := acmedns.New(providers.Config{Name: "acme-dns", Options: map[string]string{"endpoint": api.URL, "storage": bad}})
		err := q.SetTXT(t.Context(), a.FullDomain+".", value('d'))
		want := "acme-dns: the credentials from the credentials file " + bad + " were refused (HTTP 401 on POST /update: forbidden)"
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v\nwant  %s", err, want)
		}
	})
}
