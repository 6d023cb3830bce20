package issue

import (
	"errors"
	"fmt"

	"github.com/acmectl/acmectl/client"
)

// AccountLostError is an order refused because the CA no longer accepts
// the stored account: it lost it (a database or staging reset answers
// accountDoesNotExist) or the account was deactivated or revoked
// elsewhere. Every later run would fail the same way; the message names
// the command that registers a new account under the same label.
type AccountLostError struct {
	Server, Label, URL string
	// Status is "deactivated" or "revoked", or "" when the CA does not
	// know the account.
	Status string
	Err    error
}

func (e *AccountLostError) Error() string {
	what := "no longer knows"
	if e.Status != "" {
		what = "has " + e.Status
	}
	return fmt.Sprintf("%v; the CA %s account %q (%s): register a new one under the same label with: %s",
		e.Err, what, e.Label, client.Sanitize(e.URL, 300), ReplaceAccountCommand(e.Server, e.Label))
}

func (e *AccountLostError) Unwrap() error { return e.Err }

// ReplaceAccountCommand is the command that registers a new account under
// label in place of one the CA lost or deactivated.
func ReplaceAccountCommand(server, label string) string {
	if label == "" {
		label = "default"
	}
	return "acmectl account register --replace --server " + server + " --account " + label
}

// accountLost wraps err in an *AccountLostError when the CA refused the
// account acct itself.
func accountLost(err error, server, label string, acct *client.Account) error {
	var ag *client.AccountGoneError
	if !errors.As(err, &ag) {
		return err
	}
	url := ""
	if acct != nil {
		url = acct.URL
	}
	return &AccountLostError{Server: server, Label: label, URL: url, Status: ag.Status, Err: err}
}
