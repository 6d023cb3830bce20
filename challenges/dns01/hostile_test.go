package dns01_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/miekg/dns"
)

// fakeDNS serves handler on 127.0.0.1 over UDP and TCP (one port each side
// picked by the kernel) and returns the UDP address; TCP is on tcpAddr.
func fakeDNS(t *testing.T, handler dns.HandlerFunc) (udpAddr, tcpAddr string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		pc.Close()
		t.Skipf("TCP port %d taken: %v", port, err)
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: l, Handler: handler}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return pc.LocalAddr().String(), l.Addr().String()
}

func fakeOptions(addr string) dns01.Options {
	return dns01.Options{
		RecursiveResolvers: []string{addr},
		LookupNameserver:   func(context.Context, string) ([]string, error) { return []string{addr}, nil },
		PropagationTimeout: 300 * time.Millisecond,
		QueryTimeout:       time.Second,
	}
}

// zoneAnswers answers SOA/NS for "fake.test." and calls txt for TXT.
func zoneAnswers(w dns.ResponseWriter, q *dns.Msg, txt func(r *dns.Msg, tcp bool)) {
	r := new(dns.Msg)
	r.SetReply(q)
	name := q.Question[0].Name
	switch q.Question[0].Qtype {
	case dns.TypeSOA:
		if name == "fake.test." {
			rr, _ := dns.NewRR("fake.test. 60 IN SOA ns1.fake.test. h.fake.test. 1 60 60 600 60")
			r.Answer = append(r.Answer, rr)
		} else {
			rr, _ := dns.NewRR("fake.test. 60 IN SOA ns1.fake.test. h.fake.test. 1 60 60 600 60")
			r.Ns = append(r.Ns, rr)
		}
	case dns.TypeNS:
		rr, _ := dns.NewRR("fake.test. 60 IN NS ns1.fake.test.")
		r.Answer = append(r.Answer, rr)
	case dns.TypeTXT, dns.TypeCNAME:
		_, tcp := w.RemoteAddr().(*net.TCPAddr)
		txt(r, tcp)
	}
	_ = w.WriteMsg(r)
}

func TestTCPFallbackOnTruncation(t *testing.T) {
	var tcpQueries atomic.Int32
	addr, _ := fakeDNS(t, func(w dns.ResponseWriter, q *dns.Msg) {
		zoneAnswers(w, q, func(r *dns.Msg, tcp bool) {
			if q.Question[0].Qtype != dns.TypeTXT {
				return
			}
			if !tcp {
				r.Truncated = true
				return
			}
			tcpQueries.Add(1)
			r.Answer = append(r.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{"val", "ue"}})
		})
	})
	s := dns01.NewSolver(nil, fakeOptions(addr))
	if err := s.CheckPropagation(t.Context(), "_acme-challenge.x.fake.test.", "value"); err != nil {
		t.Fatalf("CheckPropagation: %v", err)
	}
	if tcpQueries.Load() == 0 {
		t.Error("no TCP query after a truncated UDP answer")
	}
}

func TestHostileAnswers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answer  func(q *dns.Msg, r *dns.Msg)
		wantErr string
		tcpOnly bool // truncate over UDP: the answer is too big for it
	}{
		{"question mismatch", func(q, r *dns.Msg) { r.Question[0].Name = "other.fake.test." }, "question does not match", false},
		{"too many records", func(q, r *dns.Msg) {
			for i := range 300 {
				r.Answer = append(r.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{fmt.Sprint(i)}})
			}
		}, "more than", true},
		{"long CNAME chain", func(q, r *dns.Msg) {
			prev := q.Question[0].Name
			for i := range 20 {
				next := fmt.Sprintf("c%d.fake.test.", i)
				r.Answer = append(r.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: prev, Rrtype: dns.TypeCNAME, Class: dns.ClassINET}, Target: next})
				prev = next
			}
		}, "CNAME chain loops or is too long", false},
		{"CNAME loop", func(q, r *dns.Msg) {
			r.Answer = append(r.Answer,
				&dns.CNAME{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET}, Target: "a.fake.test."},
				&dns.CNAME{Hdr: dns.RR_Header{Name: "a.fake.test.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET}, Target: q.Question[0].Name})
		}, "CNAME chain loops or is too long", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := fakeDNS(t, func(w dns.ResponseWriter, q *dns.Msg) {
				zoneAnswers(w, q, func(r *dns.Msg, tcp bool) {
					if tc.tcpOnly && !tcp {
						r.Truncated = true
						return
					}
					tc.answer(q, r)
				})
			})
			s := dns01.NewSolver(nil, fakeOptions(addr))
			err := s.CheckPropagation(t.Context(), "_acme-challenge.x.fake.test.", "value")
			var pe *dns01.PropagationError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("CheckPropagation = %v; want a PropagationError containing %q", err, tc.wantErr)
			}
			if len(err.Error()) > 1000 {
				t.Errorf("error is %d bytes; want it bounded", len(err.Error()))
			}
			if tc.name == "long CNAME chain" || tc.name == "CNAME loop" {
				if _, err := s.FollowCNAME(t.Context(), "_acme-challenge.x.fake.test."); !errors.Is(err, dns01.ErrCNAMELoop) {
					t.Errorf("FollowCNAME = %v; want ErrCNAMELoop", err)
				}
			}
		})
	}
}

func TestHugeTXTIsBoundedInError(t *testing.T) {
	addr, _ := fakeDNS(t, func(w dns.ResponseWriter, q *dns.Msg) {
		zoneAnswers(w, q, func(r *dns.Msg, _ bool) {
			if q.Question[0].Qtype == dns.TypeTXT {
				r.Answer = append(r.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET},
					Txt: []string{strings.Repeat("\x1b[2J", 60), strings.Repeat("y", 255), strings.Repeat("z", 255)}})
			}
		})
	})
	err := dns01.NewSolver(nil, fakeOptions(addr)).CheckPropagation(t.Context(), "_acme-challenge.x.fake.test.", "value")
	if err == nil {
		t.Fatal("CheckPropagation succeeded; want a wrong value reported")
	}
	if strings.Contains(err.Error(), "\x1b") || len(err.Error()) > 400 {
		t.Errorf("error %q carries raw control bytes or is unbounded", err)
	}
}
