package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/account"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/store"
)

func newAccountCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use: "account",
		Example: `  acmectl account list
  acmectl account register --accept-tos --email ops@example.com
  acmectl account show --server letsencrypt-staging`,
		Short: "Manage ACME accounts",
		Long: `Manage the ACME accounts kept under <state-dir>/accounts/<server-id>/<label>/.

Each server can have several accounts, told apart by --account LABEL (default "default").
The server is --server (default letsencrypt). obtain registers an account on first use;
these commands manage them explicitly.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usagef("account: give a subcommand: register, list, show, update, rollover, deactivate, recover or migrate")
		},
	}
	cmd.AddCommand(
		newAccountRegisterCmd(a),
		newAccountListCmd(a),
		newAccountShowCmd(a),
		newAccountUpdateCmd(a),
		newAccountRolloverCmd(a),
		newAccountDeactivateCmd(a),
		newAccountRecoverCmd(a),
		newAccountMigrateCmd(a),
	)
	return cmd
}

// acctRun is what every account subcommand works with: the store, the
// engine and client for --server, the account label, and the writer of
// the stored account (acc).
type acctRun struct {
	st    *store.Dir
	eng   *issue.Engine
	c     *client.Client
	s     *store.Settings // server, CA bundle, ACME version (no names)
	label string
	acc   *account.Stored
}

func (a *app) newAcctRun() (*acctRun, error) {
	st, err := a.openStore()
	if err != nil {
		return nil, err
	}
	eng := a.engine(st)
	s := &store.Settings{Server: a.g.server, ACMEVersion: a.g.acmeVersion, CABundle: a.g.caBundle, Account: a.g.account}
	c, err := eng.Client(s)
	if err != nil {
		return nil, usagef("%v", err)
	}
	acc := &account.Stored{Store: st, Client: c, Server: s.Server, Label: a.g.account, Now: a.env.Now, Logger: a.log, Failpoint: a.env.Failpoint}
	return &acctRun{st: st, eng: eng, c: c, s: s, label: a.g.account, acc: acc}, nil
}

// noAccountError says that --account has no stored account on --server.
func (r *acctRun) noAccountError() error {
	return usagef("%v", &account.NotStoredError{Label: r.label, Server: r.s.Server})
}

// load returns the stored account (account.Stored.Load: an interrupted
// registration or key rollover is settled). It never registers.
func (r *acctRun) load(ctx context.Context, a *app) (*client.Account, *store.AccountRecord, error) {
	opts, err := a.accountOptions()
	if err != nil {
		return nil, nil, err
	}
	acct, rec, err := r.acc.Load(ctx, r.eng, opts)
	if errors.As(err, new(*account.NotStoredError)) {
		return nil, nil, usagef("%v", err)
	}
	return acct, rec, err
}

// accountDoc is the --json (and text) view of one account.
func (r *acctRun) accountDoc(acct *client.Account, rec *store.AccountRecord) map[string]any {
	id, _ := store.ServerID(r.s.Server)
	doc := map[string]any{
		"label": r.label, "server": r.s.Server, "server_id": id,
		"url": rec.URL, "status": rec.Status, "contacts": nonNil(rec.Contacts),
	}
	if acct != nil {
		doc["url"], doc["status"], doc["contacts"] = acct.URL, acct.Status, nonNil(acct.Contact)
		if tp, err := client.Thumbprint(acct.Key); err == nil {
			doc["key_thumbprint"] = tp
		}
		doc["key_type"] = keys.KeyTypeOf(acct.Key.Public())
	}
	if !rec.Created.IsZero() {
		doc["created"] = rec.Created.UTC().Format(time.RFC3339)
	}
	return doc
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// printAccount prints an account as text or as the --json document.
func (a *app) printAccount(headline string, doc map[string]any) error {
	if a.g.json {
		return a.writeJSON(doc)
	}
	if a.g.quiet {
		return nil
	}
	w := a.env.Stdout
	if headline != "" {
		fmt.Fprintln(w, headline)
	}
	fmt.Fprintf(w, "  label:      %s\n", doc["label"])
	fmt.Fprintf(w, "  server:     %s\n", doc["server"])
	fmt.Fprintf(w, "  url:        %s\n", doc["url"])
	fmt.Fprintf(w, "  status:     %s\n", doc["status"])
	contacts, _ := doc["contacts"].([]string)
	note := ""
	if ca, ok := doc["ca_contacts"].([]string); ok && len(ca) == 0 && len(contacts) > 0 {
		note = " (local record; the CA returned none)"
	}
	fmt.Fprintf(w, "  contacts:   %s%s\n", orDash(contacts), note)
	if tp, ok := doc["key_thumbprint"]; ok {
		fmt.Fprintf(w, "  key:        %s, thumbprint %s\n", doc["key_type"], tp)
	}
	return nil
}

func mailtos(emails []string) []string {
	out := make([]string, 0, len(emails))
	for _, e := range emails {
		out = append(out, "mailto:"+e)
	}
	return out
}

type accountRegisterOptions struct{ replace bool }

func newAccountRegisterCmd(a *app) *cobra.Command {
	opts := &accountRegisterOptions{}
	cmd := &cobra.Command{
		Use:   "register [--replace]",
		Short: "Register a new account (contacts, terms, external account binding)",
		Long: `Register a new account at --server under --account LABEL.

Contacts come from --email (repeatable). The CA's terms of service must be accepted:
--accept-tos, or a prompt on a terminal; off a terminal without --accept-tos the command
exits 2 naming the terms URL. CAs that require external account binding need --eab-kid
and the HMAC key from --eab-hmac-key-file FILE or the environment variable
ACMECTL_EAB_HMAC_KEY (never a flag value).

--replace registers a new account under a label whose stored account the CA no longer
accepts: it lost it (a database or staging reset: "accountDoesNotExist") or the account was
deactivated or revoked elsewhere. The CA is asked first; a label whose account is still
valid is refused (exit 2). A lost account's key is registered again; a deactivated one's is
replaced by a new key. The stored contacts are kept unless --email is given.
Certificates obtained by the old account are renewed by the new one (without "replaces").`,
		Example: `  acmectl account register --accept-tos --email ops@example.com
  acmectl account register --server zerossl --eab-kid KID --eab-hmac-key-file /etc/acmectl/eab.key --accept-tos
  acmectl account register --account team-b --accept-tos --email team-b@example.com
  acmectl account register --replace --server letsencrypt-staging --account default`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), a, opts, func(ctx context.Context, o *accountRegisterOptions) error {
				r, err := a.newAcctRun()
				if err != nil {
					return err
				}
				opts, err := a.accountOptions()
				if err != nil {
					return err
				}
				acct, rec, err := r.acc.Register(ctx, r.eng, opts, o.replace)
				var ue *client.UnsupportedError
				switch {
				case errors.As(err, new(*account.ExistsError)), errors.As(err, new(*account.ActiveError)):
					return usagef("%v", err)
				case errors.As(err, &ue):
					// Found before any request (e.g. the CA requires EAB).
					return usagef("%v", err)
				case err != nil:
					return err
				}
				return a.printAccount("Account registered:", r.accountDoc(acct, rec))
			})
		},
	}
	cmd.Flags().BoolVar(&opts.replace, "replace", false, "replace a stored account the CA lost or deactivated (asks the CA first)")
	return cmd
}

// accountListOptions: account list takes the global options only.
type accountListOptions struct{}

func newAccountListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use: "list",
		Example: `  acmectl account list
  acmectl account list --json`,
		Short: "List the stored accounts",
		Long: `List the accounts in the state directory (no network). With --server given
explicitly (flag or ACMECTL_SERVER), only that server's accounts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), a, &accountListOptions{}, func(context.Context, *accountListOptions) error {
				st, err := a.openStore()
				if err != nil {
					return err
				}
				refs, err := st.ListAccounts()
				if err != nil {
					return err
				}
				filter := ""
				if src := a.cfg.source("server"); src == sourceFlag || src == sourceEnv {
					filter, _ = store.ServerID(a.g.server)
				}
				list := []map[string]any{}
				for _, ref := range refs {
					if filter != "" && ref.ServerID != filter {
						continue
					}
					list = append(list, map[string]any{"label": ref.Label, "server": ref.DirectoryURL, "server_id": ref.ServerID, "url": ref.URL})
				}
				if a.g.json {
					return a.writeJSON(map[string]any{"accounts": list})
				}
				if len(list) == 0 {
					if !a.g.quiet {
						fmt.Fprintln(a.env.Stderr, "acmectl: no accounts stored")
					}
					return nil
				}
				fmt.Fprintf(a.env.Stdout, "%-16s %-50s %s\n", "LABEL", "SERVER", "ACCOUNT URL")
				for _, m := range list {
					url := m["url"].(string)
					if url == "" {
						url = "(registration incomplete)"
					}
					fmt.Fprintf(a.env.Stdout, "%-16s %-50s %s\n", m["label"], m["server"], url)
				}
				return nil
			})
		},
	}
}

type accountShowOptions struct{ offline bool }

func newAccountShowCmd(a *app) *cobra.Command {
	opts := &accountShowOptions{}
	cmd := &cobra.Command{
		Use: "show",
		Example: `  acmectl account show
  acmectl account show --account team-b --server letsencrypt-staging --json`,
		Short: "Show an account: URL, status, contacts, key thumbprint",
		Long: `Show the account --account LABEL at --server as the CA sees it (one request),
with its key type and JWK thumbprint (RFC 7638). --offline shows the stored record only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), a, opts, func(ctx context.Context, o *accountShowOptions) error {
				offline := o.offline
				r, err := a.newAcctRun()
				if err != nil {
					return err
				}
				if offline {
					rec, key, err := r.st.LoadAccount(r.s.Server, r.label)
					if errors.Is(err, store.ErrNotFound) {
						return r.noAccountError()
					} else if err != nil {
						return err
					}
					return a.printAccount("", r.accountDoc(&client.Account{URL: rec.URL, Key: key, Contact: rec.Contacts, Status: rec.Status}, rec))
				}
				acct, rec, err := r.load(ctx, a)
				if err != nil {
					return err
				}
				acct, rec, caContacts, err := r.acc.Refresh(ctx, acct, rec)
				if err != nil {
					return err
				}
				doc := r.accountDoc(acct, rec)
				doc["ca_contacts"] = nonNil(caContacts)
				return a.printAccount("", doc)
			})
		},
	}
	cmd.Flags().BoolVar(&opts.offline, "offline", false, "show the stored record without asking the CA")
	return cmd
}

type accountUpdateOptions struct{ noEmail bool }

func newAccountUpdateCmd(a *app) *cobra.Command {
	opts := &accountUpdateOptions{}
	cmd := &cobra.Command{
		Use:   "update --email ADDR [--email ADDR ...] | --no-email",
		Short: "Replace the account's contacts",
		Long: `Replace the contact addresses of --account LABEL at --server with the given
--email addresses (repeatable), or remove them all with --no-email.`,
		Example: `  acmectl account update --email ops@example.com --email security@example.com`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), a, opts, func(ctx context.Context, o *accountUpdateOptions) error {
				noEmail := o.noEmail
				if len(a.g.email) == 0 && !noEmail {
					return usagef("account update: give the new contacts with --email ADDR (repeatable), or --no-email")
				}
				if len(a.g.email) > 0 && noEmail {
					return usagef("account update: --email and --no-email exclude each other")
				}
				r, err := a.newAcctRun()
				if err != nil {
					return err
				}
				acct, rec, err := r.load(ctx, a)
				if err != nil {
					return err
				}
				u, err := r.acc.UpdateContacts(ctx, acct, rec, mailtos(a.g.email))
				if err != nil {
					return err
				}
				rec, caContacts := u.Record, u.CAContacts
				headline := "Account updated:"
				if u.LocalOnly {
					// The change did not take effect at the CA; the local
					// list records what was asked.
					headline = "Contacts recorded locally only (the CA returned none and did not store them):"
					why := "the CA returned no contacts"
					if dir, derr := r.c.Directory(ctx); derr == nil && dir.Boulder {
						why = "Let's Encrypt no longer stores contact addresses (it ignores them in account updates)"
					}
					fmt.Fprintf(a.env.Stderr, "acmectl: warning: %s; the addresses are kept in the local account record only\n", why)
				}
				doc := r.accountDoc(acct, rec)
				doc["ca_contacts"] = nonNil(caContacts)
				return a.printAccount(headline, doc)
			})
		},
	}
	cmd.Flags().BoolVar(&opts.noEmail, "no-email", false, "remove all contacts")
	return cmd
}

type accountRolloverOptions struct{ keyType string }

func newAccountRolloverCmd(a *app) *cobra.Command {
	opts := &accountRolloverOptions{}
	cmd := &cobra.Command{
		Use: "rollover",
		Example: `  acmectl account rollover                  # new key for the default account
  acmectl account rollover --account team-b`,
		Short: "Replace the account key (RFC 8555 keyChange)",
		Long: `Generate a new account key and roll the account over to it through the CA's keyChange
endpoint. The new key is written next to the old one (key.pem.next) before the request and
replaces key.pem only after the CA accepted it, so an interruption at any moment never
strands the account: the next command asks the CA which key it has and keeps that one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), a, opts, func(ctx context.Context, o *accountRolloverOptions) error {
				kt := o.keyType
				if err := keys.ValidKeyType(kt); err != nil {
					return usagef("--key-type %q: want one of %s", kt, strings.Join(keys.KeyTypes(), ", "))
				}
				r, err := a.newAcctRun()
				if err != nil {
					return err
				}
				unlock, err := r.acc.Lock(ctx)
				if err != nil {
					return err
				}
				defer unlock()
				// load also settles an earlier interrupted rollover.
				acct, rec, err := r.load(ctx, a)
				if err != nil {
					return err
				}
				oldTP, _ := client.Thumbprint(acct.Key)
				newKey, err := keys.Generate(kt)
				if err != nil {
					return err
				}
				if err := r.acc.Rollover(ctx, acct, rec, newKey); err != nil {
					return err
				}
				a.log.Info("account key rolled over", "account_url", acct.URL, "old_thumbprint", oldTP)
				doc := r.accountDoc(acct, rec)
				doc["old_key_thumbprint"] = oldTP
				return a.printAccount("Account key rolled over (old key thumbprint "+oldTP+"):", doc)
			})
		},
	}
	cmd.Flags().StringVar(&opts.keyType, "key-type", keys.EC256, "new account key: "+strings.Join(keys.KeyTypes(), ", "))
	return cmd
}

// confirmIrreversible asks on a terminal; off one it needs --yes.
func (a *app) confirmIrreversible(yes bool, what, question string) error {
	if yes {
		return nil
	}
	if !a.env.StdinTerminal || !a.env.StderrTerminal {
		return usagef("%s cannot be undone: pass --yes to confirm (no terminal to ask on)", what)
	}
	ok, err := a.confirm(question)
	if err != nil {
		return err
	}
	if !ok {
		return &exitError{code: ExitUsage, err: errors.New(what + ": not confirmed, nothing done")}
	}
	return nil
}

type accountDeactivateOptions struct{ yes bool }

func newAccountDeactivateCmd(a *app) *cobra.Command {
	opts := &accountDeactivateOptions{}
	cmd := &cobra.Command{
		Use: "deactivate [--yes]",
		Example: `  acmectl account deactivate --account old --server letsencrypt-staging
  acmectl account deactivate --account old --yes    # off a terminal`,
		Short: "Deactivate the account at the CA for good and remove it locally",
		Long: `Deactivate --account LABEL at --server (RFC 8555 §7.3.6). The CA refuses every later
request signed by it, so its key and record are removed from the state directory. Asks for
confirmation on a terminal; needs --yes off one. Certificates already issued stay valid.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), a, opts, func(ctx context.Context, o *accountDeactivateOptions) error {
				yes := o.yes
				r, err := a.newAcctRun()
				if err != nil {
					return err
				}
				rec, _, err := r.st.LoadAccount(r.s.Server, r.label)
				if errors.Is(err, store.ErrNotFound) {
					return r.noAccountError()
				} else if err != nil {
					return err
				}
				if err := a.confirmIrreversible(yes, "account deactivate", fmt.Sprintf("Deactivate account %s at %s? This cannot be undone.", rec.URL, r.s.Server)); err != nil {
					return err
				}
				acct, rec, err := r.load(ctx, a)
				if err != nil {
					return err
				}
				if err := r.acc.Deactivate(ctx, acct); err != nil {
					return err
				}
				doc := r.accountDoc(acct, rec)
				if a.g.json {
					return a.writeJSON(doc)
				}
				if !a.g.quiet {
					fmt.Fprintf(a.env.Stdout, "Account %s deactivated and removed from the state directory.\n", acct.URL)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&opts.yes, "yes", false, "do not ask for confirmation")
	return cmd
}

type accountRecoverOptions struct{ keyFile string }

func newAccountRecoverCmd(a *app) *cobra.Command {
	opts := &accountRecoverOptions{}
	cmd := &cobra.Command{
		Use:   "recover --key FILE",
		Short: "Adopt an existing account from its key file (onlyReturnExisting)",
		Long: `Find the account that the key in FILE (PEM: PKCS#8, SEC 1 or PKCS#1) has at --server,
without creating one, and store it under --account LABEL. Use it to move an account from
another machine or client, or to restore a lost state directory from a key backup.`,
		Example: `  acmectl account recover --key /backup/account-key.pem --account default`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), a, opts, func(ctx context.Context, o *accountRecoverOptions) error {
				keyFile := o.keyFile
				if keyFile == "" {
					return usagef("account recover: give the account key with --key FILE")
				}
				data, err := readSecretFile(a.env, "--key", keyFile)
				if err != nil {
					return err
				}
				key, err := keys.ParsePrivateKeyPEM(data)
				if err != nil {
					return usagef("--key %s: %v", keyFile, err)
				}
				r, err := a.newAcctRun()
				if err != nil {
					return err
				}
				acct, rec, err := r.acc.Recover(ctx, key)
				var ag *client.AccountGoneError
				switch {
				case errors.As(err, new(*account.ExistsError)):
					return usagef("%v", err)
				case errors.Is(err, client.ErrAccountNotFound):
					return fmt.Errorf("%s has no account for the key in %s", r.s.Server, keyFile)
				case errors.As(err, &ag):
					return fmt.Errorf("the account of the key in %s is %s at %s and cannot be used again: register a new one (acmectl account register --server %s --account %s)",
						keyFile, ag.Status, r.s.Server, r.s.Server, r.label)
				case err != nil:
					return err
				}
				return a.printAccount("Account recovered:", r.accountDoc(acct, rec))
			})
		},
	}
	cmd.Flags().StringVar(&opts.keyFile, "key", "", "the account's private key (PEM)")
	return cmd
}
