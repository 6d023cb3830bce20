package providers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// ZoneNotFoundError says that no zone of the account holds a name.
type ZoneNotFoundError struct {
	Provider string
	Name     string   // the record name
	Tried    []string // the zone names asked for
}

func (e *ZoneNotFoundError) Error() string {
	return fmt.Sprintf("%s: no zone holding %s in this account (tried %s); check the token's zone access or set the zone option",
		e.Provider, Unfqdn(e.Name), strings.Join(e.Tried, ", "))
}

// ErrZoneNotFound is matched by errors.Is for a *ZoneNotFoundError.
var ErrZoneNotFound = errors.New("zone not found")

func (e *ZoneNotFoundError) Is(target error) bool { return target == ErrZoneNotFound }

// Zone is a provider's zone: its name (no trailing dot) and API ID.
type Zone struct {
	Name string
	ID   string
}

// ZoneFinder finds the zone holding a name by asking the API for each
// candidate (ZoneCandidates), longest first, and caches answers for the
// life of the provider value (a process; nothing cleanup needs).
type ZoneFinder struct {
	Provider string
	// Fixed, when set (the zone option), is the only zone used.
	Fixed string
	// Lookup asks the API whether name is a zone of the account.
	Lookup func(ctx context.Context, name string) (Zone, bool, error)

	mu    sync.Mutex
	cache map[string]Zone
}

// Find returns the zone holding fqdn.
func (f *ZoneFinder) Find(ctx context.Context, fqdn string) (Zone, error) {
	cands := ZoneCandidates(fqdn)
	if f.Fixed != "" {
		if !InZone(fqdn, f.Fixed) {
			return Zone{}, fmt.Errorf("%s: %s is not in the configured zone %s", f.Provider, Unfqdn(fqdn), Unfqdn(f.Fixed))
		}
		cands = []string{Unfqdn(f.Fixed)}
	}
	f.mu.Lock()
	for _, c := range cands {
		if z, ok := f.cache[c]; ok {
			f.mu.Unlock()
			return z, nil
		}
	}
	f.mu.Unlock()
	for _, c := range cands {
		z, ok, err := f.Lookup(ctx, c)
		if err != nil {
			return Zone{}, err
		}
		if ok {
			if z.Name == "" {
				z.Name = c
			}
			f.mu.Lock()
			if f.cache == nil {
				f.cache = map[string]Zone{}
			}
			f.cache[c] = z
			f.mu.Unlock()
			return z, nil
		}
	}
	return Zone{}, &ZoneNotFoundError{Provider: f.Provider, Name: fqdn, Tried: cands}
}

// Known implements dns01.ZoneKnower on top of Find: a name outside the
// account's zones is not an error (ok false).
func (f *ZoneFinder) Known(ctx context.Context, fqdn string) (string, bool, error) {
	z, err := f.Find(ctx, fqdn)
	if errors.Is(err, ErrZoneNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return z.Name, true, nil
}
