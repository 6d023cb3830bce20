package renew

import (
	"testing"
	"time"
)

func TestARIRetry(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		ok   bool
		want time.Duration
	}{
		{"typical 6h", 6 * time.Hour, true, 6 * time.Hour},
		{"1s clamps to 1m", time.Second, true, time.Minute},
		{"negative clamps to 1m", -time.Hour, true, time.Minute},
		{"10 days clamps to 1 day", 10 * day, true, day},
		{"exactly 1m", time.Minute, true, time.Minute},
		{"exactly 1d", day, true, day},
		{"missing: long-term error", time.Second, false, 6 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NextARIFetch(t0, tc.d, tc.ok); !got.Equal(t0.Add(tc.want)) {
				t.Errorf("NextARIFetch(t0, %v, %v) = t0+%v; want t0+%v", tc.d, tc.ok, got.Sub(t0), tc.want)
			}
		})
	}
}
