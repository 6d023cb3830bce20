package lifecycle

import (
	"errors"
	"strings"
	"testing"

	"github.com/acmectl/acmectl/client"
)

// TestParseIdentifier: names become typed identifiers once (IP or DNS,
// canonical), and what cannot be one is a *NameError saying why.
func TestParseIdentifier(t *testing.T) {
	for in, want := range map[string]client.Identifier{
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
