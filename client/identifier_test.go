package client

import (
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
)

// TestParseIdentifier: names become typed identifiers once (IP or DNS,
// canonical), and what cannot be one is a *NameError saying why.
func TestParseIdentifier(t *testing.T) {
	for in, want := range map[string]Identifier{
		" Example.COM. ":    {Type: "dns", Value: "example.com"},
		"*.Example.com":     {Type: "dns", Value: "*.example.com"},
		"bücher.example":    {Type: "dns", Value: "xn--bcher-kva.example"},
		"192.0.2.1":         {Type: "ip", Value: "192.0.2.1"},
		"::ffff:192.0.2.1":  {Type: "ip", Value: "192.0.2.1"},
		"2001:DB8::1":       {Type: "ip", Value: "2001:db8::1"},
		"www.example.test":  {Type: "dns", Value: "www.example.test"},
		"xn--bcher-kva.net": {Type: "dns", Value: "xn--bcher-kva.net"},
	} {
		got, err := ParseIdentifier(in)
		if err != nil || got != want {
			t.Errorf("ParseIdentifier(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"fe80::1%eth0":        "IP address with a zone",
		"localhost":           "at least two labels",
		"a..example.com":      "two dots",
		"foo.*.example.com":   "wildcard",
		"under_score.example": "letters, digits",
		"-lead.example.com":   "starts or ends with '-'",
		"":                    "empty domain name",
		"xn--zz.example.com":  "",
		"192.0.2.1.":          "IP address",
		"*.192.0.2.1":         "IP address",
		"*.2001:db8::1":       "",
	} {
		_, err := ParseIdentifier(in)
		var ne *NameError
		if !errors.As(err, &ne) {
			t.Errorf("ParseIdentifier(%q) = %v; want a *NameError", in, err)
			continue
		}
		if why != "" && !strings.Contains(ne.Why, why) {
			t.Errorf("ParseIdentifier(%q): why %q; want it to say %q", in, ne.Why, why)
		}
	}
}

// TestParseIdentifierReadsBack: every identifier the parser makes parses
// back to itself from its Value, the only thing settings.yaml and etcd
// keep. "192.0.2.1." once became a "dns" 192.0.2.1 that read back as an
// IP address.
func TestParseIdentifierReadsBack(t *testing.T) {
	for _, in := range []string{"Example.COM.", "*.example.com", "bücher.example", "192.0.2.1", "192.0.2.1.",
		"*.192.0.2.1", "::ffff:192.0.2.1", "2001:DB8::1", "1.2.3.4.5", "0x7f.example", "1.2.3.example"} {
		readsBack(t, in)
	}
}

// FuzzParseIdentifier: whatever the parser accepts reads back as itself
// and passes the protocol's own identifier checks.
func FuzzParseIdentifier(f *testing.F) {
	for _, s := range []string{"example.com", "*.example.com", "192.0.2.1", "192.0.2.1.", "::1", "*.1.2.3.4", "xn--bcher-kva.example"} {
		f.Add(s)
	}
	f.Fuzz(readsBack)
}

// readsBack checks that what the parser makes of in (if anything) parses
// back to itself and passes CheckIdentifier and validateIdentifier.
func readsBack(t *testing.T, in string) {
	id, err := ParseIdentifier(in)
	if err != nil {
		return
	}
	if back, err := ParseIdentifier(id.Value); err != nil || back != id {
		t.Fatalf("ParseIdentifier(%q) = %+v, which reads back as %+v, %v", in, id, back, err)
	}
	if err := CheckIdentifier(id); err != nil {
		t.Fatalf("CheckIdentifier(%+v) = %v", id, err)
	}
	if err := validateIdentifier(id); err != nil {
		t.Fatalf("ParseIdentifier(%q) = %+v, which the client refuses: %v", in, id, err)
	}
}

// TestCheckIdentifier: an identifier built outside the parser with a type
// or spelling the parser would not give is refused, never re-typed: a
// "dns" 192.0.2.1 stays refused, it does not become an IP address.
func TestCheckIdentifier(t *testing.T) {
	for _, id := range []Identifier{{Type: "dns", Value: "example.com"}, {Type: "dns", Value: "*.example.com"}, {Type: "ip", Value: "192.0.2.1"}, {Type: "ip", Value: "2001:db8::1"}} {
		if err := CheckIdentifier(id); err != nil {
			t.Errorf("CheckIdentifier(%+v) = %v", id, err)
		}
	}
	for _, id := range []Identifier{{Type: "dns", Value: "192.0.2.1"}, {Type: "dns", Value: "2001:db8::1"}, {Type: "ip", Value: "example.com"}, {Type: "dns", Value: "Example.com"},
		{Type: "ip", Value: "2001:DB8::1"}, {Type: "ip", Value: "::ffff:192.0.2.1"}, {Type: "DNS", Value: "example.com"}, {Type: "", Value: "example.com"}} {
		var ne *NameError
		if err := CheckIdentifier(id); !errors.As(err, &ne) {
			t.Errorf("CheckIdentifier(%+v) = %v; want a *NameError", id, err)
		}
	}
}

// TestNamesEncoding: Names are plain strings in JSON and YAML (the
// settings.yaml, state.json and etcd formats) and typed once read.
func TestNamesEncoding(t *testing.T) {
	ns := MustNames("example.com", "*.example.com", "192.0.2.1", "2001:db8::1")
	b, err := json.Marshal(struct {
		Names Names `json:"names"`
	}{ns})
	if err != nil || string(b) != `{"names":["example.com","*.example.com","192.0.2.1","2001:db8::1"]}` {
		t.Fatalf("json = %s, %v", b, err)
	}
	var back struct {
		Names Names `json:"names"`
	}
	if err := json.Unmarshal(b, &back); err != nil || !slices.Equal(back.Names, ns) {
		t.Fatalf("read back %+v, %v; want %+v", back.Names, err, ns)
	}
	want := []Identifier{{Type: "dns", Value: "example.com"}, {Type: "dns", Value: "*.example.com"}, {Type: "ip", Value: "192.0.2.1"}, {Type: "ip", Value: "2001:db8::1"}}
	if !slices.Equal([]Identifier(ns), want) {
		t.Errorf("MustNames = %+v; want %+v", ns, want)
	}
	if err := json.Unmarshal([]byte(`{"names":["a..example"]}`), &back); err == nil {
		t.Error("a name the parser refuses was read")
	}
	if b, _ := json.Marshal(struct{ N Names }{}); string(b) != `{"N":null}` {
		t.Errorf("nil Names = %s; want null, as a nil []string", b)
	}
}

// TestSANNames: a certificate's names are typed by the extension holding
// them; a dNSName that reads as an IP address is refused.
func TestSANNames(t *testing.T) {
	got, err := SANNames([]string{"Example.com", "*.example.com", "example.com"}, []net.IP{net.ParseIP("192.0.2.1"), net.ParseIP("2001:db8::1")})
	want := []Identifier{{Type: "dns", Value: "example.com"}, {Type: "dns", Value: "*.example.com"}, {Type: "ip", Value: "192.0.2.1"}, {Type: "ip", Value: "2001:db8::1"}}
	if err != nil || !slices.Equal([]Identifier(got), want) {
		t.Errorf("SANNames = %+v, %v; want %+v", got, err, want)
	}
	var ne *NameError
	if _, err := SANNames([]string{"192.0.2.1"}, nil); !errors.As(err, &ne) {
		t.Errorf("dNSName 192.0.2.1: %v; want a *NameError", err)
	}
}
