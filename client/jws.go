package client

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// SigningAlgorithm returns the JWS algorithm for an account key: ES256,
// ES384 or ES512 for ECDSA by curve, RS256 for RSA.
func SigningAlgorithm(key crypto.Signer) (jose.SignatureAlgorithm, error) {
	switch k := key.Public().(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		case elliptic.P521():
			return jose.ES512, nil
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "", errors.New("RSA account keys must have at least 2048 bits")
		}
		return jose.RS256, nil
	}
	return "", fmt.Errorf("unsupported account key type %T", key.Public())
}

// Thumbprint is the base64url SHA-256 JWK thumbprint of key's public part
// (RFC 7638), as used in key authorizations (RFC 8555 §8.1).
func Thumbprint(key crypto.Signer) (string, error) {
	jwk := jose.JSONWebKey{Key: key.Public()}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("JWK thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// signOpts says how one JWS is built.
type signOpts struct {
	key   crypto.Signer
	kid   string // account URL; empty embeds the jwk
	nonce string // empty omits the header (EAB and key-change inner JWS)
	url   string // empty omits the header (legacy dialect)
}

// signJWS returns the flattened JSON serialization of payload (nil payload
// signs the empty string: POST-as-GET).
func signJWS(payload []byte, o signOpts) ([]byte, error) {
	alg, err := SigningAlgorithm(o.key)
	if err != nil {
		return nil, err
	}
	sk := jose.SigningKey{Algorithm: alg, Key: o.key}
	opts := &jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{}}
	if o.kid != "" {
		sk.Key = jose.JSONWebKey{Key: o.key, KeyID: o.kid}
	} else {
		opts.EmbedJWK = true
	}
	if o.nonce != "" {
		opts.ExtraHeaders["nonce"] = o.nonce
	}
	if o.url != "" {
		opts.ExtraHeaders["url"] = o.url
	}
	signer, err := jose.NewSigner(sk, opts)
	if err != nil {
		return nil, fmt.Errorf("JWS signer: %w", err)
	}
	if payload == nil {
		payload = []byte{}
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return nil, fmt.Errorf("JWS sign: %w", err)
	}
	return []byte(obj.FullSerialize()), nil
}

// eabJWS builds the externalAccountBinding object (RFC 8555 §7.3.4): an
// HS256 JWS over the account's public JWK, with kid and url, no nonce.
func eabJWS(accountKey crypto.Signer, kid string, hmacKey []byte, url string) (json.RawMessage, error) {
	jwk, err := json.Marshal(jose.JSONWebKey{Key: accountKey.Public()})
	if err != nil {
		return nil, fmt.Errorf("EAB: account JWK: %w", err)
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.HS256, Key: hmacKey},
		&jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{"kid": kid, "url": url}},
	)
	if err != nil {
		return nil, fmt.Errorf("EAB signer: %w", err)
	}
	obj, err := signer.Sign(jwk)
	if err != nil {
		return nil, fmt.Errorf("EAB sign: %w", err)
	}
	return json.RawMessage(obj.FullSerialize()), nil
}

// postRequest is one signed POST.
type postRequest struct {
	url      string
	key      crypto.Signer
	kid      string
	payload  []byte // nil: POST-as-GET
	noURL    bool   // legacy dialect: no "url" header
	accept   string
	nonceURL string // where to HEAD for a nonce when the pool is empty
	// jwsRetryUntil: until then, a signature the CA refuses ("Unable to
	// validate JWS") is retried with backoff: right after a key rollover
	// Boulder's account cache still holds the old key for seconds.
	jwsRetryUntil time.Time
}

// keyChangeSettle is how long after a key rollover refused signatures are
// retried (Boulder's account cache lives about 5 s).
const keyChangeSettle = 15 * time.Second

// jwsRefused reports Boulder's answer to a signature it cannot verify
// with the key it has for the account.
func jwsRefused(p *Problem) bool {
	return p.Has(ProblemMalformed) && (strings.Contains(p.Detail, "Unable to validate JWS") || strings.Contains(p.Detail, "JWS verification error"))
}

// maxNonceAttempts bounds the HEAD new-nonce attempts for one nonce. A
// 5xx there is most often a load balancer's per-address limit (Let's
// Encrypt answers 503), which clears within seconds: the waits (200 ms
// doubling, or the server's Retry-After) add up to about 6 s.
const maxNonceAttempts = 6

// nonce returns a pooled nonce or fetches one with HEAD.
func (c *Client) nonce(ctx context.Context, nonceURL string) (string, error) {
	if n := c.nonces.awaitInflight(ctx); n != "" {
		return n, nil
	}
	if nonceURL == "" {
		return "", &ProtocolError{URL: c.cfg.DirectoryURL, What: "no newNonce URL"}
	}
	var lastErr error
	taken := false
	for attempt := range maxNonceAttempts {
		if attempt > 0 && !taken {
			if err := c.waitRetry(ctx, attempt, lastErr); err != nil {
				return "", err
			}
		}
		taken = false
		resp, err := c.do(ctx, http.MethodHead, nonceURL, nil, "", "")
		if err != nil {
			lastErr = err
			var te *TemporaryError
			if errors.As(err, &te) {
				continue
			}
			return "", err
		}
		if resp.status >= 500 {
			lastErr = c.problemError(resp)
			continue
		}
		if n := c.nonces.take(); n != "" {
			return n, nil
		}
		if validNonce(resp.header.Get("Replay-Nonce")) {
			// The answer carried a nonce, but a request running beside
			// this one took it from the pool first (it is used once, by
			// that request): ask again at once.
			taken = true
			lastErr = &ProtocolError{URL: nonceURL, What: "every fresh nonce was taken by concurrent requests"}
			continue
		}
		return "", &ProtocolError{URL: nonceURL, What: fmt.Sprintf("no valid Replay-Nonce header (HTTP %d)", resp.status)}
	}
	return "", lastErr
}

// post sends a signed request. badNonce is retried with the nonce that came
// with the error (bounded); 5xx and network errors are retried for
// POST-as-GET only (a lost response to a state-changing POST is recovered
// by the caller, never by blind repetition). Error responses come back as
// *Problem (or *TemporaryError wrapping one).
func (c *Client) post(ctx context.Context, r postRequest) (*response, error) {
	if r.nonceURL == "" {
		r.nonceURL = c.newNonceURL()
	}
	idempotent := r.payload == nil
	badNonces, transient := 0, 0
	jwsDelay := 250 * time.Millisecond
	var lastErr error
	for {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		nonce, err := c.nonce(ctx, r.nonceURL)
		if err != nil {
			return nil, err
		}
		o := signOpts{key: r.key, kid: r.kid, nonce: nonce, url: r.url}
		if r.noURL {
			o.url = ""
		}
		body, err := signJWS(r.payload, o)
		if err != nil {
			return nil, err
		}
		c.nonces.begin()
		resp, err := c.do(ctx, http.MethodPost, r.url, body, "application/jose+json", r.accept)
		c.nonces.end()
		if err != nil {
			var te *TemporaryError
			if idempotent && errors.As(err, &te) && transient < maxTransientRetries {
				transient++
				lastErr = err
				if err := c.waitRetry(ctx, transient, lastErr); err != nil {
					return nil, err
				}
				continue
			}
			return nil, err
		}
		if resp.status < 300 {
			return resp, nil
		}
		perr := c.problemError(resp)
		var p *Problem
		if errors.As(perr, &p) && p.Has(ProblemBadNonce) {
			if badNonces < maxBadNonceRetries {
				badNonces++
				c.log.Debug("bad nonce, retrying", "url", r.url, "attempt", badNonces)
				continue
			}
			// A CA that refuses every nonce is unavailable for now, not
			// refusing this request for good.
			return nil, &TemporaryError{Err: fmt.Errorf("%w (after %d retries with fresh nonces)", perr, badNonces), RetryAfter: p.RetryAfter}
		}
		if errors.As(perr, &p) && jwsRefused(p) && c.now().Add(jwsDelay).Before(r.jwsRetryUntil) {
			c.log.Debug("signature refused right after a key rollover, retrying", "url", r.url, "wait", jwsDelay)
			if err := c.sleep(ctx, jwsDelay); err != nil {
				return nil, err
			}
			jwsDelay = min(jwsDelay*2, 2*time.Second)
			continue
		}
		if idempotent && resp.status >= 500 && transient < maxTransientRetries {
			transient++
			lastErr = perr
			if err := c.waitRetry(ctx, transient, lastErr); err != nil {
				return nil, err
			}
			continue
		}
		return nil, perr
	}
}

// postJSON marshals v and posts it.
func (c *Client) postJSON(ctx context.Context, r postRequest, v any) (*response, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	r.payload = data
	return c.post(ctx, r)
}
