package client

import (
	"context"
	"crypto"
)

// dialect is one wire protocol: RFC 8555 (rfc8555.go), or legacy ACME v1
// (client/v1*.go, deletable with the one line in chooseDialect that
// builds it). The order workflow (order.go) and the account operations
// (account.go) talk only to this interface and never ask which dialect
// they have: a dialect without orders emulates one (Order.ext holds its
// state), and what a dialect cannot do is in Directory.Supports, set when
// it is chosen. Every method makes the network round trips it names and
// returns *Problem (possibly wrapped in *TemporaryError) for the server's
// refusals.
type dialect interface {
	name() string

	// register creates the account, or finds the existing one for the key
	// (opts.OnlyReturnExisting: never creates; ErrAccountNotFound if none).
	register(ctx context.Context, key crypto.Signer, opts RegisterOptions) (*Account, error)
	fetchAccount(ctx context.Context, a *Account) error
	updateAccount(ctx context.Context, a *Account, contact []string) error
	deactivateAccount(ctx context.Context, a *Account) error
	// changeKey rolls the account over to newKey; a.Key is updated only
	// after the server accepted it.
	changeKey(ctx context.Context, a *Account, newKey crypto.Signer) error

	// newOrder starts an order (v1: one new-authz per identifier).
	newOrder(ctx context.Context, a *Account, req *OrderRequest) (*Order, error)
	// fetchOrder reads o afresh (o may be just a stored URL); an order
	// that cannot be read again is ErrOrderNotResumable.
	fetchOrder(ctx context.Context, a *Account, o *Order) (*Order, error)
	fetchAuthorization(ctx context.Context, a *Account, url string) (*Authorization, error)
	// acceptChallenge tells the CA to validate ch.
	acceptChallenge(ctx context.Context, a *Account, ch *Challenge, keyAuth string) error
	// finalize submits the CSR; afterwards o.Status is valid (certificate
	// available) or processing (poll fetchOrder).
	finalize(ctx context.Context, a *Account, o *Order, csr []byte) error
	// fetchCertificate downloads the chain (and the alternates if asked).
	fetchCertificate(ctx context.Context, a *Account, o *Order, alternates bool) (chain [][]byte, alts [][][]byte, err error)

	// revoke revokes certDER, signed by the account (a != nil) or by the
	// certificate's own key (certKey != nil).
	revoke(ctx context.Context, a *Account, certKey crypto.Signer, certDER []byte, reason *int) error
}
