package dns01

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/acmectl/acmectl/challenges"
	"github.com/miekg/dns"
)

// Defaults for Options.
const (
	DefaultPropagationTimeout = 2 * time.Minute
	DefaultPollInterval       = 2 * time.Second
	DefaultQueryTimeout       = 5 * time.Second
	DefaultCleanupTimeout     = 30 * time.Second
	firstPoll                 = 100 * time.Millisecond
)

// ResolvConf is the file the system's recursive resolvers are read from.
const ResolvConf = "/etc/resolv.conf"

// Options configure a Solver. The zero value checks propagation at the
// zone's authoritative nameservers, found through the resolvers of
// /etc/resolv.conf, for up to two minutes.
type Options struct {
	// Resolvers (--dns-resolvers, host:port) replace the system's
	// recursive resolvers for every lookup (CNAME chain, zone, nameservers)
	// AND replace the authoritative nameservers in the propagation check:
	// Wait then asks each of these servers, with recursion desired, until
	// every one returns the value at the end of the CNAME chain. No
	// authoritative nameserver is discovered or queried. Use it when the
	// authorities are unreachable from here (split horizon, firewalls).
	Resolvers []string
	// RecursiveResolvers (host:port) are used for CNAME, zone and
	// nameserver lookups when Resolvers is empty; default: the nameservers
	// of /etc/resolv.conf. They do not change which servers are checked.
	RecursiveResolvers []string
	// PropagationWait, when positive, replaces the propagation check: Wait
	// just waits this long (--dns-propagation-wait).
	PropagationWait time.Duration
	// PropagationTimeout bounds the propagation check of one Wait call
	// (default 2m).
	PropagationTimeout time.Duration
	// PollInterval is the longest pause between checks; pauses start at
	// 100 ms and double up to it (default 2s).
	PollInterval time.Duration
	// QueryTimeout bounds one DNS query (default 5s).
	QueryTimeout time.Duration
	// Dialer, if set, is used for every DNS query (e.g. to set a local
	// address).
	Dialer *net.Dialer
	// LookupNameserver, if set, maps an authoritative nameserver's host
	// name (absolute, lowercase) to the host:port addresses to query.
	// Default: its A and AAAA records through the resolvers, port 53.
	// Tests use it to reach nameservers on 127.0.0.1 at other ports.
	LookupNameserver func(ctx context.Context, host string) ([]string, error)
	// Logger receives debug lines per query and info lines per record;
	// nil discards.
	Logger *slog.Logger
}

// Solver implements challenges.Solver and challenges.Waiter for dns-01 and
// dns-account-01 on top of a Provider. It is safe for concurrent use.
type Solver struct {
	p    Provider
	opts Options
	log  *slog.Logger
	q    *querier

	mu     sync.Mutex
	placed map[placedKey]string // (record name, value) → name where the TXT was set
	sys    []string             // resolvers read from ResolvConf
	sysErr error
	sysSet bool
}

type placedKey struct{ name, value string }

var (
	_ challenges.Solver     = (*Solver)(nil)
	_ challenges.Waiter     = (*Solver)(nil)
	_ challenges.Serializer = (*Solver)(nil)
)

// SerialKey is the challenge's record name when the provider holds one TXT
// value per name (SingleValuer), else "": such challenges are solved one
// at a time.
func (s *Solver) SerialKey(ch challenges.Challenge) string {
	sv, ok := s.p.(SingleValuer)
	if !ok || !sv.SingleTXTValue() {
		return ""
	}
	name, _, err := record(ch)
	if err != nil {
		return ""
	}
	return name
}

// NewSolver returns a Solver placing records with p. It does no I/O.
func NewSolver(p Provider, opts Options) *Solver {
	if opts.PropagationTimeout <= 0 {
		opts.PropagationTimeout = DefaultPropagationTimeout
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = DefaultQueryTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Solver{
		p:      p,
		opts:   opts,
		log:    log,
		q:      &querier{dialer: opts.Dialer, timeout: opts.QueryTimeout, log: log},
		placed: map[placedKey]string{},
	}
}

// record returns the TXT name and value of a challenge.
func record(ch challenges.Challenge) (name, value string, err error) {
	if ch.Type != challenges.DNS01 && ch.Type != challenges.DNSAccount01 {
		return "", "", fmt.Errorf("%w %q", ErrUnsupportedChallenge, ch.Type)
	}
	return fqdn(ch.DNSRecordName()), ch.DNS01Value(), nil
}

// Present follows the CNAME chain of the challenge's record name (a few
// queries to the resolvers) and adds the TXT record at its end through the
// Provider. It does not wait for propagation.
func (s *Solver) Present(ctx context.Context, ch challenges.Challenge) error {
	name, value, err := record(ch)
	if err != nil {
		return err
	}
	target, err := s.FollowCNAME(ctx, name)
	if err != nil {
		return fmt.Errorf("dns01: present %s: %w", name, err)
	}
	s.mu.Lock()
	s.placed[placedKey{name, value}] = target // before SetTXT: CleanUp also undoes a half-done add
	s.mu.Unlock()
	if err := s.p.SetTXT(ctx, target, value); err != nil {
		return fmt.Errorf("dns01: set TXT %s: %w", target, err)
	}
	if target != name {
		s.log.Debug("dns record set", "name", name, "cname_target", target, "challenge_type", ch.Type)
	} else {
		s.log.Debug("dns record set", "name", name, "challenge_type", ch.Type)
	}
	return nil
}

// CleanUp removes the record Present added. It runs detached from ctx's
// cancellation, bounded by DefaultCleanupTimeout, so records go also after
// Ctrl+C. It does nothing for a challenge that was never presented.
func (s *Solver) CleanUp(ctx context.Context, ch challenges.Challenge) error {
	name, value, err := record(ch)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultCleanupTimeout)
	defer cancel()
	k := placedKey{name, value}
	s.mu.Lock()
	target, ok := s.placed[k]
	delete(s.placed, k)
	s.mu.Unlock()
	if !ok {
		return nil
	}
	if err := s.p.DeleteTXT(ctx, target, value); err != nil {
		s.mu.Lock()
		s.placed[k] = target // a later CleanUp may retry
		s.mu.Unlock()
		return fmt.Errorf("dns01: delete TXT %s: %w", target, err)
	}
	s.log.Debug("dns record removed", "name", target)
	return nil
}

// Wait returns when the challenge's record can be validated: after the
// provider's WaitRecords (if it is a RecordWaiter), and then either after
// Options.PropagationWait or once every nameserver of the check (see
// Options.Resolvers) serves the value, following the CNAME chain from the
// record name. It polls with backoff for up to Options.PropagationTimeout
// and then returns a *PropagationError naming a lagging server; it returns
// ctx.Err() when ctx ends first.
func (s *Solver) Wait(ctx context.Context, ch challenges.Challenge) error {
	name, value, err := record(ch)
	if err != nil {
		return err
	}
	if rw, ok := s.p.(RecordWaiter); ok {
		if err := rw.WaitRecords(ctx); err != nil {
			return err
		}
	}
	if s.opts.PropagationWait > 0 {
		s.log.Info("waiting for dns propagation", "name", name, "wait", s.opts.PropagationWait)
		return sleep(ctx, s.opts.PropagationWait)
	}
	return s.CheckPropagation(ctx, name, value)
}

// CheckPropagation polls until every nameserver of the check serves value
// at name (following CNAMEs), as Wait does without the other steps. The
// last round of queries may run up to QueryTimeout past
// PropagationTimeout, so that the error says what the server answered.
func (s *Solver) CheckPropagation(ctx context.Context, name, value string) error {
	name = fqdn(name)
	start := time.Now()
	deadline := start.Add(s.opts.PropagationTimeout)
	cctx, cancel := context.WithDeadline(ctx, deadline.Add(s.opts.QueryTimeout))
	defer cancel()
	c := &checker{s: s, zones: map[string][]nameserver{}}
	delay := firstPoll
	var informative *PropagationError
	for attempt := 1; ; attempt++ {
		lag := c.check(cctx, name, value)
		if lag == nil {
			s.log.Info("dns record propagated", "name", name, "attempt", attempt, "took", time.Since(start).Round(time.Millisecond))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if lag.Err == nil || !errors.Is(lag.Err, context.DeadlineExceeded) || informative == nil {
			informative = lag
		}
		s.log.Debug("dns record not yet propagated", "name", lag.Name, "nameserver", lag.Nameserver, "server", lag.Addr, "got", lag.Got, "attempt", attempt)
		left := time.Until(deadline)
		if left <= 0 {
			informative.After = time.Since(start)
			return informative
		}
		if err := sleep(ctx, min(delay, left)); err != nil {
			return err
		}
		delay = min(delay*2, s.opts.PollInterval)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// resolvers returns the servers for lookups: Options.Resolvers, else
// Options.RecursiveResolvers, else those of ResolvConf (read once).
func (s *Solver) resolvers() ([]string, error) {
	if len(s.opts.Resolvers) > 0 {
		return s.opts.Resolvers, nil
	}
	if len(s.opts.RecursiveResolvers) > 0 {
		return s.opts.RecursiveResolvers, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.sysSet {
		s.sysSet = true
		s.sys, s.sysErr = SystemResolvers()
	}
	return s.sys, s.sysErr
}

// lookup asks the resolvers in turn (recursion desired) and returns the
// first NOERROR or NXDOMAIN response.
func (s *Solver) lookup(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	servers, err := s.resolvers()
	if err != nil {
		return nil, err
	}
	return lookupAt(ctx, s.q, servers, name, qtype)
}

// FollowCNAME returns the end of the CNAME chain starting at name (name
// itself when it has no CNAME), asking the resolvers one hop at a time. It
// returns an error wrapping ErrCNAMELoop for loops and chains longer than
// MaxCNAMEHops.
func (s *Solver) FollowCNAME(ctx context.Context, name string) (string, error) {
	cur := fqdn(name)
	seen := map[string]bool{cur: true}
	for range MaxCNAMEHops + 1 {
		r, err := s.lookup(ctx, cur, dns.TypeCNAME)
		if err != nil {
			return "", err
		}
		a, err := follow(r, cur)
		if err != nil {
			return "", err
		}
		if a.final == cur {
			return cur, nil
		}
		// A resolver may return several hops at once.
		next := a.final
		if seen[next] {
			return "", fmt.Errorf("%w: at %s", ErrCNAMELoop, next)
		}
		seen[next] = true
		s.log.Debug("cname followed", "from", cur, "to", next)
		cur = next
	}
	return "", fmt.Errorf("%w: from %s", ErrCNAMELoop, name)
}

// FindZone returns the apex of the zone holding name, walking up from name
// with SOA queries to the resolvers. name should be the end of its CNAME
// chain.
func (s *Solver) FindZone(ctx context.Context, name string) (string, error) {
	cur := fqdn(name)
	for {
		r, err := s.lookup(ctx, cur, dns.TypeSOA)
		if err != nil {
			return "", fmt.Errorf("find zone of %s: %w", name, err)
		}
		cname := false
		for _, rr := range r.Answer {
			switch rr := rr.(type) {
			case *dns.SOA:
				if strings.EqualFold(rr.Hdr.Name, cur) {
					return fqdn(rr.Hdr.Name), nil
				}
			case *dns.CNAME:
				if strings.EqualFold(rr.Hdr.Name, cur) {
					cname = true
				}
			}
		}
		// A negative answer carries the zone's SOA in the authority section.
		if !cname && len(r.Answer) == 0 {
			for _, rr := range r.Ns {
				if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(soa.Hdr.Name, cur) {
					return fqdn(soa.Hdr.Name), nil
				}
			}
		}
		if cur == "." {
			return "", fmt.Errorf("find zone of %s: no SOA found", name)
		}
		_, rest, _ := strings.Cut(cur, ".")
		if rest == "" {
			rest = "."
		}
		cur = rest
	}
}

// zoneOf returns the zone holding name: the provider's answer when it is
// a ZoneKnower that manages name, else FindZone's.
func (s *Solver) zoneOf(ctx context.Context, name string) (string, error) {
	if zk, ok := s.p.(ZoneKnower); ok {
		zone, ok, err := zk.KnownZone(ctx, name)
		if err != nil {
			return "", fmt.Errorf("zone of %s: %w", name, err)
		}
		if ok && dns.IsSubDomain(fqdn(zone), name) {
			s.log.Debug("zone known to the provider", "name", name, "zone", fqdn(zone))
			return fqdn(zone), nil
		}
	}
	return s.FindZone(ctx, name)
}

// nameserver is one server asked in the propagation check.
type nameserver struct {
	host  string   // NS host name; "" for a configured resolver
	addrs []string // host:port, in order of preference
}

// authorities returns the authoritative nameservers of zone with their
// addresses (NS, then A/AAAA or Options.LookupNameserver).
func (s *Solver) authorities(ctx context.Context, zone string) ([]nameserver, error) {
	r, err := s.lookup(ctx, zone, dns.TypeNS)
	if err != nil {
		return nil, fmt.Errorf("nameservers of %s: %w", zone, err)
	}
	var hosts []string
	for _, rr := range r.Answer {
		if ns, ok := rr.(*dns.NS); ok && strings.EqualFold(ns.Hdr.Name, zone) && !slices.Contains(hosts, fqdn(ns.Ns)) {
			hosts = append(hosts, fqdn(ns.Ns))
			if len(hosts) == maxNS {
				break
			}
		}
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("nameservers of %s: no NS records", zone)
	}
	slices.Sort(hosts)
	var out []nameserver
	var errs []error
	for _, h := range hosts {
		addrs, err := s.nameserverAddrs(ctx, h)
		if err != nil || len(addrs) == 0 {
			errs = append(errs, fmt.Errorf("address of nameserver %s: %w", h, err))
			continue
		}
		out = append(out, nameserver{host: h, addrs: addrs})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("nameservers of %s: %w", zone, errors.Join(errs...))
	}
	for _, err := range errs {
		// A nameserver we cannot find cannot be checked; the CA's resolver
		// likely cannot reach it either.
		s.log.Warn("nameserver skipped", "zone", zone, "error", err)
	}
	return out, nil
}

func (s *Solver) nameserverAddrs(ctx context.Context, host string) ([]string, error) {
	if s.opts.LookupNameserver != nil {
		addrs, err := s.opts.LookupNameserver(ctx, host)
		if len(addrs) > maxAddrsPerNS {
			addrs = addrs[:maxAddrsPerNS]
		}
		return addrs, err
	}
	var addrs []string
	var errs []error
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} { // IPv4 first
		r, err := s.lookup(ctx, host, qt)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		a, err := follow(r, host)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n := 0
		for _, rr := range r.Answer {
			if !strings.EqualFold(rr.Header().Name, a.final) || n == maxAddrsPerNS {
				continue
			}
			switch rr := rr.(type) {
			case *dns.A:
				addrs = append(addrs, net.JoinHostPort(rr.A.String(), "53"))
				n++
			case *dns.AAAA:
				addrs = append(addrs, net.JoinHostPort(rr.AAAA.String(), "53"))
				n++
			}
		}
	}
	if len(addrs) == 0 {
		return nil, errors.Join(errs...)
	}
	return addrs, nil
}

// checker runs propagation checks, caching zone → nameservers.
type checker struct {
	s     *Solver
	zones map[string][]nameserver
}

// servers returns the servers to check for name and whether to ask them
// for recursion.
func (c *checker) servers(ctx context.Context, name string) ([]nameserver, bool, error) {
	if len(c.s.opts.Resolvers) > 0 {
		out := make([]nameserver, len(c.s.opts.Resolvers))
		for i, r := range c.s.opts.Resolvers {
			out[i] = nameserver{addrs: []string{r}}
		}
		return out, true, nil
	}
	zone, err := c.s.zoneOf(ctx, name)
	if err != nil {
		return nil, false, err
	}
	if ns, ok := c.zones[zone]; ok {
		return ns, false, nil
	}
	ns, err := c.s.authorities(ctx, zone)
	if err != nil {
		return nil, false, err
	}
	c.zones[zone] = ns
	return ns, false, nil
}

// check asks every server once. It returns nil when all serve value at the
// end of name's CNAME chain, else what one lagging server said.
func (c *checker) check(ctx context.Context, name, value string) *PropagationError {
	cur := name
	seen := map[string]bool{cur: true}
	for range MaxCNAMEHops + 1 {
		servers, recurse, err := c.servers(ctx, cur)
		if err != nil {
			return &PropagationError{Name: cur, Value: value, Got: "no answer: " + err.Error(), Err: err}
		}
		next := ""
		for _, ns := range servers {
			r, addr, err := c.ask(ctx, ns, cur, recurse)
			if err != nil {
				return &PropagationError{Name: cur, Value: value, Nameserver: ns.host, Addr: addr, Got: "no answer: " + err.Error(), Err: err}
			}
			a, err := follow(r, cur)
			if err != nil {
				return &PropagationError{Name: cur, Value: value, Nameserver: ns.host, Addr: addr, Got: err.Error(), Err: err}
			}
			switch {
			case slices.Contains(a.txt, value):
				continue
			case r.Rcode == dns.RcodeSuccess && len(a.txt) == 0 && a.final != cur && (next == "" || next == a.final):
				// The chain leaves this server's data: check the target's
				// servers next.
				next = a.final
				continue
			}
			return &PropagationError{Name: cur, Value: value, Nameserver: ns.host, Addr: addr, Got: describe(r, a)}
		}
		if next == "" {
			return nil
		}
		if seen[next] {
			return &PropagationError{Name: cur, Value: value, Got: "CNAME loop at " + next, Err: ErrCNAMELoop}
		}
		seen[next] = true
		cur = next
	}
	return &PropagationError{Name: cur, Value: value, Got: "CNAME chain too long", Err: ErrCNAMELoop}
}

// ask queries the first address of ns that answers.
func (c *checker) ask(ctx context.Context, ns nameserver, name string, recurse bool) (*dns.Msg, string, error) {
	var err error
	for _, addr := range ns.addrs {
		var r *dns.Msg
		r, err = c.s.q.query(ctx, addr, name, dns.TypeTXT, recurse)
		if err == nil {
			return r, addr, nil
		}
	}
	return nil, strings.Join(ns.addrs, ", "), err
}
