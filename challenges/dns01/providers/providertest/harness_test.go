package providertest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/dnstest"
	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
	"github.com/acmectl/acmectl/internal/testenv"
)

// countingDNS serves z and counts SOA queries.
type countingDNS struct {
	z   *providertest.Zones
	soa atomic.Int32
}

func (c *countingDNS) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if len(r.Question) == 1 && r.Question[0].Qtype == dns.TypeSOA {
		c.soa.Add(1)
	}
	c.z.ServeDNS(w, r)
}

func TestZonesServeDNSConformance(t *testing.T) {
	env := providertest.NewEnv(t, "example.test")
	dnstest.Run(t, &providertest.Memory{Zones: env.Zones}, "example.test", env.Check)
}

// A provider that knows its zone spares the propagation check's SOA walk;
// one that does not is checked through SOA discovery.
func TestZoneKnowerSkipsSOADiscovery(t *testing.T) {
	for _, knows := range []bool{true, false} {
		z := providertest.NewZones("example.test")
		c := &countingDNS{z: z}
		addr := testenv.ServeDNS(t, c)
		p := &providertest.Memory{Zones: z, KnowsZones: knows}
		s := dns01.NewSolver(p, dns01.Options{
			RecursiveResolvers: []string{addr},
			LookupNameserver:   func(context.Context, string) ([]string, error) { return []string{addr}, nil },
			PollInterval:       50 * time.Millisecond, PropagationTimeout: 5 * time.Second,
		})
		name := "_acme-challenge.www.example.test."
		if err := p.SetTXT(t.Context(), name, "v"); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckPropagation(t.Context(), name, "v"); err != nil {
			t.Fatalf("knows=%v: %v", knows, err)
		}
		if got := c.soa.Load(); (got == 0) != knows {
			t.Fatalf("knows zone=%v: %d SOA queries", knows, got)
		}
	}
}

func TestSerialKeyOnlyForSingleValueProviders(t *testing.T) {
	ch := challenges.Challenge{Type: challenges.DNS01, Identifier: challenges.Identifier{Type: challenges.IdentifierDNS, Value: "Example.test"},
		Wildcard: true, Token: "t", KeyAuthorization: "t.x"}
	z := providertest.NewZones("example.test")
	multi := dns01.NewSolver(&providertest.Memory{Zones: z}, dns01.Options{})
	if k := multi.SerialKey(ch); k != "" {
		t.Fatalf("multi-value provider: SerialKey = %q; want none", k)
	}
	single := dns01.NewSolver(&providertest.Memory{Zones: z, Single: true}, dns01.Options{})
	if k := single.SerialKey(ch); k != "_acme-challenge.example.test." {
		t.Fatalf("single-value provider: SerialKey = %q", k)
	}
}

// singleValue is a Memory holding one TXT value per name that counts the
// values it was asked to replace before they were removed: a client that
// presents a wildcard's and its apex's values at once makes it lose one.
type singleValue struct {
	providertest.Memory
	mu       sync.Mutex
	live     map[string]string // name → the value present
	sets     int
	replaced int
}

func (s *singleValue) SetTXT(ctx context.Context, fqdn, value string) error {
	s.mu.Lock()
	if old, ok := s.live[fqdn]; ok && old != value {
		s.replaced++
	}
	s.live[fqdn] = value
	s.sets++
	s.mu.Unlock()
	return s.Memory.SetTXT(ctx, fqdn, value)
}

func (s *singleValue) DeleteTXT(ctx context.Context, fqdn, value string) error {
	s.mu.Lock()
	if s.live[fqdn] == value {
		delete(s.live, fqdn)
	}
	s.mu.Unlock()
	return s.Memory.DeleteTXT(ctx, fqdn, value)
}

// A provider holding one TXT value per name (dns01.SingleValuer) gets a
// wildcard-plus-apex certificate through Pebble: the client solves the two
// challenges at _acme-challenge.example.test one after the other
// (challenges.Serializer), never replacing one value by the other. Before
// the client honoured the Serializer both were presented at once and the
// order failed (the first value was never served).
func TestSingleValueProviderWildcardAndApex(t *testing.T) {
	env := providertest.NewEnv(t, "example.test")
	p := &singleValue{Memory: providertest.Memory{Zones: env.Zones, Single: true}, live: map[string]string{}}
	env.Issue(t, p, "example.test")
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sets != 2 || p.replaced != 0 {
		t.Fatalf("SetTXT calls = %d, values replaced while present = %d; want 2 and 0", p.sets, p.replaced)
	}
}

// recordingTB keeps Errorf calls (the fake reports violations through it).
type recordingTB struct {
	testing.TB
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// The fake base reports requests and answers the document does not allow.
func TestFakeValidatesRequestsAndAnswers(t *testing.T) {
	rec := &recordingTB{TB: t}
	var answer atomic.Value
	answer.Store(`{"id": 1, "value": "ok"}`)
	var fake *providertest.Fake
	t.Run("serve", func(t *testing.T) {
		rec.TB = t
		fake = providertest.StartFake(rec, providertest.FakeOptions{Spec: "testdata/toy.yaml", BasePath: "/api",
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, answer.Load().(string))
			})})
		get := func(path string) {
			resp, err := http.Get(fake.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		get("/records/1")
		if v := fake.Violations(); len(v) != 0 {
			t.Fatalf("valid exchange reported: %q", v)
		}
		get("/records/x")   // path parameter not an integer
		get("/nonexistent") // not an operation
		answer.Store(`{"id": 1, "value": "much too long", "extra": true}`)
		get("/records/2") // answer violates the schema
		if fake.Count("GET /records/{id}") != 3 {
			t.Errorf("Count = %d; want 3", fake.Count("GET /records/{id}"))
		}
	})
	joined := strings.Join(rec.errs, "\n")
	for _, want := range []string{"request GET /api/records/x", "/nonexistent: not an operation", "answer 200 to GET /api/records/2"} {
		if !strings.Contains(joined, want) {
			t.Errorf("violations %q lack %q", joined, want)
		}
	}
	if len(rec.errs) != 3 {
		t.Errorf("%d violations; want 3: %q", len(rec.errs), rec.errs)
	}
}
