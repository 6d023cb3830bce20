package client

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

const maxChainCerts = 10

// parsePEMChain parses a application/pem-certificate-chain body strictly
// (RFC 8555 §9.1): only CERTIFICATE blocks, nothing but whitespace around
// them, 1..10 certificates that each parse.
func parsePEMChain(data []byte) ([][]byte, error) {
	var out [][]byte
	rest := data
	for {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		if len(rest) == 0 {
			break
		}
		// pem.Decode skips text before a block; §9.1 allows none.
		if !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			return nil, errors.New("not a PEM certificate chain (text before, between or after blocks)")
		}
		block, r := pem.Decode(rest)
		if block == nil {
			return nil, errors.New("not a PEM certificate chain (garbage between or after blocks)")
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q (only CERTIFICATE allowed)", Sanitize(block.Type, 40))
		}
		if len(block.Headers) != 0 {
			return nil, errors.New("PEM block with headers")
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, fmt.Errorf("certificate %d does not parse: %v", len(out)+1, err)
		}
		out = append(out, block.Bytes)
		if len(out) > maxChainCerts {
			return nil, fmt.Errorf("more than %d certificates", maxChainCerts)
		}
		rest = r
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate")
	}
	return out, nil
}
