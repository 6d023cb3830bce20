package cli

import (
	"strings"
	"testing"
	"time"
)

// TestCAABoulderRules: issue 13 item 14. doctor's CAA check judges records
// as Boulder's VA does (va/caa.go), read from a DNS server on loopback
// that serves them: flag bit 1 counts as critical, a validationmethods or
// accounturi mismatch skips that record (another may still allow), the
// v1 form of a Let's Encrypt account URI matches, parameters are parsed
// strictly, the issuer is compared as written, and issuewild replaces
// issue for a wildcard only.
func TestCAABoulderRules(t *testing.T) {
	const acct = "https://acme-v02.api.letsencrypt.org/acme/acct/123456"
	zone := map[string][]string{}
	cases := []struct {
		name     string
		recs     []string
		wildcard bool
		methods  []string
		want     string
		detail   string // in the detail, if set
	}{
		{"allowed", []string{`0 issue "letsencrypt.org"`}, false, []string{"http-01"}, verdictOK, ""},
		{"critical bit 128 unknown tag", []string{`0 issue "letsencrypt.org"`, `128 tbs "x"`}, false, nil, verdictFail, "critical"},
		{"critical bit 1 unknown tag", []string{`0 issue "letsencrypt.org"`, `1 tbs "x"`}, false, nil, verdictFail, "critical"},
		{"bit 1 on a known tag", []string{`1 issue "letsencrypt.org"`, `1 iodef "mailto:a@example.com"`}, false, nil, verdictOK, ""},
		{"other bits ignored", []string{`0 issue "letsencrypt.org"`, `2 tbs "x"`}, false, nil, verdictOK, ""},
		{"contactemail is unknown to Boulder", []string{`0 issue "letsencrypt.org"`, `128 contactemail "a@example.com"`}, false, nil, verdictFail, "critical"},
		{"method mismatch skips to the next record", []string{`0 issue "letsencrypt.org; validationmethods=dns-01"`, `0 issue "letsencrypt.org; validationmethods=http-01"`}, false, []string{"http-01"}, verdictOK, ""},
		{"method mismatch only", []string{`0 issue "letsencrypt.org; validationmethods=dns-01"`}, false, []string{"http-01"}, verdictFail, "validationmethods=dns-01"},
		{"two validationmethods unsatisfiable", []string{`0 issue "letsencrypt.org; validationmethods=http-01; validationmethods=http-01"`}, false, []string{"http-01"}, verdictFail, "unsatisfiable"},
		{"malformed method label", []string{`0 issue "letsencrypt.org; validationmethods=dns_01,http-01"`}, false, []string{"http-01"}, verdictFail, ""},
		{"account v2 URI", []string{`0 issue "letsencrypt.org; accounturi=` + acct + `"`}, false, nil, verdictOK, ""},
		{"account v1 URI of the same account", []string{`0 issue "letsencrypt.org; accounturi=https://acme-v01.api.letsencrypt.org/acme/reg/123456"`}, false, nil, verdictOK, ""},
		{"account v1 URI of another account", []string{`0 issue "letsencrypt.org; accounturi=https://acme-v01.api.letsencrypt.org/acme/reg/7"`}, false, nil, verdictFail, "only for account"},
		{"account mismatch skips to the next record", []string{`0 issue "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/7"`, `0 issue "letsencrypt.org"`}, false, nil, verdictOK, ""},
		{"two accounturi unsatisfiable", []string{`0 issue "letsencrypt.org; accounturi=` + acct + `; accounturi=` + acct + `"`}, false, nil, verdictFail, "unsatisfiable"},
		{"parameter without value is malformed", []string{`0 issue "letsencrypt.org; accounturi"`}, false, nil, verdictFail, "malformed"},
		{"issuer compared as written", []string{`0 issue "LetsEncrypt.org"`}, false, nil, verdictFail, "spelled exactly"},
		{"nobody", []string{`0 issue ";"`}, false, nil, verdictFail, ""},
		{"wildcard uses issuewild", []string{`0 issue "letsencrypt.org"`, `0 issuewild ";"`}, true, []string{"dns-01"}, verdictFail, "issuewild"},
		{"wildcard falls back to issue", []string{`0 issue "letsencrypt.org"`}, true, []string{"dns-01"}, verdictOK, ""},
		{"issuewild ignored for a plain name", []string{`0 issue "letsencrypt.org"`, `0 issuewild ";"`}, false, nil, verdictOK, ""},
		{"issuewild only, plain name", []string{`0 issuewild "letsencrypt.org"`}, false, nil, verdictOK, "no issue records"},
		{"issuewild allows the wildcard though issue forbids", []string{`0 issue ";"`, `0 issuewild "letsencrypt.org"`}, true, []string{"dns-01"}, verdictOK, ""},
	}
	for i, c := range cases {
		zone[caseZone(i)] = c.recs
	}
	srv := caaStub(t, zone)
	look, err := newDNSLookup([]string{srv}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The records sit at the parent: tree climbing finds them.
			got := look.checkCAA(t.Context(), "www."+caseZone(i), c.wildcard,
				caaQuery{identities: []string{"letsencrypt.org"}, methods: c.methods, accountURL: acct, boulder: true})
			if got.verdict != c.want || !strings.Contains(got.detail, c.detail) {
				t.Errorf("%q: %s (%s); want %s with %q", c.recs, got.verdict, got.detail, c.want, c.detail)
			}
		})
	}
}

func caseZone(i int) string {
	return "c" + strings.Repeat("x", i%3) + string(rune('a'+i)) + ".example.org"
}
