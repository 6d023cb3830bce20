package client

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// rfc8555 is the RFC 8555 dialect.
type rfc8555 struct {
	c   *Client
	dir *Directory
}

func (r *rfc8555) name() string { return DialectRFC8555 }

// Wire types. Unknown fields are ignored; known ones are type-checked by
// encoding/json and then by validate* functions.
type wireAccount struct {
	Status               string   `json:"status"`
	Contact              []string `json:"contact,omitempty"`
	TermsOfServiceAgreed bool     `json:"termsOfServiceAgreed,omitempty"`
	Orders               string   `json:"orders,omitempty"`
}

type wireOrder struct {
	Status         string       `json:"status"`
	Expires        string       `json:"expires,omitempty"`
	Identifiers    []Identifier `json:"identifiers"`
	Authorizations []string     `json:"authorizations"`
	Finalize       string       `json:"finalize"`
	Certificate    string       `json:"certificate,omitempty"`
	Error          *Problem     `json:"error,omitempty"`
	Replaces       string       `json:"replaces,omitempty"`
	Profile        string       `json:"profile,omitempty"`
}

type wireAuthz struct {
	Status     string          `json:"status"`
	Identifier Identifier      `json:"identifier"`
	Challenges []wireChallenge `json:"challenges"`
	Wildcard   bool            `json:"wildcard,omitempty"`
	Expires    string          `json:"expires,omitempty"`
}

type wireChallenge struct {
	Type              string   `json:"type"`
	URL               string   `json:"url"`
	URI               string   `json:"uri,omitempty"` // the pre-RFC name of url, still read
	Status            string   `json:"status"`
	Token             string   `json:"token,omitempty"`
	Error             *Problem `json:"error,omitempty"`
	Validated         string   `json:"validated,omitempty"`
	AccountURI        string   `json:"accounturi,omitempty"`
	IssuerDomainNames []string `json:"issuer-domain-names,omitempty"`
}

func (r *rfc8555) post(ctx context.Context, a *Account, url string, payload any) (*response, error) {
	req := postRequest{url: url, key: a.Key, kid: a.URL}
	if !a.KeyChanged.IsZero() {
		req.jwsRetryUntil = a.KeyChanged.Add(keyChangeSettle)
	}
	if payload == nil {
		return r.c.post(ctx, req)
	}
	return r.c.postJSON(ctx, req, payload)
}

func (r *rfc8555) register(ctx context.Context, key crypto.Signer, opts RegisterOptions) (*Account, error) {
	payload := map[string]any{}
	if opts.OnlyReturnExisting {
		payload["onlyReturnExisting"] = true
	} else {
		if len(opts.Contact) > 0 {
			payload["contact"] = opts.Contact
		}
		if opts.AgreeTerms {
			payload["termsOfServiceAgreed"] = true
		}
		if opts.EABKeyID != "" {
			eab, err := eabJWS(key, opts.EABKeyID, opts.EABHMACKey, r.dir.NewAccount)
			if err != nil {
				return nil, err
			}
			payload["externalAccountBinding"] = eab
		} else if r.dir.Meta.ExternalAccountRequired {
			return nil, &UnsupportedError{Feature: "an account without external account binding", Dialect: r.name(),
				Detail: "the CA requires EAB: pass --eab-kid and --eab-hmac-key-file (or ACMECTL_EAB_HMAC_KEY)"}
		}
	}
	resp, err := r.c.postJSON(ctx, postRequest{url: r.dir.NewAccount, key: key}, payload)
	if err != nil {
		var ag *AccountGoneError
		if errors.As(err, &ag) && ag.Status == "" {
			return nil, ErrAccountNotFound
		}
		return nil, fmt.Errorf("new account: %w", err)
	}
	loc := resp.location()
	if _, err := r.c.checkURL(loc, "account"); err != nil {
		return nil, err
	}
	a := &Account{URL: loc, Key: key}
	if err := r.decodeAccount(resp, a); err != nil {
		return nil, err
	}
	return a, nil
}

func (r *rfc8555) decodeAccount(resp *response, a *Account) error {
	var w wireAccount
	if err := json.Unmarshal(resp.body, &w); err != nil {
		return &ProtocolError{URL: resp.url, What: "account object: " + Sanitize(err.Error(), 200)}
	}
	switch w.Status {
	case StatusValid, StatusDeactivated, StatusRevoked:
	default:
		return &ProtocolError{URL: resp.url, What: fmt.Sprintf("account status %q is unknown", Sanitize(w.Status, 40))}
	}
	if len(w.Contact) > 32 {
		return &ProtocolError{URL: resp.url, What: "account has too many contacts"}
	}
	a.Status, a.Contact = w.Status, w.Contact
	if w.TermsOfServiceAgreed {
		a.TermsAgreed = "true"
	}
	if w.Orders != "" {
		if _, err := r.c.checkURL(w.Orders, "orders"); err == nil {
			a.Orders = w.Orders
		}
	}
	return nil
}

func (r *rfc8555) fetchAccount(ctx context.Context, a *Account) error {
	resp, err := r.post(ctx, a, a.URL, nil) // POST-as-GET (RFC 8555 §7.3.3 allows {} too; Pebble wants this)
	if err != nil {
		return fmt.Errorf("fetch account: %w", err)
	}
	return r.decodeAccount(resp, a)
}

func (r *rfc8555) updateAccount(ctx context.Context, a *Account, contact []string) error {
	if contact == nil {
		contact = []string{}
	}
	resp, err := r.post(ctx, a, a.URL, map[string]any{"contact": contact})
	if err != nil {
		return fmt.Errorf("update account: %w", err)
	}
	return r.decodeAccount(resp, a)
}

func (r *rfc8555) deactivateAccount(ctx context.Context, a *Account) error {
	resp, err := r.post(ctx, a, a.URL, map[string]any{"status": StatusDeactivated})
	if err != nil {
		return fmt.Errorf("deactivate account: %w", err)
	}
	return r.decodeAccount(resp, a)
}

func (r *rfc8555) changeKey(ctx context.Context, a *Account, newKey crypto.Signer) error {
	if r.dir.KeyChange == "" {
		return &UnsupportedError{Feature: "key rollover", Dialect: r.name(), Detail: "the directory has no keyChange"}
	}
	oldJWK, err := json.Marshal(jwkOf(a.Key))
	if err != nil {
		return err
	}
	inner, err := json.Marshal(map[string]json.RawMessage{
		"account": mustJSON(a.URL),
		"oldKey":  oldJWK,
	})
	if err != nil {
		return err
	}
	innerJWS, err := signJWS(inner, signOpts{key: newKey, url: r.dir.KeyChange})
	if err != nil {
		return err
	}
	_, err = r.c.post(ctx, postRequest{url: r.dir.KeyChange, key: a.Key, kid: a.URL, payload: innerJWS})
	if err != nil {
		return fmt.Errorf("key change: %w", err)
	}
	a.Key, a.KeyChanged = newKey, r.c.now()
	return nil
}

func (r *rfc8555) newOrder(ctx context.Context, a *Account, req *OrderRequest) (*Order, error) {
	payload := map[string]any{"identifiers": req.Identifiers}
	if req.Profile != "" {
		payload["profile"] = req.Profile
	}
	if !req.NotBefore.IsZero() {
		payload["notBefore"] = req.NotBefore.UTC().Format(time.RFC3339)
	}
	if !req.NotAfter.IsZero() {
		payload["notAfter"] = req.NotAfter.UTC().Format(time.RFC3339)
	}
	if req.Replaces != "" && r.dir.RenewalInfo != "" {
		payload["replaces"] = req.Replaces
	}
	resp, err := r.post(ctx, a, r.dir.NewOrder, payload)
	if err != nil {
		return nil, fmt.Errorf("new order: %w", err)
	}
	loc := resp.location()
	if _, err := r.c.checkURL(loc, "order"); err != nil {
		return nil, err
	}
	return r.decodeOrder(resp, loc)
}

func (r *rfc8555) decodeOrder(resp *response, url string) (*Order, error) {
	var w wireOrder
	if err := json.Unmarshal(resp.body, &w); err != nil {
		return nil, &ProtocolError{URL: resp.url, What: "order object: " + Sanitize(err.Error(), 200)}
	}
	bad := func(what string) (*Order, error) { return nil, &ProtocolError{URL: resp.url, What: "order " + what} }
	switch w.Status {
	case StatusPending, StatusReady, StatusProcessing, StatusValid, StatusInvalid:
	default:
		return bad(fmt.Sprintf("status %q is unknown", Sanitize(w.Status, 40)))
	}
	if len(w.Authorizations) > 100 || len(w.Identifiers) > 100 {
		return bad("has too many authorizations or identifiers")
	}
	for _, id := range w.Identifiers {
		if err := validateIdentifier(id); err != nil {
			return bad("identifier: " + err.Error())
		}
	}
	for _, u := range w.Authorizations {
		if _, err := r.c.checkURL(u, "authorization"); err != nil {
			return nil, err
		}
	}
	if w.Status != StatusInvalid {
		if _, err := r.c.checkURL(w.Finalize, "finalize"); err != nil {
			return nil, err
		}
	}
	o := &Order{
		URL: url, Status: w.Status, Identifiers: w.Identifiers, Authorizations: w.Authorizations,
		Finalize: w.Finalize, Error: w.Error, Replaces: w.Replaces, Profile: w.Profile,
		RetryAfter: parseRetryAfter(resp.header.Get("Retry-After"), r.c.now(), r.c.cfg.MaxRetryAfter),
	}
	if w.Expires != "" {
		o.Expires, _ = time.Parse(time.RFC3339, w.Expires)
	}
	if w.Status == StatusValid {
		if _, err := r.c.checkURL(w.Certificate, "certificate"); err != nil {
			return nil, err
		}
		o.Certificate = w.Certificate
	}
	return o, nil
}

func (r *rfc8555) fetchOrder(ctx context.Context, a *Account, o *Order) (*Order, error) {
	url := o.URL
	if _, err := r.c.checkURL(url, "order"); err != nil {
		return nil, err
	}
	resp, err := r.post(ctx, a, url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch order: %w", err)
	}
	return r.decodeOrder(resp, url)
}

func (r *rfc8555) fetchAuthorization(ctx context.Context, a *Account, url string) (*Authorization, error) {
	resp, err := r.post(ctx, a, url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch authorization: %w", err)
	}
	return decodeAuthorization(r.c, resp, url)
}

// decodeAuthorization parses and vets an authorization (both dialects).
func decodeAuthorization(c *Client, resp *response, url string) (*Authorization, error) {
	var w wireAuthz
	if err := json.Unmarshal(resp.body, &w); err != nil {
		return nil, &ProtocolError{URL: resp.url, What: "authorization object: " + Sanitize(err.Error(), 200)}
	}
	bad := func(what string) (*Authorization, error) {
		return nil, &ProtocolError{URL: resp.url, What: "authorization " + what}
	}
	switch w.Status {
	case StatusPending, StatusValid, StatusInvalid, StatusDeactivated, StatusExpired, StatusRevoked:
	default:
		return bad(fmt.Sprintf("status %q is unknown", Sanitize(w.Status, 40)))
	}
	if err := validateIdentifier(w.Identifier); err != nil {
		return bad("identifier: " + err.Error())
	}
	if len(w.Challenges) > 32 {
		return bad("has too many challenges")
	}
	az := &Authorization{
		URL: url, Status: w.Status, Identifier: w.Identifier, Wildcard: w.Wildcard,
		RetryAfter: parseRetryAfter(resp.header.Get("Retry-After"), c.now(), c.cfg.MaxRetryAfter),
	}
	if w.Expires != "" {
		az.Expires, _ = time.Parse(time.RFC3339, w.Expires)
	}
	for _, wc := range w.Challenges {
		u := wc.URL
		if u == "" {
			u = wc.URI
		}
		ch := &Challenge{Type: wc.Type, URL: u, Token: wc.Token, Status: wc.Status, Error: wc.Error,
			AccountURI: wc.AccountURI, IssuerDomainNames: wc.IssuerDomainNames}
		az.Challenges = append(az.Challenges, ch)
	}
	return az, nil
}

func (r *rfc8555) acceptChallenge(ctx context.Context, a *Account, ch *Challenge, _ string) error {
	_, err := r.post(ctx, a, ch.URL, map[string]any{})
	if err != nil {
		return fmt.Errorf("answer %s challenge: %w", ch.Type, err)
	}
	return nil
}

func (r *rfc8555) finalize(ctx context.Context, a *Account, o *Order, csr []byte) error {
	resp, err := r.post(ctx, a, o.Finalize, map[string]string{"csr": base64.RawURLEncoding.EncodeToString(csr)})
	if err != nil {
		var p *Problem
		// A lost response to an earlier finalize: the order moved on.
		// Read it instead of finalizing twice.
		if errors.As(err, &p) && p.Has(ProblemOrderNotReady) {
			fresh, ferr := r.fetchOrder(ctx, a, o)
			if ferr == nil && (fresh.Status == StatusProcessing || fresh.Status == StatusValid) {
				*o = *fresh
				return nil
			}
		}
		return fmt.Errorf("finalize order: %w", err)
	}
	fresh, err := r.decodeOrder(resp, o.URL)
	if err != nil {
		return err
	}
	*o = *fresh
	return nil
}

func (r *rfc8555) fetchCertificate(ctx context.Context, a *Account, o *Order, alternates bool) ([][]byte, [][][]byte, error) {
	chain, links, err := r.downloadChain(ctx, a, o.Certificate)
	if err != nil {
		return nil, nil, err
	}
	var alts [][][]byte
	if alternates {
		for i, u := range links {
			if i == 8 {
				break
			}
			alt, _, err := r.downloadChain(ctx, a, u)
			if err != nil {
				r.c.log.Warn("alternate chain unusable", "url", u, "err", err)
				continue
			}
			alts = append(alts, alt)
		}
	}
	return chain, alts, nil
}

func (r *rfc8555) downloadChain(ctx context.Context, a *Account, url string) ([][]byte, []string, error) {
	if _, err := r.c.checkURL(url, "certificate"); err != nil {
		return nil, nil, err
	}
	resp, err := r.c.post(ctx, postRequest{url: url, key: a.Key, kid: a.URL, accept: "application/pem-certificate-chain"})
	if err != nil {
		return nil, nil, fmt.Errorf("download certificate: %w", err)
	}
	chain, err := parsePEMChain(resp.body)
	if err != nil {
		return nil, nil, &ProtocolError{URL: url, What: "certificate chain: " + err.Error()}
	}
	var alts []string
	for _, l := range parseLinks(resp.header.Values("Link")) {
		if l.rel == "alternate" {
			if _, err := r.c.checkURL(l.url, "alternate chain"); err == nil {
				alts = append(alts, l.url)
			}
		}
	}
	return chain, alts, nil
}

func (r *rfc8555) revoke(ctx context.Context, a *Account, certKey crypto.Signer, certDER []byte, reason *int) error {
	if r.dir.RevokeCert == "" {
		return &UnsupportedError{Feature: "revocation", Dialect: r.name(), Detail: "the directory has no revokeCert"}
	}
	payload := map[string]any{"certificate": base64.RawURLEncoding.EncodeToString(certDER)}
	if reason != nil {
		payload["reason"] = *reason
	}
	req := postRequest{url: r.dir.RevokeCert}
	if certKey != nil {
		req.key = certKey
	} else {
		req.key, req.kid = a.Key, a.URL
	}
	if _, err := r.c.postJSON(ctx, req, payload); err != nil {
		return fmt.Errorf("revoke certificate: %w", err)
	}
	return nil
}

// renewalInfo GETs the ARI renewal information for certID (RFC 9773 §4.2),
// returning the raw body and the Retry-After time.
func (r *rfc8555) renewalInfo(ctx context.Context, certID string) ([]byte, time.Time, error) {
	u := r.dir.RenewalInfo
	if len(u) > 0 && u[len(u)-1] != '/' {
		u += "/"
	}
	resp, err := r.c.get(ctx, u+certID, "application/json")
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("renewal info: %w", err)
	}
	if resp.status != http.StatusOK {
		return nil, time.Time{}, &ProtocolError{URL: resp.url, What: fmt.Sprintf("renewal info: HTTP %d", resp.status)}
	}
	return resp.body, parseRetryAfter(resp.header.Get("Retry-After"), r.c.now(), r.c.cfg.MaxRetryAfter), nil
}
