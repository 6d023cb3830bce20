package dnspersist01

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/internal/testenv"
)

// TestCheck: the published record is read through dns01.Resolver (CNAME
// followed, hostile answers refused) and judged against the account, the
// issuers, the wildcard policy and persistUntil.
func TestCheck(t *testing.T) {
	const acct = "https://ca.test/acme/acct/1"
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	records := map[string][]dns.RR{}
	txt := func(name string, v ...string) dns.RR {
		return &dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: v}
	}
	records["_validation-persist.ok.test."] = []dns.RR{txt("_validation-persist.ok.test.", "ca.test; accounturi="+acct)}
	records["_validation-persist.split.test."] = []dns.RR{txt("_validation-persist.split.test.", "ca.test; account", "uri="+acct+"; policy=wildcard")}
	records["_validation-persist.other.test."] = []dns.RR{txt("_validation-persist.other.test.", "ca.test; accounturi=https://ca.test/acme/acct/2")}
	records["_validation-persist.old.test."] = []dns.RR{txt("_validation-persist.old.test.", "ca.test; accounturi="+acct+"; persistUntil=1000")}
	records["_validation-persist.alias.test."] = []dns.RR{
		&dns.CNAME{Hdr: dns.RR_Header{Name: "_validation-persist.alias.test.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: "target.test."},
		txt("target.test.", "ca.test; accounturi="+acct),
		txt("_validation-persist.alias.test.", "ca.test; accounturi="+acct+"; not-at-the-end-of-the-chain"),
	}
	var queries atomic.Int64
	srv := testenv.ServeDNS(t, dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		queries.Add(1)
		m := new(dns.Msg)
		m.SetReply(q)
		rrs, ok := records[strings.ToLower(q.Question[0].Name)]
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		m.Answer = rrs
		_ = w.WriteMsg(m)
	}))
	check := func(name string, wildcard bool) error {
		return Check(t.Context(), []string{srv}, name, wildcard, []string{"ca.test"}, acct, now)
	}
	for _, name := range []string{"ok.test", "alias.test", "split.test"} {
		if err := check(name, false); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := check("split.test", true); err != nil {
		t.Errorf("split.test wildcard: %v", err)
	}
	for _, tc := range []struct {
		name     string
		wildcard bool
		reason   string
	}{
		{"missing.test", false, "no TXT record"},
		{"other.test", false, "accounturi is not this account"},
		{"ok.test", true, "a wildcard needs policy=wildcard"},
		{"old.test", false, "has passed"},
	} {
		err := check(tc.name, tc.wildcard)
		var re *RecordError
		if !errors.As(err, &re) || !strings.Contains(re.Reason, tc.reason) {
			t.Errorf("%s: err %v; want a RecordError saying %q", tc.name, err, tc.reason)
		}
	}
	if err := Check(t.Context(), []string{srv}, "ok.test", false, []string{"other-ca.test"}, acct, now); err == nil || !strings.Contains(err.Error(), "is not the CA's") {
		t.Errorf("other issuer: err %v", err)
	}
	// The solver checks the same record and never changes DNS.
	s := &Solver{Resolvers: []string{srv}, Now: func() time.Time { return now }}
	ch := challenges.Challenge{Type: challenges.DNSPersist01, Identifier: challenges.Identifier{Type: "dns", Value: "ok.test"},
		IssuerDomainNames: []string{"ca.test"}, AccountURL: acct}
	if err := s.Present(t.Context(), ch); err != nil {
		t.Errorf("Present: %v", err)
	}
	if err := s.CleanUp(t.Context(), ch); err != nil {
		t.Errorf("CleanUp: %v", err)
	}
	if queries.Load() == 0 {
		t.Error("no DNS query reached the server")
	}
}

func TestRecordRoundTrip(t *testing.T) {
	r := Record{Issuer: "ca.test", AccountURI: "https://ca.test/a/1", Wildcard: true, PersistUntil: time.Unix(1900000000, 0).UTC()}
	got, err := ParseRecord(r.String())
	if err != nil || got != r {
		t.Fatalf("ParseRecord(%q) = %+v, %v", r.String(), got, err)
	}
	if RecordName("*.Example.test.") != "_validation-persist.Example.test." {
		t.Errorf("RecordName = %q", RecordName("*.Example.test."))
	}
	for _, bad := range []string{"", "; accounturi=x", "ca.test", "ca.test; accounturi=a; accounturi=b", "ca.test; accounturi=a; persistUntil=soon"} {
		if _, err := ParseRecord(bad); err == nil {
			t.Errorf("ParseRecord(%q): no error", bad)
		}
	}
}
