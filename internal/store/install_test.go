package store

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/keys"
)

// testCA issues leaf certificates for tests.
type testCA struct {
	key  crypto.Signer
	cert *x509.Certificate
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	k, _ := keys.Generate(keys.EC256)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Store Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{key: k, cert: c}
}

// issue makes a version for name: files plus the leaf key.
func (ca *testCA) issue(t testing.TB, name string) Files {
	t.Helper()
	k, _ := keys.Generate(keys.EC256)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Minute).Truncate(time.Second), NotAfter: time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, k.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := keys.MarshalPrivateKeyPEM(k)
	cert := keys.EncodeCertificatesPEM([][]byte{der})
	chain := keys.EncodeCertificatesPEM([][]byte{ca.cert.Raw})
	return Files{Cert: cert, Chain: chain, Fullchain: append(append([]byte{}, cert...), chain...), PrivKey: keyPEM}
}

// readLive reads the four stable paths, as a server would.
func readLive(t testing.TB, d *Dir, name string) Files {
	t.Helper()
	dir := filepath.Join(d.Root(), "certificates", name)
	var f Files
	for _, x := range []struct {
		n string
		p *[]byte
	}{{CertFile, &f.Cert}, {ChainFile, &f.Chain}, {FullchainFile, &f.Fullchain}, {PrivKeyFile, &f.PrivKey}} {
		b, err := os.ReadFile(filepath.Join(dir, x.n))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("read live %s: %v", x.n, err)
		}
		*x.p = b
	}
	return f
}

func sameFiles(a, b Files) bool {
	return bytes.Equal(a.Cert, b.Cert) && bytes.Equal(a.Chain, b.Chain) &&
		bytes.Equal(a.Fullchain, b.Fullchain) && bytes.Equal(a.PrivKey, b.PrivKey)
}

func versionDirs(t testing.TB, d *Dir, name string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(d.Root(), "certificates", name, "versions"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestInstallSwitchPrune(t *testing.T) {
	d := newDir(t)
	ca := newTestCA(t)
	const name = "example.test"
	if _, _, err := d.Current(name); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Current(before install) = %v; want ErrNotFound", err)
	}
	var last Files
	for i := 1; i <= 12; i++ {
		last = ca.issue(t, name)
		in, err := d.Install(name, last)
		if err != nil {
			t.Fatalf("Install #%d: %v", i, err)
		}
		if in.Version != i {
			t.Errorf("Install #%d: Version = %d; want %d", i, in.Version, i)
		}
		if in.Leaf == nil || in.Leaf.Subject.CommonName != name {
			t.Errorf("Install #%d: Leaf = %v", i, in.Leaf)
		}
		if got := readLive(t, d, name); !sameFiles(got, last) {
			t.Fatalf("Install #%d: stable paths do not hold the new version", i)
		}
	}
	want := []string{"0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010", "0011", "0012"}
	if got := versionDirs(t, d, name); !slices.Equal(got, want) {
		t.Errorf("versions after 12 installs = %v; want %v", got, want)
	}
	cur, n, err := d.Current(name)
	if err != nil || n != 12 || !sameFiles(*cur, last) {
		t.Errorf("Current = version %d, %v; want 12 with the last files", n, err)
	}
	cp, err := d.CurrentPaths(name)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(d.Root(), "certificates", name)
	if cp.Version != 12 || cp.Cert != filepath.Join(dir, "cert.pem") || cp.PrivKey != filepath.Join(dir, "privkey.pem") {
		t.Errorf("CurrentPaths = %+v", cp)
	}
	if tgt, _ := os.Readlink(filepath.Join(dir, "current")); tgt != "versions/0012" {
		t.Errorf("current -> %q; want versions/0012", tgt)
	}
	for _, f := range []string{"cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"} {
		if tgt, _ := os.Readlink(filepath.Join(dir, f)); tgt != "current/"+f {
			t.Errorf("%s -> %q; want current/%s", f, tgt, f)
		}
	}
	// Permissions.
	if got := mode(t, filepath.Join(dir, "versions", "0012", "privkey.pem")); got != 0o600 {
		t.Errorf("privkey.pem mode = %04o; want 0600", got)
	}
	for _, p := range []string{dir, filepath.Join(dir, "versions"), filepath.Join(dir, "versions", "0012")} {
		if got := mode(t, p); got != 0o700 {
			t.Errorf("%s mode = %04o; want 0700", p, got)
		}
	}
	// State cache.
	var st State
	st.RecordInstall(&Installed{Version: 12, Leaf: mustLeaf(t, last.Cert)})
	if st.Version != 12 || st.Issuer != "Store Test CA" || st.KeyType != "ec256" || st.NotAfter.IsZero() || st.Serial == "" {
		t.Errorf("RecordInstall gave %+v", st)
	}

	// Keep option.
	if _, err := d.Install(name, ca.issue(t, name), InstallOptions{Keep: 2}); err != nil {
		t.Fatal(err)
	}
	if got := versionDirs(t, d, name); !slices.Equal(got, []string{"0012", "0013"}) {
		t.Errorf("versions with Keep 2 = %v; want [0012 0013]", got)
	}
}

func mustLeaf(t testing.TB, certPEM []byte) *x509.Certificate {
	t.Helper()
	c, err := keys.ParseCertificateChainPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c[0]
}

func TestInstallRejectsBadFiles(t *testing.T) {
	d := newDir(t)
	ca := newTestCA(t)
	good := ca.issue(t, "a.test")
	other := ca.issue(t, "b.test")
	tests := []struct {
		name string
		f    Files
	}{
		{"key mismatch", Files{good.Cert, good.Chain, good.Fullchain, other.PrivKey}},
		{"fullchain of another cert", Files{good.Cert, good.Chain, other.Fullchain, good.PrivKey}},
		{"cert with chain", Files{good.Fullchain, good.Chain, good.Fullchain, good.PrivKey}},
		{"empty cert", Files{nil, good.Chain, good.Fullchain, good.PrivKey}},
		{"garbage chain", Files{good.Cert, []byte("junk"), good.Fullchain, good.PrivKey}},
		{"garbage key", Files{good.Cert, good.Chain, good.Fullchain, []byte("junk")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := d.Install("a.test", tc.f); err == nil {
				t.Fatal("Install = nil error; want refusal")
			}
			if d.Exists("a.test") {
				if _, _, err := d.Current("a.test"); !errors.Is(err, ErrNotFound) {
					t.Errorf("a refused Install left a current version: %v", err)
				}
			}
		})
	}
	if _, err := d.Install("../x", good); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Install(../x) = %v; want ErrInvalidName", err)
	}
}

func TestInstallCSRNoKey(t *testing.T) {
	d := newDir(t)
	ca := newTestCA(t)
	withKey := ca.issue(t, "c.test")
	if _, err := d.Install("c.test", withKey); err != nil {
		t.Fatal(err)
	}
	f := ca.issue(t, "c.test")
	f.PrivKey = nil
	in, err := d.Install("c.test", f)
	if err != nil {
		t.Fatal(err)
	}
	if in.PrivKey != "" {
		t.Errorf("Installed.PrivKey = %q; want empty for a --csr version", in.PrivKey)
	}
	dir := filepath.Join(d.Root(), "certificates", "c.test")
	if _, err := os.Lstat(filepath.Join(dir, "privkey.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("privkey.pem link still present for a keyless version: %v", err)
	}
	cur, _, err := d.Current("c.test")
	if err != nil || cur.PrivKey != nil || !bytes.Equal(cur.Cert, f.Cert) {
		t.Errorf("Current = %v; want the keyless version", err)
	}
	if cp, _ := d.CurrentPaths("c.test"); cp.PrivKey != "" {
		t.Errorf("CurrentPaths.PrivKey = %q; want empty", cp.PrivKey)
	}
}

func TestInstallKeyGroup(t *testing.T) {
	d := newDir(t)
	ca := newTestCA(t)
	gid := os.Getgid()
	if os.Getuid() == 0 {
		gid = 65534 // root may give files to any group; use nogroup's usual GID
	}
	in, err := d.Install("g.test", ca.issue(t, "g.test"), InstallOptions{KeyGroup: itoa(gid)})
	if err != nil {
		t.Fatalf("Install with KeyGroup: %v", err)
	}
	dir := filepath.Join(d.Root(), "certificates", "g.test")
	if got := mode(t, filepath.Join(in.Dir, "privkey.pem")); got != 0o640 {
		t.Errorf("privkey.pem mode = %04o; want 0640", got)
	}
	for _, p := range []string{dir, filepath.Join(dir, "versions"), in.Dir} {
		if got := mode(t, p); got != 0o750 {
			t.Errorf("%s mode = %04o; want 0750", p, got)
		}
		st, _ := os.Stat(p)
		if g := st.Sys().(*syscall.Stat_t).Gid; int(g) != gid {
			t.Errorf("%s gid = %d; want %d", p, g, gid)
		}
	}
	st, _ := os.Stat(filepath.Join(in.Dir, "privkey.pem"))
	if g := st.Sys().(*syscall.Stat_t).Gid; int(g) != gid {
		t.Errorf("privkey.pem gid = %d; want %d", g, gid)
	}
	if got := mode(t, d.Root()); got&0o011 != 0o011 || got&0o044 != 0 {
		t.Errorf("root mode = %04o; want search but no read for group/others", got)
	}
	if _, err := d.Install("g.test", ca.issue(t, "g.test"), InstallOptions{KeyGroup: "no-such-group-acmectl"}); err == nil {
		t.Error("Install with an unknown group = nil error")
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

// TestInstallCrashAtEveryStep stops Install after each of its steps as a
// kill -9 would (no cleanup) and checks that the live set is a complete,
// matching version: the old one, byte-identical, until "current" is
// switched, the new one after. The next Install then succeeds and cleans up.
func TestInstallCrashAtEveryStep(t *testing.T) {
	ca := newTestCA(t)
	const name = "crash.test"

	// Record the steps of a normal Install.
	probe := newDir(t)
	var steps []string
	probe.failAt = func(s string) error { steps = append(steps, s); return nil }
	if _, err := probe.Install(name, ca.issue(t, name)); err != nil {
		t.Fatal(err)
	}
	if len(steps) < 10 {
		t.Fatalf("only %d steps recorded: %v", len(steps), steps)
	}
	switchIdx := slices.Index(steps, "switch current")
	if switchIdx < 0 {
		t.Fatalf("no switch step in %v", steps)
	}

	for i, step := range steps {
		t.Run(strings.ReplaceAll(step, " ", "_"), func(t *testing.T) {
			d := newDir(t)
			v1 := ca.issue(t, name)
			if _, err := d.Install(name, v1); err != nil {
				t.Fatal(err)
			}
			v2 := ca.issue(t, name)
			d.failAt = func(s string) error {
				if s == step {
					return errSimulatedCrash
				}
				return nil
			}
			if _, err := d.Install(name, v2); !errors.Is(err, errSimulatedCrash) {
				t.Fatalf("Install = %v; want the simulated crash", err)
			}
			d.failAt = nil

			want := v1
			if i >= switchIdx {
				want = v2
			}
			live := readLive(t, d, name)
			if !sameFiles(live, want) {
				t.Errorf("after crash at %q the stable paths hold neither the expected version (old=%v new=%v)",
					step, sameFiles(live, v1), sameFiles(live, v2))
			}
			cur, _, err := d.Current(name)
			if err != nil || !sameFiles(*cur, want) {
				t.Errorf("Current after crash at %q = %v; want the expected version", step, err)
			}
			checkMatches(t, live)
			// Every visible (numbered) version is complete.
			for _, v := range versionDirs(t, d, name) {
				if _, ok := parseVersion(v); !ok {
					continue
				}
				f, err := readVersion(filepath.Join(d.Root(), "certificates", name, "versions", v))
				if err != nil || !(sameFiles(f, v1) || sameFiles(f, v2)) {
					t.Errorf("version %s is incomplete after crash at %q: %v", v, step, err)
				}
			}

			// Recovery: the next Install works and removes leftovers.
			v3 := ca.issue(t, name)
			if _, err := d.Install(name, v3); err != nil {
				t.Fatalf("Install after crash: %v", err)
			}
			if live := readLive(t, d, name); !sameFiles(live, v3) {
				t.Error("Install after crash did not make v3 live")
			}
			assertNoLeftovers(t, d, name)
		})
	}
}

func readVersion(dir string) (Files, error) {
	var f Files
	var err error
	if f.Cert, err = os.ReadFile(filepath.Join(dir, CertFile)); err != nil {
		return f, err
	}
	if f.Chain, err = os.ReadFile(filepath.Join(dir, ChainFile)); err != nil {
		return f, err
	}
	if f.Fullchain, err = os.ReadFile(filepath.Join(dir, FullchainFile)); err != nil {
		return f, err
	}
	f.PrivKey, err = os.ReadFile(filepath.Join(dir, PrivKeyFile))
	return f, err
}

func checkMatches(t testing.TB, f Files) {
	t.Helper()
	k, err := keys.ParsePrivateKeyPEM(f.PrivKey)
	if err != nil {
		t.Errorf("live key: %v", err)
		return
	}
	if !keys.MatchesKey(mustLeaf(t, f.Cert), k) {
		t.Error("live cert.pem does not match live privkey.pem")
	}
}

func assertNoLeftovers(t testing.TB, d *Dir, name string) {
	t.Helper()
	dir := filepath.Join(d.Root(), "certificates", name)
	for _, p := range []string{dir, filepath.Join(dir, "versions")} {
		ents, _ := os.ReadDir(p)
		for _, e := range ents {
			if strings.Contains(e.Name(), ".tmp-") {
				t.Errorf("leftover %s in %s", e.Name(), p)
			}
		}
	}
}

// TestInstallWriteFailure simulates a full disk while writing each file:
// Install returns the error, the old set stays live, and no new or partial
// version is left behind.
func TestInstallWriteFailure(t *testing.T) {
	ca := newTestCA(t)
	const name = "full.test"
	for _, f := range []string{"mkdir", "write cert.pem", "write chain.pem", "write fullchain.pem", "write privkey.pem", "sync version dir", "rename version dir", "create current link"} {
		t.Run(strings.ReplaceAll(f, " ", "_"), func(t *testing.T) {
			d := newDir(t)
			v1 := ca.issue(t, name)
			if _, err := d.Install(name, v1); err != nil {
				t.Fatal(err)
			}
			before := versionDirs(t, d, name)
			d.failAt = func(s string) error {
				if s == f {
					return &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
				}
				return nil
			}
			_, err := d.Install(name, ca.issue(t, name))
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Install = %v; want ENOSPC", err)
			}
			var ie *InstallError
			if errors.As(err, &ie) {
				t.Errorf("failure before the switch returned an InstallError: %v", err)
			}
			if live := readLive(t, d, name); !sameFiles(live, v1) {
				t.Error("old version not live after a write failure")
			}
			if after := versionDirs(t, d, name); !slices.Equal(before, after) {
				t.Errorf("versions after failure = %v; want %v (no partial version)", after, before)
			}
			assertNoLeftovers(t, d, name)
		})
	}
	t.Run("after switch", func(t *testing.T) {
		d := newDir(t)
		d.Install(name, ca.issue(t, name))
		v2 := ca.issue(t, name)
		d.failAt = func(s string) error {
			if s == "stable links" {
				return syscall.EIO
			}
			return nil
		}
		_, err := d.Install(name, v2)
		var ie *InstallError
		if !errors.As(err, &ie) || ie.Installed.Version != 2 {
			t.Fatalf("Install = %v; want *InstallError for version 2", err)
		}
		if live := readLive(t, d, name); !sameFiles(live, v2) {
			t.Error("new version not live although the switch happened")
		}
	})
}
