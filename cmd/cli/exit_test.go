package cli

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/fleet"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/renew"
)

// TestExitCodes: the one mapping from the typed errors of client, store,
// fleet, issue and renew to the documented classes and exit codes
// (docs/troubleshooting.md "By exit code"), also when wrapped.
func TestExitCodes(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("obtain example.test: %w", err) }
	rateLimited := &client.Problem{Type: "urn:ietf:params:acme:error:rateLimited", Status: 429}
	cases := []struct {
		name  string
		err   error
		class string
		code  int
	}{
		{"usage", usagef("--key-type: unknown"), "usage", 2},
		{"lifecycle plan", wrap(&lifecycle.PlanError{Err: errors.New("nothing to migrate")}), "usage", 2},
		{"client config", &client.ConfigError{Msg: "scheme must be https"}, "usage", 2},
		{"missing ca bundle", wrap(&client.ConfigError{Msg: "--ca-bundle: open x: no such file"}), "usage", 2},
		{"untrusted CA TLS certificate", wrap(&client.ConfigError{Msg: "the server's TLS certificate is not trusted"}), "usage", 2},
		{"not a directory", wrap(fmt.Errorf("%w: found keys a, b", client.ErrUnknownDirectory)), "usage", 2},
		{"terms", &issue.TermsError{URL: "https://ca.test/tos"}, "usage", 2},
		{"fleet config", &fleet.ConfigError{Msg: "--etcd-cert and --etcd-key go together"}, "usage", 2},
		{"unsupported", &client.UnsupportedError{Feature: "profile", Dialect: client.DialectRFC8555}, "unsupported", 2},
		{"rate limited", wrap(rateLimited), "rate_limited", 75},
		{"paused account", wrap(&client.PausedError{Problem: rateLimited, UnpauseURL: "https://ca.test/unpause"}), "paused", 1},
		{"CA unavailable", wrap(&client.TemporaryError{Err: errors.New("connection refused")}), "ca_unavailable", 75},
		{"locked", wrap(store.ErrLocked), "locked", 75},
		{"validation", wrap(&client.AuthorizationError{Identifier: client.Identifier{Type: "dns", Value: "a.test"}, Problem: rateLimited}), "validation", 1},
		{"CA refused", wrap(&client.Problem{Type: "urn:ietf:params:acme:error:rejectedIdentifier", Status: 400}), "ca_error", 1},
		{"protocol", wrap(&client.ProtocolError{What: "bad"}), "protocol", 1},
		{"interrupted", wrap(context.Canceled), "interrupted", 130},
		{"backoff", &renew.DeferredError{Until: time.Now(), Msg: "in backoff"}, "backoff", 1},
		{"retry after", &renew.DeferredError{Until: time.Now(), Msg: "asked", CAAsked: true}, "retry_after", 1},
		{"deploy hook", &renew.DeployError{Err: errors.New("exit status 3")}, "deploy_hook", 1},
		{"local", errors.New("disk full"), "local", 1},
		{"explicit", &exitError{code: 75, err: errors.New("x")}, "local", 75},
	}
	for _, tc := range cases {
		if got := errorClass(tc.err); got != tc.class {
			t.Errorf("%s: class %q; want %q", tc.name, got, tc.class)
		}
		if got := exitCode(tc.err); got != tc.code {
			t.Errorf("%s: exit %d; want %d", tc.name, got, tc.code)
		}
	}
	if exitCode(nil) != 0 || errorClass(nil) != "" {
		t.Error("nil error: want exit 0, no class")
	}
}
