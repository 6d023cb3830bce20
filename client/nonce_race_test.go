package client

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// TestNonceConcurrentFetches: requests running side by side each get a
// nonce, even when one of them takes the nonce another's HEAD brought
// into the pool (this failed now and then with "no valid Replay-Nonce
// header (HTTP 200)" against Pebble and under load).
func TestNonceConcurrentFetches(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Replay-Nonce", fmt.Sprintf("nonce-%d", served.Add(1)))
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	for round := range 60 {
		c, err := New(Config{DirectoryURL: srv.URL + "/dir", HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		got := make(chan string, 16)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// The pool is filled as signed requests' answers would.
				c.nonces.begin()
				defer c.nonces.end()
				n, err := c.nonce(t.Context(), srv.URL+"/nonce")
				if err != nil {
					errs <- err
					return
				}
				got <- n
			}()
		}
		wg.Wait()
		close(errs)
		close(got)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
		seen := map[string]bool{}
		for n := range got {
			if seen[n] {
				t.Fatalf("round %d: nonce %s handed out twice", round, n)
			}
			seen[n] = true
		}
	}
}
