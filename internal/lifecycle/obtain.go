package lifecycle

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/renew"
)

// Obtainer runs obtain (and reconfigure's reorder), locally or in a
// fleet. Build one per run.
type Obtainer struct {
	// Store is the local state dir.
	Store *store.Dir
	// Storage keeps the certificate Obtain orders: nil for Local{Store},
	// or a fleet's (internal/fleet.ObtainStorage).
	Storage Storage
	Engine  *issue.Engine
	Hooks   *hook.Manager
	Logger  *slog.Logger
	Now     func() time.Time
	// Classify names an error's class for state.json's last error.
	Classify func(error) string
	// Policy decides whether the certificate is current, as renew does.
	Policy renew.Policy
}

// Plan is one validated obtain: the merged settings of certificate Name
// (Merge) and how they differ from the stored ones.
type Plan struct {
	Name string
	// Stored are the settings before this command; nil for a certificate
	// that was never issued.
	Stored *store.Settings
	// Settings are the settings after it (Merge's result).
	Settings *store.Settings
	Changes  Changes
	// Force orders even when the certificate is current.
	Force bool
	// DryRun orders without writing anything, from DryRunServer's server.
	DryRun bool
	// Staged, if set, hears before a dry run's order that it goes to
	// server instead of the settings' one (DryRunServer).
	Staged func(server string)
	// Account is used when an account must be registered (its Label is
	// taken from Settings).
	Account issue.AccountOptions
	// NotBefore/NotAfter ask for a validity window for this order only.
	NotBefore, NotAfter time.Time
	Progress            func(client.Event)
	// Installed, if set, runs once the new version is installed, before
	// the deploy hooks (obtain writes its --pkcs12 export there).
	Installed func(*issue.Result) error
}

// PlanError is a plan that cannot be carried out as given (a usage
// error: nothing was sent or written).
type PlanError struct{ Err error }

func (e *PlanError) Error() string { return e.Err.Error() }
func (e *PlanError) Unwrap() error { return e.Err }

// Outcome is what Obtain did.
type Outcome struct {
	// Ordered is false when the certificate was current (NotAfter says
	// until when) and only renewal settings were stored.
	Ordered  bool
	NotAfter time.Time
	// Result is the issuance (nil when nothing was ordered).
	Result *issue.Result
	// Server is the server ordered from: the settings' one, or for a dry
	// run DryRunServer's.
	Server string
	// InstalledErr and DeployErr: the certificate is installed, but the
	// Installed callback or a deploy hook failed (deploy_pending is set).
	InstalledErr, DeployErr error
}

func (o *Obtainer) storage() Storage {
	if o.Storage != nil {
		return o.Storage
	}
	return Local{Dir: o.Store}
}

func (o *Obtainer) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Obtainer) log() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// Obtain carries out p; the caller holds the certificate's lock
// (docs/renewal.md "obtain on an existing certificate"):
//
//   - settings that shape the certificate unchanged, the certificate
//     current and not forced: nothing is ordered; changed renewal settings
//     are stored now;
//   - else an order (sending replaces where it applies); the settings are
//     stored once the new certificate is issued, right before it is
//     installed, then the deploy hooks run;
//   - a failed first order leaves no certificate entry (a certificate
//     exists once it has been issued); a failed later one records the
//     error in state.json and changes nothing else.
func (o *Obtainer) Obtain(ctx context.Context, p Plan) (Outcome, error) {
	st := o.storage()
	s := p.Settings
	if p.DryRun {
		var staged bool
		if s, staged = dryRunSettings(s); staged && p.Staged != nil {
			p.Staged(s.Server)
		}
	}
	state, err := st.State(ctx, p.Name)
	if err != nil {
		return Outcome{}, err
	}
	var current *x509.Certificate
	if p.Stored != nil {
		if current, err = st.Current(ctx, p.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
			o.log().Debug("current certificate unreadable; ordering", "cert_name", p.Name, "err", err)
		}
	}
	if current != nil && len(p.Changes.Shaping) == 0 && !p.Force && !state.Revoked && !p.DryRun &&
		o.Policy.Current(state, current.NotBefore, current.NotAfter, o.now()) {
		if len(p.Changes.RenewalOnly) > 0 {
			if err := st.SaveSettings(ctx, p.Name, s); err != nil {
				return Outcome{}, err
			}
		}
		return Outcome{NotAfter: current.NotAfter}, nil
	}

	// The run's engine knows whether a person is at the terminal: a manual
	// DNS solver off a terminal is refused here, before anything.
	if _, err := o.Engine.Solvers(s); err != nil {
		return Outcome{}, &PlanError{Err: err}
	}
	acct := p.Account
	acct.Label = s.Account
	if len(s.Email) > 0 {
		// A new account (say, at the production server after staging)
		// gets the contacts the settings keep, as at renewal.
		acct.Email = s.Email
	}
	req := issue.Request{Name: p.Name, Settings: s, State: state, Account: acct, DryRun: p.DryRun,
		Progress: p.Progress, NotBefore: p.NotBefore, NotAfter: p.NotAfter, Replaces: current}
	isNew := p.Stored == nil
	if !p.DryRun {
		// The settings are stored once the certificate is issued, right
		// before the install: a crash during the install leaves a
		// certificate a rerun (or renew) completes.
		req.OnIssued = func() error { return st.SaveSettings(ctx, p.Name, s) }
	}
	hc := HookCert(p.Name, s)
	o.Hooks.Pre(ctx, hc)
	res, err := st.Issue(ctx, o.Engine, req)
	if err != nil {
		switch {
		case p.DryRun:
		case isNew:
			// Nothing renew would pick up; the account stays.
			if derr := st.Forget(context.WithoutCancel(ctx), p.Name); derr != nil {
				o.log().Warn("remove what the failed first order left", "cert_name", p.Name, "err", derr)
			}
		default:
			o.recordFailure(ctx, p.Name, state, err)
		}
		o.Hooks.Failure(ctx, hc, err)
		o.Hooks.Post(ctx, nil, []string{p.Name})
		return Outcome{}, err
	}
	out := Outcome{Ordered: true, Result: res, NotAfter: res.Leaf.NotAfter, Server: s.Server}
	if !p.DryRun {
		if p.Installed != nil {
			out.InstalledErr = p.Installed(res)
		}
		out.DeployErr = st.Deploy(ctx, o.Hooks, hc, res)
	}
	o.Hooks.Post(ctx, []string{p.Name}, nil)
	return out, nil
}

// recordFailure stores a failed order of an existing certificate in its
// state: the last error and the CA's Retry-After.
func (o *Obtainer) recordFailure(ctx context.Context, name string, state *store.State, err error) {
	now := o.now()
	class := ""
	if o.Classify != nil {
		class = o.Classify(err)
	}
	ra := client.RetryAfterOf(err)
	state.LastAttempt = now
	state.LastError = &store.LastError{Class: class, Message: strings.ReplaceAll(strings.ReplaceAll(err.Error(), "\n", " "), "\r", " "), Time: now, RetryAfter: ra}
	if !ra.IsZero() {
		state.RetryAfter = ra
	}
	if serr := o.storage().SaveState(context.WithoutCancel(ctx), name, state); serr != nil {
		o.log().Warn("record failure", "cert_name", name, "err", serr)
	}
}

// LeafOf parses the first certificate of a PEM file.
func LeafOf(pemData []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(pemData)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}
