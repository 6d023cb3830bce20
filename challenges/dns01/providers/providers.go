// Package providers holds what the DNS providers under it share: the
// Config every constructor receives, a small JSON-over-HTTPS client with
// the error, size and rate-limit handling the providers' APIs need, and
// zone-name helpers. The table of providers is in package registry; each
// provider is a subpackage exporting New(Config) (dns01.Provider, error).
//
// Providers keep no state between calls that cleanup would need: a record
// is found again by name and value, so a cleanup in another process (after
// a crash between present and cleanup) removes it.
package providers

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01/creds"
)

// Config is what a provider's constructor receives. Constructors do no
// network I/O; they look their credentials up and fail early when one is
// missing.
type Config struct {
	// Name is the provider's name as the user chose it ("cloudflare",
	// or "NAME" for a plugin acmectl-dns-NAME).
	Name string
	// Options are the provider's non-secret settings from the named
	// solver in the config file or settings.yaml (keys listed in the
	// registry's Spec.Options; never secrets).
	Options map[string]string
	// Creds finds secrets and settings in the environment, _FILE
	// variables, systemd credentials and a certbot INI file.
	Creds *creds.Source
	// HTTPClient is used for every API request (nil: DefaultHTTPClient).
	HTTPClient *http.Client
	// Logger receives debug lines per request (never secrets); nil
	// discards.
	Logger *slog.Logger
	// Environ is the environment handed to co-process plugins.
	Environ []string
	// UserAgent is sent with API requests ("acmectl/VERSION").
	UserAgent string
}

// Log returns the Logger or a discarding one.
func (c Config) Log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger.With("dns_provider", c.Name)
}

// Client returns HTTPClient or DefaultHTTPClient().
func (c Config) Client() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return DefaultHTTPClient()
}

// Setting returns the option key when set in Options, else the item from
// Creds (environment, files), else def, without surrounding white space.
// Use it for non-secret settings such as an API URL, which lego reads from
// the environment.
func (c Config) Setting(key string, it creds.Item, def string) (creds.Value, error) {
	if v := strings.TrimSpace(c.Options[key]); v != "" {
		return creds.Value{Value: v, From: "option " + key}, nil
	}
	if c.Creds != nil {
		v, err := c.Creds.Optional(it)
		v.Value = strings.TrimSpace(v.Value)
		if err != nil || v.Value != "" {
			return v, err
		}
	}
	return creds.Value{Value: def, From: "default"}, nil
}

// RequiredEndpoint returns the API base URL of a provider that has no
// default one (a server of the user's): the endpoint option or it (see
// Setting), checked by Endpoint; unset, a *creds.NotFoundError naming
// where it was looked for.
func (c Config) RequiredEndpoint(it creds.Item, allowHTTP bool) (*url.URL, error) {
	raw, err := c.Setting("endpoint", it, "")
	if err != nil {
		return nil, err
	}
	if raw.Value == "" {
		return nil, &creds.NotFoundError{Provider: c.Name, Item: it, INIFile: c.Options["credentials"]}
	}
	return Endpoint(c.Name, raw.Value, allowHTTP)
}

// Bool returns the boolean setting key (see Setting), def when unset; the
// error names the key.
func (c Config) Bool(key string, it creds.Item, def bool) (bool, error) {
	v, err := c.Setting(key, it, strconv.FormatBool(def))
	if err != nil {
		return false, err
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v.Value))
	if err != nil {
		return false, fmt.Errorf("%s: %s %s: want true or false", c.Name, key, Quote(v.Value, 20))
	}
	return b, nil
}

// Seconds returns the setting key (see Setting) as a positive number of
// seconds, such as a TTL; def when unset.
func (c Config) Seconds(key string, it creds.Item, def int) (int, error) {
	v, err := c.Setting(key, it, strconv.Itoa(def))
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(v.Value))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s: %s %s: want a number of seconds", c.Name, key, Quote(v.Value, 20))
	}
	return n, nil
}

// Secret looks a secret up in Creds; the error names the provider and
// every place tried.
func (c Config) Secret(it creds.Item) (creds.Value, error) {
	it.Secret = true
	if c.Creds == nil {
		return creds.Value{}, &creds.NotFoundError{Provider: c.Name, Item: it}
	}
	return c.Creds.Lookup(it)
}

// DefaultHTTPClient is the client for provider APIs: system roots, the
// proxy from HTTPS_PROXY/NO_PROXY, bounded timeouts.
func DefaultHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// Endpoint parses an API base URL. https is required, except for loopback
// addresses (tests, a local server) and, when allowHTTP, anywhere (a
// self-hosted API on a private network; the caller should say so).
func Endpoint(provider, raw string, allowHTTP bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%s: endpoint %q: want an https:// URL", provider, clip(raw, 100))
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: endpoint: put credentials in the environment or a file, not in the URL", provider)
	}
	if u.Scheme == "http" && !allowHTTP && !IsLoopback(u.Hostname()) {
		return nil, fmt.Errorf("%s: endpoint %s: want https (http only on loopback)", provider, u.Redacted())
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// IsLoopback reports whether host is localhost or a loopback address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Unfqdn lowercases name and removes the trailing dot.
func Unfqdn(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".")
}

// ZoneCandidates returns the names that may be the zone holding fqdn,
// longest first, without the trailing dot, down to a name of two labels:
// "_acme-challenge.www.example.com." → [_acme-challenge.www.example.com
// www.example.com example.com].
func ZoneCandidates(fqdn string) []string {
	name := Unfqdn(fqdn)
	var out []string
	for name != "" && strings.Contains(name, ".") {
		out = append(out, name)
		_, name, _ = strings.Cut(name, ".")
	}
	return out
}

// Relative returns fqdn relative to zone ("_acme-challenge.www" in
// "example.com"), or "" for the apex itself. ok is false when fqdn is not
// in zone.
func Relative(fqdn, zone string) (rel string, ok bool) {
	name, zone := Unfqdn(fqdn), Unfqdn(zone)
	if name == zone {
		return "", true
	}
	if !strings.HasSuffix(name, "."+zone) {
		return "", false
	}
	return strings.TrimSuffix(name, "."+zone), true
}

// InZone reports whether fqdn is zone or below it.
func InZone(fqdn, zone string) bool {
	_, ok := Relative(fqdn, zone)
	return ok
}

// Longest returns the zone among zones holding fqdn with the most labels,
// or "".
func Longest(fqdn string, zones []string) string {
	best := ""
	for _, z := range zones {
		if InZone(fqdn, z) && len(Unfqdn(z)) > len(best) {
			best = Unfqdn(z)
		}
	}
	return best
}

// Quote renders a provider's text (hostile) for a message: quoted,
// control characters escaped, at most n bytes.
func Quote(s string, n int) string {
	return fmt.Sprintf("%q", clip(s, n))
}

func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

// TXTQuote returns value as a DNS TXT character-string in zone-file
// presentation ("..." with \ and " escaped), as several APIs want it.
func TXTQuote(value string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(value) + `"`
}

// TXTUnquote undoes TXTQuote, joining several character-strings
// ("a" "b" → ab). Text without quotes is returned as is.
func TXTUnquote(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, `"`) {
		return s
	}
	var b strings.Builder
	in, esc := false, false
	for _, c := range s {
		switch {
		case esc:
			b.WriteRune(c)
			esc = false
		case c == '\\' && in:
			esc = true
		case c == '"':
			in = !in
		case in:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// Names returns the sorted keys of m.
func Names[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
