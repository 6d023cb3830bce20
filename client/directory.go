package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// DialectRFC8555 is Directory.Dialect for an RFC 8555 server.
const DialectRFC8555 = "RFC 8555"

// Directory is the server's directory (RFC 8555 §7.1.1, or the legacy v1
// one), normalised. URLs the dialect does not have are empty. Unknown keys
// are ignored (Keys lists every top-level key seen).
type Directory struct {
	URL string

	// Set by the dialect chosen for the directory; callers decide by
	// these, never by the dialect's name.
	Dialect   string // display name, e.g. "RFC 8555"
	DialectID string // stable machine name: "rfc8555" (or "v1")
	Version   string // the Config.Version that selects this dialect: "2" (or "1")
	// Retired: CAs have turned this protocol off; users should move to
	// an RFC 8555 server.
	Retired  bool
	Supports Capabilities
	// Endpoints are the dialect's endpoints under the directory's own
	// key names, in a fixed order (the empty ones left out).
	Endpoints [][2]string

	NewNonce    string
	NewAccount  string
	NewOrder    string
	NewAuthz    string
	RevokeCert  string
	KeyChange   string
	RenewalInfo string

	// Legacy v1 endpoints.
	NewReg  string
	NewCert string

	Meta DirectoryMeta
	Keys []string

	// Boulder is true when the server is Let's Encrypt's or runs its
	// software, Boulder: the directory URL is under letsencrypt.org, its
	// CAA identity is letsencrypt.org, or it carries Boulder's random key
	// whose value is Let's Encrypt's explanation link. acmectl then applies
	// Boulder's published policies before ordering (no must-staple, no
	// notBefore/notAfter, revocation reasons 0, 1, 4, 5).
	Boulder bool
}

// Capabilities are the optional order and account features of a dialect.
type Capabilities struct {
	Wildcards              bool // "*." names
	IPIdentifiers          bool // RFC 8738
	ValidityDates          bool // notBefore/notAfter in orders
	ExternalAccountBinding bool
}

// boulderRandomKeyLink is the value of the random entry Boulder adds to its
// directory so that clients do not depend on a fixed set of keys.
const boulderRandomKeyLink = "https://community.letsencrypt.org/t/adding-random-entries-to-the-directory/33417"

// BoulderPolicy names the CA in messages about Boulder's policies.
const BoulderPolicy = "Let's Encrypt (Boulder)"

// DirectoryMeta is the directory's "meta" object.
type DirectoryMeta struct {
	TermsOfService          string            `json:"termsOfService,omitempty"`
	Website                 string            `json:"website,omitempty"`
	CAAIdentities           []string          `json:"caaIdentities,omitempty"`
	ExternalAccountRequired bool              `json:"externalAccountRequired,omitempty"`
	Profiles                map[string]string `json:"profiles,omitempty"`
}

// Features lists the optional features the directory states (its
// endpoints and meta), nothing more.
func (d *Directory) Features() []string {
	var f []string
	if d.RenewalInfo != "" {
		f = append(f, "ari")
	}
	if len(d.Meta.Profiles) > 0 {
		f = append(f, "profiles")
	}
	if d.KeyChange != "" {
		f = append(f, "key-change")
	}
	if d.RevokeCert != "" {
		f = append(f, "revocation")
	}
	if d.Meta.ExternalAccountRequired {
		f = append(f, "eab-required")
	}
	// Wildcard and IP support are CA policy the directory does not state
	// (Directory.Statements says what is known).
	return f
}

// ProfileNames are the offered profiles, sorted.
func (d *Directory) ProfileNames() []string {
	names := make([]string, 0, len(d.Meta.Profiles))
	for n := range d.Meta.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Directory fetches (once) and returns the server's directory, and chooses
// the dialect. One GET on first use; later calls are free.
func (c *Client) Directory(ctx context.Context) (*Directory, error) {
	c.dirOnce.Lock()
	defer c.dirOnce.Unlock()
	if c.dir != nil {
		return c.dir, nil
	}
	resp, err := c.get(ctx, c.cfg.DirectoryURL, "application/json")
	if err != nil {
		if ce := c.directoryConfigError(err); ce != nil {
			return nil, ce
		}
		return nil, fmt.Errorf("fetch directory: %w", err)
	}
	dir, err := c.parseDirectory(resp.body)
	if err != nil {
		var pe *ProtocolError
		if errors.As(err, &pe) && pe.What == "directory is not a JSON object" {
			return nil, &ConfigError{Msg: fmt.Sprintf("GET %s: not an ACME directory (no JSON object) %s", Sanitize(c.cfg.DirectoryURL, 256), directoryAdvice)}
		}
		return nil, err
	}
	d, err := c.chooseDialect(dir)
	if err != nil {
		return nil, err
	}
	c.log.Debug("directory", "url", c.cfg.DirectoryURL, "dialect", dir.Dialect)
	c.dir, c.d = dir, d
	return dir, nil
}

func (c *Client) parseDirectory(body []byte) (*Directory, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, &ProtocolError{URL: c.cfg.DirectoryURL, What: "directory is not a JSON object"}
	}
	dir := &Directory{URL: c.cfg.DirectoryURL}
	for k := range raw {
		dir.Keys = append(dir.Keys, Sanitize(k, 64))
	}
	sort.Strings(dir.Keys)
	str := func(key string) (string, error) {
		v, ok := raw[key]
		if !ok {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", &ProtocolError{URL: c.cfg.DirectoryURL, What: fmt.Sprintf("directory field %q is not a string", key)}
		}
		if _, err := c.checkURL(s, "directory "+key); err != nil {
			return "", err
		}
		return s, nil
	}
	var err error
	fields := []struct {
		key string
		dst *string
	}{
		{"newNonce", &dir.NewNonce}, {"newAccount", &dir.NewAccount}, {"newOrder", &dir.NewOrder},
		{"newAuthz", &dir.NewAuthz}, {"revokeCert", &dir.RevokeCert}, {"keyChange", &dir.KeyChange},
		{"renewalInfo", &dir.RenewalInfo},
		{"new-reg", &dir.NewReg}, {"new-cert", &dir.NewCert},
	}
	for _, f := range fields {
		if *f.dst, err = str(f.key); err != nil {
			return nil, err
		}
	}
	// Legacy names for shared endpoints.
	if dir.NewAuthz == "" {
		if dir.NewAuthz, err = str("new-authz"); err != nil {
			return nil, err
		}
	}
	if dir.RevokeCert == "" {
		if dir.RevokeCert, err = str("revoke-cert"); err != nil {
			return nil, err
		}
	}
	if dir.KeyChange == "" {
		if dir.KeyChange, err = str("key-change"); err != nil {
			return nil, err
		}
	}
	if m, ok := raw["meta"]; ok {
		if err := json.Unmarshal(m, &dir.Meta); err != nil {
			return nil, &ProtocolError{URL: c.cfg.DirectoryURL, What: "directory meta is malformed: " + Sanitize(err.Error(), 200)}
		}
		// v1 used "terms-of-service".
		if dir.Meta.TermsOfService == "" {
			var v1meta struct {
				TOS string `json:"terms-of-service"`
			}
			_ = json.Unmarshal(m, &v1meta)
			dir.Meta.TermsOfService = v1meta.TOS
		}
		for name := range dir.Meta.Profiles {
			if !validProfileName(name) {
				delete(dir.Meta.Profiles, name)
			}
		}
		if len(dir.Meta.CAAIdentities) > 32 {
			dir.Meta.CAAIdentities = dir.Meta.CAAIdentities[:32]
		}
	}
	dir.Boulder = isLetsEncryptHost(c.dirURL.Hostname())
	for _, id := range dir.Meta.CAAIdentities {
		if strings.EqualFold(id, "letsencrypt.org") {
			dir.Boulder = true
		}
	}
	for _, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil && s == boulderRandomKeyLink {
			dir.Boulder = true
		}
	}
	return dir, nil
}

func isLetsEncryptHost(h string) bool {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	return h == "letsencrypt.org" || strings.HasSuffix(h, ".letsencrypt.org")
}

func validProfileName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) < 0
}

func (c *Client) chooseDialect(dir *Directory) (dialect, error) {
	is8555 := dir.NewNonce != "" && dir.NewAccount != "" && dir.NewOrder != ""
	isV1 := dir.NewReg != "" && dir.NewAuthz != "" && dir.NewCert != ""
	want := c.cfg.Version
	switch {
	case want == "2" || (want != "1" && is8555):
		if !is8555 {
			return nil, fmt.Errorf("%w: --acme-version 2 needs newNonce, newAccount and newOrder; found %s", ErrUnknownDirectory, strings.Join(dir.Keys, ", "))
		}
		return c.newRFC8555(dir), nil
	case want == "1" || isV1:
		if !isV1 {
			return nil, fmt.Errorf("%w: --acme-version 1 needs new-reg, new-authz and new-cert; found %s", ErrUnknownDirectory, strings.Join(dir.Keys, ", "))
		}
		return c.newV1(dir)
	}
	return nil, fmt.Errorf("%w: found keys %s", ErrUnknownDirectory, strings.Join(dir.Keys, ", "))
}

// newRFC8555 builds the RFC 8555 dialect and describes it in dir.
func (c *Client) newRFC8555(dir *Directory) *rfc8555 {
	dir.Dialect, dir.DialectID, dir.Version = DialectRFC8555, "rfc8555", "2"
	dir.Supports = Capabilities{Wildcards: true, IPIdentifiers: true, ValidityDates: true, ExternalAccountBinding: true}
	dir.Endpoints = endpoints([][2]string{
		{"newNonce", dir.NewNonce}, {"newAccount", dir.NewAccount}, {"newOrder", dir.NewOrder},
		{"newAuthz", dir.NewAuthz}, {"revokeCert", dir.RevokeCert}, {"keyChange", dir.KeyChange},
		{"renewalInfo", dir.RenewalInfo},
	})
	return &rfc8555{c: c, dir: dir}
}

// endpoints drops the empty ones.
func endpoints(all [][2]string) [][2]string {
	var eps [][2]string
	for _, e := range all {
		if e[1] != "" {
			eps = append(eps, e)
		}
	}
	return eps
}

func (c *Client) newNonceURL() string {
	if c.dir == nil {
		return ""
	}
	if c.dir.NewNonce != "" {
		return c.dir.NewNonce
	}
	return c.dir.NewReg // legacy v1: any endpoint answers HEAD with a nonce
}

// dialect returns the chosen dialect, fetching the directory if needed.
func (c *Client) dialect(ctx context.Context) (dialect, error) {
	if _, err := c.Directory(ctx); err != nil {
		return nil, err
	}
	return c.d, nil
}

// directoryAdvice ends the errors of a --server that is not an ACME
// directory.
const directoryAdvice = "(check --server; acmectl directory --server URL shows what a URL serves)"

// directoryConfigError turns an HTTP 4xx answer to the directory GET (a
// wrong URL) into a *ConfigError. (An untrusted TLS certificate or a
// server that does not speak TLS are ConfigErrors for every request.)
// Network errors and 5xx stay temporary.
func (c *Client) directoryConfigError(err error) error {
	u := Sanitize(c.cfg.DirectoryURL, 256)
	var p *Problem
	var te *TemporaryError
	if errors.As(err, &p) && p.Status >= 400 && p.Status < 500 && p.Status != http.StatusTooManyRequests && !errors.As(err, &te) {
		return &ConfigError{Msg: fmt.Sprintf("GET %s: HTTP %d: not an ACME directory %s", u, p.Status, directoryAdvice)}
	}
	return nil
}
