package v1ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	jose "github.com/go-jose/go-jose/v4"
)

// parseAlgs are the algorithms the JWS parser accepts; whether one fits the
// key is checked afterwards, in Boulder's order (reference §6.3).
var parseAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA, jose.HS256, jose.HS384, jose.HS512,
}

// signedRequest is a POST that passed verifyPOST.
type signedRequest struct {
	jwk     *jose.JSONWebKey
	thumb   string
	reg     *registration // nil when the key has no registration
	payload []byte
	fields  map[string]json.RawMessage
}

// thumbprint is the RFC 7638 SHA-256 thumbprint, base64url.
func thumbprint(k *jose.JSONWebKey) (string, error) {
	b, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// checkKeyPolicy enforces Boulder's account and CSR key policy: RSA
// 2048–4096 bits, ECDSA P-256 or P-384.
func checkKeyPolicy(pub any) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		if bits < 2048 || bits > 4096 || bits%8 != 0 {
			return fmt.Errorf("key too small or too large: RSA key of %d bits (allowed: 2048 to 4096)", bits)
		}
		if k.E < 65537 || k.E%2 == 0 {
			return errors.New("key exponent must be odd and at least 65537")
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("ECDSA curve %s not allowed (P-256, P-384)", k.Curve.Params().Name)
		}
	default:
		return fmt.Errorf("unsupported key type %T", pub)
	}
	return nil
}

// algForKey is the only JWS alg Boulder accepted for the key.
func algForKey(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "RS256"
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256"
		case elliptic.P384():
			return "ES384"
		}
	}
	return ""
}

// verifyPOST authenticates a POST in the order Boulder did (reference §6.3).
func (s *Server) verifyPOST(r *http.Request, ep endpoint) (*signedRequest, *Problem) {
	// 1. Content-Length and size.
	if r.ContentLength < 0 {
		return nil, problem(probMalformed, http.StatusLengthRequired, "missing Content-Length")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, malformed("Unable to read request body")
	}
	if len(body) > maxBody {
		return nil, unauthorized("request body too large")
	}
	// 2. Parse: one signature, a usable JWK.
	jws, err := jose.ParseSigned(string(body), parseAlgs)
	if err != nil {
		return nil, malformed("Parse error reading JWS")
	}
	if len(jws.Signatures) != 1 {
		return nil, malformed("Too many signatures in POST body")
	}
	sig := jws.Signatures[0]
	jwk := sig.Header.JSONWebKey
	if jwk == nil {
		return nil, malformed("No JWK in JWS header")
	}
	if !jwk.Valid() || !jwk.IsPublic() {
		return nil, malformed("Invalid JWK in JWS header")
	}
	thumb, err := thumbprint(jwk)
	if err != nil {
		return nil, malformed("Invalid JWK in JWS header")
	}
	// 3. Registration by key.
	req := &signedRequest{jwk: jwk, thumb: thumb}
	s.mu.Lock()
	if id, ok := s.regByKey[thumb]; ok {
		req.reg = s.regs[id]
	}
	var status string
	if req.reg != nil {
		status = req.reg.Status
	}
	s.mu.Unlock()
	needsReg := ep.name != "new-reg" && ep.name != "revoke-cert"
	switch {
	case needsReg && req.reg == nil:
		return nil, unauthorized("No registration exists matching provided key")
	case needsReg && status != "valid":
		return nil, unauthorized("Registration is not valid, has status '%s'", status)
	case req.reg == nil:
		if err := checkKeyPolicy(jwk.Key); err != nil {
			return nil, malformed("Invalid JWK in JWS header: %v", err)
		}
	}
	// 4. alg fits the key (and jwk.alg, if given).
	want := algForKey(jwk.Key)
	if got := sig.Protected.Algorithm; got != want || (jwk.Algorithm != "" && jwk.Algorithm != got) {
		return nil, malformed("signature type '%s' in JWS header is not supported for this key, expected %s", got, want)
	}
	// 5. Signature.
	payload, err := jws.Verify(jwk)
	if err != nil {
		return nil, malformed("JWS verification error")
	}
	// 6. Nonce (protected only; go-jose refuses one in the unprotected header).
	nonce := sig.Protected.Nonce
	if nonce == "" {
		return nil, problem(probBadNonce, http.StatusBadRequest, "JWS has no anti-replay nonce")
	}
	if !s.nonces.redeem(nonce) || s.takeFault(FaultBadNonceOnce) {
		return nil, problem(probBadNonce, http.StatusBadRequest, "JWS has invalid anti-replay nonce %s", nonce)
	}
	// 7. Payload is a JSON object.
	if err := json.Unmarshal(payload, &req.fields); err != nil || req.fields == nil {
		return nil, malformed("Request payload did not parse as JSON")
	}
	req.payload = payload
	// 8. resource.
	raw, ok := req.fields["resource"]
	if !ok {
		return nil, malformed("Request payload does not specify a resource")
	}
	var resource string
	if err := json.Unmarshal(raw, &resource); err != nil {
		resource = string(raw)
	}
	if resource != ep.resource {
		return nil, malformed("JWS resource payload does not match the HTTP resource: %s != %s", resource, ep.resource)
	}
	return req, nil
}

// decode unmarshals the payload into v, answering malformed on error.
func (req *signedRequest) decode(v any) *Problem {
	if err := json.Unmarshal(req.payload, v); err != nil {
		return malformed("Request payload did not parse as JSON")
	}
	return nil
}

// publicKeyThumbprint is the JWK thumbprint of a crypto public key.
func publicKeyThumbprint(pub any) (string, error) {
	return thumbprint(&jose.JSONWebKey{Key: pub})
}
