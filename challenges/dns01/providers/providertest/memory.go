package providertest

import (
	"context"
	"slices"
	"strings"

	"github.com/acmectl/acmectl/challenges/dns01"
)

// Memory is a dns01.Provider writing straight into a Zones store, for
// tests of the Solver and the harness itself. With Single it holds one
// TXT value per name (a second SetTXT replaces the first, as DuckDNS
// does) and says so (dns01.SingleValuer); with KnowsZones it answers
// dns01.ZoneKnower from the store.
type Memory struct {
	Zones      *Zones
	Single     bool
	KnowsZones bool
}

var (
	_ dns01.Provider     = (*Memory)(nil)
	_ dns01.SingleValuer = (*Memory)(nil)
	_ dns01.ZoneKnower   = (*Memory)(nil)
)

func (m *Memory) zone(fqdn string) string {
	name := norm(fqdn)
	best := ""
	for _, z := range m.Zones.ZoneNames() {
		if (name == z || strings.HasSuffix(name, "."+z)) && len(z) > len(best) {
			best = z
		}
	}
	return best
}

// SetTXT adds the value (replaces all values at fqdn when Single).
func (m *Memory) SetTXT(_ context.Context, fqdn, value string) error {
	zone := m.zone(fqdn)
	if m.Single {
		m.Zones.SetRRSet(zone, fqdn, "TXT", 60, []string{value})
		return nil
	}
	rs, _ := m.Zones.Records(zone)
	for _, r := range rs {
		if r.Name == norm(fqdn) && r.Type == "TXT" && r.Value == value {
			return nil
		}
	}
	m.Zones.Add(zone, Record{Name: fqdn, Type: "TXT", TTL: 60, Value: value})
	return nil
}

// DeleteTXT removes the value.
func (m *Memory) DeleteTXT(_ context.Context, fqdn, value string) error {
	zone := m.zone(fqdn)
	rs, _ := m.Zones.Records(zone)
	for _, r := range rs {
		if r.Name == norm(fqdn) && r.Type == "TXT" && r.Value == value {
			m.Zones.Delete(zone, r.ID)
		}
	}
	return nil
}

// SingleTXTValue reports Single.
func (m *Memory) SingleTXTValue() bool { return m.Single }

// KnownZone answers from the store when KnowsZones.
func (m *Memory) KnownZone(_ context.Context, fqdn string) (string, bool, error) {
	if !m.KnowsZones {
		return "", false, nil
	}
	z := m.zone(fqdn)
	return z, z != "" && slices.Contains(m.Zones.ZoneNames(), z), nil
}
