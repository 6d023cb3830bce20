package importer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/acmectl/acmectl/internal/store"
)

// Link pairs a file of the other client that servers may point at with
// acmectl's stable path holding the same thing.
type Link struct {
	Kind string // fullchain, privkey, cert or chain
	Old  string // the other client's path
	New  string // acmectl's stable path (absolute)
	// Was is the old symlink's target once Relink replaced it ("" before).
	Was string
}

// Links lists c's files of the other client with acmectl's stable paths
// under the state directory root (certificates/<name>/...), fullchain and
// privkey first.
func (c *Cert) Links(root string) ([]Link, error) {
	dir, err := filepath.Abs(filepath.Join(root, "certificates", c.Name))
	if err != nil {
		return nil, err
	}
	var out []Link
	for _, k := range []struct{ kind, file string }{
		{"fullchain", store.FullchainFile}, {"privkey", store.PrivKeyFile}, {"cert", store.CertFile}, {"chain", store.ChainFile},
	} {
		if old := c.Live[k.kind]; old != "" {
			out = append(out, Link{Kind: k.kind, Old: old, New: filepath.Join(dir, k.file)})
		}
	}
	return out, nil
}

// Relink turns each link's old path, which must be a symbolic link (as
// certbot's live/<name>/ files are), into a symbolic link to its new
// path: a new link is made beside it and renamed over it, so a server
// reading the path sees the old file or the new one, never none. A path
// that is not a symbolic link is left alone (an error names it); so is
// everything when a new path does not exist. Links already done are
// returned with Was set.
func Relink(links []Link) ([]Link, error) {
	for _, l := range links {
		if _, err := os.Stat(l.New); err != nil {
			return nil, fmt.Errorf("relink %s: %w", l.Old, err)
		}
		fi, err := os.Lstat(l.Old)
		if err != nil {
			return nil, fmt.Errorf("relink: %w", err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return nil, fmt.Errorf("relink: %s is not a symbolic link (only certbot's live/ links are relinked; change the server's configuration instead)", l.Old)
		}
	}
	var done []Link
	for _, l := range links {
		was, err := os.Readlink(l.Old)
		if err != nil {
			return done, fmt.Errorf("relink: %w", err)
		}
		if was == l.New {
			l.Was = was
			done = append(done, l)
			continue
		}
		tmp := filepath.Join(filepath.Dir(l.Old), ".acmectl-relink-"+filepath.Base(l.Old))
		if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return done, fmt.Errorf("relink: %w", err)
		}
		if err := os.Symlink(l.New, tmp); err != nil {
			return done, fmt.Errorf("relink: %w", err)
		}
		if err := os.Rename(tmp, l.Old); err != nil {
			os.Remove(tmp)
			return done, fmt.Errorf("relink: %w", err)
		}
		l.Was = was
		done = append(done, l)
	}
	return done, nil
}

// RelinkLive points the other client's live links of every certificate
// of the plan that st now holds (import --symlink-live, after Apply) at
// st's stable paths (Relink). It returns the links replaced, also when it
// stops at an error.
func (plan *Plan) RelinkLive(st *store.Dir) ([]Link, error) {
	var relinked []Link
	for _, c := range plan.Certs {
		if !st.Exists(c.Name) {
			continue
		}
		links, err := c.Links(st.Root())
		if err != nil {
			return relinked, err
		}
		done, err := Relink(links)
		relinked = append(relinked, done...)
		if err != nil {
			return relinked, err
		}
	}
	return relinked, nil
}
