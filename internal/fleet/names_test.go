package fleet

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

// TestFleetSettingsNames: settings in etcd keep names as the plain
// strings they always were, are typed by the one parser when read, and a
// name spelled otherwise than the command line stores it (capitals, a
// long IPv6 form, "192.0.2.1." that would be a DNS name reading as an IP
// address) is refused, not re-typed.
func TestFleetSettingsNames(t *testing.T) {
	names := client.MustNames("example.com", "*.example.com", "192.0.2.1", "2001:db8::1")
	data, err := encodeSettings(&store.Settings{Names: names, Server: "https://ca.example/dir"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "names:\n    - example.com\n    - '*.example.com'\n    - 192.0.2.1\n    - 2001:db8::1\n") {
		t.Errorf("etcd settings:\n%s", data)
	}
	s, _, err := decodeSettings("k", data)
	if err != nil || !slices.Equal(s.Names, names) {
		t.Fatalf("decodeSettings = %+v, %v; want names %+v", s, err, names)
	}
	if s.Names[2].Type != "ip" || s.Names[1].Type != "dns" {
		t.Errorf("names typed %+v", s.Names)
	}
	for _, bad := range []string{"Example.com", "2001:DB8:0::1", "192.0.2.1.", "::ffff:192.0.2.1", "bücher.example", "a b.example"} {
		_, _, err := decodeSettings("k", []byte("version: 1\nserver: https://ca.example/dir\nnames: ['"+bad+"']\n"))
		var se *store.SettingsError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "name") {
			t.Errorf("names [%s]: %v; want a *store.SettingsError about the name", bad, err)
		}
	}
}

// TestFleetVersionNames: a published version's names are the leaf's,
// typed by their extension, sorted by value, as strings in etcd; the MAC
// covers the same bytes as before they were typed.
func TestFleetVersionNames(t *testing.T) {
	v := &Version{Generation: 1, Names: client.MustNames("192.0.2.1", "a.example", "*.a.example")}
	b, err := json.Marshal(v)
	if err != nil || !strings.Contains(string(b), `"names":["192.0.2.1","a.example","*.a.example"]`) {
		t.Fatalf("version = %s, %v", b, err)
	}
	var back Version
	if err := json.Unmarshal(b, &back); err != nil || !slices.Equal(back.Names, v.Names) {
		t.Fatalf("read back %+v, %v", back.Names, err)
	}
	sl := &Sealer{recKey: []byte("0123456789abcdef0123456789abcdef")}
	want := mac(sl.recKey, []byte("k"), []byte("1"), nil, nil, nil, []byte("192.0.2.1"), []byte("a.example"), []byte("*.a.example"))
	if got := sl.recordMAC("k", v); string(got) != string(want) {
		t.Error("record MAC no longer covers the names' strings")
	}
}
