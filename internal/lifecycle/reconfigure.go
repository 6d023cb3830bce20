package lifecycle

import (
	"context"
	"fmt"
	"time"
)

// Reorders reports whether reconfigure orders at once for these changes:
// when the names change (other settings apply from the next renewal).
func (c Changes) Reorders() bool { return len(c.Added)+len(c.Removed) > 0 }

// Reconfigure carries out acmectl reconfigure of certificate from with
// plan p, under the locks of from and p.Name: when p.Name differs the
// certificate moves there first (Rename); then, when the names change
// (Changes.Reorders), p is ordered at once (Obtain, forced) and its
// settings are stored once the new certificate is installed; otherwise
// they are stored now, for the next renewal. A p.Name that exists is a
// *PlanError.
func (o *Obtainer) Reconfigure(ctx context.Context, from string, p Plan, lockWait time.Duration) (Outcome, error) {
	st := o.Store
	unlock, err := st.LockCert(ctx, from, lockWait)
	if err != nil {
		return Outcome{}, err
	}
	defer unlock()
	if p.Name != from {
		unlockNew, err := st.LockCert(ctx, p.Name, lockWait)
		if err != nil {
			return Outcome{}, err
		}
		defer unlockNew()
		if st.Exists(p.Name) {
			return Outcome{}, &PlanError{Err: fmt.Errorf("--new-name %q: a certificate with that name exists", p.Name)}
		}
		if err := Rename(st, from, p.Name, p.Settings); err != nil {
			return Outcome{}, err
		}
		o.log().Info("certificate renamed", "from", from, "to", p.Name)
	}
	if !p.Changes.Reorders() {
		return Outcome{}, st.SaveSettings(p.Name, p.Settings)
	}
	p.Force = true
	return o.Obtain(ctx, p)
}
