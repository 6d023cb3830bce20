package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

type listOptions struct{ wide bool }

func newListCmd(a *app) *cobra.Command {
	opts := &listOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List stored certificates with expiry and next renewal time",
		Long: `List every stored certificate: names, key type, issuer, expiry, the next renewal
time and why (ARI window or lifetime rule), server, account, last error and whether
deploy hooks are pending. Read-only: no lock, no network; it reads the facts
cached in each certificate's state.json.`,
		Args: cobra.NoArgs,
		Example: `  acmectl list
  acmectl list --wide      # every column: rule, key, issuer, server, account
  acmectl list --json`,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), a, opts, a.runList) },
	}
	cmd.Flags().BoolVar(&opts.wide, "wide", false, "all columns (times to the second, rule, key, issuer, server, account, every domain)")
	return cmd
}

func (a *app) runList(_ context.Context, o *listOptions) error {
	wide := o.wide
	st, err := a.openStore()
	if err != nil {
		return err
	}
	names, err := st.List()
	if err != nil {
		return err
	}
	infos := loadCertInfos(st, names, a.env.Now())
	if a.g.json {
		return a.writeJSON(map[string]any{"certificates": infos})
	}
	if len(infos) == 0 {
		if !a.g.quiet {
			fmt.Fprintf(a.env.Stderr, "acmectl: no certificates in %s%s\n", st.Root(), a.rootStateHint())
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.env.Stdout, 0, 0, 2, ' ', 0)
	if wide {
		fmt.Fprintln(tw, "NAME\tNOT AFTER\tNEXT RENEWAL\tWHY\tKEY\tISSUER\tSERVER\tACCOUNT\tSTATUS\tDOMAINS")
		for _, ci := range infos {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ci.Name, fmtT(ci.NotAfter), fmtT(ci.NextRenewal),
				dash(ci.Rule), dash(ci.KeyType), dash(ci.Issuer), dash(ci.Server), dash(ci.Account), status(ci), dash(strings.Join(ci.Names.Strings(), ",")))
		}
		return tw.Flush()
	}
	// Narrow: fits 80 columns for names up to about 24 characters.
	fmt.Fprintln(tw, "NAME\tEXPIRES\tRENEWS\tSTATUS\tDOMAINS")
	for _, ci := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ci.Name, fmtDay(ci.NotAfter), fmtDay(ci.NextRenewal), status(ci), domainsShort(ci.Names.Strings()))
	}
	return tw.Flush()
}

// fmtDay is a date for the narrow list (full times are in --wide, show
// and --json).
func fmtDay(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format("2006-01-02")
}

// domainsShort is the first name and how many more.
func domainsShort(names []string) string {
	switch len(names) {
	case 0:
		return "-"
	case 1:
		return names[0]
	}
	return fmt.Sprintf("%s +%d", names[0], len(names)-1)
}

// rootStateHint explains an empty state dir to a non-root user when
// root's default one exists: certificates obtained with sudo live there.
func (a *app) rootStateHint() string {
	rootDir := a.env.rootStateDir()
	if a.env.Euid == 0 || a.cfg == nil || a.cfg.source("state-dir") != sourceDefault || a.g.stateDir == rootDir {
		return ""
	}
	if _, err := os.Stat(rootDir); err != nil {
		return ""
	}
	if _, err := os.ReadDir(rootDir); err != nil {
		return fmt.Sprintf("; certificates obtained as root are in %s, which you cannot read (sudo acmectl ...)", rootDir)
	}
	return fmt.Sprintf("; certificates obtained as root are in %s (--state-dir %s)", rootDir, rootDir)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// status is the short state column: ok, deploy-pending, failed, revoked...
func status(ci *certInfo) string {
	var s []string
	if ci.Problem != "" {
		s = append(s, "unreadable")
	}
	if ci.Revoked {
		s = append(s, "revoked")
	}
	if ci.DeployPending {
		s = append(s, "deploy-pending")
	}
	if ci.LastError != nil {
		s = append(s, "last-error:"+ci.LastError.Class)
	}
	if ci.PendingOrder != "" {
		s = append(s, "order-pending")
	}
	if len(s) == 0 {
		return "ok"
	}
	return strings.Join(s, ",")
}
