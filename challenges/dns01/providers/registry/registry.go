// Package registry is the one table of DNS providers behind --dns-01 NAME
// and `provider: NAME` in a named solver. Adding a provider is one line in
// specs; there is no init() registration. A name not in the table is
// looked for as a co-process plugin, acmectl-dns-NAME (package plugin).
package registry

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
	"github.com/acmectl/acmectl/challenges/dns01/providers/acmedns"
	"github.com/acmectl/acmectl/challenges/dns01/providers/azure"
	"github.com/acmectl/acmectl/challenges/dns01/providers/cloudflare"
	"github.com/acmectl/acmectl/challenges/dns01/providers/digitalocean"
	"github.com/acmectl/acmectl/challenges/dns01/providers/gcloud"
	"github.com/acmectl/acmectl/challenges/dns01/providers/hetzner"
	"github.com/acmectl/acmectl/challenges/dns01/providers/httpreq"
	"github.com/acmectl/acmectl/challenges/dns01/providers/linode"
	"github.com/acmectl/acmectl/challenges/dns01/providers/ovh"
	"github.com/acmectl/acmectl/challenges/dns01/providers/pdns"
	"github.com/acmectl/acmectl/challenges/dns01/providers/plugin"
	"github.com/acmectl/acmectl/challenges/dns01/providers/route53"
)

// Spec describes one provider.
type Spec struct {
	// Name is what --dns-01 and `provider:` take.
	Name string
	// Summary is one line for help and docs.
	Summary string
	// Options are the provider's own non-secret settings, accepted as
	// keys of a named solver besides CommonOptions.
	Options []string
	// New builds the provider; it does no network I/O.
	New func(providers.Config) (dns01.Provider, error)
}

// CommonOptions are accepted by every provider of the table: a certbot
// credentials file, the API's base URL (tests, API-compatible services)
// and the zone, when known (skips zone discovery).
func CommonOptions() []string { return []string{"credentials", "endpoint", "zone"} }

// specs is the table. Keep it sorted by name.
func specs() []Spec {
	return []Spec{
		{Name: "acme-dns", Summary: "acme-dns server (CNAME delegation; lego/certbot credentials JSON)", Options: []string{"storage"}, New: acmedns.New},
		{Name: "azure", Summary: "Azure DNS, public and private zones (service principal, workload or managed identity, Azure CLI)",
			Options: []string{"subscription-id", "resource-group", "private-zone", "environment", "auth-method", "client-id", "tenant-id", "ttl"}, New: azure.New},
		{Name: "cloudflare", Summary: "Cloudflare DNS (API token with Zone:Read and DNS:Edit)", New: cloudflare.New},
		{Name: "digitalocean", Summary: "DigitalOcean DNS (API token, scopes domain:read/create/delete)", New: digitalocean.New},
		{Name: "gcloud", Summary: "Google Cloud DNS (service account key, application default credentials, metadata server)",
			Options: []string{"project", "managed-zone", "allow-private-zone", "credentials-file", "ttl"}, New: gcloud.New},
		{Name: "hetzner", Summary: "Hetzner DNS through the Hetzner Cloud API (project API token, read & write)", New: hetzner.New},
		{Name: "httpreq", Summary: "a web service of yours, lego's httpreq protocol (POST /present, /cleanup)", Options: []string{"username", "allow-http"}, New: httpreq.New},
		{Name: "linode", Summary: "Linode (Akamai) DNS Manager (personal access token, Domains read/write)", New: linode.New},
		{Name: "ovh", Summary: "OVHcloud DNS (application key/secret/consumer key or OAuth2 service account; ovh-eu, ovh-ca, ovh-us)",
			Options: []string{"token-url", "ttl"}, New: ovh.New},
		{Name: "pdns", Summary: "PowerDNS Authoritative HTTP API (X-API-Key)", Options: []string{"server-id", "ttl"}, New: pdns.New},
		{Name: "route53", Summary: "Amazon Route 53 (AWS credential chain: keys, profiles, web identity, container and instance roles)",
			Options: []string{"region", "hosted-zone-id", "private-zone", "wait-insync", "ttl"}, New: route53.New},
	}
}

// Builtin lists the providers implemented in internal/issue with their own
// flags rather than in this table.
func Builtin() []string { return []string{"rfc2136", "exec", "manual"} }

// All returns the table, sorted by name.
func All() []Spec {
	s := specs()
	slices.SortFunc(s, func(a, b Spec) int { return strings.Compare(a.Name, b.Name) })
	return s
}

// Lookup returns the Spec of name.
func Lookup(name string) (Spec, bool) {
	for _, s := range specs() {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}

// Names lists the built-in providers and the table's, for messages.
func Names() []string {
	out := Builtin()
	for _, s := range All() {
		out = append(out, s.Name)
	}
	return out
}

// ValidName reports whether name can be a provider: built in, in the
// table, or a well-formed plugin name. It does no I/O.
func ValidName(name string) bool {
	if slices.Contains(Builtin(), name) {
		return true
	}
	if _, ok := Lookup(name); ok {
		return true
	}
	return plugin.ValidName(name)
}

// Options returns the option keys name accepts (nil for a plugin, which
// takes its settings from its own environment and files).
func Options(name string) []string {
	s, ok := Lookup(name)
	if !ok {
		return nil
	}
	return append(CommonOptions(), s.Options...)
}

// UnknownError is a provider name that is neither in the table nor a
// plugin found on disk.
type UnknownError struct{ Name string }

func (e *UnknownError) Error() string {
	return fmt.Sprintf("DNS provider %q is unknown: use one of %s, or install a plugin acmectl-dns-%s", e.Name, strings.Join(Names(), ", "), e.Name)
}

// New builds provider name of the table with cfg, or else the plugin
// acmectl-dns-NAME (package plugin; the caller closes it, it is an
// io.Closer). Options not accepted by the provider are refused, so a typo
// is not silently ignored.
func New(name string, cfg providers.Config) (dns01.Provider, error) {
	s, ok := Lookup(name)
	if !ok {
		if slices.Contains(Builtin(), name) || !plugin.ValidName(name) {
			return nil, &UnknownError{Name: name}
		}
		if len(cfg.Options) > 0 {
			return nil, fmt.Errorf("%s: a plugin takes no options (%s): it reads its own environment and files", name, strings.Join(providers.Names(cfg.Options), ", "))
		}
		var getenv func(string) string
		if cfg.Creds != nil {
			getenv = cfg.Creds.Getenv
		}
		p, err := plugin.New(plugin.Config{Name: name, Getenv: getenv, Environ: cfg.Environ, Client: cfg.UserAgent, Logger: cfg.Logger})
		var nf *plugin.NotFoundError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("%w (built in: %s)", err, strings.Join(Names(), ", "))
		}
		return p, err
	}
	known := Options(name)
	for _, k := range providers.Names(cfg.Options) {
		if !slices.Contains(known, k) {
			return nil, fmt.Errorf("%s: unknown option %q (known: %s)", name, k, strings.Join(known, ", "))
		}
	}
	cfg.Name = name
	if cfg.Creds != nil {
		cfg.Creds.Provider = name
	}
	return s.New(cfg)
}
