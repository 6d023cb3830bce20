package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/acmectl/acmectl/internal/testenv"
)

// TestNonceStorm: Pebble rejects half of all nonces (PEBBLE_WFE_NONCEREJECT
// =50); N issuances in a row must all succeed, counted on Pebble's side (N
// finalizes answered 200, N orders). N is 20 here and 200 under
// `make test-long` (ACMECTL_NONCESTORM_N=200).
func TestNonceStorm(t *testing.T) {
	t.Parallel() // own servers and state; long, so it runs beside the others (docs/dev/testing.md)
	if testing.Short() {
		t.Skip("needs Pebble")
	}
	n := 20
	if s := os.Getenv("ACMECTL_NONCESTORM_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("ACMECTL_NONCESTORM_N=%q", s)
		}
		n = v
	}
	l := newLab(t, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "50"}})
	failed := 0
	for i := range n {
		name := fmt.Sprintf("storm%03d.example.test", i)
		r := run(t, nil, l.args("obtain", append(l.http01(), "-d", name, "--quiet")...)...)
		if r.code != 0 {
			failed++
			t.Errorf("issuance %d: exit %d: %s", i, r.code, r.stderr)
		}
	}
	counts := l.p.Counts()
	rejected := 0
	for k, v := range counts {
		if strings.HasPrefix(k, "POST ") && strings.HasSuffix(k, " 400") {
			rejected += v
		}
	}
	if got := l.p.Count("POST /finalize-order 200"); got != n {
		t.Errorf("certificates issued (finalize 200) = %d; want %d", got, n)
	}
	if got := l.p.Count("POST /order-plz 201"); got != n {
		t.Errorf("orders = %d; want %d", got, n)
	}
	if rejected == 0 {
		t.Error("Pebble rejected no nonce: the storm did not happen")
	}
	t.Logf("figures: %d/%d issuances under PEBBLE_WFE_NONCEREJECT=50; %d POSTs rejected (badNonce) out of %d POSTs",
		n-failed, n, rejected, postCount(counts))
}

func postCount(c map[string]int) int {
	total := 0
	for k, v := range c {
		if strings.HasPrefix(k, "POST ") && strings.Count(k, " ") == 1 {
			total += v
		}
	}
	return total
}
