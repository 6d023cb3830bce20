package registry

import (
	"strconv"
	"strings"
)

// certbotPlugins maps certbot DNS authenticators to providers: the name
// in renewal confs (authenticator = dns-cloudflare, or the third-party
// plugins' names) and the renewalparams key holding the credentials file.
func certbotPlugins() map[string]struct{ provider, credentials string } {
	return map[string]struct{ provider, credentials string }{
		"dns-cloudflare":   {"cloudflare", "dns_cloudflare_credentials"},
		"dns-digitalocean": {"digitalocean", "dns_digitalocean_credentials"},
		"dns-linode":       {"linode", "dns_linode_credentials"},
		"dns-route53":      {"route53", ""}, // the AWS credential chain, no file
		"dns-google":       {"gcloud", "dns_google_credentials"},
		"dns-powerdns":     {"pdns", "dns_powerdns_credentials"},
		"dns-acmedns":      {"acme-dns", "dns_acmedns_credentials"},
		"dns-hetzner":      {"hetzner", "dns_hetzner_credentials"},
	}
}

// FromCertbot carries a certbot DNS authenticator's settings over from a
// renewal conf's renewalparams: the provider, its options (the credentials
// file, whose dns_* keys the provider reads, or for Google the service
// account file) and the propagation wait (certbot's
// dns_*_propagation_seconds). ok is false for an authenticator acmectl has
// no provider for.
func FromCertbot(authenticator string, params map[string]string) (provider string, options map[string]string, propagationWait string, ok bool) {
	p, found := certbotPlugins()[authenticator]
	if !found {
		return "", nil, "", false
	}
	if _, known := Lookup(p.provider); !known {
		return "", nil, "", false // a provider not built into this binary
	}
	options = map[string]string{}
	if p.credentials != "" {
		if f := strings.TrimSpace(params[p.credentials]); f != "" {
			key := "credentials"
			if p.provider == "gcloud" {
				key = "credentials-file" // a service account JSON, not an INI
			}
			options[key] = f
		}
	}
	prefix := strings.ReplaceAll(authenticator, "-", "_")
	if s := strings.TrimSpace(params[prefix+"_propagation_seconds"]); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			propagationWait = strconv.Itoa(n) + "s"
		}
	}
	if len(options) == 0 {
		options = nil
	}
	return p.provider, options, propagationWait, true
}
