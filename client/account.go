package client

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"time"
)

// Register creates an account for key, or returns the existing one for it
// (RFC 8555 §7.3: newAccount answers 200 with the existing account). With
// opts.OnlyReturnExisting it never creates and returns ErrAccountNotFound
// when the CA has none. Round trips: directory (once), nonce (if none
// pooled), one POST.
func (c *Client) Register(ctx context.Context, key crypto.Signer, opts RegisterOptions) (*Account, error) {
	d, err := c.dialect(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := SigningAlgorithm(key); err != nil {
		return nil, err
	}
	return d.register(ctx, key, opts)
}

// LookupAccount finds the account for key without creating one
// (onlyReturnExisting); ErrAccountNotFound when there is none.
func (c *Client) LookupAccount(ctx context.Context, key crypto.Signer) (*Account, error) {
	return c.Register(ctx, key, RegisterOptions{OnlyReturnExisting: true})
}

// FetchAccount refreshes a from the server (one POST).
func (c *Client) FetchAccount(ctx context.Context, a *Account) error {
	d, err := c.dialect(ctx)
	if err != nil {
		return err
	}
	return d.fetchAccount(ctx, a)
}

// UpdateAccount replaces the account's contacts (one POST).
func (c *Client) UpdateAccount(ctx context.Context, a *Account, contact []string) error {
	d, err := c.dialect(ctx)
	if err != nil {
		return err
	}
	return d.updateAccount(ctx, a, contact)
}

// DeactivateAccount deactivates the account for good (one POST).
func (c *Client) DeactivateAccount(ctx context.Context, a *Account) error {
	d, err := c.dialect(ctx)
	if err != nil {
		return err
	}
	return d.deactivateAccount(ctx, a)
}

// ChangeKey rolls the account over to newKey (RFC 8555 §7.3.5, or the v1
// key-change). a.Key changes only after the CA accepted the new key.
func (c *Client) ChangeKey(ctx context.Context, a *Account, newKey crypto.Signer) error {
	d, err := c.dialect(ctx)
	if err != nil {
		return err
	}
	if _, err := SigningAlgorithm(newKey); err != nil {
		return err
	}
	return d.changeKey(ctx, a, newKey)
}

// Revoke revokes a certificate (DER leaf), signed with the account key
// (certKey nil) or the certificate's own key. reason nil omits it.
func (c *Client) Revoke(ctx context.Context, a *Account, certKey crypto.Signer, certDER []byte, reason *int) error {
	d, err := c.dialect(ctx)
	if err != nil {
		return err
	}
	if a == nil && certKey == nil {
		return errors.New("revoke: need the account or the certificate key")
	}
	return d.revoke(ctx, a, certKey, certDER, reason)
}

// RenewalInfo fetches and parses the ARI renewal information of cert
// (RFC 9773), returning the server's Retry-After too. It returns an
// *UnsupportedError when the server has no renewalInfo, ErrNoAKI (wrapped)
// for a certificate without an ARI identity, and a *RenewalInfoError for a
// body that breaks the rules.
func (c *Client) RenewalInfo(ctx context.Context, cert *x509.Certificate) (*RenewalInfo, time.Time, error) {
	d, err := c.dialect(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	r, ok := d.(*rfc8555)
	if !ok || r.dir.RenewalInfo == "" {
		return nil, time.Time{}, &UnsupportedError{Feature: "ARI (renewalInfo)", Dialect: d.name()}
	}
	id, err := CertID(cert)
	if err != nil {
		return nil, time.Time{}, err
	}
	body, retryAt, err := r.renewalInfo(ctx, id)
	if err != nil {
		return nil, time.Time{}, err
	}
	ri, err := ParseRenewalInfo(body)
	if err != nil {
		return nil, time.Time{}, err
	}
	return ri, retryAt, nil
}
