// Package hostile is acmectl's hostile-server suite: a scriptable fake ACME
// CA (fakeca_test.go) that speaks just enough RFC 8555 to reach a targeted
// step and then answers maliciously, and table cases (hostile_test.go) that
// drive the built acmectl binary against it. Every case checks the
// invariants of docs/reliability.md: one clear error line with the exact
// exit code, the live files byte-identical, no hook run, nothing written
// outside the state directory, bounded time and memory.
//
// The package has no non-test code.
package hostile
