package cli

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
)

type obtainOptions struct {
	certName         string
	force            bool
	dryRun           bool
	allowNameRemoval bool
	// order are the options that shape the order, extras obtain's one-off
	// options (window, PKCS#12), as given.
	order  *orderOptions
	extras extraFlags
}

func newObtainCmd(a *app) *cobra.Command {
	opts := &obtainOptions{}
	cmd := &cobra.Command{
		Use:   "obtain -d NAME [-d NAME ...] [flags]",
		Short: "Order a certificate and store its settings for renewal",
		Long: `Order a certificate for the given names, store it under the state directory and
remember the settings so that "acmectl renew" can repeat the order.

On an existing certificate whose names, server, account, key type, profile and
must-staple are unchanged and that is not due, nothing is ordered (use --force); other
changed settings (solvers, hooks, email, ...) are stored for the next renewal. A change
to one of those six orders now; the new settings are stored once the new certificate is
installed. Solver flags replace the stored solver set. A first obtain that fails leaves
nothing behind. Files land in <state-dir>/certificates/<cert-name>/{cert,chain,fullchain,privkey}.pem.`,
		Example: `  acmectl obtain --accept-tos --email admin@example.com -d example.com -d www.example.com --http-01
  acmectl obtain -d example.com --webroot /var/www/html --deploy-hook "systemctl reload nginx"
  acmectl obtain -d '*.example.com' -d example.com --dns-01 rfc2136 --rfc2136-server ns1.example.com:53 --rfc2136-tsig-file /etc/acmectl/tsig.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.order = a.order()
			opts.certName = opts.order.certName
			return run(cmd.Context(), a, opts, a.runObtain)
		},
	}
	addOrderFlags(cmd)
	addObtainExtraFlags(cmd, &opts.extras)
	cmd.Flags().BoolVar(&opts.force, "force", false, "order even when the certificate is current")
	cmd.Flags().BoolVar(&opts.dryRun, "dry-run", false, "run the whole protocol but write nothing (staging suggested); no deploy hooks")
	cmd.Flags().BoolVar(&opts.allowNameRemoval, "allow-name-removal", false, "allow dropping names from an existing certificate")
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
	// Before the lock: the flags parse, and the settings a new certificate
	// would have name it.
	g, err := a.orderGiven(true)
	if err != nil {
		return err
	}
	fresh, _, err := a.merge(nil, g)
	if err != nil {
		return err
	}
	if len(fresh.Names) == 0 {
		return usagef("obtain: no names to order")
	}
	name := opts.certName
	if name == "" {
		if name, err = store.DefaultCertName(fresh.Names[0]); err != nil {
			return usagef("cannot derive a certificate name from %q: %v (use --cert-name)", fresh.Names[0].Value, err)
		}
	} else if err := store.ValidCertName(name); err != nil {
		return usagef("--cert-name %q: must match ^[a-z0-9][a-z0-9._-]{0,127}$", name)
	}
	// The certificate's storage, locked: the state dir, or the fleet's
	// etcd with its fleet-wide lock (internal/fleet.ObtainStorage).
	var stg lifecycle.Storage = lifecycle.Local{Dir: st}
	switch {
	case a.g.storage != "":
		if opts.dryRun {
			return usagef("--dry-run is not available with --storage etcd (use it on a host without --storage)")
		}
		if _, err := (&issue.Engine{}).Solvers(fresh); err != nil {
			return usagef("%v", err)
		}
		fs, release, err := a.fleetObtainStorage(ctx, st, name)
		if err != nil {
			return err
		}
		defer release()
		stg = fs
	case !opts.dryRun:
		unlock, err := st.LockCert(ctx, name, a.lockWait())
		if err != nil {
			return err
		}
		defer unlock()
	}

	// The settings as they will be after this command: a flag given
	// replaces the stored value, an absent one keeps it (lifecycle.Merge).
	stored, err := stg.Settings(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		stored = nil
	} else if err != nil {
		return err
	}
	if stored != nil {
		if g, err = a.orderGiven(false); err != nil {
			return err
		}
	}
	settings, changes, err := a.merge(stored, g)
	if err != nil {
		return err
	}
	if len(settings.Names) == 0 {
		return usagef("obtain: no names to order")
	}
	if stored != nil {
		if len(changes.Removed) > 0 && !opts.allowNameRemoval && opts.certName == "" {
			return usagef("obtain would remove %s from %s: pass --allow-name-removal or --cert-name %s", strings.Join(changes.Removed.Strings(), ", "), name, name)
		}
		if len(changes.Added)+len(changes.Removed) > 0 {
			fmt.Fprintf(a.env.Stderr, "%s: names change (added: %s; removed: %s)\n", name, orDash(changes.Added.Strings()), orDash(changes.Removed.Strings()))
		}
	}

	extras, err := a.obtainExtras(&opts.extras, settings)
	if err != nil {
		return err
	}
	eng := a.engine(st)
	acctOpts, err := a.accountOptions()
	if err != nil {
		return err
	}
	// Live status on a terminal (progress.go); logs, prompts and manual
	// DNS instructions print above it.
	prog := a.progress(name)
	defer prog.Done(errors.New("interrupted"))
	eng.Logger, eng.Stderr = prog.Logger(eng.Logger), prog.Writer(eng.Stderr)
	acctOpts.Confirm = prog.Confirm(acctOpts.Confirm)
	var p12 string
	plan := lifecycle.Plan{Name: name, Stored: stored, Settings: settings, Changes: changes, Force: opts.force, DryRun: opts.dryRun,
		Staged: func(string) {
			fmt.Fprintln(eng.Stderr, "acmectl: --dry-run: using letsencrypt-staging instead of letsencrypt")
		},
		Account: acctOpts, NotBefore: extras.notBefore, NotAfter: extras.notAfter, Progress: prog.Event,
		Installed: func(res *issue.Result) (err error) { p12, err = extras.writePKCS12(res); return err }}
	o := a.obtainer(st, eng)
	o.Storage = stg
	out, err := o.Obtain(ctx, plan)
	if !out.Ordered && err == nil {
		prog.Drop()
		return a.reportCurrent(name, out.NotAfter, changes.RenewalOnly)
	}
	prog.Done(err)
	if err != nil {
		return err // a *lifecycle.PlanError is a usage error (exit.go)
	}
	var next *certInfo
	if !opts.dryRun {
		// The next renewal as list, show and renew compute it.
		next = loadCertInfo(st, name, a.env.Now())
	}
	if err := a.reportObtain(name, settings, out.Server, out.Result, opts.dryRun, next, p12); err != nil {
		return err
	}
	if err := errors.Join(out.InstalledErr, out.DeployErr); err != nil {
		return &exitError{code: ExitFailed, err: err}
	}
	return nil
}

// obtainer is the lifecycle owner of this run for the local state dir
// (obtain sets a fleet's Storage).
func (a *app) obtainer(st *store.Dir, eng *issue.Engine) *lifecycle.Obtainer {
	return &lifecycle.Obtainer{Store: st, Engine: eng, Hooks: a.hookManager(), Logger: a.log, Now: a.env.Now, Classify: errorClass}
}

func (a *app) reportCurrent(name string, notAfter time.Time, stored []string) error {
	msg := fmt.Sprintf("%s is current until %s (use --force to reorder)", name, notAfter.UTC().Format(time.RFC3339))
	if a.g.json {
		return a.writeJSON(map[string]any{"cert_name": name, "outcome": "not_due", "not_after": notAfter.UTC().Format(time.RFC3339),
			"message": msg, "changed": nonNil(stored)})
	}
	if len(stored) > 0 && !a.g.quiet {
		fmt.Fprintf(a.env.Stdout, "%s: stored %s; used from the next renewal\n", name, strings.Join(stored, ", "))
	}
	fmt.Fprintln(a.env.Stdout, msg)
	return nil
}

// reportObtain prints the result of ordering s from server; next is the
// certificate as list shows it now (nil for a dry run), for its next
// renewal.
func (a *app) reportObtain(name string, s *store.Settings, server string, res *issue.Result, dryRun bool, next *certInfo, p12 string) error {
	notAfter := res.Leaf.NotAfter.UTC().Format(time.RFC3339)
	nextRenewal := ""
	if next != nil && next.NextRenewal != nil {
		nextRenewal = next.NextRenewal.Format(time.RFC3339)
	}
	if a.g.json {
		doc := map[string]any{
			"cert_name": name, "names": s.Names, "outcome": "obtained", "not_after": notAfter,
			"not_before": res.Leaf.NotBefore.UTC().Format(time.RFC3339), "serial": fmt.Sprintf("%x", res.Leaf.SerialNumber),
			"issuer": res.Leaf.Issuer.CommonName, "server": server, "dialect": res.Dialect, "requests": res.Requests,
		}
		if res.Replaced != "" {
			doc["replaced"] = res.Replaced
		}
		if dryRun {
			doc["outcome"] = "dry_run"
		} else {
			doc["version"] = res.Installed.Version
			if nextRenewal != "" {
				doc["next_renewal"], doc["rule"], doc["reason"] = nextRenewal, next.Rule, next.Reason
			}
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
		fmt.Fprintf(w, "Dry run: a certificate for %s was issued by %s and not saved (expires %s).\n", strings.Join(s.Names.Strings(), ", "), server, notAfter)
		return nil
	}
	fmt.Fprintf(w, "Certificate %s for %s saved (version %d, expires %s):\n", name, strings.Join(s.Names.Strings(), ", "), res.Installed.Version, notAfter)
	fmt.Fprintf(w, "  fullchain: %s\n", res.Installed.Fullchain)
	if res.Installed.PrivKey != "" {
		fmt.Fprintf(w, "  privkey:   %s\n", res.Installed.PrivKey)
	}
	fmt.Fprintf(w, "  cert:      %s\n", res.Installed.Cert)
	fmt.Fprintf(w, "  chain:     %s\n", res.Installed.Chain)
	if p12 != "" {
		fmt.Fprintf(w, "  pkcs12:    %s\n", p12)
	}
	if nextRenewal != "" {
		fmt.Fprintf(w, "Next renewal: %s (%s); acmectl renew from cron or its timer renews it then.\n", nextRenewal, next.Reason)
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

func orDash(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ", ")
}

func pemCSR(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}
