package providers

import (
	"context"
	"strings"
	"sync"
)

// SetAPI implements SetTXT, DeleteTXT, KnownZone and CheckAccess for APIs
// that write the whole TXT set of a name (Route 53, Google Cloud DNS,
// PowerDNS, Hetzner): find the zone, then Change the set, one change per
// zone and name at a time in this process (a wildcard and its apex write
// the same set at once; the API's conditional write guards against other
// writers). Use it as a pointer or embedded in a value that is not copied.
type SetAPI struct {
	Zones *ZoneFinder
	// Change adds (add) or removes value in the TXT set at fqdn of zone:
	// adding a value present and removing one absent succeed.
	Change func(ctx context.Context, zone Zone, fqdn, value string, add bool) error
	// Read, when set, reads the TXT set at fqdn without changing it, for
	// CheckAccess (else CheckAccess only finds the zone).
	Read func(ctx context.Context, zone Zone, fqdn string) error
	// Atomic says the API applies each added or removed value atomically
	// on its side (Hetzner's RRSet actions): no lock is taken.
	Atomic bool

	locks sync.Map // zone ID + " " + name → *sync.Mutex
}

// SetTXT adds value to the TXT set at fqdn.
func (a *SetAPI) SetTXT(ctx context.Context, fqdn, value string) error {
	return a.change(ctx, fqdn, value, true)
}

// DeleteTXT removes value from the TXT set at fqdn; a value not there is
// not an error.
func (a *SetAPI) DeleteTXT(ctx context.Context, fqdn, value string) error {
	return a.change(ctx, fqdn, value, false)
}

func (a *SetAPI) change(ctx context.Context, fqdn, value string, add bool) error {
	zone, err := a.Zones.Find(ctx, fqdn)
	if err != nil {
		return err
	}
	if !a.Atomic {
		mu, _ := a.locks.LoadOrStore(zone.ID+" "+strings.ToLower(Unfqdn(fqdn)), new(sync.Mutex))
		mu.(*sync.Mutex).Lock()
		defer mu.(*sync.Mutex).Unlock()
	}
	return a.Change(ctx, zone, fqdn, value, add)
}

// KnownZone implements dns01.ZoneKnower.
func (a *SetAPI) KnownZone(ctx context.Context, fqdn string) (string, bool, error) {
	return a.Zones.Known(ctx, fqdn)
}

// CheckAccess finds the zone holding fqdn and reads its TXT set there
// (when Read is set), changing nothing.
func (a *SetAPI) CheckAccess(ctx context.Context, fqdn string) error {
	zone, err := a.Zones.Find(ctx, fqdn)
	if err != nil || a.Read == nil {
		return err
	}
	return a.Read(ctx, zone, fqdn)
}
