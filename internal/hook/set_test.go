package hook

import (
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSet(t *testing.T) {
	var s Set
	a := []string{"/bin/reload", "nginx"}
	if s.Has(a) || s.Len() != 0 {
		t.Fatalf("zero Set: Has=%v Len=%d; want false, 0", s.Has(a), s.Len())
	}
	if !s.Add(a) {
		t.Error("Add(a) first time = false; want true")
	}
	if s.Add([]string{"/bin/reload", "nginx"}) {
		t.Error("Add(same argv) = true; want false")
	}
	// Same words, different argv: distinct hooks.
	if !s.Add([]string{"/bin/reload nginx"}) || !s.Add([]string{"/bin/reload", "nginx", ""}) {
		t.Error("Add(different argv) = false; want true")
	}
	a[1] = "mutated" // the set keeps its own copy
	want := [][]string{{"/bin/reload", "nginx"}, {"/bin/reload nginx"}, {"/bin/reload", "nginx", ""}}
	if d := cmp.Diff(want, s.List()); d != "" {
		t.Errorf("List() mismatch (-want +got):\n%s", d)
	}
}

func TestSetConcurrent(t *testing.T) {
	var s Set
	var wg sync.WaitGroup
	var mu sync.Mutex
	firsts := 0
	for range 50 {
		wg.Go(func() {
			if s.Add([]string{"pre"}) {
				mu.Lock()
				firsts++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firsts != 1 {
		t.Errorf("concurrent Add: %d callers told to run; want 1", firsts)
	}
}
