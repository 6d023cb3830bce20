package cli

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/store"
)

type obtainOptions struct {
	certName         string
	force            bool
	dryRun           bool
	allowNameRemoval bool
}

func newObtainCmd(a *app, runF func(context.Context, *obtainOptions) error) *cobra.Command {
	opts := &obtainOptions{}
	cmd := &cobra.Command{
		Use:   "obtain -d NAME [-d NAME ...] [flags]",
		Short: "Order a certificate and store its settings for renewal",
		Long: `Order a certificate for the given names, store it under the state directory and
remember the settings so that "acmectl renew" can repeat the order.

On an existing certificate with the same names that is not due, nothing is ordered
(use --force). Files land in <state-dir>/certificates/<cert-name>/{cert,chain,fullchain,privkey}.pem.`,
		Example: `  acmectl obtain --accept-tos --email admin@example.com -d example.com -d www.example.com --http-01
  acmectl obtain -d example.com --webroot /var/www/html --deploy-hook "systemctl reload nginx"
  acmectl obtain -d '*.example.com' -d example.com --dns-01 rfc2136 --rfc2136-server ns1.example.com:53 --rfc2136-tsig-file /etc/acmectl/tsig.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.certName, _ = cmd.Flags().GetString("cert-name")
			opts.force, _ = cmd.Flags().GetBool("force")
			opts.dryRun, _ = cmd.Flags().GetBool("dry-run")
			opts.allowNameRemoval, _ = cmd.Flags().GetBool("allow-name-removal")
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return a.runObtain(cmd.Context(), opts)
		},
	}
	addOrderFlags(cmd)
	addObtainExtraFlags(cmd)
	cmd.Flags().Bool("force", false, "order even when the certificate is current")
	cmd.Flags().Bool("dry-run", false, "run the whole protocol but write nothing (staging suggested); no deploy hooks")
	cmd.Flags().Bool("allow-name-removal", false, "allow dropping names from an existing certificate")
	return cmd
}

func (a *app) runObtain(ctx context.Context, opts *obtainOptions) error {
	if !a.cfg.flag("domain").Changed && !a.cfg.flag("csr").Changed {
		return usagef("obtain: give at least one -d NAME (or --csr FILE)")
	}
	st, err := a.openStore()
	if err != nil {
		return err
	}
	server := a.g.server
	if opts.dryRun && server == serverAliases()["letsencrypt"] {
		server = serverAliases()["letsencrypt-staging"]
		fmt.Fprintln(a.env.Stderr, "acmectl: --dry-run: using letsencrypt-staging instead of letsencrypt")
	}

	// The settings as they would be after this command.
	fresh := &store.Settings{Server: server, Account: a.g.account, ACMEVersion: a.g.acmeVersion, CABundle: a.g.caBundle, Email: a.g.email}
	if err := a.applyOrderFlags(fresh, true); err != nil {
		return err
	}
	if len(fresh.Names) == 0 {
		return usagef("obtain: no names to order")
	}
	name := opts.certName
	if name == "" {
		if name, err = store.DefaultCertName(fresh.Names[0]); err != nil {
			return usagef("cannot derive a certificate name from %q: %v (use --cert-name)", fresh.Names[0], err)
		}
	} else if err := store.ValidCertName(name); err != nil {
		return usagef("--cert-name %q: must match ^[a-z0-9][a-z0-9._-]{0,127}$", name)
	}
	if a.g.storage != "" {
		if _, err := (&issue.Engine{}).Solvers(fresh); err != nil {
			return usagef("%v", err)
		}
		return a.runFleetObtain(ctx, opts, name, fresh, st)
	}
	lockWait := a.lockWait()
	var unlock func()
	if !opts.dryRun {
		unlock, err = st.LockCert(ctx, name, lockWait)
		if err != nil {
			return err
		}
		defer unlock()
	}

	settings := fresh
	state := &store.State{}
	var current *store.Files
	if old, err := st.LoadSettings(name); err == nil {
		state, err = st.LoadState(name)
		if err != nil {
			return err
		}
		// A flag given replaces the stored value; an absent flag keeps it.
		merged := *old
		if err := a.applyOrderFlags(&merged, false); err != nil {
			return err
		}
		if a.cfg.source("server") == sourceFlag || a.cfg.source("server") == sourceEnv {
			merged.Server = server
		}
		if a.cfg.flag("account").Changed {
			merged.Account = a.g.account
		}
		if a.cfg.source("acme-version") == sourceFlag {
			merged.ACMEVersion = a.g.acmeVersion
		}
		if a.cfg.source("ca-bundle") == sourceFlag {
			merged.CABundle = a.g.caBundle
		}
		if a.cfg.source("email") == sourceFlag {
			merged.Email = a.g.email
		}
		added, removed := diffNames(old.Names, merged.Names)
		if len(removed) > 0 && !opts.allowNameRemoval && opts.certName == "" {
			return usagef("obtain would remove %s from %s: pass --allow-name-removal or --cert-name %s", strings.Join(removed, ", "), name, name)
		}
		if len(added)+len(removed) > 0 {
			a.log.Info("names change", "cert_name", name, "added", orDash(added), "removed", orDash(removed))
		}
		settings = &merged
		if files, _, err := st.Current(name); err == nil {
			current = files
		}
		if current != nil && len(added)+len(removed) == 0 && !opts.force && !state.Revoked && !opts.dryRun {
			leaf, err := leafOf(current.Cert)
			if err == nil && !dueByLifetime(leaf.NotBefore, leaf.NotAfter, a.env.Now()) {
				if err := st.SaveSettings(name, settings); err != nil {
					return err
				}
				msg := fmt.Sprintf("%s is current until %s (use --force to reorder)", name, leaf.NotAfter.UTC().Format(time.RFC3339))
				if a.g.json {
					return a.writeJSON(map[string]any{"cert_name": name, "outcome": "not_due", "not_after": leaf.NotAfter.UTC().Format(time.RFC3339), "message": msg})
				}
				fmt.Fprintln(a.env.Stdout, msg)
				return nil
			}
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}

	extras, err := a.obtainExtrasFromFlags(settings)
	if err != nil {
		return err
	}
	eng := a.engine(st)
	acctOpts, err := a.accountOptions()
	if err != nil {
		return err
	}
	acctOpts.Label = settings.Account
	// Live status on a terminal (progress.go); logs, prompts and manual
	// DNS instructions print above it.
	prog := a.progress(name)
	defer prog.Done(errors.New("interrupted"))
	eng.Logger, eng.Stderr = prog.Logger(eng.Logger), prog.Writer(eng.Stderr)
	acctOpts.Confirm = prog.Confirm(acctOpts.Confirm)
	req := issue.Request{Name: name, Settings: settings, State: state, Account: acctOpts, DryRun: opts.dryRun, Progress: prog.Event}
	extras.apply(&req)
	if current != nil {
		if leaf, err := leafOf(current.Cert); err == nil {
			req.Replaces = leaf
		}
	}
	// The run's engine knows whether a person is at the terminal, so a
	// manual DNS solver off a terminal is refused here, before anything.
	if _, err := eng.Solvers(settings); err != nil {
		return usagef("%v", err)
	}
	isNew := !st.Exists(name)
	orderCreated := false
	if !opts.dryRun && isNew {
		// A new certificate's settings are saved as soon as the CA created
		// the order: a crash mid-order leaves one that renew can finish,
		// and a request refused before any order leaves nothing behind.
		// An existing certificate keeps its settings until the new order
		// succeeded.
		req.OnOrder = func() error {
			orderCreated = true
			return st.SaveSettings(name, settings)
		}
	}
	hooks := newHookRun(a)
	hooks.pre(ctx, settings)
	res, err := eng.Issue(ctx, req)
	prog.Done(err)
	if err != nil {
		switch {
		case opts.dryRun:
		case isNew && !orderCreated:
			_ = st.Delete(name) // pending key or state of a certificate that never existed
		default:
			recordFailure(st, name, state, err, a.env.Now())
		}
		hooks.failure(ctx, name, settings, err)
		hooks.post(ctx, nil, []string{name})
		return err
	}
	deployErr := error(nil)
	p12, p12Err := "", error(nil)
	if !opts.dryRun {
		if err := st.SaveSettings(name, settings); err != nil {
			return err
		}
		p12, p12Err = extras.writePKCS12(res)
		deployErr = hooks.deploy(ctx, st, name, settings, res)
	}
	hooks.post(ctx, []string{name}, nil)
	if err := a.reportObtain(name, settings, res, opts.dryRun, p12); err != nil {
		return err
	}
	if err := errors.Join(p12Err, deployErr); err != nil {
		return &exitError{code: ExitFailed, err: err}
	}
	return nil
}

func (a *app) reportObtain(name string, s *store.Settings, res *issue.Result, dryRun bool, p12 string) error {
	notAfter := res.Leaf.NotAfter.UTC().Format(time.RFC3339)
	if a.g.json {
		doc := map[string]any{
			"cert_name": name, "names": s.Names, "outcome": "obtained", "not_after": notAfter,
			"not_before": res.Leaf.NotBefore.UTC().Format(time.RFC3339), "serial": fmt.Sprintf("%x", res.Leaf.SerialNumber),
			"issuer": res.Leaf.Issuer.CommonName, "server": s.Server, "dialect": res.Dialect, "requests": res.Requests,
		}
		if res.Replaced != "" {
			doc["replaced"] = res.Replaced
		}
		if dryRun {
			doc["outcome"] = "dry_run"
		} else {
			doc["version"] = res.Installed.Version
			doc["paths"] = map[string]string{"cert": res.Installed.Cert, "chain": res.Installed.Chain,
				"fullchain": res.Installed.Fullchain, "privkey": res.Installed.PrivKey}
			if p12 != "" {
				doc["paths"].(map[string]string)["pkcs12"] = p12
			}
		}
		return a.writeJSON(doc)
	}
	if a.g.quiet {
		return nil
	}
	w := a.env.Stdout
	if dryRun {
		fmt.Fprintf(w, "Dry run: a certificate for %s was issued by %s and not saved (expires %s).\n", strings.Join(s.Names, ", "), s.Server, notAfter)
		return nil
	}
	fmt.Fprintf(w, "Certificate %s for %s saved (version %d, expires %s):\n", name, strings.Join(s.Names, ", "), res.Installed.Version, notAfter)
	fmt.Fprintf(w, "  fullchain: %s\n", res.Installed.Fullchain)
	if res.Installed.PrivKey != "" {
		fmt.Fprintf(w, "  privkey:   %s\n", res.Installed.PrivKey)
	}
	fmt.Fprintf(w, "  cert:      %s\n", res.Installed.Cert)
	fmt.Fprintf(w, "  chain:     %s\n", res.Installed.Chain)
	if p12 != "" {
		fmt.Fprintf(w, "  pkcs12:    %s\n", p12)
	}
	return nil
}

// engine builds the issuance engine for this run.
func (a *app) engine(st *store.Dir) *issue.Engine {
	return &issue.Engine{
		Store: st, Logger: a.log, UserAgent: a.env.userAgent(), Now: a.env.Now,
		Stdin: a.env.Stdin, Stderr: a.env.Stderr, Interactive: a.env.StdinTerminal && a.env.StderrTerminal,
		Getenv: a.env.Getenv, Environ: a.env.Environ, Failpoint: a.env.Failpoint, OrderTimeout: a.g.orderTimeout,
	}
}

// accountOptions collects what a new account needs (EAB key from its
// file or env, never a flag value).
func (a *app) accountOptions() (issue.AccountOptions, error) {
	o := issue.AccountOptions{Label: a.g.account, Email: a.g.email, AcceptTOS: a.g.acceptTOS, EABKeyID: a.g.eabKID}
	if a.g.eabKID != "" {
		var key string
		if a.g.eabHMACKeyFile != "" {
			data, err := readSecretFile(a.env, "--eab-hmac-key-file", a.g.eabHMACKeyFile)
			if err != nil {
				return o, err
			}
			key = string(data)
		} else {
			key = a.env.Getenv("ACMECTL_EAB_HMAC_KEY")
		}
		if key == "" {
			return o, usagef("--eab-kid needs the HMAC key: --eab-hmac-key-file FILE or ACMECTL_EAB_HMAC_KEY")
		}
		raw, err := decodeB64URL(key)
		if err != nil {
			return o, usagef("EAB HMAC key is not base64url")
		}
		o.EABHMACKey = raw
	}
	if a.env.StdinTerminal && a.env.StderrTerminal {
		o.Confirm = a.confirm
	}
	return o, nil
}

// confirm asks a yes/no question on the terminal.
func (a *app) confirm(q string) (bool, error) {
	fmt.Fprintf(a.env.Stderr, "%s [y/N] ", q)
	var answer string
	if _, err := fmt.Fscanln(a.env.Stdin, &answer); err != nil {
		return false, nil
	}
	answer = strings.ToLower(strings.TrimSpace(answer))
	return answer == "y" || answer == "yes", nil
}

func recordFailure(st *store.Dir, name string, state *store.State, err error, now time.Time) {
	state.LastAttempt = now
	state.LastError = &store.LastError{Class: errorClass(err), Message: oneLine(err.Error()), Time: now, RetryAfter: client.RetryAfterOf(err)}
	if ra := client.RetryAfterOf(err); !ra.IsZero() {
		state.RetryAfter = ra
	}
	_ = st.SaveState(name, state)
}

func diffNames(old, new []string) (added, removed []string) {
	for _, n := range new {
		if !slices.Contains(old, n) {
			added = append(added, n)
		}
	}
	for _, n := range old {
		if !slices.Contains(new, n) {
			removed = append(removed, n)
		}
	}
	return added, removed
}

func orDash(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ", ")
}

func pemCSR(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}
