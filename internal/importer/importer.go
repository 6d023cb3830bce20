// Package importer reads what another ACME client manages (certbot's
// /etc/letsencrypt, lego's .lego) into a Plan of accounts and certificates
// and applies it to the state directory through the lifecycle owner
// (lifecycle.Adopt). The other client's files are input like any other:
// size-bounded, parsed strictly, never changed.
package importer

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
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/acmectl/acmectl/challenges/dns01/providers/registry"
	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/hook"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
)

// Account is one account to adopt.
type Account struct {
	Server, Label, URL string
	// Fallback is the label to use when Label holds another account
	// already (certbot-<id>, lego-<n>).
	Fallback string
	Contacts []string
	Key      crypto.Signer
	Origin   string // where it was read
}

// Cert is one certificate to adopt.
type Cert struct {
	Name     string
	Settings *store.Settings
	Files    store.Files
	Origin   string
	Warnings []string
	// Live are the other client's files that servers point at, by kind
	// (cert, chain, fullchain, privkey): certbot's live/<name>/ symlinks,
	// lego's certificates/<name>.crt, .issuer.crt and .key.
	Live map[string]string
}

// Plan is what an import would adopt, and what it skips (with why).
type Plan struct {
	Accounts []Account
	Certs    []Cert
	Skipped  []string
}

// SetCABundle makes every certificate of the plan trust the CA through
// the bundle at path (absolute): renewals run from cron or a timer,
// without import's --ca-bundle.
func (plan *Plan) SetCABundle(path string) {
	for _, c := range plan.Certs {
		c.Settings.CABundle = path
	}
}

// Apply stores p in st: each account under the state lock (one already
// stored is skipped), then each certificate under its own lock through
// lifecycle.Adopt (one acmectl manages already is skipped). It returns
// what was done; skips are added to p.Skipped.
func (plan *Plan) Apply(ctx context.Context, st *store.Dir, lockWait time.Duration, now time.Time) ([]string, error) {
	var done []string
	unlock, err := st.LockState(ctx, lockWait)
	if err != nil {
		return nil, err
	}
	refs, err := st.ListAccounts()
	if err != nil {
		unlock()
		return nil, err
	}
	// An account stored already (under any label) is used as it is; a
	// label that holds another account is not overwritten: the account
	// gets its fallback label, and the certificates follow it.
	relabel := map[string]string{} // server + "\x00" + planned label → stored label
	for i := range plan.Accounts {
		acc := &plan.Accounts[i]
		key := acc.Server + "\x00" + acc.Label
		if label := storedLabel(refs, acc.Server, acc.URL); label != "" {
			plan.Skipped = append(plan.Skipped, fmt.Sprintf("account %s on %s: already stored as %s", acc.Label, acc.Server, label))
			relabel[key], acc.Label = label, label
			continue
		}
		label := freeLabel(st, acc.Server, acc.Label, acc.Fallback)
		rec := &store.AccountRecord{URL: acc.URL, Contacts: acc.Contacts, DirectoryURL: acc.Server, Created: now, Status: "valid"}
		if err := st.SaveAccount(acc.Server, label, rec, acc.Key); err != nil {
			unlock()
			return done, err
		}
		relabel[key], acc.Label = label, label
		done = append(done, "account "+label+" on "+acc.Server)
	}
	unlock()
	for _, c := range plan.Certs {
		if label, ok := relabel[c.Settings.Server+"\x00"+c.Settings.Account]; ok {
			c.Settings.Account = label
		}
		if st.Exists(c.Name) {
			plan.Skipped = append(plan.Skipped, fmt.Sprintf("certificate %s: already managed by acmectl", c.Name))
			continue
		}
		unlockCert, err := st.LockCert(ctx, c.Name, lockWait)
		if err != nil {
			return done, err
		}
		err = lifecycle.Adopt(st, c.Name, c.Files, c.Settings)
		unlockCert()
		if err != nil {
			return done, fmt.Errorf("import %s: %w", c.Name, err)
		}
		done = append(done, "certificate "+c.Name)
	}
	return done, nil
}

// storedLabel is the label under which the account url of server is
// stored already, "" if none.
func storedLabel(refs []store.AccountRef, server, url string) string {
	id, err := store.ServerID(server)
	if err != nil {
		return ""
	}
	for _, r := range refs {
		if r.ServerID == id && r.URL == url && url != "" {
			return r.Label
		}
	}
	return ""
}

// freeLabel is label, else fallback, else fallback-2, -3, ...: the first
// that holds no account of server.
func freeLabel(st *store.Dir, server, label, fallback string) string {
	free := func(l string) bool {
		_, _, err := st.LoadAccount(server, l)
		return errors.Is(err, store.ErrNotFound)
	}
	if free(label) {
		return label
	}
	if fallback == "" {
		fallback = label
	}
	if free(fallback) {
		return fallback
	}
	for n := 2; ; n++ {
		if l := fmt.Sprintf("%s-%d", fallback, n); free(l) {
			return l
		}
	}
}

// Certbot reads a certbot config directory (/etc/letsencrypt); a
// renewal conf without a server names defaultServer.
func Certbot(root, defaultServer string) (*Plan, error) {
	plan := &Plan{}
	accounts := map[string]Account{} // certbot account id → account
	accRoot := filepath.Join(root, "accounts")
	_ = filepath.WalkDir(accRoot, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "regr.json" {
			return nil
		}
		dir := filepath.Dir(path)
		acc, err := certbotAccount(dir)
		if err != nil {
			plan.Skipped = append(plan.Skipped, fmt.Sprintf("account %s: %v", dir, err))
			return nil
		}
		accounts[filepath.Base(dir)] = acc
		return nil
	})
	confs, _ := filepath.Glob(filepath.Join(root, "renewal", "*.conf"))
	slices.Sort(confs)
	labels := map[string]string{} // certbot account id → its label here
	taken := map[string]bool{}    // server + "\x00" + label
	for _, conf := range confs {
		c, acctID, err := certbotCert(conf, defaultServer)
		if err != nil {
			plan.Skipped = append(plan.Skipped, fmt.Sprintf("%s: %v", conf, err))
			continue
		}
		if acc, ok := accounts[acctID]; ok {
			// One certbot account is one account here, however many
			// certificates use it; a second account of the same server
			// gets a label of its own.
			label, seen := labels[acctID]
			if !seen {
				label = "default"
				if taken[acc.Server+"\x00"+label] {
					label = acc.Fallback
				}
				labels[acctID], taken[acc.Server+"\x00"+label] = label, true
				acc.Label = label
				plan.Accounts = append(plan.Accounts, acc)
			}
			c.Settings.Account = label
		} else {
			c.Warnings = append(c.Warnings, "its certbot account was not found: a new account will be registered at renewal")
		}
		plan.Certs = append(plan.Certs, c)
	}
	return plan, nil
}

// certbotAccount reads accounts/<server>/<path>/<id>/{private_key.json,regr.json,meta.json}.
func certbotAccount(dir string) (Account, error) {
	var acc Account
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
	id := filepath.Base(dir)
	acc = Account{Server: server, Label: "default", Fallback: "certbot-" + strings.ToLower(id[:min(8, len(id))]), URL: regr.URI, Key: signer, Origin: dir}
	for _, c := range regr.Body.Contact {
		acc.Contacts = append(acc.Contacts, strings.TrimPrefix(c, "mailto:"))
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
func certbotCert(conf, defaultServer string) (Cert, string, error) {
	var c Cert
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
	live := map[string]string{}
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
		live[f.key] = p
	}
	leaf, err := lifecycle.LeafOf(files.Cert)
	if err != nil {
		return c, "", fmt.Errorf("cert: %v", err)
	}
	s := &store.Settings{Server: rp["server"], Account: "default", KeyType: certbotKeyType(rp), Email: nil}
	if s.Server == "" {
		s.Server = defaultServer
	}
	if s.Names, err = client.SANNames(leaf.DNSNames, leaf.IPAddresses); err != nil {
		return c, "", fmt.Errorf("cert: %v", err)
	}
	c = Cert{Name: name, Settings: s, Files: files, Origin: conf, Live: live}
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
		c.Warnings = append(c.Warnings, fmt.Sprintf("certbot authenticator %q has no acmectl equivalent: set a solver with acmectl reconfigure --cert-name %s", rp["authenticator"], name))
	}
	for _, e := range []struct {
		key, event, flag string
		dst              *[][]string
	}{{"pre_hook", "pre", "--pre-hook", &s.Hooks.Pre}, {"renew_hook", "deploy", "--deploy-hook", &s.Hooks.Deploy}, {"post_hook", "post", "--post-hook", &s.Hooks.Post}} {
		h := strings.TrimSpace(rp[e.key])
		if h == "" {
			continue
		}
		argv, err := hook.Split(h)
		if err != nil {
			// Kept in the settings (never run) so that show and doctor
			// remind of it until a hook of its event is set.
			if s.Hooks.NotImported == nil {
				s.Hooks.NotImported = map[string]string{}
			}
			s.Hooks.NotImported[e.event] = h
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s %q not imported: %v; put it in a script and add it with acmectl reconfigure --cert-name %s %s SCRIPT",
				e.key, h, err, name, e.flag))
			continue
		}
		*e.dst = [][]string{argv}
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

// Lego reads a lego --path directory for the accounts of server; its
// certificates get the settings of template (solvers, hooks, key type:
// lego keeps no renewal settings) with their names, server and account.
func Lego(root, server string, template *store.Settings) (*Plan, error) {
	plan := &Plan{}
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", server, err)
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
			plan.Skipped = append(plan.Skipped, fmt.Sprintf("account %s: %v", dir, err))
			continue
		}
		keyData, err := readSmall(filepath.Join(dir, "keys", filepath.Base(dir)+".key"))
		if err != nil {
			plan.Skipped = append(plan.Skipped, fmt.Sprintf("account %s: %v", dir, err))
			continue
		}
		key, err := keys.ParsePrivateKeyPEM(keyData)
		if err != nil || acct.Registration.URI == "" {
			plan.Skipped = append(plan.Skipped, fmt.Sprintf("account %s: no usable key or account URL", dir))
			continue
		}
		label := "default"
		if i > 0 {
			label = fmt.Sprintf("lego-%d", i+1)
		}
		acc := Account{Server: server, Label: label, Fallback: fmt.Sprintf("lego-%d", i+1), URL: acct.Registration.URI, Key: key, Origin: dir}
		if acct.Email != "" {
			acc.Contacts = []string{acct.Email}
		}
		plan.Accounts = append(plan.Accounts, acc)
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
			plan.Skipped = append(plan.Skipped, fmt.Sprintf("%s: %v", crt, err))
			continue
		}
		chain, err := keys.ParseCertificateChainPEM(full)
		if err != nil {
			plan.Skipped = append(plan.Skipped, fmt.Sprintf("%s: %v", crt, err))
			continue
		}
		leafPEM := keys.EncodeCertificatesPEM(chain[:1])
		if len(chain) > 1 {
			issuer = keys.EncodeCertificatesPEM(chain[1:])
		}
		names, err := client.SANNames(chain[0].DNSNames, chain[0].IPAddresses)
		if err != nil {
			plan.Skipped = append(plan.Skipped, fmt.Sprintf("%s: %v", crt, err))
			continue
		}
		if len(names) == 0 {
			plan.Skipped = append(plan.Skipped, crt+": certificate names nothing")
			continue
		}
		name, err := store.DefaultCertName(names[0])
		if err != nil {
			plan.Skipped = append(plan.Skipped, fmt.Sprintf("%s: %v", crt, err))
			continue
		}
		s := *template
		s.Names, s.Server, s.Account = names, server, "default"
		if s.KeyType == "" {
			// No --key-type: renew with the key type lego used.
			if s.KeyType = keys.KeyTypeOf(chain[0].PublicKey); s.KeyType == "" {
				s.KeyType = keys.EC256
			}
		}
		c := Cert{Name: name, Settings: &s, Origin: crt,
			Files: store.Files{Cert: leafPEM, Chain: issuer, Fullchain: append(append([]byte{}, leafPEM...), issuer...), PrivKey: key},
			Live:  map[string]string{"fullchain": crt, "privkey": base + ".key"}}
		if len(chain) > 1 {
			c.Live["chain"] = base + ".issuer.crt"
		}
		if len(s.HTTP01Addrs) == 0 && s.Webroot == "" && len(s.TLSALPN01Addrs) == 0 && s.DNS.Provider == "" && len(s.Solvers) == 0 {
			c.Warnings = append(c.Warnings, "no solver given: set one with acmectl reconfigure --cert-name "+name+" (or pass solver flags to import)")
		}
		plan.Certs = append(plan.Certs, c)
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
