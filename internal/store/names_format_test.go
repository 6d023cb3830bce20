package store

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/acmectl/acmectl/client"
)

// previousSettings is settings.yaml as the previous release (names held as
// []string) writes it for these names: byte for byte what SaveSettings
// must still write.
const previousSettings = "# acmectl certificate settings; safe to edit by hand (see `acmectl reconfigure`).\n" +
	"version: 1\nnames:\n  - example.com\n  - '*.example.com'\n  - 192.0.2.1\n  - 2001:db8::1\n" +
	"server: https://ca.example/dir\naccount: default\nhttp-01-addrs:\n  - :80\ndns:\n  provider: rfc2136\n"

// TestSettingsNamesRoundTrip: names are typed when settings.yaml is read
// (DNS, wildcard, IPv4, IPv6: the parser decides, once) and written back
// as the same plain strings, so the file stays byte-identical and the
// previous release, which reads names as strings, reads it unchanged.
func TestSettingsNamesRoundTrip(t *testing.T) {
	d := newDir(t)
	p := writeSettings(t, d, "example.com", previousSettings)
	s, err := d.LoadSettings("example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := []client.Identifier{
		{Type: "dns", Value: "example.com"}, {Type: "dns", Value: "*.example.com"},
		{Type: "ip", Value: "192.0.2.1"}, {Type: "ip", Value: "2001:db8::1"},
	}
	if !slices.Equal([]client.Identifier(s.Names), want) {
		t.Fatalf("names read as %+v; want %+v", s.Names, want)
	}
	if err := d.SaveSettings("example.com", s); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != previousSettings {
		t.Fatalf("settings.yaml written back differs:\n%s\nwant:\n%s", got, previousSettings)
	}
	var previous struct { // the previous release's view of the file
		Names []string `yaml:"names"`
	}
	if err := yaml.Unmarshal(got, &previous); err != nil || !slices.Equal(previous.Names, s.Names.Strings()) {
		t.Errorf("names as strings: %q, %v", previous.Names, err)
	}
	// state.json's pending order keeps its names as strings too.
	po, err := json.Marshal(&PendingOrder{Names: s.Names})
	if err != nil || !strings.Contains(string(po), `"names":["example.com","*.example.com","192.0.2.1","2001:db8::1"]`) {
		t.Errorf("pending order = %s, %v", po, err)
	}
}

// TestSettingsNamesParsed: a name read from settings.yaml goes through the
// one parser: hand-edited spellings are made canonical (an IPv4-mapped
// address is IPv4, a capital is lowercase), and what the parser refuses
// (a "192.0.2.1." that would be a DNS name reading as an IP address) makes
// the file unusable, with the file named.
func TestSettingsNamesParsed(t *testing.T) {
	d := newDir(t)
	p := writeSettings(t, d, "c", "names: [WWW.Example.com, '::ffff:192.0.2.1', '2001:DB8::1']\n")
	s, err := d.LoadSettings("c")
	want := []client.Identifier{{Type: "dns", Value: "www.example.com"}, {Type: "ip", Value: "192.0.2.1"}, {Type: "ip", Value: "2001:db8::1"}}
	if err != nil || !slices.Equal([]client.Identifier(s.Names), want) {
		t.Fatalf("LoadSettings = %+v, %v; want names %+v", s, err, want)
	}
	for _, bad := range []string{"192.0.2.1.", "*.192.0.2.1", "a..example", "fe80::1%eth0"} {
		if err := os.WriteFile(p, []byte("names: ['"+bad+"']\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := d.LoadSettings("c")
		var se *SettingsError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "settings.yaml") || !strings.Contains(err.Error(), "names") {
			t.Errorf("names [%s]: %v; want a *SettingsError naming the file and names", bad, err)
		}
	}
}

// writeSettings writes text as certificate name's settings.yaml in d and
// returns its path.
func writeSettings(t *testing.T, d *Dir, name, text string) string {
	t.Helper()
	dir := filepath.Join(d.Root(), "certificates", name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "settings.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStateDropsUnparsablePendingOrder: state.json's pending order names
// are typed on read; a pending order whose names the parser refuses is
// dropped (a new order will be made), not the whole state.
func TestStateDropsUnparsablePendingOrder(t *testing.T) {
	good := `{"retry_after":"2026-01-01T00:00:00Z","pending_order":{"url":"https://ca.example/o/1","directory_url":"https://ca.example/dir","account":"default","names":["a.example","192.0.2.1"]}}`
	s, dropped, err := DecodeState([]byte(good))
	if err != nil || dropped != nil || s.PendingOrder == nil || s.PendingOrder.Names[1] != (client.Identifier{Type: "ip", Value: "192.0.2.1"}) {
		t.Fatalf("DecodeState = %+v, %v, %v", s, dropped, err)
	}
	bad := strings.Replace(good, `"192.0.2.1"`, `"under_score.example"`, 1)
	s, dropped, err = DecodeState([]byte(bad))
	var ne *client.NameError
	if err != nil || !errors.As(dropped, &ne) || s.PendingOrder != nil || s.RetryAfter.IsZero() {
		t.Fatalf("DecodeState(bad names) = %+v, %v, %v; want the state without its pending order", s, dropped, err)
	}
	d := newDir(t)
	p := writeSettings(t, d, "c", "names: [a.example]\n")
	if err := os.WriteFile(filepath.Join(filepath.Dir(p), "state.json"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := d.LoadState("c"); err != nil || st.PendingOrder != nil || st.RetryAfter.IsZero() {
		t.Errorf("LoadState = %+v, %v", st, err)
	}
	if _, _, err := DecodeState([]byte(`{"retry_after":3}`)); err == nil {
		t.Error("a state that does not parse was read")
	}
}
