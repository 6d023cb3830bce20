package cli

import (
	"strings"
	"testing"

	"github.com/acmectl/acmectl/client"
)

// TestDirectoryStatesOnlyWhatItSays: issue 13 item 13b. acmectl directory
// reports wildcards, IP identifiers and notBefore/notAfter from what the
// directory (or, for a Boulder server, Let's Encrypt's published policy)
// says, never "yes" because the server speaks RFC 8555.
func TestDirectoryStatesOnlyWhatItSays(t *testing.T) {
	le := client.DirectoryMeta{CAAIdentities: []string{"letsencrypt.org"},
		Profiles: map[string]string{"classic": "https://letsencrypt.org/docs/profiles#classic", "shortlived": "https://letsencrypt.org/docs/profiles#shortlived"}}
	for _, tc := range []struct {
		name      string
		dir       client.Directory
		want, not []string
	}{
		{"rfc8555", client.Directory{DialectID: "rfc8555", Dialect: "RFC 8555", Supports: client.Capabilities{Wildcards: true, IPIdentifiers: true, ValidityDates: true, ExternalAccountBinding: true}},
			[]string{"wildcard names            not stated", "IP identifiers            not stated", "notBefore/notAfter        not stated", "External account: not required\n"},
			[]string{" yes\n  IP", "IP identifiers            yes", "wildcard names            yes", "notBefore/notAfter        yes"}},
		{"boulder", client.Directory{DialectID: "rfc8555", Dialect: "RFC 8555", Boulder: true, Meta: le},
			[]string{"wildcard names            yes (dns-01 only", "IP identifiers            conditional (only with --profile shortlived", "notBefore/notAfter        no (Let's Encrypt refuses"},
			[]string{"IP identifiers            yes"}},
		{"boulder-no-shortlived", client.Directory{DialectID: "rfc8555", Dialect: "RFC 8555", Boulder: true},
			[]string{"IP identifiers            no (Let's Encrypt policy"}, nil},
		{"v1", client.Directory{DialectID: "v1", Dialect: "ACME v1 (legacy)"},
			[]string{"wildcard names            no (legacy ACME v1)", "IP identifiers            no (legacy ACME v1)"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			writeDirectoryText(&b, &tc.dir)
			out := b.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("want %q in\n%s", w, out)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(out, w) {
					t.Errorf("%q in\n%s", w, out)
				}
			}
			if f := tc.dir.Features(); strings.Contains(strings.Join(f, ","), "ip-identifiers") {
				t.Errorf("features %v claim IP identifiers", f)
			}
		})
	}
}
