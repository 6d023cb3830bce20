package lifecycle

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

func p[T any](v T) *T { return &v }

// stored is a certificate obtained with the built-in http-01 responder.
func stored() *store.Settings {
	return &store.Settings{
		Names: client.MustNames("example.test", "www.example.test"), Server: "https://staging.test/dir", Account: "default",
		KeyType: "ec256", HTTP01Addrs: []string{"127.0.0.1:5002"}, Email: []string{"old@example.test"},
		Hooks: store.Hooks{Deploy: [][]string{{"/bin/true"}}},
	}
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name        string
		stored      *store.Settings
		given       Given
		want        func(s *store.Settings)
		shaping     []string
		renewalOnly []string
	}{
		{name: "nothing given keeps everything", stored: stored(), given: Given{}, want: func(*store.Settings) {}},
		{
			name: "new server shapes the certificate", stored: stored(), given: Given{Server: p("https://prod.test/dir")},
			want: func(s *store.Settings) { s.Server = "https://prod.test/dir" }, shaping: []string{"server"},
		},
		{
			name: "same server given is no change", stored: stored(), given: Given{Server: p("https://staging.test/dir")},
			want: func(*store.Settings) {},
		},
		{
			name: "webroot replaces the stored solver set", stored: stored(), given: Given{Solvers: &SolverSpec{Webroot: "/var/www"}},
			want:        func(s *store.Settings) { s.HTTP01Addrs, s.Webroot = nil, "/var/www" },
			renewalOnly: []string{"http-01-addrs", "webroot"},
		},
		{
			name: "--http-01 alone keeps the stored addresses", stored: stored(), given: Given{Solvers: &SolverSpec{HTTP01: true}},
			want: func(*store.Settings) {},
		},
		{
			name: "--http-01 alone on a new certificate listens on :80", given: Given{Solvers: &SolverSpec{HTTP01: true}},
			want: func(s *store.Settings) { *s = store.Settings{HTTP01Addrs: []string{":80"}} }, renewalOnly: []string{"http-01-addrs"},
		},
		{
			name: "email and profile both given", stored: stored(), given: Given{Email: p([]string{"new@example.test"}), Profile: p("shortlived")},
			want:    func(s *store.Settings) { s.Email, s.Profile = []string{"new@example.test"}, "shortlived" },
			shaping: []string{"profile"}, renewalOnly: []string{"email"},
		},
		{
			name: "names reordered are not a change", stored: stored(), given: Given{Names: client.MustNames("www.example.test", "example.test")},
			want: func(s *store.Settings) { s.Names = client.MustNames("www.example.test", "example.test") },
		},
		{
			name: "names from -d drop a stored CSR", stored: func() *store.Settings { s := stored(); s.CSR = "PEM"; return s }(),
			given: Given{Names: client.MustNames("example.test")},
			want:  func(s *store.Settings) { s.Names, s.CSR = client.MustNames("example.test"), "" }, shaping: []string{"names", "csr"},
		},
		{
			name:   "switching from dns-01 drops its parameters",
			stored: &store.Settings{Names: client.MustNames("a.test"), DNS: store.DNSSettings{Provider: "rfc2136", RFC2136Server: "ns:53", RFC2136TSIGFile: "/k"}},
			given:  Given{Solvers: &SolverSpec{HTTP01Addrs: []string{":80"}}},
			want: func(s *store.Settings) {
				s.DNS = store.DNSSettings{}
				s.HTTP01Addrs = []string{":80"}
			},
			renewalOnly: []string{"http-01-addrs", "dns"},
		},
		{
			name:   "a dns-01 parameter alone keeps the provider",
			stored: &store.Settings{Names: client.MustNames("a.test"), DNS: store.DNSSettings{Provider: "rfc2136", RFC2136Server: "ns:53"}},
			given:  Given{DNS: DNSGiven{PropagationWait: p("30s")}},
			want:   func(s *store.Settings) { s.DNS.PropagationWait = "30s" }, renewalOnly: []string{"dns"},
		},
		{
			name: "hooks given replace, absent kept", stored: stored(), given: Given{Hooks: HooksGiven{Pre: p([][]string{{"/bin/stop"}})}},
			want: func(s *store.Settings) { s.Hooks.Pre = [][]string{{"/bin/stop"}} }, renewalOnly: []string{"hooks"},
		},
		{
			name: "key type and must-staple shape", stored: stored(), given: Given{KeyType: p("rsa2048"), MustStaple: p(true)},
			want:    func(s *store.Settings) { s.KeyType, s.MustStaple = "rsa2048", true },
			shaping: []string{"key-type", "must-staple"},
		},
		{
			name:   "named solver from config copied when the set is given",
			stored: stored(),
			given: Given{Solvers: &SolverSpec{PerIdentifier: map[string][]string{"default": {"ns-a"}}},
				NamedSolverDefs: map[string]map[string]string{"ns-a": {"type": "dns-01"}, "unused": {"type": "http-01"}}},
			want: func(s *store.Settings) {
				s.HTTP01Addrs = nil
				s.Solvers = map[string][]string{"default": {"ns-a"}}
				s.NamedSolvers = map[string]map[string]string{"ns-a": {"type": "dns-01"}}
			},
			renewalOnly: []string{"solvers", "http-01-addrs", "named-solvers"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before *store.Settings
			if tc.stored != nil {
				before = clone(tc.stored)
			}
			got, ch := Merge(tc.stored, tc.given)
			want := &store.Settings{}
			if tc.stored != nil {
				want = clone(tc.stored)
			}
			tc.want(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("merged (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tc.stored); diff != "" {
				t.Errorf("Merge modified the stored settings:\n%s", diff)
			}
			slices.Sort(tc.shaping)
			slices.Sort(tc.renewalOnly)
			slices.Sort(ch.Shaping)
			slices.Sort(ch.RenewalOnly)
			if !slices.Equal(ch.Shaping, tc.shaping) || !slices.Equal(ch.RenewalOnly, tc.renewalOnly) {
				t.Errorf("changes: shaping %v renewal-only %v; want %v and %v", ch.Shaping, ch.RenewalOnly, tc.shaping, tc.renewalOnly)
			}
		})
	}
}

// TestMergeDoesNotAlias: the merged settings share no slice or map with
// the stored ones (a later edit of one must not change the other).
func TestMergeDoesNotAlias(t *testing.T) {
	s := stored()
	got, _ := Merge(s, Given{})
	got.Names[0] = client.MustNames("changed.test")[0]
	got.Hooks.Deploy[0][0] = "/bin/false"
	got.HTTP01Addrs[0] = ":1"
	if s.Names[0].Value != "example.test" || s.Hooks.Deploy[0][0] != "/bin/true" || s.HTTP01Addrs[0] != "127.0.0.1:5002" {
		t.Errorf("stored settings changed through the merged ones: %+v", s)
	}
}

func TestDiffNames(t *testing.T) {
	ch := Diff(&store.Settings{Names: client.MustNames("a.test", "b.test")}, &store.Settings{Names: client.MustNames("b.test", "c.test")})
	if !slices.Equal(ch.Added.Strings(), []string{"c.test"}) || !slices.Equal(ch.Removed.Strings(), []string{"a.test"}) || !slices.Equal(ch.Shaping, []string{"names"}) {
		t.Errorf("Diff = %+v", ch)
	}
}
