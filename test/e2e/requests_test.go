package e2e

import (
	"fmt"
	"testing"

	"github.com/acmectl/acmectl/internal/testenv"
)

// TestRequestCounts counts, on Pebble's side (validation instant), the
// requests of one order of N names with an existing account. The protocol
// needs the directory, a nonce, newOrder, per name one authorization fetch
// and one challenge POST, finalize and the certificate; acmectl then polls
// the order (one poll covers every authorization) rather than each
// authorization, so an order costs 2N+5 plus its order polls: 9 for one
// name, and never more than 3N+6 (one authorization poll per name, one
// order poll) when the CA answers at once. Authorizations fetched in
// parallel wait for the nonce of an answer in flight rather than asking
// newNonce for more (client/nonce.go).
func TestRequestCounts(t *testing.T) {
	// No nonce rejected on purpose (Pebble's default rejects 5%).
	l := newLab(t, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	if r := run(t, nil, l.args("obtain", append(l.http01(), "-d", "account.requests.example.test")...)...); r.code != 0 {
		t.Fatalf("first obtain: exit %d", r.code)
	}
	for _, n := range []int{1, 10} {
		args := l.http01()
		for i := range n {
			args = append(args, "-d", fmt.Sprintf("n%d-%02d.requests.example.test", n, i))
		}
		l.p.ResetCounts()
		if r := run(t, nil, l.args("obtain", args...)...); r.code != 0 {
			t.Fatalf("obtain of %d names: exit %d", n, r.code)
		}
		c := l.p.Counts()
		once := map[string]int{"GET /dir": 1, "POST /order-plz": 1, "POST /finalize-order": 1, "POST /certZ": 1,
			"POST /authZ": n, "POST /chalZ": n}
		for k, want := range once {
			if c[k] != want {
				t.Errorf("N=%d: %s = %d; want %d (counts %v)", n, k, c[k], want, c)
			}
		}
		polls := c["POST /my-order"]
		if polls < 2 {
			t.Errorf("N=%d: %d order polls; want at least 2 (pending, then processing)", n, polls)
		}
		// The authorizations are fetched 4 at a time; each waits for the
		// nonce of an answer in flight instead of asking newNonce (unless
		// the CA is slower than 100 ms, which a loaded machine can be).
		nonces := c["HEAD /nonce-plz"]
		if nonces < 1 {
			t.Errorf("N=%d: no newNonce request", n)
		}
		// Polls beyond the two an instantly answering CA needs are the
		// CA's delay, not acmectl's cost.
		total := c["total"]
		if total != 2*n+4+nonces+polls || total-(polls-2) > 3*n+6 {
			t.Errorf("N=%d: %d requests (%d newNonce, %d order polls); want 2N+4+those and, with 2 polls, at most 3N+6 = %d (counts %v)", n, total, nonces, polls, 3*n+6, c)
		}
		// One name: 9 requests, plus an order poll for each time the
		// order was still pending (a loaded machine can make Pebble's
		// instant validation take longer than the first 15 ms wait).
		if n == 1 && (nonces != 1 || total != 7+polls) {
			t.Errorf("one name: %d requests (%d newNonce, %d order polls); want 9 = 7 + 2 polls", total, nonces, polls)
		}
	}
}
