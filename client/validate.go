package client

import (
	"crypto"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// validToken checks a challenge token's grammar (RFC 8555 §8.1:
// base64url, ≥128 bits of entropy), bounded at 255 characters.
func validToken(s string) bool { return isBase64URL(s, 16, 255) }

// validateIdentifier checks an identifier's grammar: a DNS name (LDH labels,
// optional "*." in front) or an IP address.
func validateIdentifier(id Identifier) error {
	switch id.Type {
	case "dns":
		return ValidateDNSName(id.Value)
	case "ip":
		if _, err := netip.ParseAddr(id.Value); err != nil || strings.Contains(id.Value, "%") {
			return fmt.Errorf("%q is not an IP address", Sanitize(id.Value, 64))
		}
		return nil
	}
	return fmt.Errorf("identifier type %q is unknown", Sanitize(id.Type, 20))
}

// ValidateDNSName checks an ASCII (A-label) DNS name, allowing one leading
// "*." label.
func ValidateDNSName(name string) error {
	n := strings.TrimPrefix(name, "*.")
	if n == "" || len(n) > 253 {
		return fmt.Errorf("%q is not a valid DNS name", Sanitize(name, 64))
	}
	for _, label := range strings.Split(n, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is not a valid DNS name", Sanitize(name, 64))
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-') {
				return fmt.Errorf("%q is not a valid DNS name", Sanitize(name, 64))
			}
		}
	}
	return nil
}

func jwkOf(key crypto.Signer) jose.JSONWebKey { return jose.JSONWebKey{Key: key.Public()} }

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
