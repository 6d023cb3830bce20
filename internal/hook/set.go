package hook

import (
	"slices"
	"strings"
	"sync"
)

// Set records which pre and post hooks ran in one run, by argv, so each
// distinct hook runs once however many certificates name it (docs/renewal.md:
// "Pre/post hooks are de-duplicated by argv per run"). The zero value is an
// empty set; it is safe for concurrent use.
type Set struct {
	mu    sync.Mutex
	seen  map[string]bool
	order [][]string
}

func setKey(argv []string) string { return strings.Join(argv, "\x00") }

// Add records argv and reports whether it is new, i.e. whether the caller
// should run it now.
func (s *Set) Add(argv []string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := setKey(argv)
	if s.seen[k] {
		return false
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	s.seen[k] = true
	s.order = append(s.order, slices.Clone(argv))
	return true
}

// Has reports whether argv was added.
func (s *Set) Has(argv []string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[setKey(argv)]
}

// List returns the added argvs in the order they were first added (copies).
func (s *Set) List() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]string, len(s.order))
	for i, a := range s.order {
		out[i] = slices.Clone(a)
	}
	return out
}

// Len is the number of distinct argvs added.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.order)
}
