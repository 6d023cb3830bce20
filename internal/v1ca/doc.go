// Package v1ca is a legacy ACME v1 certificate authority for tests: the
// pre-IETF dialect Let's Encrypt's Boulder served from 2015 until June 2021,
// as described in shared/reference/acme-v1-legacy.md. It runs in-process
// (New, Start, Shutdown) or as the acmectl-testca command, and any v1 client
// can use it unchanged.
//
// # What it serves
//
// On one HTTPS listener on loopback (a generated certificate for
// 127.0.0.1, ::1 and localhost; its root is HTTPSRootPEM):
//
//	GET|HEAD /directory                 new-reg, new-authz, new-cert, revoke-cert, key-change,
//	                                    meta {terms-of-service, website, caaIdentities}, a random key
//	POST     /acme/new-reg              201 + Location + Link next/terms-of-service; 409 for a known key
//	POST     /acme/reg/<id>             202 read/update (contact, agreement); 200 deactivation
//	POST     /acme/new-authz            201; reuses the registration's pending or valid authorization
//	GET|HEAD /acme/authz/<id>           200 (+ POST deactivation)
//	GET|HEAD /acme/challenge/<az>/<id>  202 (+ POST answer: 202, Location, Link up)
//	POST     /acme/new-cert             201 application/pkix-cert DER leaf, Location, Link up
//	GET|HEAD /acme/cert/<36 hex>        200 DER leaf, Link up
//	GET|HEAD /acme/issuer-cert          200 DER intermediate (signed by IssuerRootPEM)
//	POST     /acme/revoke-cert          200 empty; by account key or certificate key
//	POST     /acme/key-change           200; v1 format (outer payload = inner JWS + resource)
//	GET      /terms                     302 to the current subscriber agreement
//
// Every ACME response carries a fresh Replay-Nonce (errors, 405 and HEAD
// included); there is no new-nonce resource. POSTs are flattened JWS with a
// protected jwk and nonce (RS256, ES256, ES384), checked in Boulder's order:
// Content-Length and size (50 000 bytes), parse, registration by key, alg,
// signature, nonce, JSON, "resource". Errors are urn:acme:error:* problem
// documents with Boulder's HTTP codes. Challenges are validated
// asynchronously and for real, always against 127.0.0.1: http-01 on
// Config.HTTP01Port, tls-alpn-01 (RFC 8737, ALPN acme-tls/1, SNI = name) on
// Config.TLSALPN01Port, dns-01 by a TXT query to Config.DNSServer. A type
// whose port or server is not configured is not offered.
//
// # Management API
//
// Under /_testca/ on the same listener (a path no v1 client uses), plain
// JSON without authentication (the listener is loopback only):
//
//	GET    /_testca/state                 everything below in one document (State)
//	GET    /_testca/requests              {"new-reg": {"POST": 2, "HEAD": 1}, ...} per endpoint and method
//	GET    /_testca/registrations         [RegState]; /_testca/registrations/<id> for one
//	GET    /_testca/certificates          [CertState]; /_testca/certificates/<hex serial> for one:
//	                                      {"serial", "names", "registration_id", "not_after",
//	                                       "status": "valid"|"revoked", "reason", "revoked_at"}
//	GET    /_testca/faults                armed faults [{"name", "remaining"}] (-1 = until cleared)
//	POST   /_testca/faults                {"name": "ratelimit", "count": 2, "retry_after_seconds": 5}
//	DELETE /_testca/faults/<name>         disarm
//	GET    /_testca/roots/issuer          PEM root of issued certificates
//	GET    /_testca/roots/https           PEM root of the HTTPS listener
//
// # Faults
//
//	badnonce-once             the next signed request gets 400 badNonce
//	5xx                       the next ACME request gets 500 serverInternal
//	ratelimit                 new-reg, new-authz and new-cert get 429 rateLimited with
//	                          Retry-After (default 60 s) until cleared or count runs out
//	ratelimit-no-retry-after  the same without Retry-After (what Boulder's v1 really sent)
//	new-terms                 the terms URL changes, and registrations that agreed to an
//	                          older one get 403 "Must agree to subscriber agreement..."
//	                          until they POST the new agreement to their reg URL
//	new-terms-lenient         the terms URL changes; older agreements stay good (Boulder)
//	no-new-reg                new-reg gets 403 (Let's Encrypt from November 2019)
//
// # Deviations from Boulder
//
// Only the test faults above send Retry-After or force re-agreement, which
// Boulder's v1 never did. Challenge types are offered only when they can be
// validated here. Names are never resolved: every name is taken to point at
// 127.0.0.1, so there is no CAA, public-suffix or blocklist check.
package v1ca
