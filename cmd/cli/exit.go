package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/fleet"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/renew"
)

// Exit codes (docs/troubleshooting.md "By exit code").
const (
	ExitOK       = 0
	ExitFailed   = 1
	ExitUsage    = 2
	ExitDeferred = 75
	// ExitInterrupted: SIGINT or SIGTERM stopped the command (128 + 2, as
	// shells report a SIGINT).
	ExitInterrupted = 130
)

// Error classes: the "class" of --json error documents, of renew results,
// of the last error in state.json and of the failure hooks' environment.
// errorClass is the one place that gives them, from the typed errors of
// client, store, fleet, issue, lifecycle and renew; exitCode turns them into codes.
const (
	classUsage       = "usage"          // bad input or configuration, before any request
	classUnsupported = "unsupported"    // the server's dialect or directory lacks a feature
	classValidation  = "validation"     // a challenge failed
	classRateLimited = "rate_limited"   // the CA said: retry later
	classUnavailable = "ca_unavailable" // network error, 5xx, timeouts
	classProtocol    = "protocol"       // the CA's response broke the protocol
	classCA          = "ca_error"       // the CA refused (problem document)
	classPaused      = "paused"         // the CA needs a person to act (unpause) first
	classInterrupted = "interrupted"    // SIGINT or SIGTERM
	classLocked      = "locked"         // the certificate's lock is held
	classStorage     = "storage_unavailable"
	classDeployHook  = "deploy_hook"
	classBackoff     = "backoff"     // held back by local backoff
	classRetryAfter  = "retry_after" // held back by the CA's Retry-After
	classLocal       = "local"       // local I/O, solver setup, anything else
)

// usageError is bad input found before any certificate was processed.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitError carries an explicit exit code (and may be silent when the
// command already reported).
type exitError struct {
	code   int
	err    error
	silent bool
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// errorClass names err for --json, hooks and state.json.
func errorClass(err error) string {
	var (
		ue  *usageError
		te  *issue.TermsError
		le  *store.LockedError
		se  *store.SettingsError
		fce *fleet.ConfigError
		cce *client.ConfigError
		pz  *client.PausedError
		uns *client.UnsupportedError
		ae  *client.AuthorizationError
		pe  *client.ProtocolError
		p   *client.Problem
		de  *renew.DeferredError
		dpe *renew.DeployError
		pln *lifecycle.PlanError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ue), errors.As(err, &te), errors.As(err, &se), errors.As(err, &fce), errors.As(err, &pln),
		errors.As(err, &cce),                       // a Config that cannot work (an untrusted CA certificate too)
		errors.Is(err, client.ErrUnknownDirectory): // wrong --server or --acme-version
		return classUsage
	case errors.As(err, &le), errors.Is(err, store.ErrLocked):
		return classLocked
	case fleet.IsUnavailable(err):
		return classStorage
	case errors.As(err, &de):
		if de.CAAsked {
			return classRetryAfter
		}
		return classBackoff
	case errors.As(err, &dpe):
		return classDeployHook
	case errors.As(err, &pz):
		return classPaused
	case errors.As(err, &uns):
		return classUnsupported
	case errors.As(err, &ae):
		return classValidation
	case client.RateLimited(err):
		return classRateLimited
	case client.Temporary(err):
		return classUnavailable
	case errors.As(err, &pe):
		return classProtocol
	case errors.As(err, &p):
		return classCA
	case errors.Is(err, context.Canceled):
		return classInterrupted
	}
	return classLocal
}

// deferredClass: a failure of this class is retried later without a
// change (exit 75).
func deferredClass(class string) bool {
	switch class {
	case classRateLimited, classUnavailable, classLocked, classStorage:
		return true
	}
	return false
}

// exitCode maps an error to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	switch class := errorClass(err); {
	case class == classUsage, class == classUnsupported: // unsupported: found before any request
		return ExitUsage
	case class == classInterrupted:
		return ExitInterrupted
	case deferredClass(class):
		return ExitDeferred
	}
	return ExitFailed
}

// retryHint says when to try again for deferred errors.
func retryHint(err error) string {
	if t := client.RetryAfterOf(err); !t.IsZero() {
		return " (retry after " + t.UTC().Format(time.RFC3339) + ")"
	}
	return ""
}
