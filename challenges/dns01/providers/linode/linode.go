// Package linode is a dns01.Provider for Linode (Akamai) DNS Manager
// through the Linode API v4 (https://techdocs.akamai.com/linode-api/):
// domains and domain records, authenticated with a personal access token
// (scope Domains: Read/Write).
package linode

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
)

// DefaultEndpoint is the API's base URL.
const DefaultEndpoint = "https://api.linode.com"

// ttl of the records: Linode's smallest.
const ttl = 300

func tokenItem() creds.Item {
	return creds.Item{What: "API token", Env: []string{"ACMECTL_LINODE_TOKEN", "LINODE_TOKEN"},
		Credential: "linode-token", INI: []string{"dns_linode_key"}}
}

// Provider sets TXT records through the Linode API.
type Provider struct {
	providers.RecordAPI
	api *providers.API
}

var (
	_ dns01.Provider      = (*Provider)(nil)
	_ dns01.ZoneKnower    = (*Provider)(nil)
	_ dns01.AccessChecker = (*Provider)(nil)
)

// New builds the provider; it does no network I/O.
func New(cfg providers.Config) (dns01.Provider, error) {
	tok, err := cfg.Secret(tokenItem())
	if err != nil {
		return nil, err
	}
	ep, err := cfg.Setting("endpoint", creds.Item{Env: []string{"ACMECTL_LINODE_ENDPOINT"}}, DefaultEndpoint)
	if err != nil {
		return nil, err
	}
	base, err := providers.Endpoint(cfg.Name, ep.Value, false)
	if err != nil {
		return nil, err
	}
	p := &Provider{api: &providers.API{Provider: cfg.Name, Base: base, Client: cfg.Client(), UserAgent: cfg.UserAgent,
		Logger: cfg.Log(), CredentialFrom: tok.From, Message: message,
		Authorize: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.Value) }}}
	p.RecordAPI = providers.RecordAPI{Provider: cfg.Name, List: p.records, Create: p.create, Delete: p.delete,
		Zones: &providers.ZoneFinder{Provider: cfg.Name, Fixed: cfg.Options["zone"], Lookup: p.lookupZone}}
	return p, nil
}

// message renders {"errors": [{"reason": "..."}]}.
func message(body []byte) string {
	var e struct {
		Errors []struct {
			Field  string `json:"field"`
			Reason string `json:"reason"`
		} `json:"errors"`
	}
	if providers.DecodeJSON(body, &e) != nil {
		return ""
	}
	var parts []string
	for _, x := range e.Errors[:min(len(e.Errors), 3)] {
		if x.Field != "" {
			parts = append(parts, x.Field+": "+x.Reason)
		} else {
			parts = append(parts, x.Reason)
		}
	}
	return strings.Join(parts, "; ")
}

type page[T any] struct {
	Data  []T `json:"data"`
	Page  int `json:"page"`
	Pages int `json:"pages"`
}

// list fetches every page of path (with X-Filter filter when not nil).
func list[T any](ctx context.Context, api *providers.API, path string, filter any) ([]T, error) {
	var hdr http.Header
	if filter != nil {
		f, err := json.Marshal(filter)
		if err != nil {
			return nil, err
		}
		hdr = http.Header{"X-Filter": {string(f)}}
	}
	var all []T
	for n := 1; n <= 100; n++ {
		var out page[T]
		q := url.Values{"page": {strconv.Itoa(n)}, "page_size": {"100"}}
		if err := api.DoHeader(ctx, http.MethodGet, path+"?"+q.Encode(), hdr, nil, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Data...)
		if n >= out.Pages {
			return all, nil
		}
	}
	return nil, fmt.Errorf("%s: more than 100 pages at %s", api.Provider, path)
}

type domain struct {
	ID     int    `json:"id"`
	Domain string `json:"domain"`
}

func (p *Provider) lookupZone(ctx context.Context, name string) (providers.Zone, bool, error) {
	ds, err := list[domain](ctx, p.api, "/v4/domains", map[string]string{"domain": name})
	if err != nil {
		return providers.Zone{}, false, err
	}
	for _, d := range ds {
		if strings.EqualFold(d.Domain, name) {
			return providers.Zone{Name: name, ID: strconv.Itoa(d.ID)}, true, nil
		}
	}
	return providers.Zone{}, false, nil
}

type record struct {
	ID     int    `json:"id"`
	Type   string `json:"type"`
	Name   string `json:"name"`
	Target string `json:"target"`
}

// records returns the TXT records at fqdn.
func (p *Provider) records(ctx context.Context, zone providers.Zone, fqdn string) ([]providers.Record, error) {
	rel, _ := providers.Relative(fqdn, zone.Name)
	rs, err := list[record](ctx, p.api, "/v4/domains/"+zone.ID+"/records", map[string]string{"type": "TXT", "name": rel})
	if err != nil {
		return nil, err
	}
	var out []providers.Record
	for _, r := range rs {
		if r.Type == "TXT" && strings.EqualFold(r.Name, rel) {
			out = append(out, providers.Record{ID: strconv.Itoa(r.ID), Value: r.Target})
		}
	}
	return out, nil
}

func (p *Provider) create(ctx context.Context, zone providers.Zone, fqdn, value string) error {
	rel, _ := providers.Relative(fqdn, zone.Name)
	in := map[string]any{"type": "TXT", "name": rel, "target": value, "ttl_sec": ttl}
	return p.api.Do(ctx, http.MethodPost, "/v4/domains/"+zone.ID+"/records", in, nil)
}

func (p *Provider) delete(ctx context.Context, zone providers.Zone, id string) error {
	err := p.api.Do(ctx, http.MethodDelete, "/v4/domains/"+zone.ID+"/records/"+url.PathEscape(id), nil, nil)
	if providers.IsStatus(err, http.StatusNotFound) {
		return nil
	}
	return err
}
