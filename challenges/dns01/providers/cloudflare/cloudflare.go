// Package cloudflare is a dns01.Provider for Cloudflare DNS through its API
// v4 (https://developers.cloudflare.com/api/): zones and DNS records,
// authenticated with an API token (Zone:Read and DNS:Edit on the zone) or,
// for old setups, the global API key with the account's e-mail address.
package cloudflare

import (
	"context"
	"errors"
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
const DefaultEndpoint = "https://api.cloudflare.com/client/v4"

// ttl of the records: 120 s (1 would mean "automatic", 300 s).
const ttl = 120

// codeIdenticalRecord is Cloudflare's error code for "An identical record
// already exists."
const codeIdenticalRecord = 81058

func tokenItem() creds.Item {
	return creds.Item{What: "API token",
		Env:        []string{"ACMECTL_CLOUDFLARE_API_TOKEN", "CLOUDFLARE_DNS_API_TOKEN", "CF_DNS_API_TOKEN"},
		Credential: "cloudflare-api-token", INI: []string{"dns_cloudflare_api_token"}}
}

// zoneTokenItem is lego's optional second token used only to read zones.
func zoneTokenItem() creds.Item {
	return creds.Item{What: "zone API token",
		Env:        []string{"ACMECTL_CLOUDFLARE_ZONE_API_TOKEN", "CLOUDFLARE_ZONE_API_TOKEN", "CF_ZONE_API_TOKEN"},
		Credential: "cloudflare-zone-api-token"}
}

func keyItem() creds.Item {
	return creds.Item{What: "global API key",
		Env:        []string{"ACMECTL_CLOUDFLARE_API_KEY", "CLOUDFLARE_API_KEY", "CF_API_KEY"},
		Credential: "cloudflare-api-key", INI: []string{"dns_cloudflare_api_key"}}
}

func emailItem() creds.Item {
	return creds.Item{What: "account e-mail",
		Env: []string{"ACMECTL_CLOUDFLARE_EMAIL", "CLOUDFLARE_EMAIL", "CF_API_EMAIL"},
		INI: []string{"dns_cloudflare_email"}}
}

// Provider sets TXT records through the Cloudflare API.
type Provider struct {
	providers.RecordAPI
	api, zoneAPI *providers.API
}

var (
	_ dns01.Provider      = (*Provider)(nil)
	_ dns01.ZoneKnower    = (*Provider)(nil)
	_ dns01.AccessChecker = (*Provider)(nil)
)

// New builds the provider; it does no network I/O. An API token is looked
// for first; without one, the global API key and e-mail.
func New(cfg providers.Config) (dns01.Provider, error) {
	ep, err := cfg.Setting("endpoint", creds.Item{Env: []string{"ACMECTL_CLOUDFLARE_ENDPOINT"}}, DefaultEndpoint)
	if err != nil {
		return nil, err
	}
	base, err := providers.Endpoint(cfg.Name, ep.Value, false)
	if err != nil {
		return nil, err
	}
	newAPI := func(from string, auth func(*http.Request)) *providers.API {
		return &providers.API{Provider: cfg.Name, Base: base, Client: cfg.Client(), UserAgent: cfg.UserAgent,
			Logger: cfg.Log(), CredentialFrom: from, Message: message, Authorize: auth}
	}
	p := &Provider{}
	tok, err := cfg.Secret(tokenItem())
	switch {
	case err == nil:
		p.api = newAPI(tok.From, bearer(tok.Value))
		p.zoneAPI = p.api
		if zt, err := cfg.Creds.Optional(zoneTokenItem()); err != nil {
			return nil, err
		} else if zt.Value != "" {
			p.zoneAPI = newAPI(zt.From, bearer(zt.Value))
		}
	case errors.Is(err, creds.ErrNotFound):
		key, kerr := cfg.Secret(keyItem())
		if kerr != nil {
			if errors.Is(kerr, creds.ErrNotFound) {
				return nil, err // name the token's places: the recommended way
			}
			return nil, kerr
		}
		email, eerr := cfg.Secret(emailItem())
		if eerr != nil {
			return nil, eerr
		}
		p.api = newAPI(key.From+" and "+email.From, func(r *http.Request) {
			r.Header.Set("X-Auth-Email", email.Value)
			r.Header.Set("X-Auth-Key", key.Value)
		})
		p.zoneAPI = p.api
	default:
		return nil, err
	}
	p.RecordAPI = providers.RecordAPI{Provider: cfg.Name, List: p.records, Create: p.create, Delete: p.delete,
		Zones: &providers.ZoneFinder{Provider: cfg.Name, Fixed: cfg.Options["zone"], Lookup: p.lookupZone}}
	return p, nil
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// message renders the errors array of a failure answer.
func message(body []byte) string {
	var e struct {
		Errors []apiError `json:"errors"`
	}
	if providers.DecodeJSON(body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	var parts []string
	for _, x := range e.Errors[:min(len(e.Errors), 3)] {
		parts = append(parts, strconv.Itoa(x.Code)+" "+x.Message)
	}
	return strings.Join(parts, "; ")
}

func (p *Provider) lookupZone(ctx context.Context, name string) (providers.Zone, bool, error) {
	var out struct {
		Result []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"result"`
	}
	if err := p.zoneAPI.Do(ctx, http.MethodGet, "/zones?"+url.Values{"name": {name}}.Encode(), nil, &out); err != nil {
		return providers.Zone{}, false, err
	}
	for _, z := range out.Result {
		if strings.EqualFold(z.Name, name) && z.ID != "" {
			return providers.Zone{Name: name, ID: z.ID}, true, nil
		}
	}
	return providers.Zone{}, false, nil
}

type record struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Name    string `json:"name"`
	Content string `json:"content"`
}

// records lists the TXT records at fqdn, following pagination.
func (p *Provider) records(ctx context.Context, zone providers.Zone, fqdn string) ([]providers.Record, error) {
	var all []providers.Record
	for page := 1; page <= 100; page++ {
		var out struct {
			Result     []record `json:"result"`
			ResultInfo struct {
				PerPage    int `json:"per_page"`
				TotalCount int `json:"total_count"`
			} `json:"result_info"`
		}
		q := url.Values{"type": {"TXT"}, "name": {providers.Unfqdn(fqdn)}, "per_page": {"100"}, "page": {strconv.Itoa(page)}}
		if err := p.api.Do(ctx, http.MethodGet, "/zones/"+url.PathEscape(zone.ID)+"/dns_records?"+q.Encode(), nil, &out); err != nil {
			return nil, err
		}
		for _, r := range out.Result {
			// Cloudflare may return TXT content in quotes.
			all = append(all, providers.Record{ID: r.ID, Value: providers.TXTUnquote(r.Content)})
		}
		if len(out.Result) == 0 || page*max(out.ResultInfo.PerPage, 1) >= out.ResultInfo.TotalCount {
			return all, nil
		}
	}
	return nil, fmt.Errorf("%s: more than 100 pages of TXT records at %s", p.api.Provider, providers.Unfqdn(fqdn))
}

func (p *Provider) create(ctx context.Context, zone providers.Zone, fqdn, value string) error {
	in := map[string]any{"type": "TXT", "name": providers.Unfqdn(fqdn), "content": value, "ttl": ttl}
	err := p.api.Do(ctx, http.MethodPost, "/zones/"+url.PathEscape(zone.ID)+"/dns_records", in, nil)
	var se *providers.StatusError
	if errors.As(err, &se) && strings.HasPrefix(se.Message, strconv.Itoa(codeIdenticalRecord)+" ") {
		return nil // added concurrently
	}
	return err
}

func (p *Provider) delete(ctx context.Context, zone providers.Zone, id string) error {
	// The published description requires a JSON body on DELETE.
	err := p.api.Do(ctx, http.MethodDelete, "/zones/"+url.PathEscape(zone.ID)+"/dns_records/"+url.PathEscape(id), struct{}{}, nil)
	if providers.IsStatus(err, http.StatusNotFound) {
		return nil
	}
	return err
}
