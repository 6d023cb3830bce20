// Package ovh is a dns01.Provider for OVHcloud DNS zones (API 1.0) over
// net/http: requests signed with an application key, application secret
// and consumer key ("$1$" SHA-1 signatures, with the clock offset read
// from /auth/time), or an OAuth2 service account (client credentials).
// Endpoints: ovh-eu, ovh-ca, ovh-us, kimsufi-eu/-ca, soyoustart-eu/-ca,
// or a URL.
//
// OVH keeps one record per value (an ID each), so a value is added with
// one POST and removed by finding its ID again by name and value, then the
// zone is refreshed to publish the change.
package ovh

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
)

// endpoint returns the API base URL of an OVH region name (the names
// lego, certbot-dns-ovh and the OVH SDKs accept), or name itself.
func endpoint(name string) string {
	switch strings.ToLower(name) {
	case "ovh-eu":
		return "https://eu.api.ovh.com/1.0"
	case "ovh-ca":
		return "https://ca.api.ovh.com/1.0"
	case "ovh-us":
		return "https://api.us.ovhcloud.com/1.0"
	case "kimsufi-eu":
		return "https://eu.api.kimsufi.com/1.0"
	case "kimsufi-ca":
		return "https://ca.api.kimsufi.com/1.0"
	case "soyoustart-eu":
		return "https://eu.api.soyoustart.com/1.0"
	case "soyoustart-ca":
		return "https://ca.api.soyoustart.com/1.0"
	}
	return name
}

// tokenURL returns the OAuth2 token endpoint of an API base URL.
func tokenURL(base string) string {
	switch base {
	case "https://eu.api.ovh.com/1.0":
		return "https://www.ovh.com/auth/oauth2/token"
	case "https://ca.api.ovh.com/1.0":
		return "https://ca.ovh.com/auth/oauth2/token"
	case "https://api.us.ovhcloud.com/1.0":
		return "https://us.ovhcloud.com/auth/oauth2/token"
	}
	return ""
}

const defaultTTL = 60

var (
	itemEndpoint = creds.Item{What: "endpoint", Env: []string{"ACMECTL_OVH_ENDPOINT", "OVH_ENDPOINT"}, INI: []string{"dns_ovh_endpoint"}}
	itemAppKey   = creds.Item{What: "application key", Env: []string{"ACMECTL_OVH_APPLICATION_KEY", "OVH_APPLICATION_KEY"}, Credential: "ovh-application-key", INI: []string{"dns_ovh_application_key"}}
	itemAppSec   = creds.Item{What: "application secret", Env: []string{"ACMECTL_OVH_APPLICATION_SECRET", "OVH_APPLICATION_SECRET"}, Credential: "ovh-application-secret", INI: []string{"dns_ovh_application_secret"}}
	itemConsumer = creds.Item{What: "consumer key", Env: []string{"ACMECTL_OVH_CONSUMER_KEY", "OVH_CONSUMER_KEY"}, Credential: "ovh-consumer-key", INI: []string{"dns_ovh_consumer_key"}}
	itemClientID = creds.Item{What: "OAuth2 client ID", Env: []string{"ACMECTL_OVH_CLIENT_ID", "OVH_CLIENT_ID"}, Credential: "ovh-client-id"}
	itemClientSc = creds.Item{What: "OAuth2 client secret", Env: []string{"ACMECTL_OVH_CLIENT_SECRET", "OVH_CLIENT_SECRET"}, Credential: "ovh-client-secret"}
	itemTokenURL = creds.Item{What: "OAuth2 token URL", Env: []string{"ACMECTL_OVH_TOKEN_URL"}}
	itemTTL      = creds.Item{What: "TTL", Env: []string{"ACMECTL_OVH_TTL", "OVH_TTL"}}
)

// Provider adds and removes TXT records in OVH zones. It is safe for
// concurrent use.
type Provider struct {
	name   string
	api    providers.API
	client *http.Client
	ttl    int
	zone   string // configured zone, or ""

	// application key signing
	appKey, appSecret, consumer string
	// OAuth2
	clientID, clientSecret, tokenURL string

	mu      sync.Mutex
	delta   *time.Duration // server clock minus ours
	token   string
	expires time.Time
	zones   []string // cache of GET /domain/zone
}

var (
	_ dns01.Provider      = (*Provider)(nil)
	_ dns01.ZoneKnower    = (*Provider)(nil)
	_ dns01.AccessChecker = (*Provider)(nil)
)

// New builds the provider and looks the credentials up (no network I/O).
func New(cfg providers.Config) (dns01.Provider, error) {
	name := cfg.Name
	if name == "" {
		name = "ovh"
	}
	p := &Provider{name: name, client: cfg.Client()}
	ep, err := cfg.Setting("endpoint", itemEndpoint, "ovh-eu")
	if err != nil {
		return nil, err
	}
	raw := endpoint(strings.TrimSpace(ep.Value))
	base, err := providers.Endpoint(name, raw, false)
	if err != nil {
		return nil, err
	}
	cfg.Name = name
	if p.ttl, err = cfg.Seconds("ttl", itemTTL, defaultTTL); err != nil {
		return nil, err
	}
	zone, err := cfg.Setting("zone", creds.Item{}, "")
	if err != nil {
		return nil, err
	}
	p.zone = providers.Unfqdn(zone.Value)
	from := ""
	if cfg.Creds != nil {
		id, err := cfg.Creds.Optional(itemClientID)
		if err != nil {
			return nil, err
		}
		if id.Value != "" {
			sec, err := cfg.Secret(itemClientSc)
			if err != nil {
				return nil, err
			}
			p.clientID, p.clientSecret, from = id.Value, sec.Value, sec.From+" (client "+id.Value+")"
			tu, err := cfg.Setting("token-url", itemTokenURL, tokenURL(base.String()))
			if err != nil {
				return nil, err
			}
			if tu.Value == "" {
				return nil, fmt.Errorf("%s: no OAuth2 token URL known for %s: set option token-url", name, base.Redacted())
			}
			u, err := providers.Endpoint(name, tu.Value, false)
			if err != nil {
				return nil, err
			}
			p.tokenURL = u.String()
		}
	}
	if p.clientID == "" {
		ak, err := cfg.Secret(itemAppKey)
		if err != nil {
			return nil, err
		}
		as, err := cfg.Secret(itemAppSec)
		if err != nil {
			return nil, err
		}
		ck, err := cfg.Secret(itemConsumer)
		if err != nil {
			return nil, err
		}
		p.appKey, p.appSecret, p.consumer = ak.Value, as.Value, ck.Value
		from = as.From + " and " + ck.From
	}
	p.api = providers.API{Provider: name, Base: base, Client: p.client, UserAgent: cfg.UserAgent, Logger: cfg.Log(),
		CredentialFrom: from, Message: ovhMessage}
	return p, nil
}

// authorized returns the API client with credentials for the next calls.
func (p *Provider) authorized(ctx context.Context) (*providers.API, error) {
	api := p.api
	if p.clientID != "" {
		tok, err := p.oauthToken(ctx)
		if err != nil {
			return nil, err
		}
		api.Authorize = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
		return &api, nil
	}
	delta, err := p.clockDelta(ctx)
	if err != nil {
		return nil, err
	}
	api.Authorize = func(r *http.Request) {
		var body []byte
		if r.GetBody != nil {
			if rc, err := r.GetBody(); err == nil {
				body, _ = io.ReadAll(rc)
				rc.Close()
			}
		}
		ts := strconv.FormatInt(time.Now().Add(delta).Unix(), 10)
		h := sha1.Sum([]byte(p.appSecret + "+" + p.consumer + "+" + r.Method + "+" + r.URL.String() + "+" + string(body) + "+" + ts))
		r.Header.Set("X-Ovh-Application", p.appKey)
		r.Header.Set("X-Ovh-Consumer", p.consumer)
		r.Header.Set("X-Ovh-Timestamp", ts)
		r.Header.Set("X-Ovh-Signature", "$1$"+hex.EncodeToString(h[:]))
	}
	return &api, nil
}

// clockDelta reads the server's clock once (GET /auth/time, unsigned):
// signatures carry the server's time.
func (p *Provider) clockDelta(ctx context.Context) (time.Duration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.delta != nil {
		return *p.delta, nil
	}
	var t int64
	if err := p.api.Do(ctx, http.MethodGet, "/auth/time", nil, &t); err != nil {
		return 0, fmt.Errorf("%s: read the server's clock: %w", p.name, trim(err, p.name))
	}
	d := time.Until(time.Unix(t, 0))
	p.delta = &d
	return d, nil
}

// oauthToken runs the client credentials grant (scope all).
func (p *Provider) oauthToken(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.token != "" && time.Now().Add(time.Minute).Before(p.expires) {
		return p.token, nil
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {p.clientID}, "client_secret": {p.clientSecret}, "scope": {"all"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("%s: token request: %w", p.name, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s: token request: %w", p.name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var r struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &r)
	if resp.StatusCode != http.StatusOK || r.AccessToken == "" {
		return "", fmt.Errorf("%s: the credentials from %s were refused by the token endpoint (HTTP %d: %s %s)",
			p.name, p.api.CredentialFrom, resp.StatusCode, providers.Sanitize(r.Error, 60), providers.Sanitize(r.Description, 200))
	}
	p.token, p.expires = r.AccessToken, time.Now().Add(time.Duration(max(r.ExpiresIn, 60))*time.Second)
	return p.token, nil
}

// zoneOf returns the zone of the account holding fqdn (the account's
// zones are listed once).
func (p *Provider) zoneOf(ctx context.Context, fqdn string) (string, error) {
	if p.zone != "" {
		if !providers.InZone(fqdn, p.zone) {
			return "", fmt.Errorf("%s: %s is not in the configured zone %s", p.name, providers.Unfqdn(fqdn), p.zone)
		}
		return p.zone, nil
	}
	p.mu.Lock()
	zones := p.zones
	p.mu.Unlock()
	if zones == nil {
		api, err := p.authorized(ctx)
		if err != nil {
			return "", err
		}
		if err := api.Do(ctx, http.MethodGet, "/domain/zone", nil, &zones); err != nil {
			err = trim(err, p.name)
			if strings.Contains(err.Error(), " were refused ") {
				return "", err
			}
			return "", fmt.Errorf("%s: list zones: %w", p.name, err)
		}
		if zones == nil {
			zones = []string{}
		}
		p.mu.Lock()
		p.zones = zones
		p.mu.Unlock()
	}
	z := providers.Longest(fqdn, zones)
	if z == "" {
		return "", &providers.ZoneNotFoundError{Provider: p.name, Name: fqdn, Tried: providers.ZoneCandidates(fqdn)}
	}
	return z, nil
}

// KnownZone returns the OVH zone holding fqdn.
func (p *Provider) KnownZone(ctx context.Context, fqdn string) (string, bool, error) {
	z, err := p.zoneOf(ctx, fqdn)
	if err != nil {
		if _, ok := err.(*providers.ZoneNotFoundError); ok {
			return "", false, nil
		}
		return "", false, err
	}
	return z, true, nil
}

// CheckAccess checks the credentials and finds the zone, changing nothing.
func (p *Provider) CheckAccess(ctx context.Context, fqdn string) error {
	_, err := p.zoneOf(ctx, fqdn)
	return err
}

type record struct {
	ID        int64  `json:"id"`
	Zone      string `json:"zone"`
	SubDomain string `json:"subDomain"`
	FieldType string `json:"fieldType"`
	Target    string `json:"target"`
	TTL       int    `json:"ttl"`
}

// find returns the IDs of the TXT records at sub in zone whose value is
// value.
func (p *Provider) find(ctx context.Context, api *providers.API, zone, sub, value string) ([]int64, error) {
	q := url.Values{"fieldType": {"TXT"}, "subDomain": {sub}}
	var ids []int64
	if err := api.Do(ctx, http.MethodGet, "/domain/zone/"+url.PathEscape(zone)+"/record?"+q.Encode(), nil, &ids); err != nil {
		return nil, err
	}
	const maxRecords = 100
	var out []int64
	for i, id := range ids {
		if i == maxRecords {
			break
		}
		var r record
		if err := api.Do(ctx, http.MethodGet, "/domain/zone/"+url.PathEscape(zone)+"/record/"+strconv.FormatInt(id, 10), nil, &r); err != nil {
			if providers.IsStatus(err, http.StatusNotFound) {
				continue // deleted meanwhile
			}
			return nil, err
		}
		if providers.TXTUnquote(r.Target) == value {
			out = append(out, id)
		}
	}
	return out, nil
}

// SetTXT adds the record unless it exists (a listing, a read per TXT
// record at the name, a create and a zone refresh).
func (p *Provider) SetTXT(ctx context.Context, fqdn, value string) error {
	zone, sub, api, err := p.prepare(ctx, fqdn)
	if err != nil {
		return err
	}
	ids, err := p.find(ctx, api, zone, sub, value)
	if err != nil {
		return fmt.Errorf("%s: add TXT %s: %w", p.name, fqdn, trim(err, p.name))
	}
	if len(ids) > 0 {
		return nil
	}
	in := map[string]any{"fieldType": "TXT", "subDomain": sub, "target": value, "ttl": p.ttl}
	if err := api.Do(ctx, http.MethodPost, "/domain/zone/"+url.PathEscape(zone)+"/record", in, nil); err != nil {
		return fmt.Errorf("%s: add TXT %s in zone %s: %w", p.name, fqdn, zone, trim(err, p.name))
	}
	return p.refresh(ctx, api, zone)
}

// DeleteTXT removes the records at fqdn with value (none: nothing to do).
func (p *Provider) DeleteTXT(ctx context.Context, fqdn, value string) error {
	zone, sub, api, err := p.prepare(ctx, fqdn)
	if err != nil {
		return err
	}
	ids, err := p.find(ctx, api, zone, sub, value)
	if err != nil {
		return fmt.Errorf("%s: delete TXT %s: %w", p.name, fqdn, trim(err, p.name))
	}
	if len(ids) == 0 {
		return nil
	}
	for _, id := range ids {
		err := api.Do(ctx, http.MethodDelete, "/domain/zone/"+url.PathEscape(zone)+"/record/"+strconv.FormatInt(id, 10), nil, nil)
		if err != nil && !providers.IsStatus(err, http.StatusNotFound) {
			return fmt.Errorf("%s: delete TXT %s in zone %s: %w", p.name, fqdn, zone, trim(err, p.name))
		}
	}
	return p.refresh(ctx, api, zone)
}

func (p *Provider) prepare(ctx context.Context, fqdn string) (zone, sub string, api *providers.API, err error) {
	if zone, err = p.zoneOf(ctx, fqdn); err != nil {
		return "", "", nil, err
	}
	sub, _ = providers.Relative(fqdn, zone)
	api, err = p.authorized(ctx)
	return zone, sub, api, err
}

// refresh publishes the zone's changes.
func (p *Provider) refresh(ctx context.Context, api *providers.API, zone string) error {
	if err := api.Do(ctx, http.MethodPost, "/domain/zone/"+url.PathEscape(zone)+"/refresh", nil, nil); err != nil {
		return fmt.Errorf("%s: refresh zone %s: %w", p.name, zone, trim(err, p.name))
	}
	return nil
}

// trim keeps the provider's name once; a refused signature (OVH answers
// 400 INVALID_SIGNATURE) reads like any refused credentials.
func trim(err error, name string) error {
	var se *providers.StatusError
	if errors.As(err, &se) && se.Status == http.StatusBadRequest && strings.HasPrefix(se.Message, "INVALID_SIGNATURE") {
		return fmt.Errorf("%s: the credentials from %s were refused (HTTP 400 on %s %s: %s)", name, se.From, se.Method, se.Path, se.Message)
	}
	if providers.IsStatus(err, http.StatusUnauthorized, http.StatusForbidden) {
		return err
	}
	return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), name+": "))
}

// ovhMessage extracts "errorCode: message" or "class: message".
func ovhMessage(body []byte) string {
	var e struct {
		Class     string `json:"class"`
		ErrorCode string `json:"errorCode"`
		Message   string `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		return ""
	}
	code := e.ErrorCode
	if code == "" {
		code = e.Class
	}
	if code == "" {
		return e.Message
	}
	return code + ": " + e.Message
}
