package cli

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
)

// revocationReasons are the RFC 5280 §5.3.1 CRLReason codes by name (7 is
// unused). Which of them a CA accepts is the CA's business: Let's Encrypt
// (Boulder) takes 0, 1, 4 and 5 only; Pebble all but 7.
func revocationReasons() map[string]int {
	return map[string]int{
		"unspecified": 0, "keyCompromise": 1, "cACompromise": 2, "affiliationChanged": 3,
		"superseded": 4, "cessationOfOperation": 5, "certificateHold": 6,
		"removeFromCRL": 8, "privilegeWithdrawn": 9, "aACompromise": 10,
	}
}

// parseReason accepts a reason name (any case) or its code.
func parseReason(s string) (*int, string, error) {
	if s == "" {
		return nil, "", nil
	}
	reasons := revocationReasons()
	if n, err := strconv.Atoi(s); err == nil {
		for name, code := range reasons {
			if code == n {
				return &n, name, nil
			}
		}
		return nil, "", usagef("--reason %d: not an RFC 5280 reason code (0-10 except 7)", n)
	}
	for name, code := range reasons {
		if strings.EqualFold(name, s) {
			return &code, name, nil
		}
	}
	return nil, "", usagef("--reason %q: want one of unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold, removeFromCRL, privilegeWithdrawn, aACompromise (or the code)", s)
}

type revokeOptions struct {
	certName, certFile, keyFile, reason string
	del, yes, withCertKey               bool
}

// boulderAllows reports whether Let's Encrypt (Boulder's
// revocation.UserAllowedReason) accepts reason from a subscriber: 0, 1, 4, 5.
func boulderAllows(reason int) bool {
	return reason == 0 || reason == 1 || reason == 4 || reason == 5
}

const keyCompromise = 1

func newRevokeCmd(a *app) *cobra.Command {
	opts := &revokeOptions{}
	cmd := &cobra.Command{
		Use:   "revoke (--cert-name N [--with-cert-key] | --cert FILE [--key FILE]) [--reason R] [--delete] [--yes]",
		Short: "Revoke a certificate",
		Long: `Ask the CA to revoke a certificate: a stored one (--cert-name) or any certificate
file (--cert FILE, PEM or DER; the first certificate is the one revoked).

The request is signed with the account key (the certificate's account for --cert-name;
--account on --server for --cert), or, only when asked, with the certificate's own
private key: --key FILE, or --with-cert-key for a stored certificate. That works
without the account (after a key compromise, or for a certificate issued to another
client), but Let's Encrypt then records the reason as keyCompromise whatever --reason
says and blocks the key for good: every other certificate with the same key is
revoked too. acmectl never falls back to it on its own.

--reason is an RFC 5280 reason name or code: unspecified (0), keyCompromise (1),
cACompromise (2), affiliationChanged (3), superseded (4), cessationOfOperation (5),
certificateHold (6), removeFromCRL (8), privilegeWithdrawn (9), aACompromise (10).
CAs accept a subset (Let's Encrypt: 0, 1, 4, 5; acmectl refuses the others there
before sending anything) and refuse the others.

A stored certificate is marked revoked in its state.json: the next renew replaces it,
always with a fresh key. --delete removes it from the state directory instead.
Revocation cannot be undone: it asks on a terminal and needs --yes off one.`,
		Example: `  acmectl revoke --cert-name example.com --reason superseded --yes
  acmectl revoke --cert /tmp/leaked.pem --key /tmp/leaked-key.pem --reason keyCompromise --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), a, opts, a.runRevoke)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.certName, "cert-name", "", "the stored certificate to revoke")
	f.StringVar(&opts.certFile, "cert", "", "certificate file to revoke (PEM or DER)")
	f.StringVar(&opts.keyFile, "key", "", "sign with this private key of the certificate instead of the account key (Let's Encrypt: recorded as keyCompromise, the key blocked)")
	f.BoolVar(&opts.withCertKey, "with-cert-key", false, "sign with the stored certificate's own key instead of the account key (Let's Encrypt: recorded as keyCompromise, the key blocked)")
	f.StringVar(&opts.reason, "reason", "", "RFC 5280 reason name or code (default: none sent, i.e. unspecified)")
	f.BoolVar(&opts.del, "delete", false, "delete the stored certificate after revoking it")
	f.BoolVar(&opts.yes, "yes", false, "do not ask for confirmation")
	return cmd
}

// revokeTarget is what is revoked and how the request is signed.
type revokeTarget struct {
	name     string // stored certificate, "" if none
	settings *store.Settings
	leaf     *x509.Certificate
	certKey  crypto.Signer // nil: sign with the account
}

func (a *app) runRevoke(ctx context.Context, o *revokeOptions) error {
	if (o.certName == "") == (o.certFile == "") {
		return usagef("revoke: give exactly one of --cert-name N or --cert FILE")
	}
	reason, reasonName, err := parseReason(o.reason)
	if err != nil {
		return err
	}
	st, err := a.openStore()
	if err != nil {
		return err
	}
	t := &revokeTarget{name: o.certName}
	if o.certName != "" {
		if err := store.ValidCertName(o.certName); err != nil {
			return usagef("--cert-name %q: must match ^[a-z0-9][a-z0-9._-]{0,127}$", o.certName)
		}
		if t.settings, err = st.LoadSettings(o.certName); errors.Is(err, store.ErrNotFound) {
			return usagef("no certificate named %q in %s", o.certName, st.Root())
		} else if err != nil {
			return err
		}
		files, _, err := st.Current(o.certName)
		if err != nil {
			return usagef("certificate %q has no installed version to revoke: %v", o.certName, err)
		}
		if t.leaf, err = leafOf(files.Cert); err != nil {
			return fmt.Errorf("read %s: %w", o.certName, err)
		}
	} else {
		data, err := os.ReadFile(o.certFile)
		if err != nil {
			return usagef("--cert: %v", err)
		}
		if t.leaf, err = parseCertFile(data); err != nil {
			return usagef("--cert %s: %v", o.certFile, err)
		}
		t.settings = &store.Settings{Server: a.g.server, Account: a.g.account, ACMEVersion: a.g.acmeVersion, CABundle: a.g.caBundle}
		// A stored certificate with this leaf is marked revoked too.
		t.name, _ = lifecycle.FindStored(st, t.leaf)
		if t.name != "" {
			if s, err := st.LoadSettings(t.name); err == nil && a.cfg.source("server") == sourceDefault {
				t.settings = s
			}
		}
	}
	if o.keyFile != "" {
		data, err := readSecretFile(a.env, "--key", o.keyFile)
		if err != nil {
			return err
		}
		k, err := keys.ParsePrivateKeyPEM(data)
		if err != nil {
			return usagef("--key %s: %v", o.keyFile, err)
		}
		if !keys.MatchesKey(t.leaf, k.Public()) {
			return usagef("--key %s is not the key of the certificate", o.keyFile)
		}
		t.certKey = k
	}
	if o.withCertKey {
		if o.keyFile != "" || t.name == "" {
			return usagef("--with-cert-key signs with a stored certificate's key: use it with --cert-name (or --key FILE for a file)")
		}
		files, _, err := st.Current(t.name)
		if err != nil || files.PrivKey == nil {
			return usagef("--with-cert-key: %s has no stored private key (made from --csr?): pass --key FILE", t.name)
		}
		if t.certKey, err = keys.ParsePrivateKeyPEM(files.PrivKey); err != nil {
			return fmt.Errorf("read %s key: %w", t.name, err)
		}
	}
	if o.del && t.name == "" {
		return usagef("revoke --delete: %s is not a stored certificate", o.certFile)
	}
	serial := fmt.Sprintf("%x", t.leaf.SerialNumber)
	what := fmt.Sprintf("certificate %s (serial %s, %s)", orDash(certNames(t.leaf)), serial, t.settings.Server)
	// What Let's Encrypt (Boulder) does differently: fewer reasons, and a
	// request signed with the certificate key means keyCompromise plus a
	// blocked key. Said before anything is sent.
	if boulder := a.isBoulder(ctx, st, t.settings); boulder {
		if reason != nil && !boulderAllows(*reason) {
			return usagef("--reason %s (%d): %s accepts only unspecified (0), keyCompromise (1), superseded (4) and cessationOfOperation (5)", reasonName, *reason, client.BoulderPolicy)
		}
		if t.certKey != nil {
			fmt.Fprintf(a.env.Stderr, "acmectl: warning: signed with the certificate's key, %s records the revocation as keyCompromise (1) whatever --reason says, and blocks this key: every other certificate with the same key is revoked too\n", client.BoulderPolicy)
			if reason == nil || *reason != keyCompromise {
				applied := keyCompromise
				reason, reasonName = &applied, "keyCompromise"
			}
		}
	}
	if err := a.confirmIrreversible(o.yes, "revoke", "Revoke "+what+"? This cannot be undone."); err != nil {
		return err
	}
	var already bool
	send := func(ctx context.Context) (err error) { already, err = a.revoke(ctx, st, t, reason); return err }
	if t.name == "" {
		err = send(ctx)
	} else {
		err = lifecycle.Revoke(ctx, st, t.name, a.lockWait(), o.del, send)
	}
	if err != nil {
		return err
	}
	if a.g.json {
		doc := map[string]any{"serial": serial, "names": certNames(t.leaf), "server": t.settings.Server,
			"outcome": "revoked", "deleted": o.del}
		if already {
			doc["outcome"] = "already_revoked"
		}
		if t.name != "" {
			doc["cert_name"] = t.name
		}
		if reason != nil {
			doc["reason"], doc["reason_code"] = reasonName, *reason
		}
		return a.writeJSON(doc)
	}
	if a.g.quiet {
		return nil
	}
	msg := "Revoked " + what
	if already {
		msg = "Already revoked: " + what
	}
	if reason != nil {
		msg += fmt.Sprintf(", reason %s (%d)", reasonName, *reason)
	}
	fmt.Fprintln(a.env.Stdout, msg+".")
	switch {
	case t.name != "" && o.del:
		fmt.Fprintf(a.env.Stdout, "Deleted %s from the state directory.\n", t.name)
	case t.name != "":
		fmt.Fprintf(a.env.Stdout, "%s is marked revoked: the next renew replaces it with a fresh key.\n", t.name)
	}
	return nil
}

// revoke sends the revocation (lifecycle.SendRevocation). It reports
// already=true when the CA says the certificate was revoked before (that
// is success too).
func (a *app) revoke(ctx context.Context, st *store.Dir, t *revokeTarget, reason *int) (already bool, err error) {
	var opts issue.AccountOptions
	if t.certKey == nil {
		if opts, err = a.accountOptions(); err != nil {
			return false, err
		}
	}
	return lifecycle.SendRevocation(ctx, a.engine(st), lifecycle.Revocation{Name: t.name, Settings: t.settings, Leaf: t.leaf,
		CertKey: t.certKey, Reason: reason, Account: opts})
}

// isBoulder reports whether the server is Let's Encrypt's or runs Boulder
// (from its directory; false when the directory cannot be read, and the
// revocation itself then reports the error).
func (a *app) isBoulder(ctx context.Context, st *store.Dir, s *store.Settings) bool {
	c, err := a.engine(st).Client(s)
	if err != nil {
		return false
	}
	dir, err := c.Directory(ctx)
	// Today's Let's Encrypt policy (RFC 8555 endpoints); the legacy v1
	// dialect enforces the reasons its endpoint accepted itself.
	return err == nil && dir.Boulder && dir.Version == "2"
}

// parseCertFile reads the first certificate of a PEM file, or a DER one.
func parseCertFile(data []byte) (*x509.Certificate, error) {
	if len(data) > 1<<20 {
		return nil, errors.New("larger than 1 MiB")
	}
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block is %q, want CERTIFICATE", b.Type)
		}
		data = b.Bytes
	}
	return x509.ParseCertificate(data)
}

// certNames lists the names of a certificate.
func certNames(c *x509.Certificate) []string {
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	return names
}
