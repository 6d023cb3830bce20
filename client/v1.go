package client

// Deprecated: legacy ACME v1 dialect (the pre-IETF protocol Boulder served at
// Let's Encrypt's v1 endpoints until June 2021), per
// shared/reference/acme-v1-legacy.md. It lives entirely in the client/v1*.go
// files. To remove legacy v1 support, delete client/v1*.go and change the one
// line `return c.newV1(dir)` in chooseDialect (directory.go) into
// `return nil, &UnsupportedError{Feature: "legacy ACME v1", Dialect: "ACME v1"}`;
// nothing else refers to these files (TestV1Deletable proves it). The rest
// of the module asks Directory (DialectID, Version, Retired, Supports,
// Endpoints) what the dialect can do, never which one it is.
//
// How v1 maps onto the dialect interface:
//   - every POST is a flattened JWS with the jwk (never kid) and a nonce,
//     no "url" header, and a payload object carrying "resource";
//   - nonces come from any response; when the pool is empty, HEAD the
//     directory, then HEAD the URL about to be POSTed (reference §5, §15.1);
//   - an "order" is one new-authz per identifier, with no URL; Boulder may
//     answer with an authorization that is already valid, which is reused;
//     its status is derived from its authorizations (pending until all are
//     valid, then ready; valid after new-cert), and fetchOrder polls them;
//   - resources are read with unauthenticated GETs;
//   - new-cert answers with the DER leaf; the chain is built by following
//     Link rel="up" (bounded, loop-checked) and returned leaf first, like an
//     RFC 8555 chain;
//   - urn:acme:error:* problems are mapped onto the RFC 8555 names where v1
//     used other ones (409 on revoke → alreadyRevoked, invalidEmail →
//     invalidContact, unknown key → accountDoesNotExist, no agreement →
//     agreementRequired), keeping the v1 prefix.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// DialectV1 is Directory.Dialect for a legacy ACME v1 server.
const DialectV1 = "ACME v1 (legacy)"

// v1 is the legacy ACME v1 dialect. Safe for concurrent use.
type v1 struct {
	c   *Client
	dir *Directory

	mu sync.Mutex
	// authzCache holds authorizations returned by new-authz, handed out
	// once by fetchAuthorization so the workflow does not GET them again.
	authzCache map[string]*Authorization
}

// newV1 builds the legacy dialect for a v1 directory and describes it in
// dir: no wildcards, IP identifiers, validity dates or EAB; retired.
func (c *Client) newV1(dir *Directory) (dialect, error) {
	dir.Dialect, dir.DialectID, dir.Version, dir.Retired = DialectV1, "v1", "1", true
	dir.Supports = Capabilities{}
	dir.Endpoints = endpoints([][2]string{
		{"new-reg", dir.NewReg}, {"new-authz", dir.NewAuthz}, {"new-cert", dir.NewCert},
		{"revoke-cert", dir.RevokeCert}, {"key-change", dir.KeyChange},
	})
	return &v1{c: c, dir: dir, authzCache: map[string]*Authorization{}}, nil
}

func (v *v1) name() string { return DialectV1 }

// v1Order is the state of an emulated order (Order.ext).
type v1Order struct {
	valid map[string]bool // authorizations known to be valid
	leaf  []byte          // the DER leaf returned by new-cert
	up    string          // its "up" link
}

// v1LookupAgreement is sent as "agreement" when only looking an account
// up: Boulder answers 409 for a known key before it reads the payload, and
// refuses any agreement other than the current terms URL (400 malformed)
// before creating anything, so this request can never create an account.
const v1LookupAgreement = "urn:acmectl:lookup-only:not-an-agreement"

// v1 revocation reasons (reference §11).
var v1Reasons = map[int]bool{0: true, 1: true, 3: true, 4: true, 5: true}

// wireV1Reg is a v1 registration object.
// Its integer "id" is not used: the account URL comes from Location.
type wireV1Reg struct {
	Contact   []string `json:"contact"`
	Agreement string   `json:"agreement"`
	Status    string   `json:"status"`
	// OldStatus is the pre-2017-12 spelling.
	OldStatus string `json:"Status"`
}

type wireV1Authz struct {
	Identifier   Identifier      `json:"identifier"`
	Status       string          `json:"status"`
	Expires      string          `json:"expires"`
	Challenges   []wireChallenge `json:"challenges"`
	Combinations [][]int         `json:"combinations"`
}

// nonce takes a pooled nonce; when the pool is empty it HEADs the
// directory, then target (reference §5, §15.1 step 2).
func (v *v1) nonce(ctx context.Context, target string) (string, error) {
	n, err := v.c.nonce(ctx, v.c.cfg.DirectoryURL)
	if err == nil {
		return n, nil
	}
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		return "", err
	}
	n, err = v.c.nonce(ctx, target)
	if err != nil {
		return "", fmt.Errorf("get a nonce: %w", err)
	}
	return n, nil
}

// post signs payload (with "resource" added) with key (jwk, no url header)
// and posts it to url. badNonce is retried with a fresh nonce (bounded);
// nothing else is repeated, since every v1 POST may change state. A 409
// comes back as *v1ConflictError carrying its Location.
func (v *v1) post(ctx context.Context, key crypto.Signer, url, resource string, payload map[string]any, accept string) (*response, error) {
	if _, err := v.c.checkURL(url, resource); err != nil {
		return nil, err
	}
	if payload == nil {
		payload = map[string]any{}
	}
	payload["resource"] = resource
	data, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	for badNonces := 0; ; badNonces++ {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		nonce, err := v.nonce(ctx, url)
		if err != nil {
			return nil, err
		}
		body, err := signJWS(data, signOpts{key: key, nonce: nonce})
		if err != nil {
			return nil, err
		}
		resp, err := v.c.do(ctx, http.MethodPost, url, body, "application/jose+json", accept)
		if err != nil {
			return nil, err
		}
		if resp.status < 300 {
			return resp, nil
		}
		perr := v.c.problemError(resp)
		var p *Problem
		if !errors.As(perr, &p) {
			return nil, perr
		}
		if p.Has(ProblemBadNonce) && badNonces < maxBadNonceRetries {
			v.c.log.Debug("bad nonce, retrying", "url", url, "attempt", badNonces+1)
			continue
		}
		v1MapProblem(p, resource)
		if resp.status == http.StatusConflict {
			return nil, &v1ConflictError{Problem: p, location: resp.location()}
		}
		return nil, perr
	}
}

// v1MapProblem renames v1 problem types to the RFC 8555 names callers test
// with Problem.Has, keeping the urn:acme:error: prefix.
func v1MapProblem(p *Problem, resource string) {
	rename := func(short string) { p.Type = "urn:acme:error:" + short }
	switch {
	case resource == "revoke-cert" && p.Status == http.StatusConflict:
		rename(ProblemAlreadyRevoked)
	case p.Has("invalidEmail"):
		rename("invalidContact")
	case p.Has(ProblemUnauthorized) && strings.Contains(p.Detail, "No registration exists matching provided key"):
		rename(ProblemAccountDoesNotExist)
	case p.Has(ProblemUnauthorized) && strings.Contains(p.Detail, "agree to subscriber agreement"):
		rename(ProblemAgreementRequired)
	}
}

// termsLink is the Link rel="terms-of-service" of a response, if valid.
func (v *v1) termsLink(resp *response) string {
	for _, l := range parseLinks(resp.header.Values("Link")) {
		if l.rel == "terms-of-service" {
			if _, err := v.c.checkURL(l.url, "terms of service"); err == nil {
				return l.url
			}
		}
	}
	return ""
}

func (v *v1) upLink(resp *response) string {
	for _, l := range parseLinks(resp.header.Values("Link")) {
		if l.rel == "up" {
			return l.url
		}
	}
	return ""
}

func (v *v1) decodeAccount(resp *response, a *Account) error {
	var w wireV1Reg
	if err := json.Unmarshal(resp.body, &w); err != nil {
		return &ProtocolError{URL: resp.url, What: "registration object: " + Sanitize(err.Error(), 200)}
	}
	status := w.Status
	if status == "" {
		status = w.OldStatus
	}
	switch status {
	case "":
		status = StatusValid // 2015-16 registrations had no status
	case StatusValid, StatusDeactivated, StatusRevoked:
	default:
		return &ProtocolError{URL: resp.url, What: fmt.Sprintf("registration status %q is unknown", Sanitize(status, 40))}
	}
	if len(w.Contact) > 32 {
		return &ProtocolError{URL: resp.url, What: "registration has too many contacts"}
	}
	for _, c := range w.Contact {
		if len(c) > 512 {
			return &ProtocolError{URL: resp.url, What: "registration contact is too long"}
		}
	}
	if len(w.Agreement) > 2048 {
		return &ProtocolError{URL: resp.url, What: "registration agreement is too long"}
	}
	a.Status, a.Contact, a.TermsAgreed = status, w.Contact, w.Agreement
	return nil
}

func (v *v1) register(ctx context.Context, key crypto.Signer, opts RegisterOptions) (*Account, error) {
	if opts.EABKeyID != "" {
		return nil, &UnsupportedError{Feature: "external account binding (EAB)", Dialect: v.name()}
	}
	if v.dir.NewReg == "" {
		return nil, &UnsupportedError{Feature: "registration", Dialect: v.name(), Detail: "the directory has no new-reg"}
	}
	if opts.OnlyReturnExisting {
		return v.lookup(ctx, key)
	}
	payload := map[string]any{}
	if len(opts.Contact) > 0 {
		payload["contact"] = opts.Contact
	}
	terms := v.dir.Meta.TermsOfService
	if opts.AgreeTerms && terms != "" {
		payload["agreement"] = terms
	}
	resp, err := v.post(ctx, key, v.dir.NewReg, "new-reg", payload, "")
	existing := false
	if err != nil {
		var p *Problem
		if !errors.As(err, &p) || p.Status != http.StatusConflict {
			return nil, fmt.Errorf("new registration: %w", err)
		}
		existing = true
	}
	var loc string
	if existing {
		loc = v.conflictLocation(err)
	} else {
		loc = resp.location()
	}
	if _, err := v.c.checkURL(loc, "registration"); err != nil {
		return nil, err
	}
	a := &Account{URL: loc, Key: key}
	if existing {
		// The key is registered already: read the registration.
		if resp, err = v.post(ctx, key, a.URL, "reg", nil, ""); err != nil {
			return nil, fmt.Errorf("fetch registration: %w", err)
		}
	}
	if err := v.decodeAccount(resp, a); err != nil {
		return nil, err
	}
	if terms == "" {
		// A directory without meta (Boulder before 2017-05): the terms
		// are only in the Link header, and need the same consent.
		if terms = v.termsLink(resp); terms != "" && a.TermsAgreed == "" && !opts.AgreeTerms && a.Status == StatusValid {
			return nil, &TermsNotAgreedError{URL: terms}
		}
	}
	if a.TermsAgreed == "" && opts.AgreeTerms && terms != "" && a.Status == StatusValid {
		resp, err := v.post(ctx, key, a.URL, "reg", map[string]any{"agreement": terms}, "")
		if err != nil {
			return nil, fmt.Errorf("agree to terms of service: %w", err)
		}
		if err := v.decodeAccount(resp, a); err != nil {
			return nil, err
		}
		v.c.log.Info("agreed to terms of service", "terms", Sanitize(terms, 300), "account_url", a.URL)
	}
	return a, nil
}

// conflictLocation is the Location of a 409 answer (see post).
func (v *v1) conflictLocation(err error) string {
	var ce *v1ConflictError
	if errors.As(err, &ce) {
		return ce.location
	}
	return ""
}

// v1ConflictError carries the Location of a 409 (key already registered).
type v1ConflictError struct {
	*Problem
	location string
}

func (e *v1ConflictError) Unwrap() error { return e.Problem }

// lookup finds the registration of key without ever creating one: v1 has
// no onlyReturnExisting, so it posts new-reg with an agreement no CA
// accepts. Boulder checks the key first (409 + Location: found) and the
// agreement before creating anything (400: not found).
func (v *v1) lookup(ctx context.Context, key crypto.Signer) (*Account, error) {
	resp, err := v.post(ctx, key, v.dir.NewReg, "new-reg", map[string]any{"agreement": v1LookupAgreement}, "")
	if err == nil {
		loc := Sanitize(resp.location(), 300)
		return nil, &ProtocolError{URL: v.dir.NewReg, What: fmt.Sprintf("the CA created registration %s although acmectl only looked the key up (v1 has no onlyReturnExisting); it is not used", loc)}
	}
	var p *Problem
	if !errors.As(err, &p) {
		return nil, fmt.Errorf("look up registration: %w", err)
	}
	if p.Status != http.StatusConflict {
		var te *TemporaryError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("look up registration: %w", err)
		}
		v.c.log.Debug("no registration for key", "problem", p.Error())
		return nil, ErrAccountNotFound
	}
	loc := v.conflictLocation(err)
	if _, err := v.c.checkURL(loc, "registration"); err != nil {
		return nil, err
	}
	a := &Account{URL: loc, Key: key}
	if err := v.fetchAccount(ctx, a); err != nil {
		var p *Problem
		// The registration exists but refuses its own key: only a
		// registration that is no longer valid does that.
		if errors.As(err, &p) && p.Has(ProblemUnauthorized) {
			a.Status = StatusDeactivated
			return a, nil
		}
		return nil, err
	}
	return a, nil
}

func (v *v1) fetchAccount(ctx context.Context, a *Account) error {
	resp, err := v.post(ctx, a.Key, a.URL, "reg", nil, "")
	if err != nil {
		return fmt.Errorf("fetch registration: %w", err)
	}
	return v.decodeAccount(resp, a)
}

func (v *v1) updateAccount(ctx context.Context, a *Account, contact []string) error {
	if contact == nil {
		contact = []string{}
	}
	resp, err := v.post(ctx, a.Key, a.URL, "reg", map[string]any{"contact": contact}, "")
	if err != nil {
		return fmt.Errorf("update registration: %w", err)
	}
	return v.decodeAccount(resp, a)
}

func (v *v1) deactivateAccount(ctx context.Context, a *Account) error {
	resp, err := v.post(ctx, a.Key, a.URL, "reg", map[string]any{"status": StatusDeactivated}, "")
	if err != nil {
		return fmt.Errorf("deactivate registration: %w", err)
	}
	return v.decodeAccount(resp, a)
}

// changeKey is the v1 key-change (reference §7.5): the outer payload is the
// inner JWS object (signed by the new key over {account, newKey}) plus
// "resource": "key-change".
func (v *v1) changeKey(ctx context.Context, a *Account, newKey crypto.Signer) error {
	if v.dir.KeyChange == "" {
		return &UnsupportedError{Feature: "key rollover", Dialect: v.name(), Detail: "the directory has no key-change"}
	}
	newJWK, err := json.Marshal(jwkOf(newKey))
	if err != nil {
		return err
	}
	inner, err := json.Marshal(map[string]json.RawMessage{"account": mustJSON(a.URL), "newKey": newJWK})
	if err != nil {
		return err
	}
	innerJWS, err := signJWS(inner, signOpts{key: newKey})
	if err != nil {
		return err
	}
	var outer map[string]any
	if err := json.Unmarshal(innerJWS, &outer); err != nil {
		return fmt.Errorf("key change: inner JWS: %w", err)
	}
	if _, err := v.post(ctx, a.Key, v.dir.KeyChange, "key-change", outer, ""); err != nil {
		return fmt.Errorf("key change: %w", err)
	}
	a.Key = newKey
	return nil
}

// newOrder emulates an order: one new-authz per identifier, in turn.
func (v *v1) newOrder(ctx context.Context, a *Account, req *OrderRequest) (*Order, error) {
	st := &v1Order{valid: map[string]bool{}}
	o := &Order{Status: StatusReady, Identifiers: slices.Clone(req.Identifiers), ext: st}
	for _, id := range req.Identifiers {
		if id.Type != "dns" || strings.HasPrefix(id.Value, "*.") {
			return nil, &UnsupportedError{Feature: "identifier " + Sanitize(id.Value, 64), Dialect: v.name(), Detail: "only DNS names without wildcards"}
		}
		resp, err := v.post(ctx, a.Key, v.dir.NewAuthz, "new-authz", map[string]any{"identifier": Identifier{Type: "dns", Value: id.Value}}, "")
		if err != nil {
			return nil, fmt.Errorf("new authorization for %s: %w", id.Value, err)
		}
		loc := resp.location()
		if _, err := v.c.checkURL(loc, "authorization"); err != nil {
			return nil, err
		}
		az, err := v.decodeAuthorization(resp, loc)
		if err != nil {
			return nil, err
		}
		if az.Identifier.Type != "dns" || !strings.EqualFold(az.Identifier.Value, id.Value) {
			return nil, &ProtocolError{URL: loc, What: fmt.Sprintf("new-authz for %s returned an authorization for %q", id.Value, Sanitize(az.Identifier.Value, 64))}
		}
		if az.Status == StatusValid {
			st.valid[loc] = true
		} else {
			o.Status = StatusPending
		}
		v.mu.Lock()
		if len(v.authzCache) < 256 {
			v.authzCache[loc] = az
		}
		v.mu.Unlock()
		o.Authorizations = append(o.Authorizations, loc)
	}
	return o, nil
}

// fetchOrder reads the emulated order's authorizations that are not yet
// known to be valid: all valid makes it ready; a failed one (or a failed
// challenge in a pending one) is the *AuthorizationError. Only a pending
// order of this process can be read: a stored one, or one whose new-cert
// was sent, is ErrOrderNotResumable (never a second new-cert).
func (v *v1) fetchOrder(ctx context.Context, a *Account, o *Order) (*Order, error) {
	st, ok := o.ext.(*v1Order)
	if !ok || o.Status != StatusPending {
		return nil, ErrOrderNotResumable
	}
	fresh := *o
	fresh.Status, fresh.RetryAfter = StatusReady, time.Time{}
	for _, url := range o.Authorizations {
		if st.valid[url] {
			continue
		}
		az, err := v.fetchAuthorization(ctx, a, url)
		if err != nil {
			return nil, err
		}
		switch az.Status {
		case StatusValid:
			st.valid[url] = true
		case StatusPending:
			for _, ch := range az.Challenges {
				if ch.Status == StatusInvalid {
					return nil, authzError(az, ch.Type)
				}
			}
			fresh.Status = StatusPending
			if az.RetryAfter.After(fresh.RetryAfter) {
				fresh.RetryAfter = az.RetryAfter
			}
		default:
			return nil, authzError(az, v.answered(az))
		}
	}
	return &fresh, nil
}

// answered is the type of the challenge of az that was answered (whose
// status moved on from pending), or "".
func (v *v1) answered(az *Authorization) string {
	for _, ch := range az.Challenges {
		if ch.Status != StatusPending {
			return ch.Type
		}
	}
	return ""
}

func (v *v1) fetchAuthorization(ctx context.Context, _ *Account, url string) (*Authorization, error) {
	v.mu.Lock()
	az, ok := v.authzCache[url]
	delete(v.authzCache, url)
	v.mu.Unlock()
	if ok {
		return az, nil
	}
	if _, err := v.c.checkURL(url, "authorization"); err != nil {
		return nil, err
	}
	resp, err := v.c.get(ctx, url, "application/json")
	if err != nil {
		return nil, fmt.Errorf("fetch authorization: %w", err)
	}
	return v.decodeAuthorization(resp, url)
}

// decodeAuthorization parses and vets a v1 authorization. Only challenges
// that complete the authorization on their own (a one-element set of
// "combinations") are kept, since the workflow solves one per identifier.
func (v *v1) decodeAuthorization(resp *response, url string) (*Authorization, error) {
	var w wireV1Authz
	if err := json.Unmarshal(resp.body, &w); err != nil {
		return nil, &ProtocolError{URL: resp.url, What: "authorization object: " + Sanitize(err.Error(), 200)}
	}
	bad := func(what string) (*Authorization, error) {
		return nil, &ProtocolError{URL: resp.url, What: "authorization " + what}
	}
	status := w.Status
	switch status {
	case "", "unknown", StatusProcessing: // draft-02: missing means pending
		status = StatusPending
	case StatusPending, StatusValid, StatusInvalid, StatusDeactivated, StatusRevoked, StatusExpired:
	default:
		return bad(fmt.Sprintf("status %q is unknown", Sanitize(w.Status, 40)))
	}
	if err := validateIdentifier(w.Identifier); err != nil {
		return bad("identifier: " + err.Error())
	}
	if len(w.Challenges) > 32 || len(w.Combinations) > 32 {
		return bad("has too many challenges or combinations")
	}
	az := &Authorization{
		URL: url, Status: status, Identifier: w.Identifier,
		RetryAfter: parseRetryAfter(resp.header.Get("Retry-After"), v.c.now(), v.c.cfg.MaxRetryAfter),
	}
	if w.Expires != "" {
		az.Expires, _ = time.Parse(time.RFC3339, w.Expires)
	}
	usable := make([]bool, len(w.Challenges))
	if w.Combinations == nil {
		// No combinations: every challenge must be completed.
		if len(w.Challenges) == 1 {
			usable[0] = true
		}
	}
	for _, set := range w.Combinations {
		for _, i := range set {
			if i < 0 || i >= len(w.Challenges) {
				return bad("combinations refer to a challenge that does not exist")
			}
		}
		if len(set) == 1 {
			usable[set[0]] = true
		}
	}
	for i, wc := range w.Challenges {
		u := wc.URI
		if u == "" {
			u = wc.URL
		}
		ch := &Challenge{Type: wc.Type, URL: u, Token: wc.Token, Status: wc.Status, Error: wc.Error}
		if wc.Validated != "" {
			ch.Validated, _ = time.Parse(time.RFC3339, wc.Validated)
		}
		if ch.Status == "" {
			ch.Status = StatusPending
		}
		if !usable[i] && az.Status == StatusPending {
			continue
		}
		az.Challenges = append(az.Challenges, ch)
	}
	if az.Status == StatusPending && len(az.Challenges) == 0 && len(w.Challenges) > 0 {
		return nil, &AuthorizationError{Identifier: az.Identifier, Problem: &Problem{Type: "about:blank",
			Detail: "the CA asks for several challenges at once for this name; acmectl completes one challenge per name"}}
	}
	return az, nil
}

func (v *v1) acceptChallenge(ctx context.Context, a *Account, ch *Challenge, keyAuth string) error {
	_, err := v.post(ctx, a.Key, ch.URL, "challenge", map[string]any{"type": ch.Type, "keyAuthorization": keyAuth}, "")
	if err != nil {
		return fmt.Errorf("answer %s challenge: %w", ch.Type, err)
	}
	return nil
}

// finalize is new-cert: 201 with the DER leaf (or an empty body and the
// certificate URL to poll), Location and Link rel="up".
func (v *v1) finalize(ctx context.Context, a *Account, o *Order, csr []byte) error {
	resp, err := v.post(ctx, a.Key, v.dir.NewCert, "new-cert", map[string]any{"csr": base64.RawURLEncoding.EncodeToString(csr)}, "application/pkix-cert")
	if err != nil {
		return fmt.Errorf("new certificate: %w", err)
	}
	loc := resp.location()
	if loc != "" {
		if _, err := v.c.checkURL(loc, "certificate"); err != nil {
			return err
		}
	}
	o.Certificate = loc
	o.Status = StatusValid
	if len(resp.body) == 0 {
		if loc == "" {
			return &ProtocolError{URL: resp.url, What: "new-cert answered with neither a certificate nor its URL"}
		}
		return nil
	}
	if _, err := x509.ParseCertificate(resp.body); err != nil {
		return &ProtocolError{URL: resp.url, What: "new-cert body is not a DER certificate: " + Sanitize(err.Error(), 200)}
	}
	if st, ok := o.ext.(*v1Order); ok {
		st.leaf, st.up = resp.body, v.upLink(resp)
	}
	return nil
}

// fetchCertificate returns the leaf from new-cert (polling its URL if the
// CA issues asynchronously) and the chain built by following the "up"
// links, leaf first, without the root. v1 has no alternate chains.
func (v *v1) fetchCertificate(ctx context.Context, _ *Account, o *Order, _ bool) ([][]byte, [][][]byte, error) {
	var leaf []byte
	var up string
	if st, ok := o.ext.(*v1Order); ok {
		leaf, up = st.leaf, st.up
	}
	if leaf == nil {
		var err error
		if leaf, up, err = v.pollCertificate(ctx, o.Certificate); err != nil {
			return nil, nil, err
		}
	}
	chain := [][]byte{leaf}
	seen := map[string]bool{}
	for up != "" {
		if len(chain) >= maxChainCerts {
			return nil, nil, &ProtocolError{URL: up, What: fmt.Sprintf("issuer chain longer than %d certificates", maxChainCerts)}
		}
		if seen[up] {
			return nil, nil, &ProtocolError{URL: up, What: "issuer links form a loop"}
		}
		seen[up] = true
		if _, err := v.c.checkURL(up, "issuer certificate"); err != nil {
			return nil, nil, err
		}
		resp, err := v.c.get(ctx, up, "application/pkix-cert")
		if err != nil {
			return nil, nil, fmt.Errorf("fetch issuer certificate: %w", err)
		}
		cert, err := x509.ParseCertificate(resp.body)
		if err != nil {
			return nil, nil, &ProtocolError{URL: up, What: "issuer certificate is not DER: " + Sanitize(err.Error(), 200)}
		}
		for _, c := range chain {
			if bytes.Equal(c, resp.body) {
				return nil, nil, &ProtocolError{URL: up, What: "issuer links repeat a certificate (loop)"}
			}
		}
		if bytes.Equal(cert.RawIssuer, cert.RawSubject) && cert.CheckSignatureFrom(cert) == nil {
			break // a self-signed root: chains end below it, as in RFC 8555
		}
		chain = append(chain, resp.body)
		up = v.upLink(resp)
	}
	return chain, nil, nil
}

// pollCertificate GETs the certificate URL until the CA has issued it.
func (v *v1) pollCertificate(ctx context.Context, url string) ([]byte, string, error) {
	if _, err := v.c.checkURL(url, "certificate"); err != nil {
		return nil, "", err
	}
	delay := pollStart
	for {
		resp, err := v.c.get(ctx, url, "application/pkix-cert")
		if err != nil {
			return nil, "", fmt.Errorf("fetch certificate: %w", err)
		}
		if resp.status == http.StatusOK && len(resp.body) > 0 {
			if _, err := x509.ParseCertificate(resp.body); err != nil {
				return nil, "", &ProtocolError{URL: url, What: "certificate is not DER: " + Sanitize(err.Error(), 200)}
			}
			return resp.body, v.upLink(resp), nil
		}
		ra := parseRetryAfter(resp.header.Get("Retry-After"), v.c.now(), v.c.cfg.MaxRetryAfter)
		if err := sleepCtx(ctx, v.c.pollDelay(&delay, ra)); err != nil {
			return nil, "", err
		}
	}
}

// revoke is revoke-cert, signed with the account key or the certificate's
// own key. v1 accepts reasons 0, 1, 3, 4 and 5 only; a repeat is 409,
// reported as alreadyRevoked.
func (v *v1) revoke(ctx context.Context, a *Account, certKey crypto.Signer, certDER []byte, reason *int) error {
	if v.dir.RevokeCert == "" {
		return &UnsupportedError{Feature: "revocation", Dialect: v.name(), Detail: "the directory has no revoke-cert"}
	}
	payload := map[string]any{"certificate": base64.RawURLEncoding.EncodeToString(certDER)}
	if reason != nil {
		if !v1Reasons[*reason] {
			return &UnsupportedError{Feature: fmt.Sprintf("revocation reason %d", *reason), Dialect: v.name(),
				Detail: "v1 accepts 0 (unspecified), 1 (keyCompromise), 3 (affiliationChanged), 4 (superseded), 5 (cessationOfOperation)"}
		}
		payload["reason"] = *reason
	}
	key := certKey
	if key == nil {
		key = a.Key
	}
	if _, err := v.post(ctx, key, v.dir.RevokeCert, "revoke-cert", payload, ""); err != nil {
		return fmt.Errorf("revoke certificate: %w", err)
	}
	return nil
}
