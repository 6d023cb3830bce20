// Package digitalocean is a dns01.Provider for DigitalOcean DNS through its
// public API v2 (https://docs.digitalocean.com/reference/api/): domains and
// domain records, authenticated with a personal access token (scopes
// domain:read, domain:create and domain:delete are enough).
package digitalocean

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
)

// DefaultEndpoint is the API's base URL.
const DefaultEndpoint = "https://api.digitalocean.com"

// tokenItem is where the API token is looked up (lego: DO_AUTH_TOKEN;
// certbot: dns_digitalocean_token).
func tokenItem() creds.Item {
	return creds.Item{
		What:       "API token",
		Env:        []string{"ACMECTL_DIGITALOCEAN_TOKEN", "DO_AUTH_TOKEN"},
		Credential: "digitalocean-token",
		INI:        []string{"dns_digitalocean_token"},
	}
}

// TTL of the records (DigitalOcean's minimum is 30).
const ttl = 30

// Provider sets TXT records through the DigitalOcean API.
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
	ep, err := cfg.Setting("endpoint", creds.Item{Env: []string{"ACMECTL_DIGITALOCEAN_ENDPOINT", "DO_API_URL"}}, DefaultEndpoint)
	if err != nil {
		return nil, err
	}
	base, err := providers.Endpoint(cfg.Name, ep.Value, false)
	if err != nil {
		return nil, err
	}
	p := &Provider{api: &providers.API{
		Provider: cfg.Name, Base: base, Client: cfg.Client(), UserAgent: cfg.UserAgent, Logger: cfg.Log(),
		CredentialFrom: tok.From, Message: message,
		Authorize: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.Value) },
	}}
	p.RecordAPI = providers.RecordAPI{Provider: cfg.Name, List: p.records, Create: p.create, Delete: p.delete,
		Zones: &providers.ZoneFinder{Provider: cfg.Name, Fixed: cfg.Options["zone"], Lookup: p.lookupZone}}
	return p, nil
}

// message extracts {"id": ..., "message": ...} from an error answer.
func message(body []byte) string {
	var e struct {
		ID      string `json:"id"`
		Message string `json:"message"`
	}
	if providers.DecodeJSON(body, &e) != nil || e.Message == "" {
		return ""
	}
	return e.ID + ": " + e.Message
}

func (p *Provider) lookupZone(ctx context.Context, name string) (providers.Zone, bool, error) {
	var out struct {
		Domain struct {
			Name string `json:"name"`
		} `json:"domain"`
	}
	err := p.api.Do(ctx, http.MethodGet, "/v2/domains/"+url.PathEscape(name), nil, &out)
	if providers.IsStatus(err, http.StatusNotFound) {
		return providers.Zone{}, false, nil
	}
	if err != nil {
		return providers.Zone{}, false, err
	}
	return providers.Zone{Name: name, ID: name}, true, nil
}

type record struct {
	ID   int    `json:"id"`
	Type string `json:"type"`
	Name string `json:"name"`
	Data string `json:"data"`
	TTL  int    `json:"ttl"`
}

// records lists the TXT records at fqdn, following pagination.
func (p *Provider) records(ctx context.Context, zone providers.Zone, fqdn string) ([]providers.Record, error) {
	var all []providers.Record
	for page := 1; page <= 100; page++ {
		var out struct {
			Records []record `json:"domain_records"`
			Links   struct {
				Pages struct {
					Next string `json:"next"`
				} `json:"pages"`
			} `json:"links"`
		}
		q := url.Values{"type": {"TXT"}, "name": {providers.Unfqdn(fqdn)}, "per_page": {"100"}, "page": {strconv.Itoa(page)}}
		if err := p.api.Do(ctx, http.MethodGet, "/v2/domains/"+url.PathEscape(zone.ID)+"/records?"+q.Encode(), nil, &out); err != nil {
			return nil, err
		}
		for _, r := range out.Records {
			all = append(all, providers.Record{ID: strconv.Itoa(r.ID), Value: r.Data})
		}
		if out.Links.Pages.Next == "" {
			return all, nil
		}
	}
	return nil, fmt.Errorf("%s: more than 100 pages of TXT records at %s", p.api.Provider, providers.Unfqdn(fqdn))
}

func (p *Provider) create(ctx context.Context, zone providers.Zone, fqdn, value string) error {
	rel, _ := providers.Relative(fqdn, zone.Name)
	if rel == "" {
		rel = "@"
	}
	// The published description requires flags and tag (null for TXT).
	in := map[string]any{"type": "TXT", "name": rel, "data": value, "ttl": ttl, "flags": nil, "tag": nil}
	return p.api.Do(ctx, http.MethodPost, "/v2/domains/"+url.PathEscape(zone.ID)+"/records", in, nil)
}

func (p *Provider) delete(ctx context.Context, zone providers.Zone, id string) error {
	err := p.api.Do(ctx, http.MethodDelete, "/v2/domains/"+url.PathEscape(zone.ID)+"/records/"+url.PathEscape(id), nil, nil)
	if providers.IsStatus(err, http.StatusNotFound) {
		return nil
	}
	return err
}
