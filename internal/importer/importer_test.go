package importer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/internal/testenv"
)

// selfSigned writes cert.pem, chain.pem, fullchain.pem and privkey.pem for
// names into dir (certbot's live/<name>/ layout).
func selfSigned(t *testing.T, dir string, names ...string) {
	t.Helper()
	leaf, key := testenv.SelfSigned(t, names...)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for f, data := range map[string][]byte{"cert.pem": leaf, "chain.pem": nil, "fullchain.pem": leaf,
		"privkey.pem": key} {
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCertbotPlanAndApply: a certbot renewal conf becomes settings (server,
// webroot, key type, hooks; a hook that needs a shell is a warning), a
// conf naming files that are too large is skipped, and Apply adopts the
// certificate once: a second Apply skips it as already managed.
func TestCertbotPlanAndApply(t *testing.T) {
	root := t.TempDir()
	live := filepath.Join(root, "live", "web.example.test")
	selfSigned(t, live, "web.example.test", "www.web.example.test")
	conf := `# renew_before_expiry = 30 days
version = 2.9.0
archive_dir = /etc/letsencrypt/archive/web.example.test
cert = ` + live + `/cert.pem
privkey = ` + live + `/privkey.pem
chain = ` + live + `/chain.pem
fullchain = ` + live + `/fullchain.pem

[renewalparams]
account = 0123456789abcdef
server = https://ca.test/directory
authenticator = webroot
webroot_path = /var/www/html,
key_type = ecdsa
elliptic_curve = secp384r1
renew_hook = systemctl reload nginx
pre_hook = echo $HOME | logger
[[webroot_map]]
web.example.test = /var/www/html
`
	big := filepath.Join(root, "big.pem")
	if err := os.WriteFile(big, make([]byte, 1<<20+1), 0o600); err != nil {
		t.Fatal(err)
	}
	hostile := "cert = " + big + "\nprivkey = " + big + "\nchain = " + big + "\nfullchain = " + big + "\n"
	if err := os.MkdirAll(filepath.Join(root, "renewal"), 0o700); err != nil {
		t.Fatal(err)
	}
	for n, c := range map[string]string{"web.example.test.conf": conf, "big.example.test.conf": hostile, "Bad Name.conf": conf} {
		if err := os.WriteFile(filepath.Join(root, "renewal", n), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	plan, err := Certbot(root, "https://default.test/directory")
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Certs) != 1 || len(plan.Skipped) != 2 {
		t.Fatalf("plan: %d certificates, skipped %q; want 1 and 2", len(plan.Certs), plan.Skipped)
	}
	c := plan.Certs[0]
	want := &store.Settings{Names: client.MustNames("web.example.test", "www.web.example.test"), Server: "https://ca.test/directory",
		Account: "default", KeyType: "ec384", Webroot: "/var/www/html",
		Hooks: store.Hooks{Deploy: [][]string{{"systemctl", "reload", "nginx"}}, NotImported: map[string]string{"pre": "echo $HOME | logger"}}}
	if c.Name != "web.example.test" || !reflect.DeepEqual(c.Settings, want) {
		t.Errorf("certificate %q settings:\n%+v\nwant\n%+v", c.Name, c.Settings, want)
	}
	joined := strings.Join(c.Warnings, "\n")
	if !strings.Contains(joined, "pre_hook") || !strings.Contains(joined, "account was not found") {
		t.Errorf("warnings = %q; want the shell pre_hook and the missing account", c.Warnings)
	}
	if !strings.Contains(strings.Join(plan.Skipped, "\n"), "larger than 1 MiB") {
		t.Errorf("skipped = %q; want the oversized files named", plan.Skipped)
	}

	st, err := store.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	done, err := plan.Apply(ctx, st, time.Second, time.Now())
	if err != nil || len(done) != 1 {
		t.Fatalf("Apply: %q, %v", done, err)
	}
	files, _, err := st.Current("web.example.test")
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(filepath.Join(live, "fullchain.pem"))
	if string(files.Fullchain) != string(orig) {
		t.Error("installed fullchain differs from certbot's")
	}
	if s, err := st.LoadSettings("web.example.test"); err != nil || s.Webroot != "/var/www/html" {
		t.Errorf("stored settings: %+v, %v", s, err)
	}
	plan.Skipped = nil
	if done, err := plan.Apply(ctx, st, time.Second, time.Now()); err != nil || len(done) != 0 || len(plan.Skipped) != 1 {
		t.Errorf("second Apply: done %q skipped %q, %v; want it skipped", done, plan.Skipped, err)
	}
}

// TestCertbotServerFromDir: the account directory names the server.
func TestCertbotServerFromDir(t *testing.T) {
	for dir, want := range map[string]string{
		"/etc/letsencrypt/accounts/acme-v02.api.letsencrypt.org/directory/abc": "https://acme-v02.api.letsencrypt.org/directory",
		"/x/accounts/127.0.0.1:14000/dir/id":                                   "https://127.0.0.1:14000/dir",
		"/x/nothing/here":                                                      "",
	} {
		if got := certbotServerFromDir(dir); got != want {
			t.Errorf("certbotServerFromDir(%q) = %q; want %q", dir, got, want)
		}
	}
}

// TestApplyKeepsOtherAccounts: an imported account whose label holds
// another account already gets its fallback label, and the certificates
// that use it follow; one stored already (same URL) is used as it is.
func TestApplyKeepsOtherAccounts(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	const server = "https://ca.test/directory"
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := st.SaveAccount(server, "default", &store.AccountRecord{URL: "https://ca.test/acct/mine", DirectoryURL: server}, key); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(t.TempDir(), "live")
	selfSigned(t, live, "a.example.test")
	files := store.Files{}
	for f, dst := range map[string]*[]byte{"cert.pem": &files.Cert, "chain.pem": &files.Chain, "fullchain.pem": &files.Fullchain, "privkey.pem": &files.PrivKey} {
		*dst, _ = os.ReadFile(filepath.Join(live, f))
	}
	plan := &Plan{
		Accounts: []Account{{Server: server, Label: "default", Fallback: "certbot-0123abcd", URL: "https://ca.test/acct/certbots", Key: key}},
		Certs:    []Cert{{Name: "a.example.test", Files: files, Settings: &store.Settings{Names: client.MustNames("a.example.test"), Server: server, Account: "default"}}},
	}
	if _, err := plan.Apply(context.Background(), st, time.Second, time.Now()); err != nil {
		t.Fatal(err)
	}
	if rec, _, err := st.LoadAccount(server, "default"); err != nil || rec.URL != "https://ca.test/acct/mine" {
		t.Errorf("the stored default account was replaced: %+v, %v", rec, err)
	}
	if rec, _, err := st.LoadAccount(server, "certbot-0123abcd"); err != nil || rec.URL != "https://ca.test/acct/certbots" {
		t.Errorf("imported account: %+v, %v; want it under its fallback label", rec, err)
	}
	if s, err := st.LoadSettings("a.example.test"); err != nil || s.Account != "certbot-0123abcd" {
		t.Errorf("certificate's account = %q (%v); want the imported account's label", s.Account, err)
	}
	// Imported again: the account is found under its label, not stored twice.
	plan.Accounts[0].Label = "default"
	plan.Skipped = nil
	if done, err := plan.Apply(context.Background(), st, time.Second, time.Now()); err != nil || len(done) != 0 {
		t.Errorf("second Apply: done %q, %v", done, err)
	}
	if refs, _ := st.ListAccounts(); len(refs) != 2 {
		t.Errorf("accounts stored: %d; want 2", len(refs))
	}
}

// TestRelink: certbot's live links are pointed at acmectl's paths; a
// regular file is never replaced.
func TestRelink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "acmectl-fullchain.pem")
	if err := os.WriteFile(target, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "fullchain1.pem")
	if err := os.WriteFile(old, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "fullchain.pem")
	if err := os.Symlink("fullchain1.pem", link); err != nil {
		t.Fatal(err)
	}
	done, err := Relink([]Link{{Kind: "fullchain", Old: link, New: target}})
	if err != nil || len(done) != 1 || done[0].Was != "fullchain1.pem" {
		t.Fatalf("Relink: %+v, %v", done, err)
	}
	if b, _ := os.ReadFile(link); string(b) != "new" {
		t.Errorf("%s reads %q; want acmectl's file", link, b)
	}
	if _, err := Relink([]Link{{Kind: "fullchain", Old: old, New: target}}); err == nil || !strings.Contains(err.Error(), "not a symbolic link") {
		t.Errorf("Relink of a regular file: %v", err)
	}
	if b, _ := os.ReadFile(old); string(b) != "old" {
		t.Error("a regular file was replaced")
	}
}

// TestRelinkLiveAndCABundle: after Apply, RelinkLive points certbot's
// live/<name>/ symbolic links of the certificates the store now holds at
// acmectl's stable paths (a certificate not stored is left alone), and
// SetCABundle's bundle is stored with each certificate.
func TestRelinkLiveAndCABundle(t *testing.T) {
	root := t.TempDir()
	archive := filepath.Join(root, "archive", "web.example.test")
	selfSigned(t, archive, "web.example.test")
	live := filepath.Join(root, "live", "web.example.test")
	if err := os.MkdirAll(live, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cert", "chain", "fullchain", "privkey"} {
		if err := os.Rename(filepath.Join(archive, f+".pem"), filepath.Join(archive, f+"1.pem")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..", "..", "archive", "web.example.test", f+"1.pem"), filepath.Join(live, f+".pem")); err != nil {
			t.Fatal(err)
		}
	}
	conf := "cert = " + live + "/cert.pem\nprivkey = " + live + "/privkey.pem\nchain = " + live + "/chain.pem\nfullchain = " + live + "/fullchain.pem\n" +
		"[renewalparams]\nserver = https://ca.test/directory\nauthenticator = standalone\n"
	if err := os.MkdirAll(filepath.Join(root, "renewal"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "renewal", "web.example.test.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	plan, err := Certbot(root, "https://default.test/directory")
	if err != nil || len(plan.Certs) != 1 {
		t.Fatalf("plan: %+v, %v", plan, err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	// Before Apply nothing is stored: nothing is relinked.
	if done, err := plan.RelinkLive(st); err != nil || len(done) != 0 {
		t.Fatalf("RelinkLive before Apply: %+v, %v; want nothing", done, err)
	}
	if target, _ := os.Readlink(filepath.Join(live, "fullchain.pem")); !strings.Contains(target, "archive") {
		t.Fatalf("live link changed before Apply: %s", target)
	}
	plan.SetCABundle("/etc/ssl/private-ca.pem")
	if _, err := plan.Apply(context.Background(), st, time.Second, time.Now()); err != nil {
		t.Fatal(err)
	}
	if s, err := st.LoadSettings("web.example.test"); err != nil || s.CABundle != "/etc/ssl/private-ca.pem" {
		t.Errorf("stored settings: %+v, %v; want the CA bundle", s, err)
	}
	done, err := plan.RelinkLive(st)
	if err != nil || len(done) != 4 {
		t.Fatalf("RelinkLive: %+v, %v; want 4 links", done, err)
	}
	stable, err := filepath.Abs(filepath.Join(st.Root(), "certificates", "web.example.test", store.FullchainFile))
	if err != nil {
		t.Fatal(err)
	}
	if target, _ := os.Readlink(filepath.Join(live, "fullchain.pem")); target != stable {
		t.Errorf("live fullchain -> %s; want %s", target, stable)
	}
	for _, l := range done {
		if !strings.Contains(l.Was, "archive") {
			t.Errorf("link %s: was %q; want certbot's archive target", l.Old, l.Was)
		}
	}
	got, _ := os.ReadFile(filepath.Join(live, "fullchain.pem"))
	want, _ := os.ReadFile(filepath.Join(archive, "fullchain1.pem"))
	if string(got) != string(want) {
		t.Error("live fullchain reads other bytes than the adopted certificate")
	}
}
