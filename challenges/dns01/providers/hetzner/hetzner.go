// Package hetzner is a dns01.Provider for Hetzner DNS through the current
// Hetzner Cloud API (https://docs.hetzner.cloud/reference/cloud#zones):
// zones and RRSets, authenticated with a Hetzner Cloud project API token
// (read & write). The old DNS console API (dns.hetzner.com), which shuts
// down in 2026, is not used.
package hetzner

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
)

// DefaultEndpoint is the API's base URL.
const DefaultEndpoint = "https://api.hetzner.cloud/v1"

// actionTimeout bounds the wait for an RRSet change to complete.
const actionTimeout = time.Minute

func tokenItem() creds.Item {
	return creds.Item{What: "Hetzner Cloud API token", Env: []string{"ACMECTL_HETZNER_API_TOKEN", "HETZNER_API_TOKEN", "HCLOUD_TOKEN"},
		Credential: "hetzner-api-token", INI: []string{"dns_hetzner_api_token"}}
}

// Provider changes TXT RRSets through the Hetzner Cloud API.
type Provider struct {
	api   *providers.API
	zones *providers.ZoneFinder
	providers.SetAPI
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
		if old, _ := cfg.Creds.Optional(creds.Item{Env: []string{"HETZNER_API_KEY"}}); old.Value != "" {
			return nil, fmt.Errorf("%s: HETZNER_API_KEY is a token of the old DNS console API (shut down in 2026): create a Hetzner Cloud API token (read & write) in the project of the zone and set HETZNER_API_TOKEN", cfg.Name)
		}
		return nil, err
	}
	ep, err := cfg.Setting("endpoint", creds.Item{Env: []string{"ACMECTL_HETZNER_ENDPOINT"}}, DefaultEndpoint)
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
	p.zones = &providers.ZoneFinder{Provider: cfg.Name, Fixed: cfg.Options["zone"], Lookup: p.lookupZone}
	p.SetAPI = providers.SetAPI{Zones: p.zones, Change: p.change, Atomic: true, Read: func(ctx context.Context, zone providers.Zone, fqdn string) error {
		_, err := p.values(ctx, zone, fqdn)
		return err
	}}
	return p, nil
}

// message renders {"error": {"code": ..., "message": ...}}.
func message(body []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if providers.DecodeJSON(body, &e) != nil || e.Error.Code == "" {
		return ""
	}
	return e.Error.Code + ": " + e.Error.Message
}

func (p *Provider) lookupZone(ctx context.Context, name string) (providers.Zone, bool, error) {
	var out struct {
		Zones []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"zones"`
	}
	if err := p.api.Do(ctx, http.MethodGet, "/zones?"+url.Values{"name": {name}}.Encode(), nil, &out); err != nil {
		return providers.Zone{}, false, err
	}
	for _, z := range out.Zones {
		if strings.EqualFold(z.Name, name) {
			return providers.Zone{Name: name, ID: strconv.FormatInt(z.ID, 10)}, true, nil
		}
	}
	return providers.Zone{}, false, nil
}

// rrPath is the RRSet's path: rr_name is relative to the zone, "@" for
// the apex.
func rrPath(zone providers.Zone, fqdn string) string {
	rel, _ := providers.Relative(fqdn, zone.Name)
	if rel == "" {
		rel = "@"
	}
	return "/zones/" + url.PathEscape(zone.ID) + "/rrsets/" + url.PathEscape(rel) + "/TXT"
}

// values returns the TXT values of the RRSet at fqdn (none when it does
// not exist).
func (p *Provider) values(ctx context.Context, zone providers.Zone, fqdn string) ([]string, error) {
	var out struct {
		RRSet struct {
			Records []struct {
				Value string `json:"value"`
			} `json:"records"`
		} `json:"rrset"`
	}
	err := p.api.Do(ctx, http.MethodGet, rrPath(zone, fqdn), nil, &out)
	if providers.IsStatus(err, http.StatusNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var vs []string
	for _, r := range out.RRSet.Records {
		vs = append(vs, providers.TXTUnquote(r.Value))
	}
	return vs, nil
}

type action struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// change runs add_records (add) or remove_records with value and waits
// for the Action to finish. Hetzner applies each action atomically: no
// lock (providers.SetAPI.Atomic).
func (p *Provider) change(ctx context.Context, zone providers.Zone, fqdn, value string, add bool) error {
	what := "remove_records"
	if add {
		what = "add_records"
	}
	have, err := p.values(ctx, zone, fqdn)
	if err != nil {
		return err
	}
	if slices.Contains(have, value) == add {
		return nil // already as wanted
	}
	var out struct {
		Action action `json:"action"`
	}
	in := map[string]any{"records": []map[string]string{{"value": providers.TXTQuote(value)}}}
	if err := p.api.Do(ctx, http.MethodPost, rrPath(zone, fqdn)+"/actions/"+what, in, &out); err != nil {
		return err
	}
	return p.wait(ctx, out.Action)
}

// wait polls the Action until it succeeds or fails, with backoff.
func (p *Provider) wait(ctx context.Context, a action) error {
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	delay := 200 * time.Millisecond
	for {
		switch a.Status {
		case "success":
			return nil
		case "error":
			msg := "failed"
			if a.Error != nil {
				msg = a.Error.Code + ": " + a.Error.Message
			}
			return fmt.Errorf("%s: action %d: %s", p.api.Provider, a.ID, providers.Sanitize(msg, 200))
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: action %d still %s: %w", p.api.Provider, a.ID, providers.Sanitize(a.Status, 20), ctx.Err())
		case <-t.C:
		}
		delay = min(delay*2, 2*time.Second)
		var out struct {
			Action action `json:"action"`
		}
		if err := p.api.Do(ctx, http.MethodGet, "/zones/actions/"+strconv.FormatInt(a.ID, 10), nil, &out); err != nil {
			return err
		}
		a = out.Action
	}
}
