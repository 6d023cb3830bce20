package cli

import (
	"crypto/x509"
	"encoding/base64"
	"slices"
	"strings"

	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/lifecycle"
)

// hookManager is the hook manager of one run (internal/hook.Manager).
func (a *app) hookManager() *hook.Manager {
	return &hook.Manager{Env: a.env.Environ(), Output: a.env.Stderr, Logger: a.log, Classify: errorClass}
}

// hookEnvNames checks the --hook-env names (hook.ValidPassName), without
// duplicates.
func hookEnvNames(in []string) ([]string, error) {
	var out []string
	for _, n := range in {
		if err := hook.ValidPassName(n); err != nil {
			return nil, usagef("--%v", err)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// leafOf parses the first certificate of a PEM file.
func leafOf(pemData []byte) (*x509.Certificate, error) { return lifecycle.LeafOf(pemData) }

func decodeB64URL(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}
