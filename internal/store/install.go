package store

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/acmectl/acmectl/internal/keys"
)

// File names of a version and of the stable links.
const (
	CertFile      = "cert.pem"
	ChainFile     = "chain.pem"
	FullchainFile = "fullchain.pem"
	PrivKeyFile   = "privkey.pem"

	currentLink     = "current"
	versionsDir     = "versions"
	tmpVersionPfx   = ".tmp-"
	tmpCurrentPfx   = ".current.tmp-"
	defaultKeep     = 10
	maxInstallBytes = 1 << 20
)

// errSimulatedCrash, returned by the failAt test hook, makes Install stop
// without any cleanup, as a kill -9 would.
var errSimulatedCrash = errors.New("simulated crash")

// Files is one certificate version as PEM.
type Files struct {
	Cert      []byte // the leaf alone
	Chain     []byte // issuer certificates; may be empty
	Fullchain []byte // leaf followed by the chain
	PrivKey   []byte // nil for a certificate ordered with --csr
}

// InstallOptions tune Install.
type InstallOptions struct {
	// KeyGroup, if set, is a group name (or numeric GID): privkey.pem is
	// 0640 and the certificate's directories 0750, owned by that group. The
	// state dir and certificates/ get the search (x) bit for group and
	// others so that the group can reach them; they stay unlistable.
	KeyGroup string
	// Keep is how many versions to keep (default 10); the current one is
	// never pruned.
	Keep int
}

// Installed describes a live version: the stable paths users point servers
// at, and the version number.
type Installed struct {
	Cert, Chain, Fullchain string // stable links under certificates/<name>/
	PrivKey                string // "" when the version has no key (--csr)
	Version                int
	Dir                    string            // certificates/<name>/versions/<NNNN>
	Leaf                   *x509.Certificate // set by Install; nil from CurrentPaths
}

// InstallError is returned when Install fails after the new version went
// live (syncing the directory or making the stable links failed): the
// certificate is installed, and Installed says where.
type InstallError struct {
	Installed *Installed
	Err       error
}

func (e *InstallError) Error() string {
	return fmt.Sprintf("version %d installed, but %v", e.Installed.Version, e.Err)
}

func (e *InstallError) Unwrap() error { return e.Err }

func (d *Dir) step(s string) error {
	if d.failAt == nil {
		return nil
	}
	return d.failAt(s)
}

// Install stores a new version of certificate name and makes it current:
//
//  1. remove temporary leftovers of an interrupted Install;
//  2. build versions/.tmp-* with the four files (privkey.pem only if
//     v.PrivKey is set), each written and fsynced, then fsync the directory;
//  3. rename it to versions/<NNNN> (the next number) and fsync versions/;
//  4. point a temporary symlink at versions/<NNNN> and rename it over
//     "current", then fsync the certificate directory;
//  5. create any missing stable links (cert.pem … -> current/…);
//  6. prune to the last Keep versions, never the current one.
//
// A crash or write failure before step 4 leaves the previous version live
// and no partial version visible; after it, the new one is live. The files
// are checked first: cert must be exactly one certificate, fullchain must
// start with it, chain must parse if given, and the key must match the leaf.
// Pruning errors are logged, not returned. If the version went live but a
// later step failed (e.g. the stable links), the error is an *InstallError
// carrying what is live; callers should treat the certificate as installed.
// At most one InstallOptions may be given. The caller holds the
// certificate's lock.
func (d *Dir) Install(name string, v Files, opts ...InstallOptions) (*Installed, error) {
	dir, err := d.certDir(name)
	if err != nil {
		return nil, err
	}
	var opt InstallOptions
	switch len(opts) {
	case 0:
	case 1:
		opt = opts[0]
	default:
		return nil, errors.New("install: more than one InstallOptions")
	}
	if opt.Keep <= 0 {
		opt.Keep = d.keep
	}
	if opt.Keep <= 0 {
		opt.Keep = defaultKeep
	}
	leaf, err := checkFiles(v)
	if err != nil {
		return nil, fmt.Errorf("install %s: %w", name, err)
	}
	gid, err := lookupGroup(opt.KeyGroup)
	if err != nil {
		return nil, fmt.Errorf("install %s: %w", name, err)
	}
	vdir := filepath.Join(dir, versionsDir)
	if err := d.prepareDirs(dir, vdir, gid); err != nil {
		return nil, fmt.Errorf("install %s: %w", name, err)
	}
	d.cleanLeftovers(dir, vdir)

	existing, err := listVersions(vdir)
	if err != nil {
		return nil, fmt.Errorf("install %s: %w", name, err)
	}
	next := 1
	if len(existing) > 0 {
		next = existing[len(existing)-1] + 1
	}
	if cur, err := readCurrent(dir); err == nil && cur >= next {
		next = cur + 1
	}
	vname := formatVersion(next)

	// Until "current" is switched, failures remove what was built.
	tmp := ""
	final := ""
	tmpLink := ""
	crashed := false
	fail := func(step string, err error) (*Installed, error) {
		if errors.Is(err, errSimulatedCrash) {
			crashed = true
		}
		return nil, fmt.Errorf("install %s: %s: %w", name, step, err)
	}
	defer func() {
		if crashed {
			return
		}
		if tmp != "" {
			os.RemoveAll(tmp)
		}
		if final != "" {
			os.RemoveAll(final)
		}
		if tmpLink != "" {
			os.Remove(tmpLink)
		}
	}()

	tmp, err = os.MkdirTemp(vdir, tmpVersionPfx+vname+"-")
	if err != nil {
		return fail("create version dir", err)
	}
	if err := setDirMode(tmp, gid); err != nil {
		return fail("create version dir", err)
	}
	if err := d.step("mkdir"); err != nil {
		return fail("create version dir", err)
	}
	type file struct {
		name string
		data []byte
		perm os.FileMode
		gid  int
	}
	files := []file{
		{CertFile, v.Cert, certPerm, gid},
		{ChainFile, v.Chain, certPerm, gid},
		{FullchainFile, v.Fullchain, certPerm, gid},
	}
	if v.PrivKey != nil {
		kp := os.FileMode(keyPerm)
		if gid >= 0 {
			kp = groupKeyPerm
		}
		files = append(files, file{PrivKeyFile, v.PrivKey, kp, gid})
	}
	// Each file is written, then all of them and the directory are
	// fsynced at once: the filesystem commits concurrent fsyncs together
	// (one journal commit on ext4 and xfs) instead of one after another,
	// and nothing is renamed before every one of them returned.
	var opened []*os.File
	defer func() {
		for _, f := range opened {
			f.Close()
		}
	}()
	for _, f := range files {
		fh, err := createNewFile(filepath.Join(tmp, f.name), f.data, f.perm, f.gid)
		if fh != nil {
			opened = append(opened, fh)
		}
		if err != nil {
			return fail("write "+f.name, err)
		}
		if err := d.step("write " + f.name); err != nil {
			return fail("write "+f.name, err)
		}
	}
	if err := syncAll(opened, tmp); err != nil {
		return fail("sync version dir", err)
	}
	if err := d.step("sync version dir"); err != nil {
		return fail("sync version dir", err)
	}
	final = filepath.Join(vdir, vname)
	if err := os.Rename(tmp, final); err != nil {
		final = ""
		return fail("rename version dir", err)
	}
	tmp = ""
	if err := d.step("rename version dir"); err != nil {
		return fail("rename version dir", err)
	}
	if err := syncDir(vdir); err != nil {
		return fail("sync versions dir", err)
	}
	if err := d.step("sync versions dir"); err != nil {
		return fail("sync versions dir", err)
	}

	// The stable links (to current/...) exist before current does, so a
	// first install killed right after the switch still has them; until
	// the switch they dangle, which readers see as "no certificate yet".
	if err := d.stableLinks(name, dir, v.PrivKey != nil, false); err != nil {
		return fail("stable links", err)
	}

	// Switch "current" with one rename of a symlink.
	tmpLink = filepath.Join(dir, tmpCurrentPfx+vname)
	os.Remove(tmpLink)
	if err := os.Symlink(filepath.Join(versionsDir, vname), tmpLink); err != nil {
		return fail("create current link", err)
	}
	if err := d.step("create current link"); err != nil {
		return fail("create current link", err)
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, currentLink)); err != nil {
		return fail("switch current", err)
	}
	// Live from here on: nothing built is removed any more, and a failure
	// is an *InstallError carrying what is live.
	tmpLink, final = "", ""
	inst := d.installed(dir, next, v.PrivKey != nil)
	inst.Leaf = leaf
	live := func(step string, err error) (*Installed, error) {
		if errors.Is(err, errSimulatedCrash) {
			crashed = true
		}
		return nil, &InstallError{Installed: inst, Err: fmt.Errorf("install %s: %s: %w", name, step, err)}
	}
	if err := d.step("switch current"); err != nil {
		return live("switch current", err)
	}
	if err := syncDir(dir); err != nil {
		return live("sync certificate dir", err)
	}
	if err := d.step("sync certificate dir"); err != nil {
		return live("sync certificate dir", err)
	}
	if err := d.stableLinks(name, dir, v.PrivKey != nil, true); err != nil {
		return live("stable links", err)
	}
	if err := d.step("stable links"); err != nil {
		return live("stable links", err)
	}
	d.prune(name, vdir, next, opt.Keep)
	if err := d.step("prune"); err != nil {
		return live("prune", err)
	}
	return inst, nil
}

func (d *Dir) installed(dir string, version int, hasKey bool) *Installed {
	in := &Installed{
		Cert:      filepath.Join(dir, CertFile),
		Chain:     filepath.Join(dir, ChainFile),
		Fullchain: filepath.Join(dir, FullchainFile),
		Version:   version,
		Dir:       filepath.Join(dir, versionsDir, formatVersion(version)),
	}
	if hasKey {
		in.PrivKey = filepath.Join(dir, PrivKeyFile)
	}
	return in
}

// checkFiles validates a version before anything is written and returns the
// parsed leaf.
func checkFiles(v Files) (*x509.Certificate, error) {
	for _, f := range [][]byte{v.Cert, v.Chain, v.Fullchain, v.PrivKey} {
		if len(f) > maxInstallBytes {
			return nil, fmt.Errorf("file larger than %d bytes", maxInstallBytes)
		}
	}
	leafs, err := keys.ParseCertificateChainPEM(v.Cert)
	if err != nil {
		return nil, fmt.Errorf("cert: %w", err)
	}
	if len(leafs) != 1 {
		return nil, fmt.Errorf("cert: %d certificates, want the leaf alone", len(leafs))
	}
	leaf := leafs[0]
	full, err := keys.ParseCertificateChainPEM(v.Fullchain)
	if err != nil {
		return nil, fmt.Errorf("fullchain: %w", err)
	}
	if !full[0].Equal(leaf) {
		return nil, errors.New("fullchain does not start with cert")
	}
	if len(bytes.TrimSpace(v.Chain)) > 0 {
		if _, err := keys.ParseCertificateChainPEM(v.Chain); err != nil {
			return nil, fmt.Errorf("chain: %w", err)
		}
	}
	if v.PrivKey != nil {
		k, err := keys.ParsePrivateKeyPEM(v.PrivKey)
		if err != nil {
			return nil, fmt.Errorf("privkey: %w", err)
		}
		if !keys.MatchesKey(leaf, k.Public()) {
			return nil, errors.New("privkey does not match the certificate")
		}
	}
	return leaf, nil
}

// lookupGroup resolves a group name or numeric GID; "" gives -1 (no chown).
func lookupGroup(g string) (int, error) {
	if g == "" {
		return -1, nil
	}
	if n, err := strconv.Atoi(g); err == nil && n >= 0 {
		return n, nil
	}
	grp, err := user.LookupGroup(g)
	if err != nil {
		return -1, fmt.Errorf("key group: %w", err)
	}
	n, err := strconv.Atoi(grp.Gid)
	if err != nil {
		return -1, fmt.Errorf("key group %s: gid %q: %w", g, grp.Gid, err)
	}
	return n, nil
}

// setDirMode sets 0700, or 0750 owned by gid when gid >= 0.
func setDirMode(dir string, gid int) error {
	if gid < 0 {
		return os.Chmod(dir, dirPerm)
	}
	if err := os.Chown(dir, -1, gid); err != nil {
		return err
	}
	return os.Chmod(dir, groupDirPerm)
}

// prepareDirs creates the certificate and versions directories and, with a
// key group, opens the path to them for that group.
func (d *Dir) prepareDirs(dir, vdir string, gid int) error {
	if err := ensureDir(vdir); err != nil {
		return err
	}
	if gid < 0 {
		return nil
	}
	for _, p := range []string{d.root, d.certsDir()} {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if m := st.Mode().Perm(); m&0o011 != 0o011 {
			if err := os.Chmod(p, m|0o011); err != nil {
				return err
			}
		}
	}
	for _, p := range []string{dir, vdir} {
		if err := setDirMode(p, gid); err != nil {
			return err
		}
	}
	return nil
}

// cleanLeftovers removes what an interrupted Install (or atomic write) left:
// versions/.tmp-* and certificates/<name>/.*.tmp-*.
func (d *Dir) cleanLeftovers(dir, vdir string) {
	for _, p := range []string{vdir, dir} {
		ents, err := os.ReadDir(p)
		if err != nil {
			continue
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, ".") && strings.Contains(n, ".tmp-") {
				if err := os.RemoveAll(filepath.Join(p, n)); err == nil {
					d.log.Info("removed leftover of an interrupted write", "path", filepath.Join(p, n))
				}
			}
		}
	}
}

// createNewFile creates path (which must not exist) with data, mode perm
// and group gid (< 0: unchanged) and returns it open and not yet fsynced.
// On error the file, if created, is returned too, for the caller to close.
func createNewFile(path string, data []byte, perm os.FileMode, gid int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(perm); err != nil { // umask
		return f, err
	}
	if gid >= 0 {
		if err := f.Chown(-1, gid); err != nil {
			return f, err
		}
	}
	if _, err := f.Write(data); err != nil {
		return f, err
	}
	return f, nil
}

// syncAll fsyncs files and the directory dir concurrently and returns the
// first error; it returns after every fsync returned.
func syncAll(files []*os.File, dir string) error {
	errs := make([]error, len(files)+1)
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() { errs[i] = f.Sync() })
	}
	errs[len(files)] = syncDir(dir)
	wg.Wait()
	return errors.Join(errs...)
}

func formatVersion(n int) string { return fmt.Sprintf("%04d", n) }

// parseVersion accepts only all-digit names (as formatVersion writes).
func parseVersion(s string) (int, bool) {
	if len(s) < 4 || len(s) > 9 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

// listVersions returns the complete version numbers in vdir, ascending.
func listVersions(vdir string) ([]int, error) {
	ents, err := os.ReadDir(vdir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var vs []int
	for _, e := range ents {
		if n, ok := parseVersion(e.Name()); ok && e.IsDir() {
			vs = append(vs, n)
		}
	}
	slices.Sort(vs)
	return vs, nil
}

// readCurrent returns the version "current" points at; ErrNotFound (wrapped)
// if there is no current link.
func readCurrent(dir string) (int, error) {
	target, err := os.Readlink(filepath.Join(dir, currentLink))
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("no current version: %w", ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	rest, ok := strings.CutPrefix(filepath.ToSlash(target), versionsDir+"/")
	n, ok2 := parseVersion(rest)
	if !ok || !ok2 {
		return 0, fmt.Errorf("%s points at %q, not %s/<NNNN>", filepath.Join(dir, currentLink), target, versionsDir)
	}
	return n, nil
}

// stableLinks creates missing cert.pem etc. -> current/... links, fixes
// links that point elsewhere, leaves non-links alone (with a warning), and
// (with remove) removes privkey.pem's link when the version has no key.
func (d *Dir) stableLinks(name, dir string, hasKey, remove bool) error {
	want := []string{CertFile, ChainFile, FullchainFile, PrivKeyFile}
	changed := false
	for _, f := range want {
		p := filepath.Join(dir, f)
		target := filepath.Join(currentLink, f)
		st, err := os.Lstat(p)
		isLink := err == nil && st.Mode()&os.ModeSymlink != 0
		if err == nil && !isLink {
			d.log.Warn("stable path is not a symlink; leaving it alone", "cert_name", name, "path", p)
			continue
		}
		if f == PrivKeyFile && !hasKey {
			if isLink && remove {
				if err := os.Remove(p); err != nil {
					return err
				}
				changed = true
			}
			continue
		}
		if isLink {
			if t, err := os.Readlink(p); err == nil && t == target {
				continue
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		tmp := filepath.Join(dir, "."+f+".tmp-link")
		os.Remove(tmp)
		if err := os.Symlink(target, tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, p); err != nil {
			os.Remove(tmp)
			return err
		}
		changed = true
	}
	if changed {
		return syncDir(dir)
	}
	return nil
}

// prune removes versions beyond the newest keep, never current.
func (d *Dir) prune(name, vdir string, current, keep int) {
	vs, err := listVersions(vdir)
	if err != nil {
		d.log.Warn("list versions to prune", "cert_name", name, "error", err)
		return
	}
	if len(vs) <= keep {
		return
	}
	for _, n := range vs[:len(vs)-keep] {
		if n == current {
			continue
		}
		p := filepath.Join(vdir, formatVersion(n))
		if err := os.RemoveAll(p); err != nil {
			d.log.Warn("prune version", "cert_name", name, "path", p, "error", err)
			continue
		}
		d.log.Debug("pruned version", "cert_name", name, "version", n)
	}
	if err := syncDir(vdir); err != nil {
		d.log.Warn("sync versions dir", "cert_name", name, "error", err)
	}
}

// Current reads the live version of a certificate: the files of the version
// "current" points at (read from that version's directory, so all four come
// from one version even if a switch happens meanwhile) and its number.
// PrivKey is nil when the version has no key. ErrNotFound (wrapped) when the
// certificate has no current version.
func (d *Dir) Current(name string) (*Files, int, error) {
	dir, err := d.certDir(name)
	if err != nil {
		return nil, 0, err
	}
	n, err := readCurrent(dir)
	if err != nil {
		return nil, 0, fmt.Errorf("current version of %s: %w", name, err)
	}
	vd := filepath.Join(dir, versionsDir, formatVersion(n))
	var f Files
	for _, x := range []struct {
		name     string
		dst      *[]byte
		optional bool
	}{
		{CertFile, &f.Cert, false},
		{ChainFile, &f.Chain, false},
		{FullchainFile, &f.Fullchain, false},
		{PrivKeyFile, &f.PrivKey, true},
	} {
		data, err := readFileLimit(filepath.Join(vd, x.name), maxInstallBytes)
		if err != nil {
			if x.optional && errors.Is(err, ErrNotFound) {
				continue
			}
			return nil, 0, fmt.Errorf("current version of %s: %w", name, err)
		}
		*x.dst = data
	}
	return &f, n, nil
}

// CurrentPaths returns the stable paths and number of the live version
// without reading the certificate (Leaf is nil). ErrNotFound (wrapped) when
// there is no current version.
func (d *Dir) CurrentPaths(name string) (*Installed, error) {
	dir, err := d.certDir(name)
	if err != nil {
		return nil, err
	}
	n, err := readCurrent(dir)
	if err != nil {
		return nil, fmt.Errorf("current version of %s: %w", name, err)
	}
	_, kerr := os.Lstat(filepath.Join(dir, versionsDir, formatVersion(n), PrivKeyFile))
	return d.installed(dir, n, kerr == nil), nil
}
