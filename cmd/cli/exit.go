package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/fleet"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/store"
)

// Exit codes (DESIGN.md "Exit codes and locks").
const (
	ExitOK       = 0
	ExitFailed   = 1
	ExitUsage    = 2
	ExitDeferred = 75
	// ExitInterrupted: SIGINT or SIGTERM stopped the command (128 + 2, as
	// shells report a SIGINT).
	ExitInterrupted = 130
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

// errorClass names err for --json and hooks.
func errorClass(err error) string {
	var ue *usageError
	var te *issue.TermsError
	var le *store.LockedError
	var se *store.SettingsError
	switch {
	case errors.As(err, &ue), errors.As(err, &te), errors.As(err, &se),
		errors.Is(err, client.ErrUnknownDirectory): // wrong --server or --acme-version
		return client.ClassUsage
	case errors.As(err, &le):
		return "locked"
	case fleet.IsUnavailable(err):
		return "storage_unavailable"
	}
	return client.Classify(err)
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
	switch errorClass(err) {
	case client.ClassUsage, client.ClassUnsupported: // unsupported: found before any request
		return ExitUsage
	case client.ClassRateLimited, client.ClassUnavailable, "locked", "storage_unavailable":
		return ExitDeferred
	case client.ClassInterrupted:
		return ExitInterrupted
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
