package renew

import (
	"reflect"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

// TestCacheCodecCoversState: every field of store.State (and of the
// structs it points to) survives the cache file; a field added to State
// and not to the codec fails here instead of being dropped silently.
func TestCacheCodecCoversState(t *testing.T) {
	at := func(s int64) time.Time { return time.Unix(1790000000+s, 123456789).UTC() }
	full := &store.State{
		ARI:              &store.ARIState{WindowStart: at(1), WindowEnd: at(2), ChosenTime: at(3), NextFetch: at(4), FetchedAt: at(14), ExplanationURL: "https://ca.example/why"},
		RetryAfter:       at(5),
		Backoff:          &store.Backoff{Failures: 3, NextAttempt: at(6)},
		PendingOrder:     &store.PendingOrder{URL: "https://ca.example/order/1", DirectoryURL: "https://ca.example/dir", Account: "default", Names: client.MustNames("a.example", "b.example"), Replaces: "aa.bb", Profile: "tlsserver", Created: at(7), AccountURL: "https://ca.example/acct/1"},
		DeployPending:    true,
		LastError:        &store.LastError{Class: "rate_limited", Message: "slow down", Time: at(8), RetryAfter: at(9)},
		Revoked:          true,
		LastSuccess:      at(10),
		LastAttempt:      at(11),
		NotBefore:        at(12),
		NotAfter:         at(13),
		Serial:           "0abc",
		Issuer:           "Test CA",
		Version:          7,
		KeyType:          "ec256",
		IssuedBy:         "https://ca.example/dir",
		IssuedAccount:    "default",
		IssuedAccountURL: "https://ca.example/acct/1",
	}
	for _, v := range []any{*full, *full.ARI, *full.Backoff, *full.PendingOrder, *full.LastError} {
		rv := reflect.ValueOf(v)
		for i := range rv.NumField() {
			if rv.Field(i).IsZero() {
				t.Fatalf("%s.%s is not set in this test: set it, and carry it in cachecodec.go", rv.Type().Name(), rv.Type().Field(i).Name)
			}
		}
	}
	in := map[string]cacheEntry{
		"full.example": {Ino: 42, Size: 532, MTime: 1796306800156371143, State: full},
		"zero.example": {Ino: 1, Size: 2, MTime: -3, State: &store.State{}},
	}
	out, err := decodeCache(encodeCache(in))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range in {
		got := out[name]
		st, err := decodeState(got.raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got.State, got.raw = st, nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", name, got, want)
		}
	}
	// Entries not used are written back as they were read.
	if again := encodeCache(out); len(again) != len(encodeCache(in)) {
		t.Errorf("re-encoded undecoded entries: %d bytes; want %d", len(again), len(encodeCache(in)))
	}
	for _, bad := range [][]byte{nil, []byte("{}"), append([]byte(cacheMagic), 5, 'a')} {
		if _, err := decodeCache(bad); err == nil {
			t.Errorf("decodeCache(%q) accepted", bad)
		}
	}
	enc := encodeCache(in)
	for n := len(cacheMagic) + 1; n < len(enc); n += 7 {
		if m, err := decodeCache(enc[:n]); err == nil && len(m) == 2 {
			t.Errorf("a truncated cache (%d of %d bytes) decoded whole", n, len(enc))
		}
	}
	raw := out["full.example"].raw
	for n := range len(raw) {
		if _, err := decodeState(raw[:n]); err == nil {
			t.Errorf("a truncated state (%d of %d bytes) decoded", n, len(raw))
		}
	}
}
