package cli

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/store"
)

type reconfigureOptions struct {
	certName, newName string
	dryRun            bool
}

func newReconfigureCmd(a *app) *cobra.Command {
	opts := &reconfigureOptions{}
	cmd := &cobra.Command{
		Use:   "reconfigure --cert-name N [obtain flags] [--new-name M]",
		Short: "Change a certificate's stored settings (reorders only if names change)",
		Long: `Change what settings.yaml of a stored certificate says, with the flags of obtain: solvers,
hooks, key type, --reuse-key, profile, preferred chain, must-staple, --server, --account, ...
A flag given replaces the stored value; an absent flag keeps it.

When the names stay the same nothing is ordered: the new settings apply from the next
renewal (or now with "acmectl renew --cert-name N --force"). When -d or --csr change the
names, the new set is ordered at once with the merged settings (replacing the current
certificate); names may be removed, since the certificate is named explicitly.

--new-name M moves the certificate to a new storage name: the current version, settings
and state are installed under M, then N is removed. Servers pointing at N's files must be
pointed at M's (the deploy hooks are not run; use "acmectl deploy --cert-name M").`,
		Example: `  acmectl reconfigure --cert-name example.com --webroot /var/www/html
  acmectl reconfigure --cert-name example.com -d example.com -d www.example.com -d api.example.com
  acmectl reconfigure --cert-name example.com --deploy-hook "systemctl reload nginx" --new-name web`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.certName, _ = cmd.Flags().GetString("cert-name")
			opts.newName, _ = cmd.Flags().GetString("new-name")
			opts.dryRun, _ = cmd.Flags().GetBool("dry-run")
			return a.runReconfigure(cmd.Context(), opts)
		},
	}
	addOrderFlags(cmd)
	cmd.Flags().String("new-name", "", "move the certificate to this storage name")
	cmd.Flags().Bool("dry-run", false, "show what would change; write and order nothing")
	return cmd
}

func (a *app) runReconfigure(ctx context.Context, o *reconfigureOptions) error {
	name := o.certName
	if name == "" {
		return usagef("reconfigure: give --cert-name N")
	}
	if err := store.ValidCertName(name); err != nil {
		return usagef("--cert-name %q: must match ^[a-z0-9][a-z0-9._-]{0,127}$", name)
	}
	if o.newName != "" {
		if err := store.ValidCertName(o.newName); err != nil {
			return usagef("--new-name %q: must match ^[a-z0-9][a-z0-9._-]{0,127}$", o.newName)
		}
		if o.newName == name {
			return usagef("--new-name is the current name %q", name)
		}
	}
	st, err := a.openStore()
	if err != nil {
		return err
	}
	old, err := st.LoadSettings(name)
	if errors.Is(err, store.ErrNotFound) {
		return usagef("no certificate named %q in %s (obtain creates one)", name, st.Root())
	} else if err != nil {
		return err
	}
	merged := *old
	if err := a.applyOrderFlags(&merged, false); err != nil {
		return err
	}
	if a.cfg.flag("server").Changed {
		merged.Server = a.g.server
	}
	if a.cfg.flag("account").Changed {
		merged.Account = a.g.account
	}
	if a.cfg.flag("ca-bundle").Changed {
		merged.CABundle = a.g.caBundle
	}
	if a.cfg.flag("acme-version").Changed {
		merged.ACMEVersion = a.g.acmeVersion
	}
	if a.cfg.flag("domain").Changed && !a.cfg.flag("csr").Changed {
		merged.CSR = "" // new names from -d: no longer the old CSR's
	}
	if len(merged.Names) == 0 {
		return usagef("reconfigure: no names left")
	}
	if _, err := (&issue.Engine{}).Solvers(&merged); err != nil {
		return usagef("%v", err)
	}
	changed := changedSettings(old, &merged)
	added, removed := diffNames(old.Names, merged.Names)
	reorder := len(added)+len(removed) > 0
	target := name
	if o.newName != "" {
		target = o.newName
	}
	if o.dryRun {
		return a.reportReconfigure(name, target, changed, added, removed, reorder, nil, true)
	}

	lockWait := a.lockWait()
	unlock, err := st.LockCert(ctx, name, lockWait)
	if err != nil {
		return err
	}
	defer unlock()
	if o.newName != "" {
		unlockNew, err := st.LockCert(ctx, o.newName, lockWait)
		if err != nil {
			return err
		}
		defer unlockNew()
		if st.Exists(o.newName) {
			return usagef("--new-name %q: a certificate with that name exists", o.newName)
		}
		if err := moveCert(st, name, o.newName, &merged); err != nil {
			return err
		}
		a.log.Info("certificate renamed", "from", name, "to", o.newName)
	}
	if !reorder {
		if err := st.SaveSettings(target, &merged); err != nil {
			return err
		}
		return a.reportReconfigure(name, target, changed, nil, nil, false, nil, false)
	}
	res, err := a.reorder(ctx, st, target, &merged)
	if err != nil {
		return err
	}
	return a.reportReconfigure(name, target, changed, added, removed, true, res, false)
}

// reorder orders the certificate again with settings s (the caller holds
// its lock), saving s only once the order succeeded.
func (a *app) reorder(ctx context.Context, st *store.Dir, name string, s *store.Settings) (*issue.Result, error) {
	state, err := st.LoadState(name)
	if err != nil {
		return nil, err
	}
	eng := a.engine(st)
	acctOpts, err := a.accountOptions()
	if err != nil {
		return nil, err
	}
	acctOpts.Label = s.Account
	prog := a.progress(name)
	defer prog.Done(errors.New("interrupted"))
	eng.Logger, eng.Stderr = prog.Logger(eng.Logger), prog.Writer(eng.Stderr)
	acctOpts.Confirm = prog.Confirm(acctOpts.Confirm)
	req := issue.Request{Name: name, Settings: s, State: state, Account: acctOpts, Progress: prog.Event}
	if files, _, err := st.Current(name); err == nil {
		if leaf, err := leafOf(files.Cert); err == nil {
			req.Replaces = leaf
		}
	}
	hooks := newHookRun(a)
	hooks.pre(ctx, s)
	res, err := eng.Issue(ctx, req)
	prog.Done(err)
	if err != nil {
		recordFailure(st, name, state, err, a.env.Now())
		hooks.failure(ctx, name, s, err)
		hooks.post(ctx, nil, []string{name})
		return nil, err
	}
	if err := st.SaveSettings(name, s); err != nil {
		return nil, err
	}
	deployErr := hooks.deploy(ctx, st, name, s, res)
	hooks.post(ctx, []string{name}, nil)
	if deployErr != nil {
		// The certificate is installed; report it, then fail.
		_ = a.reportReconfigure(name, name, nil, nil, nil, true, res, false)
		a.jsonDone = true
		return nil, &exitError{code: ExitFailed, err: deployErr}
	}
	return res, nil
}

// moveCert installs the current version, settings and state of from under
// to, then deletes from. A crash in between leaves both (never neither).
func moveCert(st *store.Dir, from, to string, s *store.Settings) error {
	state, err := st.LoadState(from)
	if err != nil {
		return err
	}
	state.PendingOrder = nil // an order in flight belongs to the old name
	files, _, err := st.Current(from)
	switch {
	case err == nil:
		inst, err := st.Install(to, *files, store.InstallOptions{KeyGroup: s.KeyGroup})
		var ierr *store.InstallError
		if errors.As(err, &ierr) {
			inst = ierr.Installed
		} else if err != nil {
			return fmt.Errorf("rename %s to %s: %w", from, to, err)
		}
		state.RecordInstall(inst)
	case errors.Is(err, store.ErrNotFound):
	default:
		return err
	}
	if err := st.SaveState(to, state); err != nil {
		return err
	}
	if err := st.SaveSettings(to, s); err != nil {
		return err
	}
	if err := st.Delete(from); err != nil {
		return fmt.Errorf("rename %s to %s: %s is installed but removing %s failed: %w", from, to, to, from, err)
	}
	return nil
}

// changedSettings lists the settings.yaml keys whose values differ.
func changedSettings(old, new *store.Settings) []string {
	var keys []string
	ov, nv := reflect.ValueOf(*old), reflect.ValueOf(*new)
	t := ov.Type()
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		if !reflect.DeepEqual(ov.Field(i).Interface(), nv.Field(i).Interface()) {
			keys = append(keys, tag)
		}
	}
	return keys
}

func (a *app) reportReconfigure(name, target string, changed, added, removed []string, reordered bool, res *issue.Result, dryRun bool) error {
	if a.g.json {
		doc := map[string]any{"cert_name": target, "changed": nonNil(changed), "reordered": reordered,
			"names_added": nonNil(added), "names_removed": nonNil(removed), "outcome": "reconfigured"}
		if target != name {
			doc["renamed_from"] = name
		}
		if dryRun {
			doc["outcome"] = "dry_run"
		}
		if res != nil && res.Installed != nil {
			doc["version"] = res.Installed.Version
			doc["serial"] = fmt.Sprintf("%x", res.Leaf.SerialNumber)
			doc["not_after"] = res.Leaf.NotAfter.UTC().Format(time.RFC3339)
			doc["paths"] = map[string]string{"cert": res.Installed.Cert, "chain": res.Installed.Chain,
				"fullchain": res.Installed.Fullchain, "privkey": res.Installed.PrivKey}
		}
		return a.writeJSON(doc)
	}
	if a.g.quiet {
		return nil
	}
	w := a.env.Stdout
	prefix := ""
	if dryRun {
		prefix = "Dry run: "
	}
	if target != name {
		fmt.Fprintf(w, "%s%s renamed to %s: point servers at its new paths.\n", prefix, name, target)
	}
	if len(changed) == 0 {
		fmt.Fprintf(w, "%s%s: settings unchanged.\n", prefix, target)
	} else {
		fmt.Fprintf(w, "%s%s: changed %s.\n", prefix, target, strings.Join(changed, ", "))
	}
	switch {
	case reordered && dryRun:
		fmt.Fprintf(w, "Dry run: names change (added: %s; removed: %s): a new certificate would be ordered now.\n", orDash(added), orDash(removed))
	case reordered && res != nil && res.Installed != nil:
		fmt.Fprintf(w, "Names changed (added: %s; removed: %s): new certificate version %d, expires %s.\n",
			orDash(added), orDash(removed), res.Installed.Version, res.Leaf.NotAfter.UTC().Format(time.RFC3339))
	case len(changed) > 0:
		fmt.Fprintf(w, "Nothing ordered: the new settings apply from the next renewal (acmectl renew --cert-name %s --force to apply them now).\n", target)
	}
	return nil
}
