package store

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkListAndLoadState10k measures what `acmectl list` and a renew pass
// do first: List, then LoadState of every certificate, for 10,000
// certificates. One op is the whole pass.
func BenchmarkListAndLoadState10k(b *testing.B) {
	const n = 10000
	d := newDir(b)
	now := time.Now().UTC()
	st := &State{
		ARI:       &ARIState{WindowStart: now, WindowEnd: now.Add(time.Hour), ChosenTime: now},
		NotBefore: now, NotAfter: now.Add(90 * 24 * time.Hour), Serial: "0123456789abcdef", Issuer: "Bench CA",
		Version: 3, KeyType: "ec256", LastSuccess: now,
	}
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	// Setup writes directly: 10,000 fsyncs would only measure the disk.
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
	b.ReportAllocs()
	for b.Loop() {
		names, err := d.List()
		if err != nil || len(names) != n {
			b.Fatalf("List = %d names, %v", len(names), err)
		}
		for _, name := range names {
			s, err := d.LoadState(name)
			if err != nil || s.Version != 3 {
				b.Fatalf("LoadState(%s) = %+v, %v", name, s, err)
			}
		}
	}
}
