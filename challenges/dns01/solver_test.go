package dns01_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/rfc2136"
	"github.com/acmectl/acmectl/internal/testenv"
	"github.com/miekg/dns"
)

// env is a BIND with three zones: acme.test (also served by a lagging
// second authority, ns2), delegated.test and plain.test.
type env struct {
	b       *testenv.BIND
	primary *rfc2136.Provider // updates 127.0.0.1 (ns1 of every zone)
	lagging *rfc2136.Provider // updates the lagging ns2 of acme.test
}

func startEnv(t *testing.T) *env {
	t.Helper()
	b := testenv.StartBIND(t,
		testenv.Zone{Name: "acme.test", Lagging: true, Records: []string{
			"_acme-challenge.www IN CNAME x.delegated.test.",
		}},
		testenv.Zone{Name: "delegated.test"},
		testenv.Zone{Name: "plain.test", Records: []string{
			"_acme-challenge.loop IN CNAME _acme-challenge.loop2",
			"_acme-challenge.loop2 IN CNAME _acme-challenge.loop",
		}},
	)
	e := &env{b: b}
	key := rfc2136.TSIGKey{Name: b.KeyName, Algorithm: b.Algorithm, Secret: b.Secret}
	var err error
	if e.primary, err = rfc2136.New(rfc2136.Config{Server: b.Addr, Key: &key}); err != nil {
		t.Fatal(err)
	}
	if e.lagging, err = rfc2136.New(rfc2136.Config{Server: b.Lagging.Addr, Key: &key}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) options(t *testing.T) dns01.Options {
	ns := map[string]string{
		"ns1.acme.test.":      e.b.Addr,
		"ns2.acme.test.":      e.b.Lagging.Addr,
		"ns1.delegated.test.": e.b.Addr,
		"ns1.plain.test.":     e.b.Addr,
	}
	return dns01.Options{
		RecursiveResolvers: []string{e.b.Addr},
		LookupNameserver: func(_ context.Context, host string) ([]string, error) {
			if a, ok := ns[host]; ok {
				return []string{a}, nil
			}
			return nil, fmt.Errorf("unknown nameserver %s", host)
		},
		PollInterval:       200 * time.Millisecond,
		PropagationTimeout: 20 * time.Second,
		Logger:             slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func challenge(typ, name string, wildcard bool) challenges.Challenge {
	return challenges.Challenge{
		Type:             typ,
		Identifier:       challenges.Identifier{Type: challenges.IdentifierDNS, Value: name},
		Wildcard:         wildcard,
		Token:            "tok-" + name + fmt.Sprint(wildcard),
		KeyAuthorization: "tok-" + name + fmt.Sprint(wildcard) + ".thumbprint",
		AccountURL:       "https://ca.test/acct/1",
	}
}

func txt(t *testing.T, server, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTXT)
	r, _, err := (&dns.Client{Net: "tcp", Timeout: 2 * time.Second}).Exchange(m, server)
	if err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if x, ok := rr.(*dns.TXT); ok && strings.EqualFold(x.Hdr.Name, name) {
			out = append(out, strings.Join(x.Txt, ""))
		}
	}
	return out
}

func has(vals []string, v string) bool {
	for _, x := range vals {
		if x == v {
			return true
		}
	}
	return false
}

func TestWildcardAndApexAndAccountLabel(t *testing.T) {
	e := startEnv(t)
	s := dns01.NewSolver(e.primary, e.options(t))
	chs := []challenges.Challenge{
		challenge(challenges.DNS01, "plain.test", true),
		challenge(challenges.DNS01, "plain.test", false),
		challenge(challenges.DNSAccount01, "plain.test", false),
	}
	ctx := t.Context()
	for _, ch := range chs {
		if err := s.Present(ctx, ch); err != nil {
			t.Fatalf("Present(%s): %v", ch.Token, err)
		}
	}
	for _, ch := range chs {
		if err := s.Wait(ctx, ch); err != nil {
			t.Fatalf("Wait(%s): %v", ch.Token, err)
		}
	}
	got := txt(t, e.b.Addr, "_acme-challenge.plain.test.")
	if len(got) != 2 || !has(got, chs[0].DNS01Value()) || !has(got, chs[1].DNS01Value()) {
		t.Errorf("TXT _acme-challenge.plain.test = %q; want both values", got)
	}
	if got := txt(t, e.b.Addr, chs[2].DNSAccount01Name()); !has(got, chs[2].DNS01Value()) {
		t.Errorf("TXT %s = %q; want %q", chs[2].DNSAccount01Name(), got, chs[2].DNS01Value())
	}
	if err := s.CleanUp(ctx, chs[0]); err != nil {
		t.Fatal(err)
	}
	if got := txt(t, e.b.Addr, "_acme-challenge.plain.test."); len(got) != 1 || got[0] != chs[1].DNS01Value() {
		t.Errorf("after one CleanUp: TXT = %q; want only %q", got, chs[1].DNS01Value())
	}
	for _, ch := range chs[1:] {
		if err := s.CleanUp(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	if got := txt(t, e.b.Addr, "_acme-challenge.plain.test."); len(got) != 0 {
		t.Errorf("after CleanUp: TXT = %q; want none", got)
	}
	if got := txt(t, e.b.Addr, chs[2].DNSAccount01Name()); len(got) != 0 {
		t.Errorf("after CleanUp: TXT %s = %q; want none", chs[2].DNSAccount01Name(), got)
	}
}

func TestWaitForLaggingAuthority(t *testing.T) {
	e := startEnv(t)
	s := dns01.NewSolver(e.primary, e.options(t))
	ch := challenge(challenges.DNS01, "lag.acme.test", false)
	name := ch.DNS01Name()
	ctx := t.Context()
	if err := s.Present(ctx, ch); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.CleanUp(context.Background(), ch) })
	done := make(chan error, 1)
	go func() { done <- s.Wait(ctx, ch) }()

	// The check has asked the lagging server, which does not have the
	// record yet: Wait must still be waiting.
	testenv.WaitFor(t, "check to query the lagging ns2", 10*time.Second, func() error {
		if !e.b.Lagging.SawQuery(name, "TXT") {
			return errors.New("no TXT query at ns2 yet")
		}
		return nil
	})
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v while ns2 lacks the record", err)
	default:
	}
	if got := txt(t, e.b.Lagging.Addr, name); len(got) != 0 {
		t.Fatalf("lagging server already has %q", got)
	}

	if err := e.lagging.SetTXT(ctx, name, ch.DNS01Value()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.lagging.DeleteTXT(context.Background(), name, ch.DNS01Value()) })
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait after ns2 caught up: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Wait did not return after ns2 caught up")
	}
}

func TestWaitTimeoutNamesLaggingServer(t *testing.T) {
	e := startEnv(t)
	opts := e.options(t)
	opts.PropagationTimeout = 700 * time.Millisecond
	s := dns01.NewSolver(e.primary, opts)
	ch := challenge(challenges.DNS01, "never.acme.test", false)
	if err := s.Present(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.CleanUp(context.Background(), ch) })
	err := s.Wait(t.Context(), ch)
	var pe *dns01.PropagationError
	if !errors.As(err, &pe) {
		t.Fatalf("Wait = %v; want *PropagationError", err)
	}
	if pe.Nameserver != "ns2.acme.test." || pe.Addr != e.b.Lagging.Addr {
		t.Errorf("lagging server = %s (%s); want ns2.acme.test. (%s)", pe.Nameserver, pe.Addr, e.b.Lagging.Addr)
	}
	if !strings.Contains(err.Error(), "ns2.acme.test") || !strings.Contains(err.Error(), "no TXT record") {
		t.Errorf("error %q does not name ns2 and what it returned", err)
	}
	t.Logf("error: %v", err)
}

func TestCNAMEAcrossZones(t *testing.T) {
	e := startEnv(t)
	s := dns01.NewSolver(e.primary, e.options(t))
	ch := challenge(challenges.DNS01, "www.acme.test", false)
	ctx := t.Context()
	if err := s.Present(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if got := txt(t, e.b.Addr, "x.delegated.test."); !has(got, ch.DNS01Value()) {
		t.Fatalf("TXT at the CNAME target x.delegated.test = %q; want %q", got, ch.DNS01Value())
	}
	// The lagging ns2 of acme.test serves the CNAME but not delegated.test:
	// the check must follow the chain to delegated.test's nameserver.
	if err := s.Wait(ctx, ch); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if !e.b.Lagging.AwaitQuery("_acme-challenge.www.acme.test", "TXT") || !e.b.AwaitQuery("x.delegated.test", "TXT") {
		t.Errorf("check did not follow the chain: ns2 saw the name: %v, delegated.test saw the target: %v",
			e.b.Lagging.SawQuery("_acme-challenge.www.acme.test", "TXT"), e.b.SawQuery("x.delegated.test", "TXT"))
	}
	if err := s.CleanUp(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if got := txt(t, e.b.Addr, "x.delegated.test."); len(got) != 0 {
		t.Errorf("after CleanUp: TXT at x.delegated.test = %q; want none", got)
	}
}

func TestCNAMELoop(t *testing.T) {
	e := startEnv(t)
	s := dns01.NewSolver(e.primary, e.options(t))
	ch := challenge(challenges.DNS01, "loop.plain.test", false)
	err := s.Present(t.Context(), ch)
	if !errors.Is(err, dns01.ErrCNAMELoop) {
		t.Fatalf("Present = %v; want ErrCNAMELoop", err)
	}
	if err := s.CleanUp(t.Context(), ch); err != nil {
		t.Errorf("CleanUp after a failed Present = %v; want nil", err)
	}
}

func TestCleanUpWithCancelledContext(t *testing.T) {
	e := startEnv(t)
	s := dns01.NewSolver(e.primary, e.options(t))
	ch := challenge(challenges.DNS01, "cancel.plain.test", false)
	ctx, cancel := context.WithCancel(t.Context())
	if err := s.Present(ctx, ch); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := s.Wait(ctx, ch); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a cancelled ctx = %v; want context.Canceled", err)
	}
	if err := s.CleanUp(ctx, ch); err != nil {
		t.Fatalf("CleanUp with a cancelled ctx: %v", err)
	}
	if got := txt(t, e.b.Addr, ch.DNS01Name()); len(got) != 0 {
		t.Errorf("after CleanUp: TXT = %q; want none", got)
	}
}

func TestResolversOverride(t *testing.T) {
	e := startEnv(t)
	opts := e.options(t)
	opts.Resolvers = []string{e.b.Addr}
	opts.LookupNameserver = func(context.Context, string) ([]string, error) {
		return nil, errors.New("authorities must not be looked up with Resolvers set")
	}
	s := dns01.NewSolver(e.primary, opts)
	ch := challenge(challenges.DNS01, "override.acme.test", false)
	if err := s.Present(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.CleanUp(context.Background(), ch) })
	if err := s.Wait(t.Context(), ch); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if e.b.Lagging.SawQuery(ch.DNS01Name(), "TXT") {
		t.Error("the lagging authority was queried although Resolvers was set")
	}
}

func TestPropagationWait(t *testing.T) {
	e := startEnv(t)
	opts := e.options(t)
	opts.PropagationWait = 10 * time.Millisecond
	s := dns01.NewSolver(e.primary, opts)
	ch := challenge(challenges.DNS01, "fixedwait.acme.test", false)
	if err := s.Present(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.CleanUp(context.Background(), ch) })
	if err := s.Wait(t.Context(), ch); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if e.b.SawQuery(ch.DNS01Name(), "TXT") || e.b.Lagging.SawQuery(ch.DNS01Name(), "TXT") {
		t.Error("Wait checked propagation although PropagationWait was set")
	}
}

func TestUnsupportedChallenge(t *testing.T) {
	s := dns01.NewSolver(nil, dns01.Options{})
	ch := challenge(challenges.HTTP01, "x.test", false)
	for name, err := range map[string]error{
		"Present": s.Present(t.Context(), ch),
		"Wait":    s.Wait(t.Context(), ch),
		"CleanUp": s.CleanUp(t.Context(), ch),
	} {
		if !errors.Is(err, dns01.ErrUnsupportedChallenge) {
			t.Errorf("%s(http-01) = %v; want ErrUnsupportedChallenge", name, err)
		}
	}
}
