package fleet

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/internal/testenv"
)

// testCA is a private CA whose root a victim host trusts through its
// ca-bundle, standing in for the ACME server's issuer.
type testCA struct {
	cert   *x509.Certificate
	key    crypto.Signer
	bundle string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fleet test root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, bundle: bundle}
}

// issue makes files for names valid from nb to na, signed by the CA (or
// self-signed when ca is nil).
func (ca *testCA) issue(t *testing.T, names []string, nb, na time.Time) store.Files {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, DNSNames: names, NotBefore: nb, NotAfter: na,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	parent, signer := tmpl, crypto.Signer(key)
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	var chain []byte
	if ca != nil {
		chain = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
	}
	keyPEM, err := keys.MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return store.Files{Cert: certPEM, Chain: chain, Fullchain: append(append([]byte{}, certPEM...), chain...), PrivKey: keyPEM}
}

// attackEnv is a real etcd with a victim host holding the storage key
// and trusting ca's root, and settings for "fleet" published by a
// legitimate holder.
type attackEnv struct {
	e      *testenv.Etcd
	ca     *testCA
	victim *testHost
	ctx    context.Context
	names  []string
}

func newAttackEnv(t *testing.T) *attackEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("needs etcd")
	}
	e := testenv.StartEtcd(t)
	ca := newTestCA(t)
	v := newTestHost(t, e, "victim", "", writeKeyFile(t), nil)
	v.h.Defaults = &store.Settings{Server: "https://ca.example/dir", CABundle: ca.bundle}
	ctx := testenv.Context(t, time.Minute)
	env := &attackEnv{e: e, ca: ca, victim: v, ctx: ctx, names: []string{"fleet.example.com"}}
	lk, err := v.h.Fleet.LockCert(ctx, "fleet", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	if err := v.h.Fleet.SaveSettings(ctx, lk, &store.Settings{Names: client.MustNames(env.names...), Server: "https://ca.example/dir"}); err != nil {
		t.Fatal(err)
	}
	return env
}

// publish publishes files through the real publishing path (certStore:
// what a host holding the storage key does after an order).
func (a *attackEnv) publish(t *testing.T, files store.Files) {
	t.Helper()
	f := a.victim.h.Fleet
	lk, err := f.LockCert(a.ctx, "fleet", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	cs := &certStore{f: f, lk: lk, ctx: a.ctx, host: "issuer", now: time.Now}
	if v, _, err := f.Latest(a.ctx, "fleet"); err == nil {
		cs.latest = v
	}
	if _, err := cs.Install("fleet", files); err != nil {
		t.Fatal(err)
	}
	if err := cs.SaveState("fleet", &store.State{}); err != nil {
		t.Fatal(err)
	}
}

// plant writes raw bytes at an etcd key of the fleet, as anyone with etcd
// write access (and no storage key) can.
func (a *attackEnv) plant(t *testing.T, rel string, value []byte) {
	t.Helper()
	if _, err := a.e.Client(t).Put(a.ctx, "/fleet-test/"+rel, string(value)); err != nil {
		t.Fatal(err)
	}
}

func (a *attackEnv) live(t *testing.T) []byte {
	t.Helper()
	files, _, err := a.victim.h.Local.Current("fleet")
	if err != nil {
		return nil
	}
	return files.Cert
}

// TestFleetRefusesPlantedCertificate is issue 14 item 1 as reported: with
// etcd write access only, a self-signed certificate and a plaintext key
// were installed as live and the deploy hooks ran. Now a plaintext value
// under a storage key is an error (certificate, account and pending order
// keys), and a record without the storage key's MAC is refused even when
// its certificate chains to a trusted root.
func TestFleetRefusesPlantedCertificate(t *testing.T) {
	a := newAttackEnv(t)
	for _, tc := range []struct {
		name  string
		files store.Files
	}{
		{"self-signed", (*testCA)(nil).issue(t, a.names, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))},
		{"trusted chain, no MAC", a.ca.issue(t, a.names, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))},
	} {
		v := Version{Generation: 99, Cert: tc.files.Cert, Chain: tc.files.Chain, Fullchain: tc.files.Fullchain,
			PrivKey: append(append([]byte{}, plainMagic...), tc.files.PrivKey...), Names: client.MustNames(a.names...)}
		js, _ := json.Marshal(v)
		a.plant(t, "certs/fleet/latest", js)
		res, err := a.victim.h.Sync(a.ctx, "fleet")
		if err == nil || (res != nil && res.Installed != nil) || a.live(t) != nil || a.victim.deploys.Load() != 0 {
			t.Fatalf("%s: Sync = %+v, %v; live cert %v, deploy hooks %d; want an error, nothing installed, no hook",
				tc.name, res, err, a.live(t) != nil, a.victim.deploys.Load())
		}
		t.Logf("%s: refused: %v", tc.name, err)
	}
	// Plaintext account and pending order keys.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keyPEM, _ := keys.MarshalPrivateKeyPEM(key)
	plain := append(append([]byte{}, plainMagic...), keyPEM...)
	id, _ := store.ServerID("https://ca.example/dir")
	a.plant(t, "accounts/"+id+"/default/record", []byte(`{"url":"https://ca.example/acct/1"}`))
	a.plant(t, "accounts/"+id+"/default/key", plain)
	if _, _, err := a.victim.h.Fleet.LoadAccount(a.ctx, "https://ca.example/dir", "default"); err == nil {
		t.Error("LoadAccount took a plaintext account key planted in etcd")
	}
	a.plant(t, "certs/fleet/pending-key", plain)
	if _, err := a.victim.h.Fleet.PendingKey(a.ctx, "fleet"); err == nil {
		t.Error("PendingKey took a plaintext order key planted in etcd")
	}
}

// TestFleetVerifiesLikeTheCA: a record published by a storage-key holder
// still passes the checks of a certificate from the CA before a host
// installs it: chain to the roots it trusts, names equal to the settings',
// NotBefore not in the future (issue 14 item 3), not expired.
func TestFleetVerifiesLikeTheCA(t *testing.T) {
	a := newAttackEnv(t)
	now := time.Now()
	other := newTestCA(t)
	for _, tc := range []struct {
		name  string
		files store.Files
	}{
		{"untrusted root", other.issue(t, a.names, now.Add(-time.Minute), now.Add(time.Hour))},
		{"other names", a.ca.issue(t, []string{"evil.example.net"}, now.Add(-time.Minute), now.Add(time.Hour))},
		{"extra name", a.ca.issue(t, append([]string{"evil.example.net"}, a.names...), now.Add(-time.Minute), now.Add(time.Hour))},
		{"NotBefore in 2030", a.ca.issue(t, a.names, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2030, 4, 1, 0, 0, 0, 0, time.UTC))},
		{"expired", a.ca.issue(t, a.names, now.Add(-3*time.Hour), now.Add(-time.Hour))},
	} {
		a.publish(t, tc.files)
		res, err := a.victim.h.Sync(a.ctx, "fleet")
		if err == nil || a.live(t) != nil || a.victim.deploys.Load() != 0 {
			t.Fatalf("%s: Sync = %+v, %v; want an error and nothing installed", tc.name, res, err)
		}
		t.Logf("%s: refused: %v", tc.name, err)
	}
	good := a.ca.issue(t, a.names, now.Add(-time.Minute), now.Add(time.Hour))
	a.publish(t, good)
	if res, err := a.victim.h.Sync(a.ctx, "fleet"); err != nil || res.Installed == nil || string(a.live(t)) != string(good.Cert) {
		t.Fatalf("good certificate: Sync = %+v, %v; want it installed", res, err)
	}
}

// TestFleetRecoversFromFutureNotBefore is issue 14 item 3: a host whose
// live certificate has NotBefore in 2030 (installed before these checks)
// refused every later certificate as "older". It now replaces it.
func TestFleetRecoversFromFutureNotBefore(t *testing.T) {
	a := newAttackEnv(t)
	bad := a.ca.issue(t, a.names, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2030, 4, 1, 0, 0, 0, 0, time.UTC))
	if _, err := a.victim.h.Local.Install("fleet", bad); err != nil {
		t.Fatal(err)
	}
	if err := a.victim.h.Local.SaveSettings("fleet", &store.Settings{Names: client.MustNames(a.names...), Server: "https://ca.example/dir", CABundle: a.ca.bundle}); err != nil {
		t.Fatal(err)
	}
	good := a.ca.issue(t, a.names, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	a.publish(t, good)
	res, err := a.victim.h.Sync(a.ctx, "fleet")
	if err != nil || res.Installed == nil || string(a.live(t)) != string(good.Cert) {
		t.Fatalf("Sync over a live certificate not valid before 2030 = %+v, %v; want the good one installed", res, err)
	}
}

// TestFleetHostLocalSettingsNotFromEtcd is issue 14 item 2: key-group,
// webroot, ca-bundle, server, DNS server and TSIG paths written to etcd
// must not reach a host; the reported one made the next properly sealed
// key land as privkey.pem 0640 with the attacker's group.
func TestFleetHostLocalSettingsNotFromEtcd(t *testing.T) {
	a := newAttackEnv(t)
	evil := `version: 1
names: [fleet.example.com]
server: https://evil.example/dir
key-group: "65534"
webroot: /etc
ca-bundle: /tmp/evil-ca.pem
dns:
  rfc2136-server: 192.0.2.1:53
  rfc2136-tsig-file: /tmp/evil.tsig
`
	a.plant(t, "certs/fleet/settings", []byte(evil))
	s, err := a.victim.h.Settings(a.ctx, "fleet")
	if err != nil {
		t.Fatal(err)
	}
	if s.Server != "https://ca.example/dir" || s.KeyGroup != "" || s.Webroot != "" || s.CABundle != a.ca.bundle ||
		s.DNS.RFC2136Server != "" || s.DNS.RFC2136TSIGFile != "" {
		t.Fatalf("settings on the host took etcd's host-local values: server %q key-group %q webroot %q ca-bundle %q dns %+v",
			s.Server, s.KeyGroup, s.Webroot, s.CABundle, s.DNS)
	}
	good := a.ca.issue(t, a.names, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	a.publish(t, good)
	if _, err := a.victim.h.Sync(a.ctx, "fleet"); err != nil {
		t.Fatal(err)
	}
	paths, err := a.victim.h.Local.CurrentPaths("fleet")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(paths.PrivKey)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("privkey.pem mode %04o; want 0600 (key-group from etcd must not apply)", st.Mode().Perm())
	}
}

// TestFleetRefusesBadNamesFromEtcd is issue 14 item 4: names from etcd
// reached deploy hooks with newlines, ../, globs or ESC. They are checked
// like -d names.
func TestFleetRefusesBadNamesFromEtcd(t *testing.T) {
	a := newAttackEnv(t)
	for _, n := range []string{"a.example.com\nb", "../../etc", "*.*.example.com", "x\x1b[31m.example.com", "A.EXAMPLE.COM", "a b.example.com", "fleet.example.com/x"} {
		js, _ := json.Marshal(n)
		a.plant(t, "certs/fleet/settings", []byte("version: 1\nnames: ["+string(js)+"]\n"))
		if s, err := a.victim.h.Settings(a.ctx, "fleet"); err == nil {
			t.Errorf("name %q from etcd accepted: %q", n, s.Names)
		} else if !strings.Contains(err.Error(), "name") {
			t.Errorf("name %q: error %v does not say what is wrong", n, err)
		}
	}
}

// TestFleetRefusesReplayedOlderRecord: etcd read access can save a
// published record (its MAC is valid for ever) and etcd write access can
// put it back later. A host never goes back to it: the live certificate
// stays the newer one and no deploy hook runs (issue 14 item 1, "generation
// newer").
func TestFleetRefusesReplayedOlderRecord(t *testing.T) {
	a := newAttackEnv(t)
	now := time.Now()
	old := a.ca.issue(t, a.names, now.Add(-2*time.Minute), now.Add(time.Hour))
	a.publish(t, old)
	saved, _, err := a.victim.h.Fleet.get(a.ctx, a.victim.h.Fleet.certKey("fleet", "latest"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.victim.h.Sync(a.ctx, "fleet"); err != nil {
		t.Fatal(err)
	}
	newer := a.ca.issue(t, a.names, now.Add(-time.Minute), now.Add(time.Hour))
	a.publish(t, newer)
	if res, err := a.victim.h.Sync(a.ctx, "fleet"); err != nil || res.Installed == nil || string(a.live(t)) != string(newer.Cert) {
		t.Fatalf("newer certificate: Sync = %+v, %v; want it installed", res, err)
	}
	deploys := a.victim.deploys.Load()
	a.plant(t, "certs/fleet/latest", saved)
	res, err := a.victim.h.Sync(a.ctx, "fleet")
	if (res != nil && res.Installed != nil) || string(a.live(t)) != string(newer.Cert) || a.victim.deploys.Load() != deploys {
		t.Fatalf("replayed older record: Sync = %+v, %v; live is the newer certificate: %v, deploy hooks %d -> %d; want nothing installed",
			res, err, string(a.live(t)) == string(newer.Cert), deploys, a.victim.deploys.Load())
	}
}
