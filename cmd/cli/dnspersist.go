package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/dnspersist01"
	"github.com/acmectl/acmectl/internal/store"
)

type dnsPersistOptions struct {
	domain       string
	wildcard     bool
	issuer       string
	persistUntil string
	check        bool
	resolvers    []string
}

func newDNSPersistCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dns-persist",
		Short: "Records for dns-persist-01 (a TXT record published once per account and CA)",
	}
	cmd.AddCommand(newDNSPersistRecordCmd(a))
	return cmd
}

func newDNSPersistRecordCmd(a *app) *cobra.Command {
	opts := &dnsPersistOptions{}
	cmd := &cobra.Command{
		Use:   "record -d NAME",
		Short: "Print the dns-persist-01 TXT record to publish for a name",
		Long: `Print the TXT record that lets the stored account (--server, --account) validate NAME
with dns-persist-01: _validation-persist.<NAME> "<issuer>; accounturi=<account URL>[; policy=wildcard][; persistUntil=<unix>]".
The issuer is the first of the CA's caaIdentities (acmectl directory), or --issuer.
A wildcard -d '*.NAME' (or --wildcard) adds policy=wildcard, which also covers subdomains.

With --check, the published record is looked up (--dns-resolvers, default /etc/resolv.conf)
and the exit code says whether it authorizes this account: 0 yes, 1 no.

Order with it: acmectl obtain -d NAME --solver NAME=dns-persist-01 (checked before the challenge is answered).`,
		Example: `  acmectl dns-persist record -d example.com
  acmectl dns-persist record -d '*.example.com' --persist-until 2027-01-01T00:00:00Z --json
  acmectl dns-persist record -d example.com --check --dns-resolvers 192.0.2.53:53`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), a, opts, a.runDNSPersistRecord)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.domain, "domain", "d", "", "the DNS name (or *.name) to authorize")
	f.BoolVar(&opts.wildcard, "wildcard", false, "add policy=wildcard (also authorizes *.NAME and subdomains)")
	f.StringVar(&opts.issuer, "issuer", "", "issuer domain name (one of the CA's caaIdentities; default the first)")
	f.StringVar(&opts.persistUntil, "persist-until", "", "add persistUntil: RFC 3339 time or Unix seconds")
	f.BoolVar(&opts.check, "check", false, "look up the published record and exit 1 unless it authorizes this account")
	f.StringSliceVar(&opts.resolvers, "dns-resolvers", nil, "resolvers for --check (host:port,...; default /etc/resolv.conf)")
	return cmd
}

func (a *app) runDNSPersistRecord(ctx context.Context, opts *dnsPersistOptions) error {
	if opts.domain == "" {
		return usagef("dns-persist record: give -d NAME")
	}
	id, err := normalizeName(opts.domain)
	if err != nil {
		return err
	}
	name := id.Value
	if id.Type == challenges.IdentifierIP {
		return usagef("-d %q: dns-persist-01 is for DNS names", opts.domain)
	}
	wildcard := opts.wildcard || strings.HasPrefix(name, "*.")
	base := strings.TrimPrefix(name, "*.")
	var until time.Time
	if opts.persistUntil != "" {
		if n, err := strconv.ParseInt(opts.persistUntil, 10, 64); err == nil {
			until = time.Unix(n, 0).UTC()
		} else if t, err := time.Parse(time.RFC3339, opts.persistUntil); err == nil {
			until = t.UTC()
		} else {
			return usagef("--persist-until %q: want an RFC 3339 time or Unix seconds", opts.persistUntil)
		}
	}
	st, err := a.openStore()
	if err != nil {
		return err
	}
	server := a.g.server
	rec, _, err := st.LoadAccount(server, a.g.account)
	if errors.Is(err, store.ErrNotFound) || (err == nil && rec.URL == "") {
		return usagef("no account %q for %s in %s: the record names the account's URL; create the account first (e.g. acmectl obtain)", a.g.account, server, a.g.stateDir)
	}
	if err != nil {
		return err
	}
	eng := a.engine(st)
	c, err := eng.Client(&store.Settings{Server: server, CABundle: a.g.caBundle, ACMEVersion: a.g.acmeVersion})
	if err != nil {
		return err
	}
	dir, err := c.Directory(ctx)
	if err != nil {
		return err
	}
	issuers := dir.Meta.CAAIdentities
	issuer := opts.issuer
	switch {
	case issuer != "" && !slices.Contains(issuers, issuer):
		return usagef("--issuer %q: the CA's caaIdentities are %s", issuer, orDash(issuers))
	case issuer == "" && len(issuers) == 0:
		return usagef("the CA publishes no caaIdentities in its directory: pass --issuer NAME")
	case issuer == "":
		issuer = issuers[0]
	}
	r := dnspersist01.Record{Issuer: issuer, AccountURI: rec.URL, Wildcard: wildcard, PersistUntil: until}
	rname := dnspersist01.RecordName(base)
	var checkErr error
	if opts.check {
		allowed := issuers
		if opts.issuer != "" {
			allowed = []string{issuer}
		}
		checkErr = dnspersist01.Check(ctx, opts.resolvers, base, strings.HasPrefix(name, "*."), allowed, rec.URL, a.env.Now())
	}
	if a.g.json {
		doc := map[string]any{
			"name": rname, "type": "TXT", "value": r.String(), "issuer": issuer,
			"account_url": rec.URL, "policy_wildcard": wildcard, "server": server,
		}
		if !until.IsZero() {
			doc["persist_until"] = until.Format(time.RFC3339)
		}
		if opts.check {
			doc["published"] = checkErr == nil
			if checkErr != nil {
				doc["check_error"] = checkErr.Error()
			}
		}
		if err := a.writeJSON(doc); err != nil {
			return err
		}
		if checkErr != nil {
			return &exitError{code: ExitFailed, err: checkErr}
		}
		return nil
	}
	if !a.g.quiet {
		fmt.Fprintf(a.env.Stdout, "%s IN TXT %s\n", rname, strconv.Quote(r.String()))
	}
	if opts.check {
		if checkErr != nil {
			return &exitError{code: ExitFailed, err: checkErr}
		}
		fmt.Fprintf(a.env.Stderr, "acmectl: %s is published and authorizes %s\n", rname, rec.URL)
	}
	return nil
}
