package lifecycle

import (
	"errors"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/testenv"
)

// TestSendRevocation against Pebble: without a stored account nothing is
// sent (a *PlanError naming --with-cert-key for a stored certificate); a
// reason the CA refuses is a *PlanError; a revocation succeeds once, and
// again it reports already revoked.
func TestSendRevocation(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Pebble")
	}
	p, eng, o := pebbleObtainer(t)
	s, _ := Merge(nil, Given{Names: client.MustNames("rv.example.test"), Server: &p.DirURL, CABundle: &p.CABundle, Solvers: pebbleHTTP01(p)})
	ctx := testenv.Context(t, 2*time.Minute)
	out, err := o.Obtain(ctx, Plan{Name: "rv", Settings: s, Account: issue.AccountOptions{AcceptTOS: true}})
	if err != nil {
		t.Fatal(err)
	}
	leaf := out.Result.Leaf

	var pe *PlanError
	nobody := *s
	nobody.Account = "nobody"
	if _, err := SendRevocation(ctx, eng, Revocation{Name: "rv", Settings: &nobody, Leaf: leaf}); !errors.As(err, &pe) {
		t.Errorf("revocation without an account = %v; want a PlanError", err)
	}
	if got := p.Count("POST /revoke-cert"); got != 0 {
		t.Fatalf("revocation requests without an account = %d; want 0", got)
	}
	seven := 7
	if _, err := SendRevocation(ctx, eng, Revocation{Name: "rv", Settings: s, Leaf: leaf, Reason: &seven}); !errors.As(err, &pe) {
		t.Errorf("revocation with reason 7 = %v; want a PlanError (the CA refuses the reason)", err)
	}
	superseded := 4
	if already, err := SendRevocation(ctx, eng, Revocation{Name: "rv", Settings: s, Leaf: leaf, Reason: &superseded}); err != nil || already {
		t.Fatalf("revocation = already %v, %v", already, err)
	}
	if already, err := SendRevocation(ctx, eng, Revocation{Name: "rv", Settings: s, Leaf: leaf}); err != nil || !already {
		t.Errorf("second revocation = already %v, %v; want already revoked", already, err)
	}
}
