// Package acmedns is a dns01.Provider for acme-dns
// (https://github.com/joohoi/acme-dns), the small DNS server made for
// CNAME delegation: _acme-challenge.example.com is a CNAME to a
// subdomain of the acme-dns server, and acmectl updates that subdomain's
// TXT record through the server's /update API with the subdomain's own
// credentials.
//
// The credentials live in a JSON file in the format lego
// (ACME_DNS_STORAGE_PATH) and certbot's acme-dns hooks use, keyed by
// domain:
//
//	{"example.com": {"username": "...", "password": "...", "fulldomain": "x.auth.example.org", "subdomain": "x", "allowfrom": []}}
//
// When a domain has no entry, acmectl registers one (POST /register), saves
// it (0600) and stops with the CNAME record to create. acme-dns keeps the
// two newest values of a subdomain and has no delete: DeleteTXT does
// nothing, and a stale value is pushed out by the next ones. Two values
// are what one order puts at one name (a wildcard and its apex), so the
// provider is not a dns01.SingleValuer: both are presented at once.
package acmedns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
)

func apiItem() creds.Item {
	return creds.Item{What: "server URL", Env: []string{"ACMECTL_ACMEDNS_API_BASE", "ACME_DNS_API_BASE"}, INI: []string{"dns_acmedns_api_url"}}
}

func storageItem() creds.Item {
	return creds.Item{What: "credentials file", Env: []string{"ACMECTL_ACMEDNS_STORAGE_PATH", "ACME_DNS_STORAGE_PATH"},
		INI: []string{"dns_acmedns_registration_file"}}
}

// Account is one registered subdomain (the JSON of lego and certbot).
type Account struct {
	Username   string   `json:"username"`
	Password   string   `json:"password"`
	FullDomain string   `json:"fulldomain"`
	SubDomain  string   `json:"subdomain"`
	AllowFrom  []string `json:"allowfrom"`
}

// CNAMEError says which CNAME record to create for a domain.
type CNAMEError struct {
	Provider string
	Name     string // _acme-challenge.example.com
	Target   string // the acme-dns subdomain
	New      bool   // registered just now
}

func (e *CNAMEError) Error() string {
	what := "has no CNAME to its acme-dns subdomain"
	if e.New {
		what = "was registered at the acme-dns server just now"
	}
	return fmt.Sprintf("%s: %s %s: create the record `%s. CNAME %s.` and retry", e.Provider, strings.TrimSuffix(e.Name, "."), what,
		strings.TrimSuffix(e.Name, "."), strings.TrimSuffix(e.Target, "."))
}

// Provider updates acme-dns subdomains.
type Provider struct {
	api     *providers.API
	storage string

	mu sync.Mutex // the storage file
}

var (
	_ dns01.Provider      = (*Provider)(nil)
	_ dns01.AccessChecker = (*Provider)(nil)
)

// New builds the provider; it does no network I/O and reads the
// credentials file only when a record is needed.
func New(cfg providers.Config) (dns01.Provider, error) {
	base, err := cfg.RequiredEndpoint(apiItem(), false)
	if err != nil {
		return nil, err
	}
	st, err := cfg.Setting("storage", storageItem(), "")
	if err != nil {
		return nil, err
	}
	if st.Value == "" {
		return nil, &creds.NotFoundError{Provider: cfg.Name, Item: storageItem(), INIFile: cfg.Options["credentials"]}
	}
	if !filepath.IsAbs(st.Value) {
		return nil, fmt.Errorf("%s: credentials file %s (from %s): want an absolute path", cfg.Name, st.Value, st.From)
	}
	return &Provider{
		api: &providers.API{Provider: cfg.Name, Base: base, Client: cfg.Client(), UserAgent: cfg.UserAgent, Logger: cfg.Log(),
			CredentialFrom: "the credentials file " + st.Value, Message: message},
		storage: st.Value,
	}, nil
}

func message(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if providers.DecodeJSON(body, &e) != nil {
		return ""
	}
	return e.Error
}

func (p *Provider) load() (map[string]Account, error) {
	data, err := os.ReadFile(p.storage)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]Account{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.api.Provider, err)
	}
	accts := map[string]Account{}
	if err := json.Unmarshal(data, &accts); err != nil {
		return nil, fmt.Errorf("%s: credentials file %s: %v", p.api.Provider, p.storage, err)
	}
	return accts, nil
}

// account finds the account whose subdomain is fqdn (the end of the
// CNAME chain), or explains which CNAME to create.
func (p *Provider) account(ctx context.Context, fqdn string) (Account, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	accts, err := p.load()
	if err != nil {
		return Account{}, err
	}
	name := providers.Unfqdn(fqdn)
	for _, a := range accts {
		if strings.EqualFold(strings.TrimSuffix(a.FullDomain, "."), name) {
			return a, nil
		}
	}
	// No CNAME was followed: fqdn is _acme-challenge.DOMAIN itself.
	domain := strings.TrimPrefix(name, "_acme-challenge.")
	if i := strings.Index(domain, "._acme-challenge."); i >= 0 { // dns-account-01
		domain = domain[i+len("._acme-challenge."):]
	}
	if a, ok := accts[domain]; ok {
		return Account{}, &CNAMEError{Provider: p.api.Provider, Name: name, Target: a.FullDomain}
	}
	var a Account
	if err := p.api.Do(ctx, http.MethodPost, "/register", struct{}{}, &a); err != nil {
		return Account{}, err
	}
	if a.Username == "" || a.Password == "" || a.FullDomain == "" || a.SubDomain == "" {
		return Account{}, fmt.Errorf("%s: /register answered without credentials", p.api.Provider)
	}
	accts[domain] = a
	if err := p.save(accts); err != nil {
		return Account{}, err
	}
	return Account{}, &CNAMEError{Provider: p.api.Provider, Name: name, Target: a.FullDomain, New: true}
}

// save writes the file atomically, 0600.
func (p *Provider) save(accts map[string]Account) error {
	data, err := json.MarshalIndent(accts, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p.storage), ".acmedns-*.json")
	if err != nil {
		return fmt.Errorf("%s: save credentials: %w", p.api.Provider, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: save credentials: %w", p.api.Provider, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: save credentials: %w", p.api.Provider, err)
	}
	if err := os.Rename(tmp.Name(), p.storage); err != nil {
		return fmt.Errorf("%s: save credentials: %w", p.api.Provider, err)
	}
	return nil
}

// SetTXT updates the subdomain's TXT record with value.
func (p *Provider) SetTXT(ctx context.Context, fqdn, value string) error {
	a, err := p.account(ctx, fqdn)
	if err != nil {
		return err
	}
	hdr := http.Header{"X-Api-User": {a.Username}, "X-Api-Key": {a.Password}}
	return p.api.DoHeader(ctx, http.MethodPost, "/update", hdr, map[string]string{"subdomain": a.SubDomain, "txt": value}, nil)
}

// DeleteTXT does nothing: acme-dns has no delete and keeps only the two
// newest values.
func (p *Provider) DeleteTXT(context.Context, string, string) error { return nil }

// CheckAccess checks that the credentials file holds an account for the
// domain of fqdn (_acme-challenge.DOMAIN), without registering one.
func (p *Provider) CheckAccess(_ context.Context, fqdn string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	accts, err := p.load()
	if err != nil {
		return err
	}
	name := providers.Unfqdn(fqdn)
	domain := strings.TrimPrefix(name, "_acme-challenge.")
	if _, ok := accts[domain]; ok {
		return nil
	}
	for _, a := range accts {
		if strings.EqualFold(strings.TrimSuffix(a.FullDomain, "."), name) {
			return nil
		}
	}
	return fmt.Errorf("%s: no account for %s in %s (the first order registers one)", p.api.Provider, domain, p.storage)
}
