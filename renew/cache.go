package renew

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/acmectl/acmectl/internal/store"
)

// StateCache is a read cache of every certificate's state.json in one file
// (<state-dir>/renew-cache), so that a pass over thousands of
// certificates reads one file and stats the others instead of opening each:
// on the test VM a stat costs ~11 µs and LoadState ~130 µs. An entry is used
// only while state.json has the same inode, size and modification time
// (store writes state.json by rename, so every write makes a new inode);
// anything else is a miss and the file is read. The cache is never the
// source of truth: deleting it costs one slow pass. Safe for concurrent use.
type StateCache struct {
	Root string // the state directory

	mu      sync.Mutex
	entries map[string]cacheEntry
	dirty   bool
	loaded  bool
}

type cacheEntry struct {
	Ino   uint64
	Size  int64
	MTime int64 // Unix nanoseconds
	// State is a state read in this process; raw, one from the cache file
	// still encoded (decoded on use: most entries of a pass are used once).
	State *store.State
	raw   []byte
}

// cacheFile is the cache (cachecodec.go). It had JSON in renew-cache.json
// before; that file is left alone and read no more.
const cacheFile = "renew-cache"

func (c *StateCache) load() {
	if c.loaded {
		return
	}
	c.loaded = true
	c.entries = map[string]cacheEntry{}
	data, err := os.ReadFile(filepath.Join(c.Root, cacheFile))
	if err != nil {
		return
	}
	if m, err := decodeCache(data); err == nil {
		c.entries = m
	}
}

func fileKey(fi fs.FileInfo) (ino uint64, size, mtime int64) {
	return inode(fi), fi.Size(), fi.ModTime().UnixNano()
}

// LoadState returns name's state from the cache when state.json is
// unchanged, else from ld (store.Dir.LoadState), remembering it.
func (c *StateCache) LoadState(name string, ld func(string) (*store.State, error)) (*store.State, error) {
	if store.ValidCertName(name) != nil {
		return ld(name)
	}
	fi, err := os.Stat(filepath.Join(c.Root, "certificates", name, "state.json"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			c.mu.Lock()
			c.load()
			if _, ok := c.entries[name]; ok {
				delete(c.entries, name)
				c.dirty = true
			}
			c.mu.Unlock()
		}
		return ld(name)
	}
	ino, size, mt := fileKey(fi)
	c.mu.Lock()
	c.load()
	e, ok := c.entries[name]
	c.mu.Unlock()
	if ok && e.Ino == ino && e.Size == size && e.MTime == mt && ino != 0 {
		if e.State != nil {
			s := *e.State // callers may modify their copy
			return &s, nil
		}
		if s, err := decodeState(e.raw); err == nil {
			return s, nil
		}
	}
	s, err := ld(name)
	if err != nil {
		return nil, err
	}
	// Re-stat: only remember what was read if the file did not change meanwhile.
	if fi2, err := os.Stat(filepath.Join(c.Root, "certificates", name, "state.json")); err == nil {
		if i2, s2, m2 := fileKey(fi2); i2 == ino && s2 == size && m2 == mt {
			cp := *s
			c.mu.Lock()
			c.entries[name] = cacheEntry{Ino: ino, Size: size, MTime: mt, State: &cp}
			c.dirty = true
			c.mu.Unlock()
		}
	}
	return s, nil
}

// Save writes the cache if it changed (temp file and rename, 0600).
func (c *StateCache) Save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty {
		return nil
	}
	data := encodeCache(c.entries)
	f, err := os.CreateTemp(c.Root, "."+cacheFile+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(c.Root, cacheFile))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	c.dirty = false
	os.Remove(filepath.Join(c.Root, "renew-cache.json")) // the JSON cache of earlier releases
	return nil
}
