package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

// TestPendingOrderFailed: issue 13 item 9. A stored order whose last
// attempt failed for good (a failed authorization, a refused finalize:
// the CA's verdict recorded after the order was created) is not shown as
// "in progress" (state written by a version that kept such orders, or a
// failure recorded while the order could not be dropped).
func TestPendingOrderFailed(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		class    string
		progress bool
	}{
		{"validation", false},
		{"ca_error", false},
		{"ca_unavailable", true}, // a 5xx: the order may still complete
		{"", true},
	} {
		t.Run(tc.class, func(t *testing.T) {
			_, st := storedCert(t)
			state := &store.State{PendingOrder: &store.PendingOrder{URL: "https://ca.example.test/order/1", DirectoryURL: "https://ca.example.test/dir",
				Account: "default", Names: client.MustNames("a.example.test"), Created: now.Add(-time.Hour)}}
			if tc.class != "" {
				state.LastError = &store.LastError{Class: tc.class, Message: "authorization for a.example.test failed", Time: now.Add(-time.Minute)}
			}
			if err := st.SaveState("a.example.test", state); err != nil {
				t.Fatal(err)
			}
			ci := loadCertInfo(st, "a.example.test", now)
			if got := strings.Contains(ci.Reason, "in progress"); got != tc.progress {
				t.Errorf("reason %q: in progress = %v; want %v", ci.Reason, got, tc.progress)
			}
		})
	}
}
