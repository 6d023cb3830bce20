package store

import (
	"errors"
	"strings"
	"testing"

	"github.com/acmectl/acmectl/client"
)

func TestValidCertName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"simple", "example.com", true},
		{"digits", "0abc", true},
		{"dash underscore", "a-b_c.d", true},
		{"default label", "default", true},
		{"max length", "a" + strings.Repeat("b", 127), true},
		{"too long", "a" + strings.Repeat("b", 128), false},
		{"empty", "", false},
		{"uppercase", "Example.com", false},
		{"leading dot", ".hidden", false},
		{"dotdot", "a..b", false},
		{"only dotdot", "..", false},
		{"slash", "a/b", false},
		{"backslash", `a\b`, false},
		{"leading dash", "-a", false},
		{"leading underscore", "_a", false},
		{"space", "a b", false},
		{"nul", "a\x00b", false},
		{"unicode", "bücher", false},
		{"wildcard derived", "_wildcard.example.com", true},
		{"ip derived v4", "_ip.192.0.2.1", true},
		{"ip derived v6", "_ip.__1", true},
		{"derived empty", "_wildcard.", false},
		{"derived dotdot", "_wildcard...", false},
		{"derived slash", "_ip.a/b", false},
		{"derived long ok", "_wildcard." + strings.Repeat("a", 200), true},
		{"derived too long", "_wildcard." + strings.Repeat("a", 240), false},
		{"other underscore prefix", "_state", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidCertName(tc.in)
			if (err == nil) != tc.ok {
				t.Errorf("ValidCertName(%q) = %v; want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidName) {
				t.Errorf("ValidCertName(%q) error %v does not wrap ErrInvalidName", tc.in, err)
			}
		})
	}
}

func TestDefaultCertName(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{"plain", "example.com", "example.com", false},
		{"upper", "WWW.Example.COM", "www.example.com", false},
		{"trailing dot", "example.com.", "example.com", false},
		{"wildcard", "*.example.com", "_wildcard.example.com", false},
		{"wildcard upper", "*.EXAMPLE.com", "_wildcard.example.com", false},
		{"idna", "Bücher.example", "xn--bcher-kva.example", false},
		{"idna wildcard", "*.bücher.example", "_wildcard.xn--bcher-kva.example", false},
		{"ipv4", "192.0.2.1", "_ip.192.0.2.1", false},
		{"ipv6", "2001:DB8::1", "_ip.2001_db8__1", false},
		{"ipv6 zone", "fe80::1%eth0", "", true},
		{"empty", "", "", true},
		{"slash", "a/b.example", "", true},
		{"dotdot", "a..b", "", true},
		{"too long", strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 10), "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := "", error(nil)
			id, err := client.ParseIdentifier(tc.in)
			if err == nil {
				got, err = DefaultCertName(id)
			}
			if tc.wantErr {
				if err == nil {
					t.Errorf("DefaultCertName(%q) = %q, nil; want error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("DefaultCertName(%q) = %q, %v; want %q, nil", tc.in, got, err, tc.want)
			}
			if err := ValidCertName(got); err != nil {
				t.Errorf("ValidCertName(DefaultCertName(%q)) = %v", tc.in, err)
			}
		})
	}
}

func TestServerID(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{"letsencrypt", "https://acme-v02.api.letsencrypt.org/directory", "acme-v02.api.letsencrypt.org_directory", false},
		{"pebble", "https://127.0.0.1:14000/dir", "127.0.0.1_14000_dir", false},
		{"explicit 443", "https://CA.Example:443/dir", "ca.example_dir", false},
		{"http loopback", "http://localhost:4001/directory", "localhost_4001_directory", false},
		{"deep path", "https://ca.example/acme/v2/directory", "ca.example_acme_v2_directory", false},
		{"no path", "https://ca.example", "ca.example", false},
		{"ipv6", "https://[::1]:14000/dir", "__1_14000_dir", false},
		{"dotdot path", "https://ca.example/../../etc", "ca.example__.__._etc", false},
		{"odd chars", "https://ca.example/a%2Fb/c d", "ca.example_a_b_c_20d", false},
		{"query", "https://ca.example/dir?x=1", "ca.example_dir_x_1", false},
		{"not url", "ca.example", "", true},
		{"ftp", "ftp://ca.example/dir", "", true},
		{"no host", "https:///dir", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ServerID(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Errorf("ServerID(%q) = %q, nil; want error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ServerID(%q) = %q, %v; want %q, nil", tc.in, got, err, tc.want)
			}
			if strings.Contains(got, "..") || strings.ContainsAny(got, `/\`) {
				t.Errorf("ServerID(%q) = %q contains a separator or ..", tc.in, got)
			}
		})
	}
	t.Run("long", func(t *testing.T) {
		a, err := ServerID("https://ca.example/" + strings.Repeat("x", 300))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := ServerID("https://ca.example/" + strings.Repeat("x", 301))
		if len(a) > maxServerIDLen || a == b {
			t.Errorf("long ServerIDs = %q (%d), %q; want distinct and at most %d bytes", a, len(a), b, maxServerIDLen)
		}
	})
}
