package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/internal/store"
)

type showOptions struct{ certName string }

func newShowCmd(a *app) *cobra.Command {
	opts := &showOptions{}
	cmd := &cobra.Command{
		Use: "show NAME",
		Example: `  acmectl show example.com
  acmectl show www.example.com      # found by any of its domain names
  acmectl show example.com --json`,
		Short: "Show one stored certificate: expiry, next renewal and why, last error",
		Long: `Show one certificate (also --cert-name NAME): names, key type, issuer, serial,
validity, the next renewal time and why (ARI window or lifetime rule), server,
account, the last error with backoff and the CA's Retry-After, pending deploy hooks
and the stable paths. Read-only: no lock, no network.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if opts.certName != "" && opts.certName != args[0] {
					return usagef("show: give the name once (argument or --cert-name)")
				}
				opts.certName = args[0]
			}
			return run(cmd.Context(), a, opts, a.runShow)
		},
	}
	cmd.Flags().StringVar(&opts.certName, "cert-name", "", "the certificate to show")
	return cmd
}

func (a *app) runShow(_ context.Context, o *showOptions) error {
	name := o.certName
	if name == "" {
		return usagef("show: which certificate? acmectl show NAME (see acmectl list)")
	}
	if err := store.ValidCertName(name); err != nil {
		return usagef("%q is not a certificate name: must match ^[a-z0-9][a-z0-9._-]{0,127}$", name)
	}
	st, err := a.openStore()
	if err != nil {
		return err
	}
	if !st.Exists(name) {
		found, err := certsForDomain(st, name)
		switch {
		case err != nil:
			return err
		case len(found) == 1:
			name = found[0]
		case len(found) > 1:
			return usagef("%s is a name of several certificates: %s (acmectl show NAME)", name, strings.Join(found, ", "))
		default:
			return usagef("no certificate %s in %s (see acmectl list)%s", name, st.Root(), a.rootStateHint())
		}
	}
	ci := loadCertInfo(st, name, a.env.Now())
	settings, _ := st.LoadSettings(name)
	if p, err := st.CurrentPaths(name); err == nil {
		ci.Paths = map[string]string{"cert": p.Cert, "chain": p.Chain, "fullchain": p.Fullchain}
		if p.PrivKey != "" {
			ci.Paths["privkey"] = p.PrivKey
		}
	}
	if a.g.json {
		return a.writeJSON(map[string]any{"certificate": ci})
	}
	w := a.env.Stdout
	line := func(k, v string) { fmt.Fprintf(w, "%-15s %s\n", k+":", v) }
	line("Certificate", ci.Name)
	line("Domains", dash(strings.Join(ci.Names.Strings(), ", ")))
	line("Key type", dash(ci.KeyType))
	line("Issuer", dash(ci.Issuer))
	line("Serial", dash(ci.Serial))
	line("Not before", fmtT(ci.NotBefore))
	line("Not after", fmtT(ci.NotAfter))
	if ci.Version > 0 {
		line("Version", fmt.Sprint(ci.Version))
	}
	line("Next renewal", fmtT(ci.NextRenewal)+" ("+dash(ci.Reason)+")")
	if ci.ARI != nil && !ci.ARI.WindowStart.IsZero() {
		line("ARI window", ci.ARI.WindowStart.UTC().Format(time.RFC3339)+" – "+ci.ARI.WindowEnd.UTC().Format(time.RFC3339))
		if ci.ARI.ExplanationURL != "" {
			line("ARI note", ci.ARI.ExplanationURL)
		}
	}
	if ci.ARI != nil && !ci.ARI.NextFetch.IsZero() {
		line("ARI re-check", ci.ARI.NextFetch.UTC().Format(time.RFC3339))
	}
	line("Server", dash(ci.Server))
	line("Account", dash(ci.Account))
	line("Last success", fmtT(ci.LastSuccess))
	if ci.LastError != nil {
		line("Last error", fmt.Sprintf("%s [%s] %s", ci.LastError.Time.UTC().Format(time.RFC3339), ci.LastError.Class, ci.LastError.Message))
	} else {
		line("Last error", "-")
	}
	if ci.Backoff != nil {
		line("Backoff", fmt.Sprintf("%d failures, next attempt %s", ci.Backoff.Failures, ci.Backoff.NextAttempt.UTC().Format(time.RFC3339)))
	}
	if ci.RetryAfter != nil {
		line("CA retry after", fmtT(ci.RetryAfter))
	}
	dp := "no"
	if ci.DeployPending {
		dp = "yes (run acmectl deploy --cert-name " + ci.Name + ")"
	}
	line("Deploy pending", dp)
	if ci.Revoked {
		line("Revoked", "yes (the next order uses a fresh key)")
	}
	if ci.PendingOrder != "" {
		line("Pending order", ci.PendingOrder)
	}
	if ci.Problem != "" {
		line("Problem", ci.Problem)
	}
	if settings != nil {
		line("Renews with", dash(strings.Join(solverSummary(settings), "; ")))
		for _, h := range []struct {
			event string
			argvs [][]string
		}{{"Pre hook", settings.Hooks.Pre}, {"Deploy hook", settings.Hooks.Deploy}, {"Post hook", settings.Hooks.Post}, {"Failure hook", settings.Hooks.Failure}} {
			for _, argv := range h.argvs {
				line(h.event, argvString(argv))
			}
		}
	}
	for _, n := range ci.NotImported {
		line("Not imported", n)
	}
	for _, k := range []string{"fullchain", "privkey", "cert", "chain"} {
		if p, ok := ci.Paths[k]; ok {
			line(strings.ToUpper(k[:1])+k[1:], p)
		}
	}
	return nil
}

// certsForDomain returns the certificates whose names include domain (as
// given to -d: lowercase, IDNA), so that "show www.example.com" finds the
// certificate example.com that carries it.
func certsForDomain(st *store.Dir, domain string) ([]string, error) {
	want, err := normalizeName(domain)
	if err != nil {
		return nil, nil
	}
	names, err := st.List()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		s, err := st.LoadSettings(n)
		if err != nil {
			continue
		}
		if s.Names.Contains(want) {
			out = append(out, n)
		}
	}
	return out, nil
}

// solverSummary says in words how a certificate's challenges will be
// answered at its next renewal.
func solverSummary(s *store.Settings) []string {
	var out []string
	if len(s.HTTP01Addrs) > 0 {
		out = append(out, "http-01 responder on "+strings.Join(s.HTTP01Addrs, ", "))
	}
	if s.Webroot != "" {
		out = append(out, "webroot "+s.Webroot)
	}
	if len(s.TLSALPN01Addrs) > 0 {
		out = append(out, "tls-alpn-01 responder on "+strings.Join(s.TLSALPN01Addrs, ", "))
	}
	if s.DNS.Provider != "" {
		out = append(out, "dns-01 "+s.DNS.Provider)
	}
	for ident, solvers := range sortedSolvers(s.Solvers) {
		out = append(out, ident+" → "+strings.Join(solvers, ", "))
	}
	return out
}

// sortedSolvers iterates a per-identifier solver map in name order.
func sortedSolvers(m map[string][]string) func(func(string, []string) bool) {
	return func(yield func(string, []string) bool) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}

// argvString shows a hook's argv as it could be typed again: arguments
// with spaces or quotes single-quoted.
func argvString(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t'\"\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
