package providertest

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
	"github.com/acmectl/acmectl/challenges/dns01/providers/registry"
)

// Build builds provider name through the registry, as --dns-01 NAME and a
// named solver do (option keys the table does not declare are refused),
// with the options base plus extra (extra wins) and the credentials found
// in vars (the process environment as the provider sees it) or in the
// certbot INI file named by the credentials option.
func Build(name string, base, extra, vars map[string]string) (dns01.Provider, error) {
	opts := maps.Clone(base)
	if opts == nil {
		opts = map[string]string{}
	}
	maps.Copy(opts, extra)
	return registry.New(name, providers.Config{Options: opts,
		Creds: &creds.Source{Getenv: func(k string) string { return vars[k] }, INIFile: opts["credentials"]}})
}

// MustBuild is Build, failing the test on an error.
func MustBuild(t testing.TB, name string, base, extra, vars map[string]string) dns01.Provider {
	t.Helper()
	p, err := Build(name, base, extra, vars)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ZoneNotFound checks that adding a record at fqdn, in no zone of the
// account, fails with one line that starts with the provider's name (the
// text of want before ": ") and contains want.
func ZoneNotFound(t *testing.T, p dns01.Provider, fqdn, want string) {
	t.Helper()
	err := p.SetTXT(t.Context(), fqdn, "v")
	name, _, _ := strings.Cut(want, ": ")
	if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), name+": ") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("SetTXT outside the account's zones: err = %v\nwant one line starting %q, containing %q", err, name+": ", want)
	}
}

// RateLimited queues answer (a 429 or 503 with the provider's retry
// header) for the next request matching answer.Match, then checks that
// SetTXT of name still succeeds: the fake saw the refused request and at
// least one more of that operation, the last one not before notBefore
// (when set: the time the retry header asked for), and the DNS serves the
// value. The value is removed afterwards.
func (e *Env) RateLimited(t *testing.T, p dns01.Provider, fake *Fake, answer Injected, name string, notBefore time.Time) {
	t.Helper()
	before := fake.Count(answer.Match)
	fake.Inject(answer)
	if err := p.SetTXT(t.Context(), name, "v"); err != nil {
		t.Fatalf("SetTXT after a %d answer: %v", answer.Status, err)
	}
	done := time.Now()
	if n := fake.Count(answer.Match) - before; n < 2 {
		t.Fatalf("%d requests %s; want the refused one and a retry", n, answer.Match)
	}
	if !notBefore.IsZero() && done.Before(notBefore) {
		t.Fatalf("done at %v, before the retry header's time %v", done, notBefore)
	}
	if got := e.Check(name); !slices.Equal(got, []string{"v"}) {
		t.Fatalf("TXT %s = %q after the retry; want [v]", name, got)
	}
	_ = p.DeleteTXT(t.Context(), name, "v")
}

// ExistingValue checks that adding a value already at name (put there
// behind the provider's back, as another process would) succeeds without
// a create request (the fake's count of op, "METHOD /path/{template}")
// and leaves one record; the value is removed afterwards.
func (e *Env) ExistingValue(t *testing.T, p dns01.Provider, fake *Fake, zone, name, op string) {
	t.Helper()
	e.Zones.Add(zone, Record{Name: name, Type: "TXT", TTL: 60, Value: "there"})
	before := fake.Count(op)
	if err := p.SetTXT(t.Context(), name, "there"); err != nil {
		t.Fatalf("SetTXT of a value already there: %v", err)
	}
	if n := fake.Count(op) - before; n != 0 {
		t.Fatalf("%d requests %s for a value already there; want none", n, op)
	}
	if got := e.Zones.TXT(name); !slices.Equal(got, []string{"there"}) {
		t.Fatalf("TXT %s = %q; want the one value", name, got)
	}
	_ = p.DeleteTXT(t.Context(), name, "there")
}
