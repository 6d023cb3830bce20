package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/issue"
)

// directoryOptions: directory takes the global options only.
type directoryOptions struct{}

func newDirectoryCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "directory [--json]",
		Short: "Show what the ACME server offers",
		Long: `Fetch the directory of --server and show which protocol it speaks (RFC 8555 or the
legacy ACME v1, chosen as "acmectl obtain" would, honouring --acme-version), every endpoint,
the terms of service, website, CAA identities, whether external account binding is required,
the profiles, and which optional features are offered (ARI, profiles, key change,
revocation). Wildcards, IP identifiers and notBefore/notAfter are CA policy a directory
does not state: they are shown as "not stated" unless the dialect (legacy v1 has none) or
Let's Encrypt's published policy (a server running Boulder) says more.
One unauthenticated GET; nothing is written.`,
		Example: `  acmectl directory --server letsencrypt-staging
  acmectl directory --server https://127.0.0.1:14000/dir --ca-bundle pebble.minica.pem --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), a, &directoryOptions{}, a.runDirectory)
		},
	}
}

// newServerClient builds a client for a directory URL with the global
// --ca-bundle and --acme-version (no state directory needed).
func (a *app) newServerClient(server string) (*client.Client, error) {
	roots, err := issue.RootPool(a.g.caBundle)
	if err != nil {
		return nil, usagef("%v", err)
	}
	c, err := client.New(client.Config{
		DirectoryURL: server, Version: a.g.acmeVersion, RootCAs: roots,
		UserAgent: a.env.userAgent(), Logger: a.log, Now: a.env.Now,
	})
	if err != nil {
		return nil, usagef("--server: %v", err)
	}
	return c, nil
}

// directoryFeatures says which optional features the server offers.
func directoryFeatures(d *client.Directory) [][2]any {
	return [][2]any{
		{"ari", d.RenewalInfo != ""},
		{"profiles", len(d.Meta.Profiles) > 0},
		{"key_change", d.KeyChange != ""},
		{"revocation", d.RevokeCert != ""},
		{"pre_authorization", d.NewAuthz != ""},
	}
}

// directoryPolicy is what is known of the features a directory does not
// state (wildcards, IP identifiers, notBefore/notAfter, external account
// binding): never "yes" merely because the server speaks RFC 8555.
func directoryPolicy(d *client.Directory) map[string]any {
	out := map[string]any{}
	for _, st := range d.Statements() {
		out[st.Feature] = map[string]string{"value": st.Value, "detail": st.Detail}
	}
	return out
}

func (a *app) runDirectory(ctx context.Context, _ *directoryOptions) error {
	c, err := a.newServerClient(a.g.server)
	if err != nil {
		return err
	}
	d, err := c.Directory(ctx)
	if err != nil {
		return err
	}
	if a.g.json {
		eps := map[string]string{}
		for _, e := range d.Endpoints {
			eps[e[0]] = e[1]
		}
		feats := map[string]bool{}
		for _, f := range directoryFeatures(d) {
			feats[f[0].(string)] = f[1].(bool)
		}
		profiles := map[string]string{}
		for n, desc := range d.Meta.Profiles {
			profiles[n] = client.Sanitize(desc, 300)
		}
		caa := []string{}
		for _, id := range d.Meta.CAAIdentities {
			caa = append(caa, client.Sanitize(id, 255))
		}
		return a.writeJSON(map[string]any{
			"url": d.URL, "dialect": d.DialectID, "dialect_name": d.Dialect,
			"endpoints":                 eps,
			"terms_of_service":          client.Sanitize(d.Meta.TermsOfService, 2048),
			"website":                   client.Sanitize(d.Meta.Website, 2048),
			"caa_identities":            caa,
			"external_account_required": d.Meta.ExternalAccountRequired,
			"profiles":                  profiles,
			"features":                  feats,
			"policy":                    directoryPolicy(d),
			"keys":                      d.Keys,
		})
	}
	writeDirectoryText(a.env.Stdout, d)
	return nil
}

func writeDirectoryText(w io.Writer, d *client.Directory) {
	orNone := func(s string) string {
		if s == "" {
			return "(none)"
		}
		return client.Sanitize(s, 2048)
	}
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	fmt.Fprintf(w, "Directory:        %s\n", d.URL)
	fmt.Fprintf(w, "Dialect:          %s\n", d.Dialect)
	fmt.Fprintln(w, "Endpoints:")
	for _, e := range d.Endpoints {
		fmt.Fprintf(w, "  %-13s %s\n", e[0], e[1])
	}
	fmt.Fprintf(w, "Terms of service: %s\n", orNone(d.Meta.TermsOfService))
	fmt.Fprintf(w, "Website:          %s\n", orNone(d.Meta.Website))
	var caa []string
	for _, id := range d.Meta.CAAIdentities {
		caa = append(caa, client.Sanitize(id, 255))
	}
	fmt.Fprintf(w, "CAA identities:   %s\n", orNone(strings.Join(caa, ", ")))
	// One line says everything about external account binding (the
	// feature list below leaves it out, so the two never disagree), and
	// only what the directory says: it states a requirement, never
	// whether a binding is accepted.
	eab := "not required"
	switch {
	case d.Meta.ExternalAccountRequired:
		eab = "required (--eab-kid and --eab-hmac-key-file)"
	case d.DialectID == "v1":
		eab = "not supported (legacy v1)"
	}
	fmt.Fprintf(w, "External account: %s\n", eab)
	if names := d.ProfileNames(); len(names) > 0 {
		fmt.Fprintln(w, "Profiles:")
		for _, n := range names {
			fmt.Fprintf(w, "  %-13s %s\n", n, client.Sanitize(d.Meta.Profiles[n], 300))
		}
	} else {
		fmt.Fprintln(w, "Profiles:         (none)")
	}
	fmt.Fprintln(w, "Features:")
	labels := map[string]string{
		"ari": "renewal info (ARI)", "profiles": "profiles", "key_change": "key rollover",
		"revocation": "revocation", "pre_authorization": "pre-authorization",
		"wildcard": "wildcard names", "ip_identifiers": "IP identifiers", "validity_dates": "notBefore/notAfter",
	}
	for _, f := range directoryFeatures(d) {
		fmt.Fprintf(w, "  %-25s %s\n", labels[f[0].(string)], yesNo(f[1].(bool)))
	}
	for _, st := range d.Statements() {
		if st.Feature != "external_account_binding" { // on the "External account" line above
			fmt.Fprintf(w, "  %-25s %s\n", labels[st.Feature], client.Sanitize(st.String(), 300))
		}
	}
	if d.Retired {
		fmt.Fprintln(w, "Note: legacy ACME v1 is retired; move to an RFC 8555 endpoint with \"acmectl account migrate\".")
	}
}
