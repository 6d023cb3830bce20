package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
)

type reconfigureOptions struct {
	certName, newName string
	dryRun            bool
	order             *orderOptions
}

func newReconfigureCmd(a *app) *cobra.Command {
	opts := &reconfigureOptions{}
	cmd := &cobra.Command{
		Use:   "reconfigure --cert-name N [obtain flags] [--new-name M]",
		Short: "Change a certificate's stored settings (reorders only if names change)",
		Long: `Change what settings.yaml of a stored certificate says, with the flags of obtain: solvers,
hooks, key type, --reuse-key, profile, preferred chain, must-staple, --server, --account, ...
A flag given replaces the stored value; an absent flag keeps it; any solver flag
replaces the stored solver set.

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
			opts.order = a.order()
			opts.certName = opts.order.certName
			return run(cmd.Context(), a, opts, a.runReconfigure)
		},
	}
	addOrderFlags(cmd)
	cmd.Flags().StringVar(&opts.newName, "new-name", "", "move the certificate to this storage name")
	cmd.Flags().BoolVar(&opts.dryRun, "dry-run", false, "show what would change; write and order nothing")
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
	// The same merge as obtain's: a flag given replaces the stored value,
	// solver flags replace the stored set.
	g, err := a.orderGiven(false)
	if err != nil {
		return err
	}
	merged, ch, err := a.merge(old, g)
	if err != nil {
		return err
	}
	if len(merged.Names) == 0 {
		return usagef("reconfigure: no names left")
	}
	if _, err := (&issue.Engine{}).Solvers(merged); err != nil {
		return usagef("%v", err)
	}
	changed, added, removed := ch.All(), ch.Added.Strings(), ch.Removed.Strings()
	reorder := ch.Reorders()
	target := name
	if o.newName != "" {
		target = o.newName
	}
	if o.dryRun {
		return a.reportReconfigure(name, target, changed, added, removed, reorder, nil, true)
	}
	plan := lifecycle.Plan{Name: target, Stored: old, Settings: merged, Changes: ch}
	eng := a.engine(st)
	var prog *certProgress
	if reorder {
		prog = a.progress(target)
		if plan.Account, err = a.accountOptions(); err != nil {
			return err
		}
		defer prog.Done(errors.New("interrupted"))
		eng.Logger, eng.Stderr = prog.Logger(eng.Logger), prog.Writer(eng.Stderr)
		plan.Account.Confirm = prog.Confirm(plan.Account.Confirm)
		plan.Progress = prog.Event
	}
	out, err := a.obtainer(st, eng).Reconfigure(ctx, name, plan, a.lockWait())
	if reorder {
		prog.Done(err)
	}
	if err != nil {
		return err // a *lifecycle.PlanError is a usage error (exit.go)
	}
	if out.DeployErr != nil {
		// The certificate is installed; report it, then fail.
		_ = a.reportReconfigure(target, target, nil, nil, nil, true, out.Result, false)
		a.jsonDone = true
		return &exitError{code: ExitFailed, err: out.DeployErr}
	}
	return a.reportReconfigure(name, target, changed, added, removed, reorder, out.Result, false)
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
