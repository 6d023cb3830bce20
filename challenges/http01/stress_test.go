package http01_test

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/acmectl/acmectl/challenges/http01"
)

var stressRounds = flag.Int("http01.stress", 50, "rounds of TestServerLifecycleStress (each round: 16 goroutines present, fetch and clean up their own token)")

// TestServerLifecycleStress presents and cleans up different tokens from
// many goroutines, round after round, so that the last CleanUp of one
// generation of listeners races with the first Present of the next and with
// the Serve goroutines still starting or stopping. No call may fail, and a
// presented token must be served until its own CleanUp: a listener another
// challenge still needs is never closed. Run it long with
// `go test -race -run TestServerLifecycleStress -http01.stress=10000`.
func TestServerLifecycleStress(t *testing.T) {
	const workers = 16
	s := http01.NewServer([]string{"127.0.0.1:0"}, nil)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for round := range *stressRounds {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				ch := chal(fmt.Sprintf("r%dw%d", round, w))
				if err := s.Present(t.Context(), ch); err != nil {
					errs <- fmt.Errorf("Present(%s): %w", ch.Token, err)
					return
				}
				// Every other worker fetches its answer while it holds
				// the challenge: the listener must still be there.
				if w%2 == 0 {
					addrs := s.Addrs()
					if len(addrs) != 1 {
						errs <- fmt.Errorf("Addrs() while %s presented = %v; want one address", ch.Token, addrs)
					} else if err := fetch(t, client, addrs[0].String(), ch.HTTP01Path(), ch.KeyAuthorization); err != nil {
						errs <- err
					}
				}
				if err := s.CleanUp(t.Context(), ch); err != nil {
					errs <- fmt.Errorf("CleanUp(%s): %w", ch.Token, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("round %d: %v", round, err)
		}
		if t.Failed() {
			return
		}
		if got := s.Addrs(); got != nil {
			t.Fatalf("round %d: Addrs() after all CleanUps = %v; want nil", round, got)
		}
	}
}

func fetch(t *testing.T, client *http.Client, addr, path, want string) error {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s while presented: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: read body: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK || string(b) != want {
		return fmt.Errorf("GET %s while presented = %d %q; want 200 %q", path, resp.StatusCode, b, want)
	}
	return nil
}
