// Package dnstest is the conformance suite every dns01.Provider passes,
// like httptest for handlers: run it against a real server the provider
// manages.
package dnstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01"
)

// Check returns the TXT values at fqdn as the provider's DNS serves them.
type Check func(fqdn string) []string

// Run checks that p adds and removes single TXT records in zone (an apex
// such as "acme.test"), as dns01.Provider requires: two values at one name,
// an add repeated, deleting one value leaves the other, deleting a missing
// value succeeds, a neighbouring name is left alone. check reports what the
// DNS serves; Run polls it for up to Settle for each expectation.
func Run(t *testing.T, p dns01.Provider, zone string, check Check) {
	t.Helper()
	zone = strings.TrimSuffix(zone, ".")
	suffix := randLabel(t)
	name := "_acme-challenge.dnstest-" + suffix + "." + zone + "."
	other := "_acme-challenge.dnstest-other-" + suffix + "." + zone + "."
	const a, b, c = "dnstest-value-a-0123456789abcdefghijklmnopqrstu", "dnstest-value-b-0123456789abcdefghijklmnopqrstu", "dnstest-value-c"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, r := range [][2]string{{name, a}, {name, b}, {other, c}} {
			_ = p.DeleteTXT(ctx, r[0], r[1])
		}
	})
	ctx := t.Context()
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	step("SetTXT other", p.SetTXT(ctx, other, c))
	step("SetTXT a", p.SetTXT(ctx, name, a))
	step("SetTXT b", p.SetTXT(ctx, name, b))
	expect(t, check, name, "two values at one name", a, b)
	step("SetTXT a again", p.SetTXT(ctx, name, a))
	expect(t, check, name, "adding an existing value", a, b)
	step("DeleteTXT a", p.DeleteTXT(ctx, name, a))
	expect(t, check, name, "after deleting a", b)
	step("DeleteTXT a again (idempotent)", p.DeleteTXT(ctx, name, a))
	expect(t, check, name, "after deleting a twice", b)
	step("DeleteTXT b", p.DeleteTXT(ctx, name, b))
	expect(t, check, name, "after deleting both")
	expect(t, check, other, "neighbouring name", c)
	step("DeleteTXT other", p.DeleteTXT(ctx, other, c))
	expect(t, check, other, "neighbouring name deleted")
}

// Settle is how long Run polls check for an expected state.
const Settle = 10 * time.Second

func expect(t *testing.T, check Check, name, what string, want ...string) {
	t.Helper()
	slices.Sort(want)
	deadline := time.Now().Add(Settle)
	var got []string
	for {
		got = slices.Clone(check(name))
		slices.Sort(got)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling an external server for a condition
	}
	t.Fatalf("%s: TXT %s = %q; want %q", what, name, got, want)
}

func randLabel(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
