// Package gcloud is a dns01.Provider for Google Cloud DNS (API v1) over
// net/http, with Google's standard credential discovery from
// golang.org/x/oauth2/google: a credentials file (service account key,
// authorized user, workload identity federation, impersonation) named by
// GCE_SERVICE_ACCOUNT_FILE or GOOGLE_APPLICATION_CREDENTIALS, gcloud's
// application default credentials file, then the metadata server of the
// machine it runs on.
//
// A TXT record set is changed with one Change holding the deletion of the
// set as read and the addition of the new set; Cloud DNS refuses it when
// the set changed meanwhile (412/409), and the provider reads it again, so
// concurrent values and other tools' values survive. It waits for the
// change to be done.
package gcloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/compute/metadata"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
)

// Scope is the OAuth scope of Cloud DNS read-write access.
const Scope = "https://www.googleapis.com/auth/ndev.clouddns.readwrite"

const (
	defaultBase = "https://dns.googleapis.com"
	defaultTTL  = 60
	maxAttempts = 5
	maxPages    = 50
	maxWait     = 2 * time.Minute
)

// Items (lego's names first after acmectl's).
var (
	itemProject = creds.Item{What: "project", Env: []string{"ACMECTL_GCLOUD_PROJECT", "GCE_PROJECT", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"}}
	itemKeyFile = creds.Item{What: "credentials file", Env: []string{"ACMECTL_GCLOUD_CREDENTIALS_FILE", "GCE_SERVICE_ACCOUNT_FILE", "GOOGLE_APPLICATION_CREDENTIALS"}}
	itemKeyJSON = creds.Item{What: "service account key", Env: []string{"ACMECTL_GCLOUD_SERVICE_ACCOUNT", "GCE_SERVICE_ACCOUNT"}, Credential: "gcloud-service-account"}
	itemPrivate = creds.Item{What: "private zone switch", Env: []string{"ACMECTL_GCLOUD_ALLOW_PRIVATE_ZONE", "GCE_ALLOW_PRIVATE_ZONE"}}
	itemZoneID  = creds.Item{What: "managed zone", Env: []string{"ACMECTL_GCLOUD_ZONE_ID", "GCE_ZONE_ID"}}
	itemTTL     = creds.Item{What: "TTL", Env: []string{"ACMECTL_GCLOUD_TTL", "GCE_TTL"}}
)

// Provider changes TXT record sets in Cloud DNS. It is safe for
// concurrent use.
type Provider struct {
	name      string
	api       providers.API
	from      string // where the credentials came from
	ts        oauth2.TokenSource
	project   string
	projectMu sync.Mutex
	private   bool
	zoneID    string // managed zone name, when configured
	ttl       int
	finder    providers.ZoneFinder
	providers.SetAPI
}

var (
	_ dns01.Provider      = (*Provider)(nil)
	_ dns01.ZoneKnower    = (*Provider)(nil)
	_ dns01.AccessChecker = (*Provider)(nil)
)

// New builds the provider. It reads the credentials file (no network
// I/O); with no file it uses the metadata server when first needed.
func New(cfg providers.Config) (dns01.Provider, error) {
	name := cfg.Name
	if name == "" {
		name = "gcloud"
	}
	p := &Provider{name: name}
	proj, err := cfg.Setting("project", itemProject, "")
	if err != nil {
		return nil, err
	}
	p.project = proj.Value
	cfg.Name = name
	if p.private, err = cfg.Bool("allow-private-zone", itemPrivate, false); err != nil {
		return nil, err
	}
	zid, err := cfg.Setting("managed-zone", itemZoneID, "")
	if err != nil {
		return nil, err
	}
	p.zoneID = zid.Value
	if p.ttl, err = cfg.Seconds("ttl", itemTTL, defaultTTL); err != nil {
		return nil, err
	}
	base, err := cfg.Setting("endpoint", creds.Item{}, defaultBase)
	if err != nil {
		return nil, err
	}
	u, err := providers.Endpoint(name, base.Value, false)
	if err != nil {
		return nil, err
	}
	if err := p.credentials(cfg); err != nil {
		return nil, err
	}
	zoneOpt, err := cfg.Setting("zone", creds.Item{}, "")
	if err != nil {
		return nil, err
	}
	p.api = providers.API{Provider: name, Base: u, Client: cfg.Client(), UserAgent: cfg.UserAgent, Logger: cfg.Log(),
		CredentialFrom: p.from, Message: googleErrorMessage}
	p.finder = providers.ZoneFinder{Provider: name, Fixed: zoneOpt.Value, Lookup: p.lookupZone}
	p.SetAPI = providers.SetAPI{Zones: &p.finder, Change: p.change}
	return p, nil
}

// credentials finds the credentials in the order of Google's application
// default credentials, with the environment read through cfg.Creds.
func (p *Provider) credentials(cfg providers.Config) error {
	// Token requests use the provider's HTTP client.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, cfg.Client())
	params := google.CredentialsParams{Scopes: []string{Scope}}
	var data []byte
	if cfg.Creds != nil {
		v, err := cfg.Creds.Optional(itemKeyJSON)
		if err != nil {
			return err
		}
		if v.Value != "" {
			data, p.from = []byte(v.Value), v.From
		}
	}
	if data == nil {
		f, err := cfg.Setting("credentials-file", itemKeyFile, "")
		if err != nil {
			return err
		}
		if f.Value != "" {
			if data, err = os.ReadFile(f.Value); err != nil {
				return fmt.Errorf("%s: %s: %w", p.name, f.From, err)
			}
			p.from = f.From + " (" + f.Value + ")"
		}
	}
	if data == nil && cfg.Creds != nil && cfg.Creds.Getenv != nil {
		// gcloud auth application-default login writes this file.
		dir := cfg.Creds.Getenv("CLOUDSDK_CONFIG")
		if dir == "" && cfg.Creds.Getenv("HOME") != "" {
			dir = filepath.Join(cfg.Creds.Getenv("HOME"), ".config", "gcloud")
		}
		if dir != "" {
			f := filepath.Join(dir, "application_default_credentials.json")
			if b, err := os.ReadFile(f); err == nil {
				data, p.from = b, "gcloud's application default credentials ("+f+")"
			}
		}
	}
	if data == nil {
		p.from = "the metadata server's service account"
		p.ts = google.ComputeTokenSource("", Scope)
	} else {
		c, err := google.CredentialsFromJSONWithParams(ctx, data, params)
		if err != nil {
			return fmt.Errorf("%s: %s: %v", p.name, p.from, err)
		}
		p.ts = c.TokenSource
		if p.project == "" {
			p.project = c.ProjectID
		}
	}
	return nil
}

// authorized returns the API client carrying a current token and the
// project.
func (p *Provider) authorized(ctx context.Context) (*providers.API, string, error) {
	tok, err := p.ts.Token()
	if err != nil {
		return nil, "", p.tokenError(err)
	}
	project, err := p.projectID(ctx)
	if err != nil {
		return nil, "", err
	}
	api := p.api
	api.Authorize = func(r *http.Request) { tok.SetAuthHeader(r) }
	return &api, project, nil
}

func (p *Provider) tokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		code, desc := re.ErrorCode, re.ErrorDescription
		if code == "" { // the JWT flow leaves the body unparsed
			var e struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			_ = json.Unmarshal(re.Body, &e)
			code, desc = e.Error, e.Description
		}
		msg := code
		if desc != "" {
			msg += ": " + desc
		}
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return fmt.Errorf("%s: the credentials from %s were refused by the token endpoint (HTTP %d: %s)", p.name, p.from, status, providers.Sanitize(msg, 200))
	}
	if p.from == "the metadata server's service account" {
		return fmt.Errorf("%s: no credentials: set GCE_SERVICE_ACCOUNT_FILE or GOOGLE_APPLICATION_CREDENTIALS to a credentials file, or run gcloud auth application-default login, or run on Google Cloud (metadata server: %s)",
			p.name, providers.Sanitize(err.Error(), 200))
	}
	return fmt.Errorf("%s: token from %s: %s", p.name, p.from, providers.Sanitize(err.Error(), 200))
}

func (p *Provider) projectID(ctx context.Context) (string, error) {
	p.projectMu.Lock()
	defer p.projectMu.Unlock()
	if p.project != "" {
		return p.project, nil
	}
	id, err := metadata.ProjectIDWithContext(ctx)
	if err != nil || id == "" {
		return "", fmt.Errorf("%s: no project: set option project or GCE_PROJECT (metadata server: %v)", p.name, err)
	}
	p.project = id
	return id, nil
}

type managedZone struct {
	Name       string `json:"name"`
	DNSName    string `json:"dnsName"`
	Visibility string `json:"visibility"`
}

// lookupZone asks whether a managed zone has dnsName name; a public zone
// is preferred, a private one taken only with allow-private-zone. The
// zone's API ID is its managed zone name.
func (p *Provider) lookupZone(ctx context.Context, name string) (providers.Zone, bool, error) {
	api, project, err := p.authorized(ctx)
	if err != nil {
		return providers.Zone{}, false, err
	}
	q := url.Values{"dnsName": {name + "."}}
	found := providers.Zone{}
	for page := 0; page < maxPages; page++ {
		var res struct {
			ManagedZones  []managedZone `json:"managedZones"`
			NextPageToken string        `json:"nextPageToken"`
		}
		if err := api.Do(ctx, http.MethodGet, "/dns/v1/projects/"+url.PathEscape(project)+"/managedZones?"+q.Encode(), nil, &res); err != nil {
			return providers.Zone{}, false, err
		}
		for _, z := range res.ManagedZones {
			if providers.Unfqdn(z.DNSName) != name || (p.zoneID != "" && z.Name != p.zoneID) {
				continue
			}
			if z.Visibility == "private" && !p.private {
				continue
			}
			if found.ID == "" || z.Visibility != "private" {
				found = providers.Zone{Name: name, ID: z.Name}
			}
		}
		if res.NextPageToken == "" {
			break
		}
		q.Set("pageToken", res.NextPageToken)
	}
	return found, found.ID != "", nil
}

type rrset struct {
	Kind    string   `json:"kind,omitempty"`
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	TTL     int      `json:"ttl"`
	Rrdatas []string `json:"rrdatas"`
}

type change struct {
	Kind      string  `json:"kind,omitempty"`
	Additions []rrset `json:"additions,omitempty"`
	Deletions []rrset `json:"deletions,omitempty"`
	ID        string  `json:"id,omitempty"`
	Status    string  `json:"status,omitempty"`
}

// change adds (add) or removes value in the TXT set at fqdn of zone z (a
// read, one change, polls until it is done); providers.SetAPI holds the
// name's lock.
func (p *Provider) change(ctx context.Context, z providers.Zone, fqdn, value string, add bool) error {
	op := "delete"
	if add {
		op = "add"
	}
	name := providers.Unfqdn(fqdn) + "."
	api, project, err := p.authorized(ctx)
	if err != nil {
		return err
	}
	zpath := "/dns/v1/projects/" + url.PathEscape(project) + "/managedZones/" + url.PathEscape(z.ID)
	for attempt := 1; ; attempt++ {
		var res struct {
			Rrsets []rrset `json:"rrsets"`
		}
		q := url.Values{"name": {name}, "type": {"TXT"}}
		if err := api.Do(ctx, http.MethodGet, zpath+"/rrsets?"+q.Encode(), nil, &res); err != nil {
			return fmt.Errorf("%s: %s TXT %s: read the record set: %w", p.name, op, fqdn, trim(err, p.name))
		}
		var old *rrset
		for i := range res.Rrsets {
			if strings.EqualFold(res.Rrsets[i].Name, name) && res.Rrsets[i].Type == "TXT" {
				old = &res.Rrsets[i]
			}
		}
		var values []string
		if old != nil {
			for _, d := range old.Rrdatas {
				values = append(values, providers.TXTUnquote(d))
			}
		}
		if slices.Contains(values, value) == add {
			return nil
		}
		if add {
			values = append(values, value)
		} else {
			values = slices.DeleteFunc(values, func(v string) bool { return v == value })
		}
		ch := change{}
		ttl := p.ttl
		if old != nil {
			ch.Deletions = []rrset{{Name: old.Name, Type: old.Type, TTL: old.TTL, Rrdatas: old.Rrdatas}}
			ttl = old.TTL
		}
		if len(values) > 0 {
			add := rrset{Name: name, Type: "TXT", TTL: ttl}
			for _, v := range values {
				add.Rrdatas = append(add.Rrdatas, providers.TXTQuote(v))
			}
			ch.Additions = []rrset{add}
		}
		var done change
		err := api.Do(ctx, http.MethodPost, zpath+"/changes", ch, &done)
		if providers.IsStatus(err, http.StatusConflict, http.StatusPreconditionFailed) && attempt < maxAttempts {
			p.api.Logger.Debug("record set changed meanwhile; reading it again", "name", fqdn, "attempt", attempt)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %s TXT %s in zone %s: %w", p.name, op, fqdn, z.Name, trim(err, p.name))
		}
		return p.wait(ctx, api, zpath, done)
	}
}

// wait polls the change until Cloud DNS reports it done, backing off from
// 250 ms to 4 s, for at most two minutes.
func (p *Provider) wait(ctx context.Context, api *providers.API, zpath string, ch change) error {
	ctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	d := 250 * time.Millisecond
	for ch.Status != "done" {
		if ch.ID == "" {
			return fmt.Errorf("%s: change answer without an id", p.name)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: change %s still %s: %w", p.name, providers.Quote(ch.ID, 40), providers.Quote(ch.Status, 20), ctx.Err())
		case <-t.C:
		}
		d = min(2*d, 4*time.Second)
		id := ch.ID
		if err := api.Do(ctx, http.MethodGet, zpath+"/changes/"+url.PathEscape(id), nil, &ch); err != nil {
			return fmt.Errorf("%s: change %s: %w", p.name, providers.Quote(id, 40), trim(err, p.name))
		}
	}
	return nil
}

func trim(err error, name string) error {
	if providers.IsStatus(err, http.StatusUnauthorized, http.StatusForbidden) {
		return err
	}
	return errors.New(strings.TrimPrefix(err.Error(), name+": "))
}

// googleErrorMessage extracts "STATUS: message" from a Google API error.
func googleErrorMessage(body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
			Status  string `json:"status"`
			Errors  []struct {
				Reason string `json:"reason"`
			} `json:"errors"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Message == "" {
		return ""
	}
	reason := e.Error.Status
	if len(e.Error.Errors) > 0 && e.Error.Errors[0].Reason != "" {
		reason = e.Error.Errors[0].Reason
	}
	line, _, _ := strings.Cut(e.Error.Message, "\n")
	if reason == "" {
		return line
	}
	return reason + ": " + line
}
