package lifecycle

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/store"
)

// Revocation is one revocation request (acmectl revoke, delete --revoke).
type Revocation struct {
	// Name is the stored certificate revoked, "" for a certificate file.
	Name string
	// Settings give the server, its CA bundle and the account.
	Settings *store.Settings
	Leaf     *x509.Certificate
	// CertKey, if set, signs the request instead of the account.
	CertKey crypto.Signer
	// Reason is the RFC 5280 reason code to send (nil: none).
	Reason *int
	// Account loads the account (its Label comes from Settings).
	Account issue.AccountOptions
}

// SendRevocation asks the CA to revoke r.Leaf, signed with r.CertKey or
// else the settings' account, which must be stored: there is never a
// silent switch to the certificate's key (at Let's Encrypt that means
// keyCompromise and a blocked key). already is true when the CA says the
// certificate was revoked before (a success too). A request that cannot
// be made as given (an unusable CA bundle, no account to sign it) or that
// the CA refuses as given (a reason it does not accept) is a *PlanError.
func SendRevocation(ctx context.Context, eng *issue.Engine, r Revocation) (already bool, err error) {
	c, err := eng.Client(r.Settings)
	if err != nil {
		return false, &PlanError{Err: err}
	}
	var acct *client.Account
	if r.CertKey == nil {
		label := r.Settings.Account
		if label == "" {
			label = "default"
		}
		rec, _, err := eng.Store.LoadAccount(r.Settings.Server, label)
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && rec.URL == ""):
			how := "--key FILE (the certificate's key)"
			if r.Name != "" {
				how = "--with-cert-key (sign with the stored certificate's key)"
			}
			return false, &PlanError{Err: fmt.Errorf("no account %q for %s to sign the revocation: pass --account, or %s; signed with the certificate key, Let's Encrypt records keyCompromise and blocks the key", label, r.Settings.Server, how)}
		case err != nil:
			return false, err
		}
		opts := r.Account
		opts.Label = label
		if acct, err = eng.Account(ctx, c, r.Settings, opts); err != nil {
			return false, err
		}
	}
	err = c.Revoke(ctx, acct, r.CertKey, r.Leaf.Raw, r.Reason)
	var p *client.Problem
	if errors.As(err, &p) && p.Has(client.ProblemAlreadyRevoked) {
		return true, nil
	}
	if errors.As(err, &p) && p.Has(client.ProblemBadRevocationReason) {
		return false, &PlanError{Err: err}
	}
	return false, err
}
