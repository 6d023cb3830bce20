package providertest

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/dnstest"
	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/testenv"
)

// Env is one test package's DNS side: a Zones store served by a loopback
// DNS server, and (started on first use) one Pebble whose resolver is that
// server.
type Env struct {
	Zones *Zones
	DNS   string // host:port of the DNS server (UDP and TCP)

	t      testing.TB
	once   sync.Once
	pebble *testenv.Pebble
}

// NewEnv starts a DNS server serving a new Zones holding zones.
func NewEnv(t testing.TB, zones ...string) *Env {
	t.Helper()
	z := NewZones(zones...)
	return NewEnvFor(t, z, z)
}

// NewEnvFor starts a DNS server with handler h (a real server's records,
// e.g. a proxy to PowerDNS) and keeps z (may be nil) as the store.
func NewEnvFor(t testing.TB, z *Zones, h dns.Handler) *Env {
	t.Helper()
	return &Env{Zones: z, DNS: testenv.ServeDNS(t, h), t: t}
}

// NewEnvAt uses an existing DNS server at addr (a real PowerDNS) for the
// checks and Pebble; Zones is nil.
func NewEnvAt(t testing.TB, addr string) *Env {
	return &Env{DNS: addr, t: t}
}

// Pebble returns the Env's Pebble, started on first call; tests of one
// package share it. It stops when the test that created the Env ends.
func (e *Env) Pebble() *testenv.Pebble {
	e.once.Do(func() {
		e.pebble = testenv.StartPebble(e.t, testenv.PebbleOptions{DNSServer: e.DNS})
	})
	return e.pebble
}

// Check is a dnstest.Check asking the DNS server.
func (e *Env) Check(fqdn string) []string {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(fqdn), dns.TypeTXT)
	c := &dns.Client{Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, e.DNS)
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var out []string
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out
}

// Solver returns a dns01.Solver for p whose lookups and propagation check
// ask the Env's DNS server, polling quickly.
func (e *Env) Solver(p dns01.Provider, log *slog.Logger) *dns01.Solver {
	return dns01.NewSolver(p, dns01.Options{
		Resolvers: []string{e.DNS}, PollInterval: 100 * time.Millisecond,
		PropagationTimeout: 15 * time.Second, Logger: log,
	})
}

// Issue obtains a certificate for *.domain and domain from the Env's
// Pebble through p with dns-01 (two TXT values at one name), checks the
// leaf names both, and checks no TXT record is left at
// _acme-challenge.domain.
func (e *Env) Issue(t *testing.T, p dns01.Provider, domain string) {
	t.Helper()
	e.IssueOnly(t, p, domain)
	if left := e.Check("_acme-challenge." + domain); len(left) != 0 {
		t.Fatalf("TXT records left after the order: %q", left)
	}
}

// IssueOnly is Issue without the check that the records are gone, for
// providers that cannot delete (acme-dns keeps the two newest values).
func (e *Env) IssueOnly(t *testing.T, p dns01.Provider, domain string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ids := []client.Identifier{{Type: challenges.IdentifierDNS, Value: "*." + domain}, {Type: challenges.IdentifierDNS, Value: domain}}
	leaf := testenv.Obtain(t, e.Pebble(), log, challenges.DNS01, e.Solver(p, log), ids)
	if len(leaf.DNSNames) != 2 {
		t.Fatalf("leaf names %v; want *.%s and %s", leaf.DNSNames, domain, domain)
	}
}

// CrashCleanup presents a record through one provider value and removes it
// through another (built by newProvider, as a new process would), then
// checks the DNS no longer serves it: cleanup after a crash between present
// and cleanup.
func (e *Env) CrashCleanup(t *testing.T, newProvider func() dns01.Provider, fqdn string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	const value = "crash-cleanup-0123456789abcdefghijklmnopqrstuvwxy"
	if err := newProvider().SetTXT(ctx, fqdn, value); err != nil {
		t.Fatalf("SetTXT: %v", err)
	}
	if got := e.Check(fqdn); len(got) != 1 || got[0] != value {
		t.Fatalf("after SetTXT, TXT %s = %q", fqdn, got)
	}
	if err := newProvider().DeleteTXT(ctx, fqdn, value); err != nil {
		t.Fatalf("DeleteTXT from a new provider value: %v", err)
	}
	if got := e.Check(fqdn); len(got) != 0 {
		t.Fatalf("after DeleteTXT from another provider value, TXT %s = %q", fqdn, got)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// Common runs, as subtests, what every provider of an API passes: the
// dnstest conformance checks in zone, a wildcard-plus-apex issuance for
// zone through the Env's Pebble, and a cleanup by a second provider value
// of a record a first one presented (a crash between present and
// cleanup). newProvider builds a provider as a new process would.
func (e *Env) Common(t *testing.T, zone string, newProvider func(t *testing.T) dns01.Provider) {
	t.Helper()
	p := newProvider(t)
	t.Run("conformance", func(t *testing.T) { dnstest.Run(t, p, zone, e.Check) })
	t.Run("issue", func(t *testing.T) { e.Issue(t, p, zone) })
	t.Run("crash cleanup", func(t *testing.T) {
		e.CrashCleanup(t, func() dns01.Provider { return newProvider(t) }, "_acme-challenge.crash."+strings.TrimSuffix(zone, ".")+".")
	})
}

// ConcurrentWriter checks that a provider writing a whole record set keeps
// a value another writer adds between the provider's read and its write
// (ETag, conditional change, atomic batch): name gets "first", then arm
// installs hook, which the fake runs once just before it applies the
// provider's next write; hook adds "other-writer". After SetTXT "second",
// refused (the fake's count of refused writes) must have grown by one and
// all three values must be there.
func (e *Env) ConcurrentWriter(t *testing.T, p dns01.Provider, zone, name string, arm func(hook func()), refused func() int) {
	t.Helper()
	fqdn := strings.TrimSuffix(name, ".") + "."
	if err := p.SetTXT(t.Context(), fqdn, "first"); err != nil {
		t.Fatal(err)
	}
	arm(func() { e.Zones.SetRRSet(zone, fqdn, "TXT", 60, []string{"first", "other-writer"}) })
	before := refused()
	if err := p.SetTXT(t.Context(), fqdn, "second"); err != nil {
		t.Fatal(err)
	}
	if got := refused() - before; got != 1 {
		t.Fatalf("refused writes = %d; want 1 (the write based on the stale read)", got)
	}
	if got := e.Zones.TXT(fqdn); !slices.Equal(got, []string{"first", "other-writer", "second"}) {
		t.Fatalf("TXT %s = %q; want the concurrent writer's value kept", fqdn, got)
	}
	for _, v := range []string{"first", "second", "other-writer"} {
		_ = p.DeleteTXT(t.Context(), fqdn, v)
	}
}
