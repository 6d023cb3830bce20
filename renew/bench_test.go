package renew

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/store"
)

// BenchmarkPassNothingDue10k is `acmectl renew` over 10,000 stored
// certificates none of which is due (ARI fetched, window in the future):
// List, then one state.json read and one policy decision per certificate;
// no lock, no request. One op is the whole pass.
func BenchmarkPassNothingDue10k(b *testing.B) {
	const n = 10000
	d, err := store.Open(filepath.Join(b.TempDir(), "state"))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	st := &store.State{
		ARI: &store.ARIState{WindowStart: now.Add(50 * 24 * time.Hour), WindowEnd: now.Add(52 * 24 * time.Hour),
			ChosenTime: now.Add(51 * 24 * time.Hour), NextFetch: now.Add(6 * time.Hour)},
		NotBefore: now, NotAfter: now.Add(90 * 24 * time.Hour), Serial: "0123456789abcdef", Issuer: "Bench CA",
		Version: 3, KeyType: "ec256", LastSuccess: now,
	}
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		dir := filepath.Join(d.Root(), "certificates", fmt.Sprintf("host%05d.example.test", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "state.json"), js, 0o600); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "settings.yaml"), []byte("version: 1\n"), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	iss := &fakeIssuer{now: time.Now}
	r := &Runner{Store: DirStore{d}, Issuer: iss, Hooks: &fakeHooks{}, Parallel: 1, Cache: &StateCache{Root: d.Root()}}
	r.Pass(b.Context(), mustList(b, d)) // fills the cache, as the first cron run does
	b.ReportAllocs()
	for b.Loop() {
		r.Cache = &StateCache{Root: d.Root()} // a new process: reads the cache file
		names, err := d.List()
		if err != nil || len(names) != n {
			b.Fatalf("List = %d, %v", len(names), err)
		}
		for _, res := range r.Pass(b.Context(), names) {
			if res.Outcome != NotDue {
				b.Fatalf("%s: %s (%v)", res.Name, res.Outcome, res.Err)
			}
		}
	}
	if iss.issues.Load()+iss.fetches.Load() != 0 {
		b.Fatal("requests made")
	}
}

func mustList(b *testing.B, d *store.Dir) []string {
	names, err := d.List()
	if err != nil {
		b.Fatal(err)
	}
	return names
}
