package testenv

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestStartBIND(t *testing.T) {
	b := StartBIND(t,
		Zone{Name: "acme.test", Lagging: true, Records: []string{"_acme-challenge.www IN CNAME x.delegated.test."}},
		Zone{Name: "delegated.test"})
	if b.Lagging == nil {
		t.Fatal("Lagging = nil; want a second instance")
	}
	for _, tc := range []struct {
		name   string
		server string
		qname  string
		qtype  uint16
		want   int
	}{
		{"ns", b.Addr, "acme.test.", dns.TypeNS, 2},
		{"wildcard A", b.Addr, "anything.acme.test.", dns.TypeA, 1},
		{"cname", b.Addr, "_acme-challenge.www.acme.test.", dns.TypeCNAME, 1},
		{"delegated soa", b.Addr, "delegated.test.", dns.TypeSOA, 1},
		{"lagging soa", b.Lagging.Addr, "acme.test.", dns.TypeSOA, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion(tc.qname, tc.qtype)
			r, _, err := (&dns.Client{Net: "tcp", Timeout: 2 * time.Second}).Exchange(m, tc.server)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Answer) != tc.want {
				t.Errorf("%s: %d answers; want %d: %v", tc.qname, len(r.Answer), tc.want, r.Answer)
			}
		})
	}
	if !b.AwaitQuery("anything.acme.test", "A") {
		t.Errorf("SawQuery(anything.acme.test, A) = false; log:\n%s", b.Log())
	}
	if b.SawQuery("nothing.acme.test", "A") {
		t.Errorf("SawQuery(nothing.acme.test, A) = true")
	}
}
