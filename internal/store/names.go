package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/client"
)

// Name limits.
const (
	maxUserNameLen    = 128 // ^[a-z0-9][a-z0-9._-]{0,127}$
	maxDerivedNameLen = 240 // _wildcard./_ip. forms; leaves room for ".lock" etc. under NAME_MAX
	maxServerIDLen    = 200
)

// Prefixes of the derived certificate names (docs/reference/acmectl_obtain.md, --cert-name).
const (
	wildcardPrefix = "_wildcard."
	ipPrefix       = "_ip."
)

// ErrInvalidName is returned (wrapped) for a certificate name or account
// label that ValidCertName refuses.
var ErrInvalidName = errors.New("invalid name")

// ValidCertName checks a certificate name or account label. A user-given name
// matches ^[a-z0-9][a-z0-9._-]{0,127}$ and holds no "..". The derived forms
// DefaultCertName makes are also accepted: "_wildcard." or "_ip." followed by
// [a-z0-9_][a-z0-9._-]* (at most 240 bytes in all, no ".."). Names are never
// rewritten: anything else is an error wrapping ErrInvalidName.
func ValidCertName(name string) error {
	rest, limit := name, maxUserNameLen
	derived := false
	for _, p := range []string{wildcardPrefix, ipPrefix} {
		if strings.HasPrefix(name, p) {
			rest, limit, derived = name[len(p):], maxDerivedNameLen, true
			break
		}
	}
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s (want lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most %d characters)",
			ErrInvalidName, name, why, maxUserNameLen)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > limit:
		return bad("too long")
	case rest == "":
		return bad("nothing after the prefix")
	case strings.Contains(name, ".."):
		return bad(`contains ".."`)
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i == 0 && c == '_' && derived:
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			if i == 0 {
				return bad(fmt.Sprintf("starts with %q", c))
			}
			return bad(fmt.Sprintf("contains %q", c))
		}
	}
	return nil
}

// DefaultCertName derives a certificate name from the first identifier of an
// order (docs/reference/acmectl_obtain.md, --cert-name): a DNS name as is
// (client.ParseIdentifier made it a lowercase A-label), "*." becoming
// "_wildcard."; an IP address becomes "_ip." plus its canonical text with
// ':' replaced by '_'. It fails, wrapping ErrInvalidName, when the result
// is not a valid name (for example a very long domain): the caller then
// asks for --cert-name.
func DefaultCertName(first client.Identifier) (string, error) {
	if err := client.CheckIdentifier(first); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidName, err)
	}
	var name string
	switch {
	case first.Type == challenges.IdentifierIP:
		name = ipPrefix + strings.ReplaceAll(first.Value, ":", "_")
	case strings.HasPrefix(first.Value, "*."):
		name = wildcardPrefix + strings.TrimPrefix(first.Value, "*.")
	default:
		name = first.Value
	}
	if err := ValidCertName(name); err != nil {
		return "", fmt.Errorf("derive name from %q: %w", first.Value, err)
	}
	return name, nil
}

// ServerID is the directory name of an ACME server under accounts/: the
// lowercase host, "_port" unless the port is 443, then the URL path with '/'
// replaced by '_' (and "_" plus the query, if any). Every byte outside
// [A-Za-z0-9._-] becomes '_', ".." never survives, and an ID over 200 bytes
// is shortened with a hash of the URL. Examples:
//
//	https://acme-v02.api.letsencrypt.org/directory -> acme-v02.api.letsencrypt.org_directory
//	https://127.0.0.1:14000/dir                    -> 127.0.0.1_14000_dir
func ServerID(directoryURL string) (string, error) {
	u, err := url.Parse(directoryURL)
	if err != nil {
		return "", fmt.Errorf("server id: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("server id: %q is not an http(s) URL", directoryURL)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("server id: %q has no host", directoryURL)
	}
	id := host
	if p := u.Port(); p != "" && p != "443" {
		id += "_" + p
	}
	id += strings.ReplaceAll(u.EscapedPath(), "/", "_")
	if u.RawQuery != "" {
		id += "_" + u.RawQuery
	}
	b := []byte(id)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			b[i] = '_'
		}
	}
	if b[0] == '.' {
		b[0] = '_'
	}
	id = string(b)
	for strings.Contains(id, "..") {
		id = strings.ReplaceAll(id, "..", "_.")
	}
	if len(id) > maxServerIDLen {
		sum := sha256.Sum256([]byte(directoryURL))
		id = id[:maxServerIDLen-17] + "_" + hex.EncodeToString(sum[:8])
	}
	return id, nil
}
