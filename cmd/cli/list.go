package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List stored certificates with expiry and next renewal time",
		Long: `List every stored certificate: names, key type, issuer, expiry, the next renewal
time and why (ARI window or lifetime rule), server, account, last error and whether
deploy hooks are pending. Read-only: no lock, no network; it reads the facts
cached in each certificate's state.json.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runList(cmd.Context()) },
	}
}

func (a *app) runList(_ context.Context) error {
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
			fmt.Fprintf(a.env.Stderr, "acmectl: no certificates in %s\n", st.Root())
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tNOT AFTER\tNEXT RENEWAL\tWHY\tKEY\tISSUER\tSERVER\tACCOUNT\tSTATUS\tDOMAINS")
	for _, ci := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ci.Name, fmtT(ci.NotAfter), fmtT(ci.NextRenewal),
			dash(ci.Rule), dash(ci.KeyType), dash(ci.Issuer), dash(ci.Server), dash(ci.Account), status(ci), dash(strings.Join(ci.Names, ",")))
	}
	return tw.Flush()
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
