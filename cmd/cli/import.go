package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/challenges/dns01/providers/registry"
	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
)

type importOptions struct {
	from string
	yes  bool
}

func newImportCmd(a *app) *cobra.Command {
	opts := &importOptions{}
	cmd := &cobra.Command{
		Use:   "import certbot|lego [--from DIR]",
		Short: "Adopt accounts, certificates and renewal settings of certbot or lego",
		Long: `Adopt what another ACME client manages, so acmectl renews it from now on.

certbot (--from, default /etc/letsencrypt): every account under accounts/ (key and URL,
so no new account is created), every certificate with a renewal/<name>.conf: the live
files become version 1 under <state-dir>/certificates/<name>/, and the renewal settings
(server, account, authenticator standalone → --http-01, webroot → --webroot, the dns-*
plugins (dns-cloudflare, dns-digitalocean, dns-linode, dns-route53, dns-google, ...) → the
DNS provider of that name reading the same credentials file, key type, hooks) become
settings.yaml. certbot hooks are shell commands; one that needs a shell
(pipes, $VARS, ;) is skipped with a warning: put it in a script and add it with
"acmectl reconfigure --deploy-hook".

lego (--from, default ./.lego): the accounts of --server under accounts/<host>/ and the
certificates under certificates/. lego stores no renewal settings, so give the solver
flags (--http-01, --webroot, --dns-01 ...) to use for its certificates.

Nothing of the other client is changed or removed; disable its renewal timer yourself.
Without --yes, import only shows what it would do.`,
		Example: `  acmectl import certbot --from /etc/letsencrypt          # show the plan
  acmectl import certbot --from /etc/letsencrypt --yes
  acmectl import lego --from /root/.lego --server letsencrypt --webroot /var/www/html --yes`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"certbot", "lego"},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.from, _ = cmd.Flags().GetString("from")
			opts.yes, _ = cmd.Flags().GetBool("yes")
			switch args[0] {
			case "certbot":
				if opts.from == "" {
					opts.from = "/etc/letsencrypt"
				}
				return a.runImport(cmd.Context(), opts, a.planCertbot)
			case "lego":
				if opts.from == "" {
					opts.from = ".lego"
				}
				return a.runImport(cmd.Context(), opts, a.planLego)
			}
			return usagef("import %q: want certbot or lego", args[0])
		},
	}
	cmd.Flags().String("from", "", "the other client's directory (certbot: /etc/letsencrypt; lego: ./.lego)")
	cmd.Flags().Bool("yes", false, "apply (without it, only show the plan)")
	addOrderFlags(cmd)
	return cmd
}

// importAccount is one account to adopt.
type importAccount struct {
	server, label, url string
	contacts           []string
	key                crypto.Signer
	origin             string
}

// importCert is one certificate to adopt.
type importCert struct {
	name     string
	settings *store.Settings
	files    store.Files
	origin   string
	warnings []string
}

type importPlan struct {
	accounts []importAccount
	certs    []importCert
	skipped  []string
}

func (a *app) runImport(ctx context.Context, opts *importOptions, planner func(string) (*importPlan, error)) error {
	st, err := a.openStore()
	if err != nil {
		return err
	}
	if st2, err := os.Stat(opts.from); err != nil || !st2.IsDir() {
		return usagef("import: --from %s is not a directory", opts.from)
	}
	plan, err := planner(opts.from)
	if err != nil {
		return err
	}
	var applied []string
	if opts.yes {
		if applied, err = a.applyImport(ctx, st, plan); err != nil {
			return err
		}
	}
	return a.reportImport(plan, opts.yes, applied)
}

func (a *app) applyImport(ctx context.Context, st *store.Dir, plan *importPlan) ([]string, error) {
	var done []string
	unlock, err := st.LockState(ctx, a.lockWait())
	if err != nil {
		return nil, err
	}
	for _, acc := range plan.accounts {
		if rec, _, err := st.LoadAccount(acc.server, acc.label); err == nil && rec.URL != "" {
			plan.skipped = append(plan.skipped, fmt.Sprintf("account %s on %s: already stored", acc.label, acc.server))
			continue
		}
		rec := &store.AccountRecord{URL: acc.url, Contacts: acc.contacts, DirectoryURL: acc.server, Created: a.env.Now(), Status: "valid"}
		if err := st.SaveAccount(acc.server, acc.label, rec, acc.key); err != nil {
			unlock()
			return done, err
		}
		done = append(done, "account "+acc.label+" on "+acc.server)
	}
	unlock()
	for _, c := range plan.certs {
		if st.Exists(c.name) {
			plan.skipped = append(plan.skipped, fmt.Sprintf("certificate %s: already managed by acmectl", c.name))
			continue
		}
		unlockCert, err := st.LockCert(ctx, c.name, a.lockWait())
		if err != nil {
			return done, err
		}
		err = lifecycle.Adopt(st, c.name, c.files, c.settings)
		unlockCert()
		if err != nil {
			return done, fmt.Errorf("import %s: %w", c.name, err)
		}
		done = append(done, "certificate "+c.name)
	}
	return done, nil
}

func (a *app) reportImport(plan *importPlan, applied bool, done []string) error {
	if a.g.json {
		var accts, certs []map[string]any
		for _, acc := range plan.accounts {
			accts = append(accts, map[string]any{"server": acc.server, "label": acc.label, "url": acc.url, "from": acc.origin})
		}
		for _, c := range plan.certs {
			certs = append(certs, map[string]any{"cert_name": c.name, "names": c.settings.Names, "server": c.settings.Server, "from": c.origin, "warnings": c.warnings})
		}
		return a.writeJSON(map[string]any{"applied": applied, "accounts": accts, "certificates": certs, "skipped": plan.skipped, "done": done})
	}
	w := a.env.Stdout
	verb := "Would import"
	if applied {
		verb = "Imported"
	}
	for _, acc := range plan.accounts {
		fmt.Fprintf(w, "%s account %s on %s (%s)\n", verb, acc.label, acc.server, acc.origin)
	}
	for _, c := range plan.certs {
		fmt.Fprintf(w, "%s certificate %s: %s (%s)\n", verb, c.name, strings.Join(c.settings.Names, ", "), c.origin)
		for _, warn := range c.warnings {
			fmt.Fprintf(w, "  warning: %s\n", warn)
		}
	}
	for _, s := range plan.skipped {
		fmt.Fprintf(w, "Skipped %s\n", s)
	}
	if !applied {
		fmt.Fprintln(w, "Nothing changed: run again with --yes to import.")
	}
	return nil
}

// planCertbot reads a certbot config directory.
func (a *app) planCertbot(root string) (*importPlan, error) {
	plan := &importPlan{}
	accounts := map[string]importAccount{} // certbot account id → account
	accRoot := filepath.Join(root, "accounts")
	_ = filepath.WalkDir(accRoot, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "regr.json" {
			return nil
		}
		dir := filepath.Dir(path)
		acc, err := certbotAccount(dir)
		if err != nil {
			plan.skipped = append(plan.skipped, fmt.Sprintf("account %s: %v", dir, err))
			return nil
		}
		accounts[filepath.Base(dir)] = acc
		return nil
	})
	confs, _ := filepath.Glob(filepath.Join(root, "renewal", "*.conf"))
	slices.Sort(confs)
	used := map[string]bool{}
	for _, conf := range confs {
		c, acctID, err := a.certbotCert(conf)
		if err != nil {
			plan.skipped = append(plan.skipped, fmt.Sprintf("%s: %v", conf, err))
			continue
		}
		if acc, ok := accounts[acctID]; ok {
			label := c.settings.Account
			if prev, taken := used[acc.server+"\x00"+label]; taken && prev {
				label = "certbot-" + acctID[:min(8, len(acctID))]
			}
			acc.label = label
			c.settings.Account = label
			if !used[acc.server+"\x00"+label] {
				plan.accounts = append(plan.accounts, acc)
				used[acc.server+"\x00"+label] = true
			}
		} else {
			c.warnings = append(c.warnings, "its certbot account was not found: a new account will be registered at renewal")
		}
		plan.certs = append(plan.certs, c)
	}
	return plan, nil
}

// certbotAccount reads accounts/<server>/<path>/<id>/{private_key.json,regr.json,meta.json}.
func certbotAccount(dir string) (importAccount, error) {
	var acc importAccount
	var regr struct {
		URI  string `json:"uri"`
		Body struct {
			Contact []string `json:"contact"`
		} `json:"body"`
	}
	if err := readJSONFile(filepath.Join(dir, "regr.json"), &regr); err != nil {
		return acc, err
	}
	keyData, err := readSmall(filepath.Join(dir, "private_key.json"))
	if err != nil {
		return acc, err
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(keyData); err != nil {
		return acc, fmt.Errorf("private_key.json: %v", err)
	}
	signer, ok := jwk.Key.(crypto.Signer)
	if !ok || jwk.IsPublic() {
		return acc, errors.New("private_key.json holds no private key")
	}
	u, err := url.Parse(regr.URI)
	if err != nil || u.Scheme != "https" && u.Scheme != "http" {
		return acc, errors.New("regr.json has no account URL")
	}
	server := certbotServerFromDir(dir)
	acc = importAccount{server: server, label: "default", url: regr.URI, key: signer, origin: dir}
	for _, c := range regr.Body.Contact {
		acc.contacts = append(acc.contacts, strings.TrimPrefix(c, "mailto:"))
	}
	return acc, nil
}

// certbotServerFromDir turns accounts/<host[:port]>/<path>/<id> back into
// the directory URL certbot used (https://host[:port]/path).
func certbotServerFromDir(dir string) string {
	parts := strings.Split(filepath.ToSlash(dir), "/")
	for i := len(parts) - 1; i >= 0; i-- {
		if parts[i] == "accounts" && i+2 < len(parts) {
			return "https://" + strings.Join(parts[i+1:len(parts)-1], "/")
		}
	}
	return ""
}

// certbotCert reads one renewal conf and the files it names.
func (a *app) certbotCert(conf string) (importCert, string, error) {
	var c importCert
	ini, err := parseCertbotConf(conf)
	if err != nil {
		return c, "", err
	}
	name := strings.TrimSuffix(filepath.Base(conf), ".conf")
	if err := store.ValidCertName(name); err != nil {
		return c, "", fmt.Errorf("certificate name %q is not valid here (use lowercase letters, digits, '.', '_', '-')", name)
	}
	top, rp := ini[""], ini["renewalparams"]
	files := store.Files{}
	for _, f := range []struct {
		key string
		dst *[]byte
	}{{"cert", &files.Cert}, {"chain", &files.Chain}, {"fullchain", &files.Fullchain}, {"privkey", &files.PrivKey}} {
		p := top[f.key]
		if p == "" {
			return c, "", fmt.Errorf("no %s path", f.key)
		}
		if *f.dst, err = readSmall(p); err != nil {
			return c, "", err
		}
	}
	leaf, err := leafOf(files.Cert)
	if err != nil {
		return c, "", fmt.Errorf("cert: %v", err)
	}
	s := &store.Settings{Server: rp["server"], Account: "default", KeyType: certbotKeyType(rp), Email: nil}
	if s.Server == "" {
		s.Server = serverAliases()["letsencrypt"]
	}
	for _, n := range leaf.DNSNames {
		s.Names = append(s.Names, strings.ToLower(n))
	}
	for _, ip := range leaf.IPAddresses {
		s.Names = append(s.Names, ip.String())
	}
	c = importCert{name: name, settings: s, files: files, origin: conf}
	switch rp["authenticator"] {
	case "standalone":
		addr := ":80"
		if p := rp["http01_port"]; p != "" {
			addr = rp["http01_address"] + ":" + p
		}
		s.HTTP01Addrs = []string{addr}
	case "webroot":
		w := strings.TrimSuffix(strings.Split(rp["webroot_path"], ",")[0], ",")
		if w == "" {
			for _, v := range ini["renewalparams.webroot_map"] {
				w = v
				break
			}
		}
		s.Webroot = strings.TrimSpace(w)
	default:
		// certbot's dns-* plugins: the matching DNS provider, reading the
		// same credentials file (challenges/dns01/providers/registry).
		if p, opts, wait, ok := registry.FromCertbot(rp["authenticator"], rp); ok {
			s.DNS = store.DNSSettings{Provider: p, Options: opts, PropagationWait: wait}
			break
		}
		c.warnings = append(c.warnings, fmt.Sprintf("certbot authenticator %q has no acmectl equivalent: set a solver with acmectl reconfigure --cert-name %s", rp["authenticator"], name))
	}
	for key, dst := range map[string]*[][]string{"pre_hook": &s.Hooks.Pre, "post_hook": &s.Hooks.Post, "renew_hook": &s.Hooks.Deploy} {
		h := strings.TrimSpace(rp[key])
		if h == "" {
			continue
		}
		argv, err := hook.Split(h)
		if err != nil {
			c.warnings = append(c.warnings, fmt.Sprintf("%s %q skipped: %v", key, h, err))
			continue
		}
		*dst = [][]string{argv}
	}
	return c, rp["account"], nil
}

func certbotKeyType(rp map[string]string) string {
	switch rp["key_type"] {
	case "ecdsa":
		if rp["elliptic_curve"] == "secp384r1" {
			return keys.EC384
		}
		return keys.EC256
	case "rsa", "":
		switch rp["rsa_key_size"] {
		case "3072":
			return keys.RSA3072
		case "4096":
			return keys.RSA4096
		}
		if rp["key_type"] == "rsa" {
			return keys.RSA2048
		}
	}
	return keys.EC256
}

// parseCertbotConf reads certbot's configobj format: "key = value" lines
// in [section] and [[subsection]] blocks; section names are joined with ".".
func parseCertbotConf(path string) (map[string]map[string]string, error) {
	data, err := readSmall(path)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{"": {}}
	section, parent := "", ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "[[") && strings.HasSuffix(line, "]]"):
			section = parent + "." + strings.TrimSpace(line[2:len(line)-2])
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			parent = strings.TrimSpace(line[1 : len(line)-1])
			section = parent
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			if out[section] == nil {
				out[section] = map[string]string{}
			}
			out[section][strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return out, sc.Err()
}

// planLego reads a lego --path directory for the accounts of --server.
func (a *app) planLego(root string) (*importPlan, error) {
	plan := &importPlan{}
	server := a.g.server
	u, err := url.Parse(server)
	if err != nil {
		return nil, usagef("--server %q: %v", server, err)
	}
	hostDir := strings.ReplaceAll(u.Host, ":", "_")
	accDirs, _ := filepath.Glob(filepath.Join(root, "accounts", hostDir, "*"))
	slices.Sort(accDirs)
	for i, dir := range accDirs {
		var acct struct {
			Email        string `json:"email"`
			Registration struct {
				URI string `json:"uri"`
			} `json:"registration"`
		}
		if err := readJSONFile(filepath.Join(dir, "account.json"), &acct); err != nil {
			plan.skipped = append(plan.skipped, fmt.Sprintf("account %s: %v", dir, err))
			continue
		}
		keyData, err := readSmall(filepath.Join(dir, "keys", filepath.Base(dir)+".key"))
		if err != nil {
			plan.skipped = append(plan.skipped, fmt.Sprintf("account %s: %v", dir, err))
			continue
		}
		key, err := keys.ParsePrivateKeyPEM(keyData)
		if err != nil || acct.Registration.URI == "" {
			plan.skipped = append(plan.skipped, fmt.Sprintf("account %s: no usable key or account URL", dir))
			continue
		}
		label := "default"
		if i > 0 {
			label = fmt.Sprintf("lego-%d", i+1)
		}
		acc := importAccount{server: server, label: label, url: acct.Registration.URI, key: key, origin: dir}
		if acct.Email != "" {
			acc.contacts = []string{acct.Email}
		}
		plan.accounts = append(plan.accounts, acc)
	}
	solver := &store.Settings{}
	if err := a.applyOrderFlags(solver, true); err != nil {
		return nil, err
	}
	crts, _ := filepath.Glob(filepath.Join(root, "certificates", "*.crt"))
	slices.Sort(crts)
	for _, crt := range crts {
		if strings.HasSuffix(crt, ".issuer.crt") {
			continue
		}
		base := strings.TrimSuffix(crt, ".crt")
		full, err1 := readSmall(crt)
		key, err2 := readSmall(base + ".key")
		issuer, _ := readSmall(base + ".issuer.crt")
		if err := errors.Join(err1, err2); err != nil {
			plan.skipped = append(plan.skipped, fmt.Sprintf("%s: %v", crt, err))
			continue
		}
		chain, err := keys.ParseCertificateChainPEM(full)
		if err != nil {
			plan.skipped = append(plan.skipped, fmt.Sprintf("%s: %v", crt, err))
			continue
		}
		leafPEM := keys.EncodeCertificatesPEM(chain[:1])
		if len(chain) > 1 {
			issuer = keys.EncodeCertificatesPEM(chain[1:])
		}
		var names []string
		names = append(names, chain[0].DNSNames...)
		for _, ip := range chain[0].IPAddresses {
			names = append(names, ip.String())
		}
		if len(names) == 0 {
			plan.skipped = append(plan.skipped, crt+": certificate names nothing")
			continue
		}
		name, err := store.DefaultCertName(names[0])
		if err != nil {
			plan.skipped = append(plan.skipped, fmt.Sprintf("%s: %v", crt, err))
			continue
		}
		s := *solver
		s.Names, s.Server, s.Account = names, server, "default"
		if s.KeyType == "" {
			s.KeyType = keys.EC256
		}
		c := importCert{name: name, settings: &s, origin: crt,
			files: store.Files{Cert: leafPEM, Chain: issuer, Fullchain: append(append([]byte{}, leafPEM...), issuer...), PrivKey: key}}
		if len(s.HTTP01Addrs) == 0 && s.Webroot == "" && len(s.TLSALPN01Addrs) == 0 && s.DNS.Provider == "" && len(s.Solvers) == 0 {
			c.warnings = append(c.warnings, "no solver given: set one with acmectl reconfigure --cert-name "+name+" (or pass solver flags to import)")
		}
		plan.certs = append(plan.certs, c)
	}
	return plan, nil
}

// readSmall reads a file of at most 1 MiB (another client's files are
// input like any other).
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, 1<<20+1)); err != nil {
		return nil, err
	}
	if buf.Len() > 1<<20 {
		return nil, fmt.Errorf("%s: larger than 1 MiB", path)
	}
	return buf.Bytes(), nil
}

func readJSONFile(path string, v any) error {
	data, err := readSmall(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
}
