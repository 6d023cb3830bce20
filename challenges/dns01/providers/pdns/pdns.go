// Package pdns is a dns01.Provider for PowerDNS Authoritative through its
// HTTP API (https://doc.powerdns.com/authoritative/http-api/): it finds the
// zone, reads the TXT rrset at the name and PATCHes it with the value added
// or removed, keeping the other values there. The API key goes in the
// X-API-Key header.
//
// PowerDNS has no conditional update, so two processes changing the same
// rrset at the same instant can lose one value; within one process the
// provider serializes changes per name.
package pdns

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
)

func urlItem() creds.Item {
	return creds.Item{What: "API URL", Env: []string{"ACMECTL_PDNS_API_URL", "PDNS_API_URL"}, INI: []string{"dns_powerdns_api_url"}}
}

func keyItem() creds.Item {
	return creds.Item{What: "API key", Env: []string{"ACMECTL_PDNS_API_KEY", "PDNS_API_KEY"},
		Credential: "pdns-api-key", INI: []string{"dns_powerdns_api_key"}}
}

func serverItem() creds.Item {
	return creds.Item{What: "server ID", Env: []string{"ACMECTL_PDNS_SERVER_NAME", "PDNS_SERVER_NAME"}}
}

// Provider changes TXT rrsets through the PowerDNS API.
type Provider struct {
	api              *providers.API
	server           string // path prefix /api/v1/servers/{server-id}
	ttl              int
	zones            *providers.ZoneFinder
	providers.SetAPI // one read-modify-write per record name at a time
}

var (
	_ dns01.Provider      = (*Provider)(nil)
	_ dns01.ZoneKnower    = (*Provider)(nil)
	_ dns01.AccessChecker = (*Provider)(nil)
)

// New builds the provider; it does no network I/O. The API URL is the
// server's webserver address (http://127.0.0.1:8081); plain http is
// accepted (PowerDNS serves its API without TLS) with a warning when not
// on loopback.
func New(cfg providers.Config) (dns01.Provider, error) {
	base, err := cfg.RequiredEndpoint(urlItem(), true)
	if err != nil {
		return nil, err
	}
	if base.Scheme == "http" && !providers.IsLoopback(base.Hostname()) {
		cfg.Log().Warn("PowerDNS API over plain http: the API key travels unencrypted; put it behind TLS", "endpoint", base.Redacted())
	}
	key, err := cfg.Secret(keyItem())
	if err != nil {
		return nil, err
	}
	server, err := cfg.Setting("server-id", serverItem(), "localhost")
	if err != nil {
		return nil, err
	}
	ttl := 60
	if v := cfg.Options["ttl"]; v != "" {
		if ttl, err = strconv.Atoi(v); err != nil || ttl < 1 {
			return nil, &optionError{cfg.Name, "ttl", v}
		}
	}
	base.Path = strings.TrimSuffix(base.Path, "/api/v1") // accept both forms
	p := &Provider{
		api: &providers.API{Provider: cfg.Name, Base: base, Client: cfg.Client(), UserAgent: cfg.UserAgent, Logger: cfg.Log(),
			CredentialFrom: key.From, Message: message,
			Authorize: func(r *http.Request) { r.Header.Set("X-API-Key", key.Value) }},
		server: "/api/v1/servers/" + url.PathEscape(server.Value),
		ttl:    ttl,
	}
	p.zones = &providers.ZoneFinder{Provider: cfg.Name, Fixed: cfg.Options["zone"], Lookup: p.lookupZone}
	p.SetAPI = providers.SetAPI{Zones: p.zones, Change: p.change, Read: func(ctx context.Context, zone providers.Zone, fqdn string) error {
		_, err := p.values(ctx, zone, strings.ToLower(fqdn))
		return err
	}}
	return p, nil
}

type optionError struct{ provider, key, value string }

func (e *optionError) Error() string {
	return e.provider + ": option " + e.key + " " + strconv.Quote(providers.Sanitize(e.value, 40)) + " is not valid"
}

// message extracts {"error": "..."}.
func message(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if providers.DecodeJSON(body, &e) != nil {
		return ""
	}
	return e.Error
}

func (p *Provider) lookupZone(ctx context.Context, name string) (providers.Zone, bool, error) {
	var zones []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := p.api.Do(ctx, http.MethodGet, p.server+"/zones?"+url.Values{"zone": {name + "."}}.Encode(), nil, &zones); err != nil {
		return providers.Zone{}, false, err
	}
	for _, z := range zones {
		if strings.EqualFold(providers.Unfqdn(z.Name), name) && z.ID != "" {
			return providers.Zone{Name: name, ID: z.ID}, true, nil
		}
	}
	return providers.Zone{}, false, nil
}

type rrset struct {
	Name       string   `json:"name"`
	Type       string   `json:"type"`
	TTL        int      `json:"ttl,omitempty"`
	ChangeType string   `json:"changetype,omitempty"`
	Records    []record `json:"records"`
}

type record struct {
	Content  string `json:"content"`
	Disabled bool   `json:"disabled"`
}

// values returns the TXT values at fqdn (unquoted) and the rrset's TTL.
func (p *Provider) values(ctx context.Context, zone providers.Zone, fqdn string) ([]string, error) {
	var z struct {
		RRSets []rrset `json:"rrsets"`
	}
	q := url.Values{"rrset_name": {fqdn}, "rrset_type": {"TXT"}} // PowerDNS ≥ 4.8 filters; older ones send the zone
	if err := p.api.Do(ctx, http.MethodGet, p.server+"/zones/"+url.PathEscape(zone.ID)+"?"+q.Encode(), nil, &z); err != nil {
		return nil, err
	}
	var out []string
	for _, s := range z.RRSets {
		if !strings.EqualFold(s.Name, fqdn) || s.Type != "TXT" {
			continue
		}
		for _, r := range s.Records {
			out = append(out, providers.TXTUnquote(r.Content))
		}
	}
	return out, nil
}

// change adds (add) or removes value in the TXT rrset at fqdn of zone
// (providers.SetAPI holds the name's lock).
func (p *Provider) change(ctx context.Context, zone providers.Zone, fqdn, value string, add bool) error {
	fqdn = strings.ToLower(fqdn)
	have, err := p.values(ctx, zone, fqdn)
	if err != nil {
		return err
	}
	if slices.Contains(have, value) == add {
		return nil // already as wanted
	}
	want := slices.DeleteFunc(have, func(v string) bool { return v == value })
	if add {
		want = append(want, value)
	}
	set := rrset{Name: fqdn, Type: "TXT", TTL: p.ttl, ChangeType: "REPLACE", Records: []record{}}
	for _, v := range want {
		set.Records = append(set.Records, record{Content: providers.TXTQuote(v)})
	}
	if len(want) == 0 {
		set = rrset{Name: fqdn, Type: "TXT", ChangeType: "DELETE", Records: []record{}}
	}
	return p.api.Do(ctx, http.MethodPatch, p.server+"/zones/"+url.PathEscape(zone.ID), map[string]any{"rrsets": []rrset{set}}, nil)
}
