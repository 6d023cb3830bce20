// Package httpreq is a dns01.Provider that asks a small web service of the
// user's to set and remove TXT records, in the protocol of lego's httpreq
// provider (https://go-acme.github.io/lego/dns/httpreq/), so the services
// written for lego work unchanged:
//
//	POST {endpoint}/present   {"fqdn": "_acme-challenge.example.com.", "value": "..."}
//	POST {endpoint}/cleanup   {"fqdn": "_acme-challenge.example.com.", "value": "..."}
//
// with optional HTTP basic authentication. Any 2xx answer is success.
// lego's RAW mode (domain, token, key authorization) is not supported: it
// leaves the record's name and value to the service and cannot express
// dns-account-01 or a CNAME-delegated name. The service must keep other
// values at the name on present and remove only the value given on
// cleanup; both must succeed when repeated.
package httpreq

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
)

func endpointItem() creds.Item {
	return creds.Item{What: "endpoint", Env: []string{"ACMECTL_HTTPREQ_ENDPOINT", "HTTPREQ_ENDPOINT"}}
}

func modeItem() creds.Item {
	return creds.Item{What: "mode", Env: []string{"ACMECTL_HTTPREQ_MODE", "HTTPREQ_MODE"}}
}

func usernameItem() creds.Item {
	return creds.Item{What: "basic authentication user name", Env: []string{"ACMECTL_HTTPREQ_USERNAME", "HTTPREQ_USERNAME"},
		Credential: "httpreq-username"}
}

func passwordItem() creds.Item {
	return creds.Item{What: "basic authentication password", Env: []string{"ACMECTL_HTTPREQ_PASSWORD", "HTTPREQ_PASSWORD"},
		Credential: "httpreq-password", Secret: true}
}

// Provider calls the webhook.
type Provider struct {
	api *providers.API
}

var _ dns01.Provider = (*Provider)(nil)

// New builds the provider from the endpoint option (or HTTPREQ_ENDPOINT)
// and the optional basic authentication pair; it does no network I/O.
// The endpoint may be http:// only on loopback or when the option
// allow-http is "true" (a service on a trusted network).
func New(cfg providers.Config) (dns01.Provider, error) {
	ep, err := cfg.Setting("endpoint", endpointItem(), "")
	if err != nil {
		return nil, err
	}
	if ep.Value == "" {
		return nil, &creds.NotFoundError{Provider: cfg.Name, Item: endpointItem()}
	}
	if mode, err := cfg.Setting("mode", modeItem(), ""); err != nil {
		return nil, err
	} else if mode.Value != "" {
		return nil, fmt.Errorf("%s: mode %q (from %s) is not supported: only lego's default mode (fqdn and value) is", cfg.Name, providers.Sanitize(mode.Value, 20), mode.From)
	}
	base, err := providers.Endpoint(cfg.Name, ep.Value, cfg.Options["allow-http"] == "true")
	if err != nil {
		return nil, err
	}
	if base.Scheme == "http" && !providers.IsLoopback(base.Hostname()) {
		cfg.Log().Warn("httpreq endpoint is plain http: records and credentials travel unencrypted", "endpoint", base.Redacted())
	}
	api := &providers.API{Provider: cfg.Name, Base: base, Client: cfg.Client(), UserAgent: cfg.UserAgent, Logger: cfg.Log()}
	user, err := cfg.Setting("username", usernameItem(), "")
	if err != nil {
		return nil, err
	}
	if user.Value != "" {
		pass, err := cfg.Secret(passwordItem())
		if err != nil {
			return nil, err
		}
		api.CredentialFrom = user.From + " and " + pass.From
		api.Authorize = func(r *http.Request) { r.SetBasicAuth(user.Value, pass.Value) }
	}
	api.Message = func(body []byte) string { return strings.TrimSpace(string(body)) }
	return &Provider{api: api}, nil
}

type message struct {
	FQDN  string `json:"fqdn"`
	Value string `json:"value"`
}

// SetTXT posts to /present.
func (p *Provider) SetTXT(ctx context.Context, fqdn, value string) error {
	return p.api.Do(ctx, http.MethodPost, "/present", message{FQDN: fqdn, Value: value}, nil)
}

// DeleteTXT posts to /cleanup.
func (p *Provider) DeleteTXT(ctx context.Context, fqdn, value string) error {
	return p.api.Do(ctx, http.MethodPost, "/cleanup", message{FQDN: fqdn, Value: value}, nil)
}
