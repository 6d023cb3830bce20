module github.com/acmectl/acmectl/test/v1compat

go 1.26.8

require (
	github.com/acmectl/acmectl v0.0.0
	golang.org/x/crypto v0.57.0
)

require (
	github.com/go-jose/go-jose/v4 v4.1.9 // indirect
	github.com/miekg/dns v1.1.73 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/acmectl/acmectl => ../..

// The last golang.org/x/crypto with the pre-RFC (v1) ACME code path: the
// parent of 65fa2f7a "acme: remove support for pre-RFC 8555 ACME spec".
// A replace (not a require) so that newer x/crypto wanted by other
// dependencies cannot lift it.
replace golang.org/x/crypto => golang.org/x/crypto v0.0.0-20220208233918-bba287dce954
