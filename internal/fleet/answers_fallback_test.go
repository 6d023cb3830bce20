package fleet

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/internal/testenv"
)

// TestFleetAnswerCacheConcurrentMisses: a CA validates by asking several
// times at once. While the cache's watch is not in place (right after an
// etcd outage it waits out its backoff), those concurrent misses for the
// published answer must all be answered by one etcd read; before, only the
// first was and the others were refused as over the fallback rate, so the
// validation failed (seen in TestFleetThreeDaemons after etcd returned).
func TestFleetAnswerCacheConcurrentMisses(t *testing.T) {
	if testing.Short() {
		t.Skip("needs etcd")
	}
	e := testenv.StartEtcd(t)
	h := newTestHost(t, e, "a", "", writeKeyFile(t), nil)
	ctx := testenv.Context(t, time.Minute)
	ch := challenges.Challenge{Token: "missedToken", KeyAuthorization: "missedToken.thumbprint0123456789",
		Identifier: challenges.Identifier{Type: challenges.IdentifierDNS, Value: "fleet.example.com"}}
	lk, err := h.h.Fleet.LockCert(ctx, "fleet", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lk.Unlock)
	k := publishAnswer(t, ctx, lk, challenges.HTTP01, ch)
	other, _, err := h.h.Fleet.answerKey(challenges.HTTP01, challenges.Challenge{Token: "otherToken", KeyAuthorization: "otherToken.thumbprint0123456789", Identifier: ch.Identifier})
	if err != nil {
		t.Fatal(err)
	}
	c := newAnswerCache(h.h.Fleet, slog.New(slog.DiscardHandler)) // no watch: every lookup misses the cache

	before := etcdRanges(t, e)
	const asks = 3
	var wg sync.WaitGroup
	found := make([]bool, asks)
	for i := range asks {
		wg.Go(func() {
			a, ok := c.lookup(ctx, k)
			found[i] = ok && a.KeyAuth == ch.KeyAuthorization
		})
	}
	wg.Wait()
	reads := etcdRanges(t, e) - before
	if _, ok := c.lookup(ctx, other); ok {
		t.Error("an unpublished key was answered")
	}
	for i, ok := range found {
		if !ok {
			t.Errorf("concurrent miss %d of %d not answered", i+1, asks)
		}
	}
	if reads != 1 {
		t.Errorf("%d concurrent misses cost %d etcd reads; want 1", asks, reads)
	}
}
