// Package v1compat checks the legacy ACME v1 test CA (internal/v1ca) with
// an independent v1 client: golang.org/x/crypto/acme pinned to its last
// version with the pre-RFC 8555 code path. It is its own module so that
// the old x/crypto never reaches the main module.
//
// Run: cd test/v1compat && go test ./...
package v1compat
