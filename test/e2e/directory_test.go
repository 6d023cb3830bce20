package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/acmectl/acmectl/internal/testenv"
	"github.com/acmectl/acmectl/internal/v1ca"
)

type directoryDoc struct {
	Schema                  int               `json:"schema"`
	URL                     string            `json:"url"`
	Dialect                 string            `json:"dialect"`
	Endpoints               map[string]string `json:"endpoints"`
	TermsOfService          string            `json:"terms_of_service"`
	Website                 string            `json:"website"`
	CAAIdentities           []string          `json:"caa_identities"`
	ExternalAccountRequired bool              `json:"external_account_required"`
	Profiles                map[string]string `json:"profiles"`
	Features                map[string]bool   `json:"features"`
	Policy                  map[string]struct {
		Value, Detail string
	} `json:"policy"`
	Keys []string `json:"keys"`
}

func directoryJSON(t *testing.T, args ...string) directoryDoc {
	t.Helper()
	r := run(t, nil, append([]string{"directory", "--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("directory --json: exit %d: %s", r.code, r.stderr)
	}
	var doc directoryDoc
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("directory --json: %v\n%s", err, r.stdout)
	}
	if dec.More() {
		t.Errorf("directory --json printed more than one document")
	}
	return doc
}

// TestDirectoryV1: the legacy test CA is shown as v1 with its endpoints,
// terms, website and CAA identity; one GET, nothing else.
func TestDirectoryV1(t *testing.T) {
	l := newV1Lab(t, v1ca.Config{})
	server := []string{"--server", l.ca.DirectoryURL(), "--ca-bundle", l.bundle}
	doc := directoryJSON(t, server...)
	if doc.Schema != 1 || doc.Dialect != "v1" || doc.URL != l.ca.DirectoryURL() {
		t.Errorf("doc = %+v", doc)
	}
	for _, k := range []string{"new-reg", "new-authz", "new-cert", "revoke-cert", "key-change"} {
		if !strings.HasPrefix(doc.Endpoints[k], l.ca.BaseURL()+"/acme/") {
			t.Errorf("endpoint %s = %q", k, doc.Endpoints[k])
		}
	}
	if doc.TermsOfService != l.ca.TermsURL() || doc.Website == "" || len(doc.CAAIdentities) != 1 || doc.CAAIdentities[0] != "acmectl-testca.invalid" {
		t.Errorf("meta = terms %q website %q caa %v", doc.TermsOfService, doc.Website, doc.CAAIdentities)
	}
	want := map[string]bool{"ari": false, "profiles": false, "key_change": true, "revocation": true}
	for k, v := range want {
		if doc.Features[k] != v {
			t.Errorf("feature %s = %v; want %v", k, doc.Features[k], v)
		}
	}
	for _, k := range []string{"wildcard", "ip_identifiers", "validity_dates", "external_account_binding"} {
		if doc.Policy[k].Value != "no" {
			t.Errorf("policy %s = %+v; want no (legacy v1)", k, doc.Policy[k])
		}
	}
	r := run(t, nil, append([]string{"directory"}, server...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "ACME v1 (legacy)") || !strings.Contains(r.stdout, "new-reg") ||
		!strings.Contains(r.stdout, l.ca.TermsURL()) || !strings.Contains(r.stdout, "account migrate") {
		t.Errorf("directory text: exit %d stdout %q", r.code, r.stdout)
	}
	if got := l.count("directory", "GET"); got != 2 {
		t.Errorf("directory GETs = %d; want 2 (one per run)", got)
	}
	total := 0
	for _, m := range l.requests() {
		for _, n := range m {
			total += n
		}
	}
	if total != 2 {
		t.Errorf("requests = %v; want only the two directory GETs", l.requests())
	}
	// Forcing RFC 8555 against it: exit 2 naming the keys found.
	r = run(t, nil, append([]string{"directory", "--acme-version", "2"}, server...)...)
	if r.code != 2 || !strings.Contains(r.stderr, "new-reg") || !strings.Contains(r.stderr, "newNonce") {
		t.Errorf("directory --acme-version 2: exit %d stderr %q; want 2 naming the keys", r.code, r.stderr)
	}
}

// TestDirectoryPebble: Pebble is RFC 8555 with ARI, profiles and keyChange.
func TestDirectoryPebble(t *testing.T) {
	p := testenv.StartPebble(t, testenv.PebbleOptions{})
	server := []string{"--server", p.DirURL, "--ca-bundle", p.CABundle}
	doc := directoryJSON(t, server...)
	if doc.Dialect != "rfc8555" {
		t.Errorf("dialect = %q", doc.Dialect)
	}
	for _, k := range []string{"newNonce", "newAccount", "newOrder", "revokeCert", "keyChange", "renewalInfo"} {
		if doc.Endpoints[k] == "" {
			t.Errorf("endpoint %s missing: %v", k, doc.Endpoints)
		}
	}
	if _, ok := doc.Profiles["shortlived"]; !ok {
		t.Errorf("profiles = %v", doc.Profiles)
	}
	for _, k := range []string{"ari", "profiles", "key_change", "revocation"} {
		if !doc.Features[k] {
			t.Errorf("feature %s = false", k)
		}
	}
	// Pebble's directory, like every RFC 8555 one, does not state
	// wildcard or IP support: not claimed (issue 13 item 13b).
	for _, k := range []string{"wildcard", "ip_identifiers", "validity_dates"} {
		if doc.Features[k] || doc.Policy[k].Value != "not stated" {
			t.Errorf("%s: feature %v, policy %+v; want not stated", k, doc.Features[k], doc.Policy[k])
		}
	}
	if doc.TermsOfService == "" {
		t.Error("no terms of service")
	}
	if got := p.Count("total"); got != 1 {
		t.Errorf("requests at Pebble = %v; want one GET", p.Counts())
	}
	r := run(t, nil, append([]string{"directory", "--acme-version", "1"}, server...)...)
	if r.code != 2 || !strings.Contains(r.stderr, "newOrder") || !strings.Contains(r.stderr, "new-reg") {
		t.Errorf("directory --acme-version 1: exit %d stderr %q; want 2 naming the keys", r.code, r.stderr)
	}
}

// TestDirectoryUnknown: a JSON object that is no ACME directory exits 2
// naming the keys found.
func TestDirectoryUnknown(t *testing.T) {
	l := newV1Lab(t, v1ca.Config{})
	r := run(t, nil, "directory", "--server", l.ca.BaseURL()+"/_testca/state", "--ca-bundle", l.bundle)
	if r.code != 2 || !strings.Contains(r.stderr, "directory_url") || !strings.Contains(r.stderr, "registrations") {
		t.Errorf("exit %d stderr %q; want 2 naming the keys found", r.code, r.stderr)
	}
}
