// Package providertest is the test harness of the DNS providers (used only
// by tests): a stateful record store shared by a provider's fake API and a
// loopback DNS server that serves it, an HTTP fake base that checks every
// request and response against the provider's published OpenAPI document,
// and helpers that run the dnstest conformance checks and an end-to-end
// wildcard-plus-apex issuance through Pebble (its resolver pointed at the
// DNS server) against any provider.
//
// A provider's test package typically has one top-level test that starts
// one Env (one DNS server, one Pebble) and runs its cases as subtests:
//
//	env := providertest.NewEnv(t, "example.test")
//	fake := providertest.StartFake(t, providertest.FakeOptions{Spec: "testdata/openapi.yaml", BasePath: "/v4", Handler: h})
//	p, _ := cloudflare.New(providers.Config{Options: map[string]string{"endpoint": fake.URL}, ...})
//	t.Run("conformance", func(t *testing.T) { dnstest.Run(t, p, "example.test", env.Check) })
//	t.Run("issue", func(t *testing.T) { env.Issue(t, p, "example.test") })
package providertest

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// Record is one resource record of a fake provider.
type Record struct {
	ID    string // assigned by Add, unique across zones
	Name  string // absolute, lowercase, no trailing dot
	Type  string // "TXT", "CNAME", ...
	TTL   int
	Value string // TXT: the text itself (unquoted); CNAME: the target without trailing dot
}

// Zones is the state of a fake provider: its zones and their records. The
// fake API changes it; the DNS server (Zones is a dns.Handler) serves it.
// It is safe for concurrent use.
type Zones struct {
	mu     sync.Mutex
	zones  map[string][]Record // zone name (lowercase, no dot) → records
	ids    map[string]int      // zone name → numeric zone ID
	nextID int
}

// NewZones returns a store holding the given zones, empty.
func NewZones(names ...string) *Zones {
	z := &Zones{zones: map[string][]Record{}, ids: map[string]int{}, nextID: 1000}
	for _, n := range names {
		z.AddZone(n)
	}
	return z
}

func norm(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".") }

// AddZone adds an empty zone (no-op when present) and returns its ID.
func (z *Zones) AddZone(name string) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	name = norm(name)
	if _, ok := z.zones[name]; !ok {
		z.zones[name] = nil
		z.nextID++
		z.ids[name] = z.nextID
	}
	return z.ids[name]
}

// ZoneNames returns the zones, sorted.
func (z *Zones) ZoneNames() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	var out []string
	for n := range z.zones {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// ZoneID returns the numeric ID of zone, or 0.
func (z *Zones) ZoneID(zone string) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.ids[norm(zone)]
}

// ZoneByID returns the zone with the numeric ID id.
func (z *Zones) ZoneByID(id int) (string, bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	for n, i := range z.ids {
		if i == id {
			return n, true
		}
	}
	return "", false
}

// HasZone reports whether zone exists.
func (z *Zones) HasZone(zone string) bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	_, ok := z.zones[norm(zone)]
	return ok
}

// Records returns zone's records in insertion order, and whether zone
// exists.
func (z *Zones) Records(zone string) ([]Record, bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	rs, ok := z.zones[norm(zone)]
	return slices.Clone(rs), ok
}

// Add stores r in zone with a fresh ID and returns it. ok is false when
// the zone does not exist.
func (z *Zones) Add(zone string, r Record) (Record, bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	zone = norm(zone)
	if _, ok := z.zones[zone]; !ok {
		return Record{}, false
	}
	z.nextID++
	r.ID = strconv.Itoa(z.nextID)
	r.Name = norm(r.Name)
	r.Type = strings.ToUpper(r.Type)
	z.zones[zone] = append(z.zones[zone], r)
	return r, true
}

// Get returns the record with id in zone.
func (z *Zones) Get(zone, id string) (Record, bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, r := range z.zones[norm(zone)] {
		if r.ID == id {
			return r, true
		}
	}
	return Record{}, false
}

// Update replaces the record with r.ID in zone.
func (z *Zones) Update(zone string, r Record) bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	rs := z.zones[norm(zone)]
	for i := range rs {
		if rs[i].ID == r.ID {
			r.Name, r.Type = norm(r.Name), strings.ToUpper(r.Type)
			rs[i] = r
			return true
		}
	}
	return false
}

// Delete removes the record with id from zone.
func (z *Zones) Delete(zone, id string) bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	zone = norm(zone)
	rs := z.zones[zone]
	for i := range rs {
		if rs[i].ID == id {
			z.zones[zone] = slices.Delete(rs, i, i+1)
			return true
		}
	}
	return false
}

// SetRRSet replaces all records of (name, type) in zone by values (none:
// deletes them), as rrset-based APIs do.
func (z *Zones) SetRRSet(zone, name, typ string, ttl int, values []string) bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	zone, name, typ = norm(zone), norm(name), strings.ToUpper(typ)
	rs, ok := z.zones[zone]
	if !ok {
		return false
	}
	rs = slices.DeleteFunc(rs, func(r Record) bool { return r.Name == name && r.Type == typ })
	for _, v := range values {
		z.nextID++
		rs = append(rs, Record{ID: strconv.Itoa(z.nextID), Name: name, Type: typ, TTL: ttl, Value: v})
	}
	z.zones[zone] = rs
	return true
}

// TXT returns the TXT values at name, sorted.
func (z *Zones) TXT(name string) []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	name = norm(name)
	var out []string
	for _, rs := range z.zones {
		for _, r := range rs {
			if r.Name == name && r.Type == "TXT" {
				out = append(out, r.Value)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Count returns the number of records of type typ in all zones.
func (z *Zones) Count(typ string) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	n := 0
	for _, rs := range z.zones {
		for _, r := range rs {
			if r.Type == typ {
				n++
			}
		}
	}
	return n
}

// ServeDNS answers authoritatively from the store: records, a synthesized
// SOA and NS (ns1.ZONE, whose A is 127.0.0.1) at each apex, NXDOMAIN or
// NODATA with the SOA, REFUSED outside the zones.
func (z *Zones) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	z.answer(m, q)
	// Follow a CNAME to a name this store also serves, as the recursive
	// resolver the CA uses would (acme-dns delegation).
	for hop := 0; hop < 8 && q.Qtype != dns.TypeCNAME && len(m.Answer) > 0; hop++ {
		c, ok := m.Answer[len(m.Answer)-1].(*dns.CNAME)
		if !ok {
			break
		}
		next := new(dns.Msg)
		next.SetReply(req)
		z.answer(next, dns.Question{Name: c.Target, Qtype: q.Qtype, Qclass: q.Qclass})
		if next.Rcode == dns.RcodeRefused {
			break
		}
		m.Answer = append(m.Answer, next.Answer...)
		if len(next.Answer) == 0 {
			m.Rcode, m.Ns = next.Rcode, next.Ns
		}
	}
	_ = w.WriteMsg(m)
}

func (z *Zones) answer(m *dns.Msg, q dns.Question) {
	z.mu.Lock()
	defer z.mu.Unlock()
	name := norm(q.Name)
	zone := ""
	for n := range z.zones {
		if (name == n || strings.HasSuffix(name, "."+n)) && len(n) > len(zone) {
			zone = n
		}
	}
	if zone == "" {
		m.Authoritative = false
		m.Rcode = dns.RcodeRefused
		return
	}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: dns.Fqdn(q.Name), Rrtype: t, Class: dns.ClassINET, Ttl: 1}
	}
	soa := &dns.SOA{Hdr: dns.RR_Header{Name: zone + ".", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 1},
		Ns: "ns1." + zone + ".", Mbox: "hostmaster." + zone + ".", Serial: 1, Refresh: 60, Retry: 60, Expire: 600, Minttl: 1}
	exists := false
	if name == zone {
		exists = true
		switch q.Qtype {
		case dns.TypeSOA:
			m.Answer = append(m.Answer, soa)
		case dns.TypeNS:
			m.Answer = append(m.Answer, &dns.NS{Hdr: hdr(dns.TypeNS), Ns: "ns1." + zone + "."})
		}
	}
	if name == "ns1."+zone {
		exists = true
		if q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: net.IPv4(127, 0, 0, 1)})
		}
	}
	for _, r := range z.zones[zone] {
		if r.Name != name && strings.HasSuffix(r.Name, "."+name) {
			exists = true // an empty non-terminal
		}
		if r.Name != name {
			continue
		}
		exists = true
		switch {
		case r.Type == "TXT" && q.Qtype == dns.TypeTXT:
			m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: splitTXT(r.Value)})
		case r.Type == "A" && q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: net.ParseIP(r.Value)})
		case r.Type == "CNAME":
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: dns.Fqdn(r.Value)})
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = append(m.Ns, soa)
		if !exists {
			m.Rcode = dns.RcodeNameError
		}
	}
}

// splitTXT cuts text into character-strings of at most 255 bytes.
func splitTXT(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}
