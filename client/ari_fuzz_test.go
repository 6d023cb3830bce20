package client

import (
	"strings"
	"testing"
)

// FuzzParseRenewalInfo: end ≤ start is refused, explanationURL is https
// without control characters, and nothing panics.
func FuzzParseRenewalInfo(f *testing.F) {
	f.Add([]byte(`{"suggestedWindow":{"start":"2026-01-01T00:00:00Z","end":"2026-01-02T00:00:00Z"},"explanationURL":"https://acme.example/why"}`))
	f.Add([]byte(`{"suggestedWindow":{"start":"2026-01-02T00:00:00Z","end":"2026-01-01T00:00:00Z"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ri, err := ParseRenewalInfo(body)
		if err != nil {
			return
		}
		if !ri.End.After(ri.Start) {
			t.Fatalf("accepted window %v..%v", ri.Start, ri.End)
		}
		if u := ri.ExplanationURL; u != "" && (!strings.HasPrefix(u, "https://") || strings.IndexFunc(u, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0) {
			t.Fatalf("accepted explanationURL %q", u)
		}
	})
}
