// Package azure is a dns01.Provider for Azure DNS, public zones
// (Microsoft.Network/dnsZones, API version 2018-05-01) and private zones
// (Microsoft.Network/privateDnsZones, 2024-06-01), through the Azure
// Resource Manager REST API over net/http.
//
// A TXT record set is read, changed and written back with its ETag
// (If-Match, or If-None-Match: * when creating it), and rewritten from a
// fresh read when another writer changed it in between (412), so two
// values written at once at one name (a wildcard and its apex) and other
// tools' values survive.
//
// Credentials are found in the order of the Azure SDK's
// DefaultAzureCredential: a service principal's secret or certificate from
// the environment, workload identity (a federated token file), managed
// identity (App Service's identity endpoint, else the instance metadata
// service), then the Azure CLI's login (see auth.go). The SDK itself is
// not used: it would add about 2.8 MB and 0.6 ms of package
// initialisation to every acmectl run (docs/dev/dns-cloud-providers.md).
package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
)

// API versions of the documents the provider follows.
const (
	PublicAPIVersion  = "2018-05-01"
	PrivateAPIVersion = "2024-06-01"
	defaultTTL        = 60
	maxAttempts       = 5
)

// cloud is one Azure cloud's endpoints.
type cloud struct {
	arm, login string
}

func cloudNamed(name string) (cloud, bool) {
	switch strings.ToLower(name) {
	case "", "public", "azurepublic", "azurepubliccloud", "azurecloud":
		return cloud{"https://management.azure.com", "https://login.microsoftonline.com"}, true
	case "china", "azurechina", "azurechinacloud":
		return cloud{"https://management.chinacloudapi.cn", "https://login.chinacloudapi.cn"}, true
	case "usgovernment", "azureusgovernment", "azureusgovernmentcloud":
		return cloud{"https://management.usgovcloudapi.net", "https://login.microsoftonline.us"}, true
	}
	return cloud{}, false
}

// Provider changes TXT record sets in Azure DNS. It is safe for
// concurrent use.
type Provider struct {
	name     string
	api      providers.API
	sub      string
	group    string // "" → zones are looked for in the whole subscription
	zoneName string // "" → discovered
	private  bool
	ttl      int
	auth     *authenticator

	locks sync.Map // record set path → *sync.Mutex

	mu    sync.Mutex
	zones []zoneRef // cache of the listing
}

type zoneRef struct{ name, group string }

var (
	_ dns01.Provider      = (*Provider)(nil)
	_ dns01.ZoneKnower    = (*Provider)(nil)
	_ dns01.AccessChecker = (*Provider)(nil)
)

// Items the provider reads (acmectl's name first, then lego's; certbot's
// certbot-dns-azure keys).
var (
	itemSubscription = creds.Item{What: "subscription ID", Env: []string{"ACMECTL_AZURE_SUBSCRIPTION_ID", "AZURE_SUBSCRIPTION_ID"}}
	itemGroup        = creds.Item{What: "resource group", Env: []string{"ACMECTL_AZURE_RESOURCE_GROUP", "AZURE_RESOURCE_GROUP"}}
	itemZone         = creds.Item{What: "zone", Env: []string{"ACMECTL_AZURE_ZONE_NAME", "AZURE_ZONE_NAME"}}
	itemPrivate      = creds.Item{What: "private zone switch", Env: []string{"ACMECTL_AZURE_PRIVATE_ZONE", "AZURE_PRIVATE_ZONE"}}
	itemEnvironment  = creds.Item{What: "Azure cloud", Env: []string{"ACMECTL_AZURE_ENVIRONMENT", "AZURE_ENVIRONMENT"}, INI: []string{"dns_azure_environment"}}
	itemTTL          = creds.Item{What: "TTL", Env: []string{"ACMECTL_AZURE_TTL", "AZURE_TTL"}}
)

// New builds the provider from cfg: the subscription (option
// subscription-id or AZURE_SUBSCRIPTION_ID) is required; the resource
// group and zone are found by listing the subscription's zones when not
// given. It looks the credentials up but does no network I/O.
func New(cfg providers.Config) (dns01.Provider, error) {
	name := cfg.Name
	if name == "" {
		name = "azure"
	}
	setting := func(key string, it creds.Item, def string) (string, error) {
		v, err := cfg.Setting(key, it, def)
		return strings.TrimSpace(v.Value), err
	}
	p := &Provider{name: name}
	var err error
	if p.sub, err = setting("subscription-id", itemSubscription, ""); err != nil {
		return nil, err
	}
	if p.sub == "" {
		return nil, fmt.Errorf("%s: no subscription ID: set option subscription-id or AZURE_SUBSCRIPTION_ID", name)
	}
	if p.group, err = setting("resource-group", itemGroup, ""); err != nil {
		return nil, err
	}
	if p.zoneName, err = setting("zone", itemZone, ""); err != nil {
		return nil, err
	}
	p.zoneName = providers.Unfqdn(p.zoneName)
	cfg.Name = name
	if p.private, err = cfg.Bool("private-zone", itemPrivate, false); err != nil {
		return nil, err
	}
	if p.ttl, err = cfg.Seconds("ttl", itemTTL, defaultTTL); err != nil {
		return nil, err
	}
	env, err := setting("environment", itemEnvironment, "public")
	if err != nil {
		return nil, err
	}
	cl, ok := cloudNamed(env)
	if !ok {
		return nil, fmt.Errorf("%s: environment %q: want public, china or usgovernment", name, providers.Sanitize(env, 40))
	}
	base, err := setting("endpoint", creds.Item{}, cl.arm)
	if err != nil {
		return nil, err
	}
	u, err := providers.Endpoint(name, base, false)
	if err != nil {
		return nil, err
	}
	if p.auth, err = newAuthenticator(cfg, name, cl); err != nil {
		return nil, err
	}
	p.api = providers.API{
		Provider: name, Base: u, Client: cfg.Client(), UserAgent: cfg.UserAgent, Logger: cfg.Log(),
		CredentialFrom: p.auth.from(), Message: cloudErrorMessage,
	}
	return p, nil
}

func (p *Provider) kind() (resource, version, ttlKey, txtKey string) {
	if p.private {
		return "privateDnsZones", PrivateAPIVersion, "ttl", "txtRecords"
	}
	return "dnsZones", PublicAPIVersion, "TTL", "TXTRecords"
}

// SetTXT adds value to the TXT record set at fqdn (two to four requests:
// zone listing once, read, conditional write, and a token when needed).
func (p *Provider) SetTXT(ctx context.Context, fqdn, value string) error {
	return p.change(ctx, fqdn, value, true)
}

// DeleteTXT removes value from the TXT record set at fqdn, deleting the set
// when it was the last value; a missing value is not an error.
func (p *Provider) DeleteTXT(ctx context.Context, fqdn, value string) error {
	return p.change(ctx, fqdn, value, false)
}

// KnownZone returns the Azure zone holding fqdn.
func (p *Provider) KnownZone(ctx context.Context, fqdn string) (string, bool, error) {
	z, err := p.zone(ctx, fqdn)
	if errors.Is(err, errNoZone) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return z.name + ".", true, nil
}

// CheckAccess verifies the credentials and that a zone holds fqdn, changing
// nothing (doctor).
func (p *Provider) CheckAccess(ctx context.Context, fqdn string) error {
	_, err := p.zone(ctx, fqdn)
	return err
}

var errNoZone = errors.New("no zone")

// recordSet is the part of a RecordSet the provider reads. Go's decoder
// matches "TTL"/"ttl" and "TXTRecords"/"txtRecords" alike.
type recordSet struct {
	Etag       string `json:"etag"`
	Properties struct {
		TTL        int `json:"TTL"`
		TXTRecords []struct {
			Value []string `json:"value"`
		} `json:"TXTRecords"`
	} `json:"properties"`
}

func (p *Provider) change(ctx context.Context, fqdn, value string, add bool) error {
	op := "delete"
	if add {
		op = "add"
	}
	z, err := p.zone(ctx, fqdn)
	if errors.Is(err, errNoZone) {
		return fmt.Errorf("%s: %s TXT %s: no zone holding it in %s", p.name, op, fqdn, p.scope())
	}
	if err != nil {
		return err
	}
	rel, _ := providers.Relative(fqdn, z.name)
	if rel == "" {
		rel = "@"
	}
	resource, version, ttlKey, txtKey := p.kind()
	path := "/subscriptions/" + url.PathEscape(p.sub) + "/resourceGroups/" + url.PathEscape(z.group) +
		"/providers/Microsoft.Network/" + resource + "/" + url.PathEscape(z.name) + "/TXT/" + url.PathEscape(rel) +
		"?api-version=" + version
	mu, _ := p.locks.LoadOrStore(path, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	api, err := p.authorized(ctx)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		var rs recordSet
		exists := true
		err := api.Do(ctx, http.MethodGet, path, nil, &rs)
		if providers.IsStatus(err, http.StatusNotFound) {
			exists, rs = false, recordSet{}
		} else if err != nil {
			return err
		}
		var values []string
		for _, r := range rs.Properties.TXTRecords {
			values = append(values, strings.Join(r.Value, ""))
		}
		has := slices.Contains(values, value)
		if has == add {
			return nil // already as wanted
		}
		hdr := http.Header{}
		if exists {
			hdr.Set("If-Match", rs.Etag)
		} else {
			hdr.Set("If-None-Match", "*")
		}
		if add {
			values = append(values, value)
		} else {
			values = slices.DeleteFunc(values, func(v string) bool { return v == value })
		}
		if len(values) == 0 {
			err = api.DoHeader(ctx, http.MethodDelete, path, hdr, nil, nil)
		} else {
			ttl := rs.Properties.TTL
			if !exists || ttl == 0 {
				ttl = p.ttl
			}
			txt := make([]map[string][]string, 0, len(values))
			for _, v := range values {
				txt = append(txt, map[string][]string{"value": chunk(v)})
			}
			body := map[string]any{"properties": map[string]any{ttlKey: ttl, txtKey: txt}}
			err = api.DoHeader(ctx, http.MethodPut, path, hdr, body, nil)
		}
		if providers.IsStatus(err, http.StatusPreconditionFailed) && attempt < maxAttempts {
			p.api.Logger.Debug("record set changed meanwhile; reading it again", "name", fqdn, "attempt", attempt)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %s TXT %s in zone %s: %w", p.name, op, fqdn, z.name, stripProvider(err, p.name))
		}
		return nil
	}
}

// stripProvider keeps the provider's name once in a wrapped message.
func stripProvider(err error, name string) error {
	var se *providers.StatusError
	if errors.As(err, &se) && se.Status != http.StatusUnauthorized && se.Status != http.StatusForbidden {
		return errors.New(strings.TrimPrefix(err.Error(), name+": "))
	}
	return err
}

// chunk cuts a TXT value into strings of at most 255 bytes.
func chunk(v string) []string {
	var out []string
	for len(v) > 255 {
		out = append(out, v[:255])
		v = v[255:]
	}
	return append(out, v)
}

func (p *Provider) scope() string {
	s := "subscription " + p.sub
	if p.group != "" {
		s += " resource group " + p.group
	}
	if p.private {
		s += " (private zones)"
	}
	return s
}

// authorized returns a copy of the API client carrying a current token.
func (p *Provider) authorized(ctx context.Context) (*providers.API, error) {
	tok, err := p.auth.token(ctx)
	if err != nil {
		return nil, err
	}
	api := p.api
	api.Authorize = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	return &api, nil
}

// zone returns the zone holding fqdn: the configured one, else the
// longest match among the zones listed in the resource group or
// subscription (listed once per Provider).
func (p *Provider) zone(ctx context.Context, fqdn string) (zoneRef, error) {
	if p.zoneName != "" && p.group != "" {
		if !providers.InZone(fqdn, p.zoneName) {
			return zoneRef{}, errNoZone
		}
		return zoneRef{p.zoneName, p.group}, nil
	}
	zones, err := p.listZones(ctx)
	if err != nil {
		return zoneRef{}, err
	}
	var best zoneRef
	for _, z := range zones {
		if p.zoneName != "" && z.name != p.zoneName {
			continue
		}
		if providers.InZone(fqdn, z.name) && len(z.name) > len(best.name) {
			best = z
		}
	}
	if best.name == "" {
		return zoneRef{}, errNoZone
	}
	return best, nil
}

const maxZonePages = 50

func (p *Provider) listZones(ctx context.Context) ([]zoneRef, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.zones != nil {
		return p.zones, nil
	}
	api, err := p.authorized(ctx)
	if err != nil {
		return nil, err
	}
	resource, version, _, _ := p.kind()
	path := "/subscriptions/" + url.PathEscape(p.sub)
	switch {
	case p.group != "":
		path += "/resourceGroups/" + url.PathEscape(p.group) + "/providers/Microsoft.Network/" + resource
	case p.private:
		path += "/providers/Microsoft.Network/privateDnsZones" // as privatedns.json spells PrivateZones_List
	default:
		path += "/providers/Microsoft.Network/dnszones" // as dns.json spells Zones_List
	}
	path += "?api-version=" + version
	zones := []zoneRef{}
	for page := 0; path != ""; page++ {
		if page == maxZonePages {
			return nil, fmt.Errorf("%s: list zones: more than %d pages", p.name, maxZonePages)
		}
		var res struct {
			Value []struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"value"`
			NextLink string `json:"nextLink"`
		}
		if err := api.Do(ctx, http.MethodGet, path, nil, &res); err != nil {
			if providers.IsStatus(err, http.StatusUnauthorized, http.StatusForbidden) {
				return nil, err
			}
			return nil, fmt.Errorf("%s: list zones in %s: %w", p.name, p.scope(), stripProvider(err, p.name))
		}
		for _, z := range res.Value {
			group := groupOf(z.ID)
			if group == "" {
				continue
			}
			zones = append(zones, zoneRef{providers.Unfqdn(z.Name), group})
		}
		if path, err = p.nextPath(res.NextLink); err != nil {
			return nil, err
		}
	}
	p.zones = zones
	return zones, nil
}

// nextPath turns a nextLink into a path under the API base. A link
// elsewhere is refused: the bearer token must not follow it.
func (p *Provider) nextPath(link string) (string, error) {
	if link == "" {
		return "", nil
	}
	base := p.api.Base.String()
	if !strings.HasPrefix(link, base+"/") {
		return "", fmt.Errorf("%s: list zones: the next page %s is not under %s", p.name, providers.Quote(link, 100), base)
	}
	return strings.TrimPrefix(link, base), nil
}

// groupOf returns the resource group of an ARM resource ID
// (/subscriptions/S/resourceGroups/G/providers/...).
func groupOf(id string) string {
	parts := strings.Split(id, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "resourceGroups") {
			return parts[i+1]
		}
	}
	return ""
}

// cloudErrorMessage extracts "code: message" from an ARM CloudError.
func cloudErrorMessage(body []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" {
		return ""
	}
	msg := e.Error.Code
	if e.Error.Message != "" {
		msg += ": " + firstLine(e.Error.Message)
	}
	return msg
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(line)
}
