package providers

import "context"

// Record is one TXT record of an API that keeps one record per value.
type Record struct {
	ID    string
	Value string // the text, unquoted
}

// RecordAPI implements SetTXT, DeleteTXT, KnownZone and CheckAccess for
// APIs that keep one record per value (Cloudflare, DigitalOcean, Linode):
// find the zone, list the TXT records at the name, create the value when
// missing, delete every record holding it.
type RecordAPI struct {
	Provider string
	Zones    *ZoneFinder
	// List returns the TXT records at fqdn (all pages).
	List func(ctx context.Context, zone Zone, fqdn string) ([]Record, error)
	// Create adds one TXT record; adding an existing value must succeed.
	Create func(ctx context.Context, zone Zone, fqdn, value string) error
	// Delete removes one record; a record already gone must succeed.
	Delete func(ctx context.Context, zone Zone, id string) error
}

// records finds fqdn's zone and lists its TXT records at fqdn.
func (a *RecordAPI) records(ctx context.Context, fqdn string) (Zone, []Record, error) {
	zone, err := a.Zones.Find(ctx, fqdn)
	if err != nil {
		return Zone{}, nil, err
	}
	rs, err := a.List(ctx, zone, fqdn)
	return zone, rs, err
}

// SetTXT adds value at fqdn unless a record holds it.
func (a *RecordAPI) SetTXT(ctx context.Context, fqdn, value string) error {
	zone, rs, err := a.records(ctx, fqdn)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.Value == value {
			return nil
		}
	}
	return a.Create(ctx, zone, fqdn, value)
}

// DeleteTXT removes every record at fqdn holding value.
func (a *RecordAPI) DeleteTXT(ctx context.Context, fqdn, value string) error {
	zone, rs, err := a.records(ctx, fqdn)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.Value != value {
			continue
		}
		if err := a.Delete(ctx, zone, r.ID); err != nil {
			return err
		}
	}
	return nil
}

// KnownZone implements dns01.ZoneKnower.
func (a *RecordAPI) KnownZone(ctx context.Context, fqdn string) (string, bool, error) {
	return a.Zones.Known(ctx, fqdn)
}

// CheckAccess finds the zone and lists the TXT records at fqdn, changing
// nothing.
func (a *RecordAPI) CheckAccess(ctx context.Context, fqdn string) error {
	zone, err := a.Zones.Find(ctx, fqdn)
	if err != nil {
		return err
	}
	_, err = a.List(ctx, zone, fqdn)
	return err
}
