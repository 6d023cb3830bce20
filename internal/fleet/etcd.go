package fleet

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/fleet/kv"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/store"
)

// Size limits of values read from etcd: everything read is treated as
// untrusted input.
const (
	maxValue   = 1 << 20
	opTimeout  = 10 * time.Second
	challTTL   = 10 * time.Minute // a presented challenge never outlives this
	maxSANames = 100
)

// Fleet is a connection to the fleet's etcd. Create it with Open; it is safe
// for concurrent use.
type Fleet struct {
	kv     kv.Backend
	loc    *Location
	sealer *Sealer
	log    *slog.Logger
	ttl    int
	host   string
}

// Open parses cfg.URL, reads the secret files and starts the etcd helper
// (internal/fleet/kv), which creates the etcd client. The client connects
// lazily: Open does no round trip to etcd, so a fleet whose etcd is down
// can still start (and wait). A *ConfigError is a configuration that can
// never work.
func Open(cfg Config) (*Fleet, error) {
	loc, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, &ConfigError{Msg: err.Error()}
	}
	var sealer *Sealer
	switch {
	case cfg.StorageKeyFile != "" && cfg.PlaintextKeys:
		return nil, &ConfigError{Msg: "--storage-key-file and --storage-plaintext-keys exclude each other"}
	case cfg.StorageKeyFile != "":
		warnReadable(cfg.log(), "--storage-key-file", cfg.StorageKeyFile)
		raw, err := readSecret(cfg.StorageKeyFile, 4096)
		if err != nil {
			return nil, fmt.Errorf("--storage-key-file: %w", err)
		}
		if sealer, err = NewSealer(raw); err != nil {
			return nil, err
		}
	case !cfg.PlaintextKeys:
		return nil, &ConfigError{Msg: "etcd storage needs --storage-key-file (32 random bytes that encrypt private keys in etcd) or, knowingly, --storage-plaintext-keys"}
	}
	dc, err := cfg.dialConfig(loc)
	if err != nil {
		return nil, err
	}
	helper := cfg.Helper
	if helper == "" {
		if helper, err = kv.HelperPath(); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	b, err := kv.Start(ctx, helper, dc, os.Stderr)
	if err != nil {
		return nil, err
	}
	host := cfg.HostID
	if host == "" {
		host, _ = os.Hostname()
	}
	return &Fleet{kv: b, loc: loc, sealer: sealer, log: cfg.log(), ttl: cfg.leaseSeconds(), host: host}, nil
}

// Close stops the etcd helper. Locks still held are released by their
// leases' expiry.
func (f *Fleet) Close() error { return f.kv.Close() }

// Prefix is the key prefix, e.g. "/acmectl".
func (f *Fleet) Prefix() string { return f.loc.Prefix }

// Host is this host's name in records and logs.
func (f *Fleet) Host() string { return f.host }

func (f *Fleet) key(parts ...string) string {
	return f.loc.Prefix + "/" + strings.Join(parts, "/")
}

func (f *Fleet) certKey(name, what string) string { return f.key("certs", name, what) }

func (f *Fleet) get(ctx context.Context, k string) ([]byte, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	v, found, err := f.kv.Get(ctx, k)
	if err != nil {
		return nil, 0, err
	}
	if !found {
		return nil, 0, fmt.Errorf("%s: %w", k, store.ErrNotFound)
	}
	if len(v) > maxValue {
		return nil, 0, fmt.Errorf("%s: value larger than %d bytes", k, maxValue)
	}
	return v, 0, nil
}

// ---- settings ----

// sharedSettings strips what must never come from etcd: hooks, exec
// programs, named solvers from the local config, and the host-local
// settings (hostLocal) — listen addresses, server, ca-bundle, key-group,
// webroot, DNS server and TSIG settings. What stays is fleet-wide: names,
// account label, ACME version, key type, reuse-key, CSR, solver choice,
// resolvers, propagation times, profile, preferred chain, must-staple,
// e-mail.
func sharedSettings(s *store.Settings) *store.Settings {
	c := *s
	c.Hooks = store.Hooks{}
	c.HookTimeout = ""
	c.HookEnv = nil
	c.DNS.Exec = ""
	c.NamedSolvers = nil
	c.HTTP01Addrs = nil
	c.TLSALPN01Addrs = nil
	setHostLocal(&c, nil)
	return &c
}

// setHostLocal sets the host-local settings of dst from src (zero if src
// is nil): values only this host's own settings or configuration may
// give, because they name its files, groups, servers and trust.
func setHostLocal(dst, src *store.Settings) {
	var z store.Settings
	if src == nil {
		src = &z
	}
	dst.Server = src.Server
	dst.CABundle = src.CABundle
	dst.KeyGroup = src.KeyGroup
	dst.Webroot = src.Webroot
	dst.DNS.RFC2136Server = src.DNS.RFC2136Server
	dst.DNS.RFC2136TSIGFile = src.DNS.RFC2136TSIGFile
	dst.DNS.RFC2136TSIGKey = src.DNS.RFC2136TSIGKey
	dst.DNS.RFC2136TSIGAlgorithm = src.DNS.RFC2136TSIGAlgorithm
	dst.DNS.RFC2136Zone = src.DNS.RFC2136Zone
}

// MergeSettings returns shared settings from etcd with this host's own
// hooks, hook timeout and environment, exec program, named solvers, listen
// addresses and host-local settings (setHostLocal) taken from local (which
// may be nil: then those are empty). A shared setting that asks for the
// built-in http-01 or tls-alpn-01 responder but has no local address keeps
// the solver (answers go through etcd) with no address.
func MergeSettings(shared, local *store.Settings) *store.Settings {
	m := *sharedSettings(shared)
	if local != nil {
		m.Hooks = local.Hooks
		m.HookTimeout = local.HookTimeout
		m.HookEnv = local.HookEnv
		m.DNS.Exec = local.DNS.Exec
		m.NamedSolvers = local.NamedSolvers
		m.HTTP01Addrs = local.HTTP01Addrs
		m.TLSALPN01Addrs = local.TLSALPN01Addrs
	}
	setHostLocal(&m, local)
	return &m
}

// sharedSolverMarkers records, in the shared settings, that the built-in
// responders are wanted even though their addresses are local.
const (
	markHTTP01    = "fleet:http-01"
	markTLSALPN01 = "fleet:tls-alpn-01"
)

func encodeSettings(s *store.Settings) ([]byte, error) {
	sh := sharedSettings(s)
	if sh.Version == 0 {
		sh.Version = store.SettingsVersion
	}
	// Keep the choice of built-in responders although their addresses
	// are per host: record it as a solver entry the merge turns back.
	if len(s.HTTP01Addrs) > 0 || len(s.TLSALPN01Addrs) > 0 {
		if sh.Solvers == nil {
			sh.Solvers = map[string][]string{}
		} else {
			sh.Solvers = cloneSolvers(sh.Solvers)
		}
		var m []string
		if len(s.HTTP01Addrs) > 0 {
			m = append(m, markHTTP01)
		}
		if len(s.TLSALPN01Addrs) > 0 {
			m = append(m, markTLSALPN01)
		}
		sh.Solvers["fleet:responders"] = m
	}
	return yaml.Marshal(sh)
}

func cloneSolvers(m map[string][]string) map[string][]string {
	c := make(map[string][]string, len(m))
	for k, v := range m {
		c[k] = append([]string(nil), v...)
	}
	return c
}

func decodeSettings(k string, data []byte) (*store.Settings, []string, error) {
	var s store.Settings
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, nil, &store.SettingsError{Path: "etcd:" + k, Msg: err.Error()}
	}
	if s.Version != store.SettingsVersion {
		return nil, nil, &store.SettingsError{Path: "etcd:" + k, Msg: fmt.Sprintf("version %d is not supported", s.Version)}
	}
	if len(s.Names) == 0 && s.CSR == "" || len(s.Names) > maxSANames {
		return nil, nil, &store.SettingsError{Path: "etcd:" + k, Msg: "names: want 1 to 100 names"}
	}
	var raw struct {
		Names []string `yaml:"names"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, nil, &store.SettingsError{Path: "etcd:" + k, Msg: err.Error()}
	}
	if err := checkCanonical(raw.Names, s.Names); err != nil {
		return nil, nil, &store.SettingsError{Path: "etcd:" + k, Msg: err.Error()}
	}
	if s.KeyType != "" {
		if err := keys.ValidKeyType(s.KeyType); err != nil {
			return nil, nil, &store.SettingsError{Path: "etcd:" + k, Msg: "key-type: " + err.Error()}
		}
	}
	if s.Account != "" {
		if err := store.ValidCertName(s.Account); err != nil {
			return nil, nil, &store.SettingsError{Path: "etcd:" + k, Msg: "account: " + err.Error()}
		}
	}
	markers := s.Solvers["fleet:responders"]
	delete(s.Solvers, "fleet:responders")
	if len(s.Solvers) == 0 {
		s.Solvers = nil
	}
	// Never trust hooks or exec programs from etcd, even if someone put
	// them there by hand.
	s = *sharedSettings(&s)
	return &s, markers, nil
}

// Settings returns the certificate's settings for use on this host: the
// shared ones from etcd merged with local's host-specific parts
// (MergeSettings). When the shared settings use a built-in responder that
// has no local address, the address list stays empty and the responder
// answers only through etcd. ErrNotFound (wrapped) if etcd has none.
func (f *Fleet) Settings(ctx context.Context, name string, local *store.Settings) (*store.Settings, error) {
	if err := store.ValidCertName(name); err != nil {
		return nil, err
	}
	k := f.certKey(name, "settings")
	data, _, err := f.get(ctx, k)
	if err != nil {
		return nil, err
	}
	sh, markers, err := decodeSettings(k, data)
	if err != nil {
		return nil, err
	}
	m := MergeSettings(sh, local)
	for _, mk := range markers {
		switch mk {
		case markHTTP01:
			if len(m.HTTP01Addrs) == 0 {
				m.HTTP01Addrs = []string{fleetOnlyAddr}
			}
		case markTLSALPN01:
			if len(m.TLSALPN01Addrs) == 0 {
				m.TLSALPN01Addrs = []string{fleetOnlyAddr}
			}
		}
	}
	return m, nil
}

// fleetOnlyAddr marks a built-in responder this host does not run locally
// (its answers are published to etcd for the hosts that do).
const fleetOnlyAddr = "fleet-only"

// ---- state ----

// LoadState returns the shared state of name (zero State if none).
func (f *Fleet) LoadState(ctx context.Context, name string) (*store.State, error) {
	if err := store.ValidCertName(name); err != nil {
		return nil, err
	}
	data, _, err := f.get(ctx, f.certKey(name, "state"))
	if errors.Is(err, store.ErrNotFound) {
		return &store.State{}, nil
	}
	if err != nil {
		return nil, err
	}
	st, dropped, err := store.DecodeState(data)
	if err != nil {
		return nil, fmt.Errorf("state of %s in etcd: %w", name, err)
	}
	if dropped != nil {
		f.log.Warn("pending order dropped: its names do not parse; a new order will be made", "cert_name", name, "err", dropped)
	}
	st.DeployPending = false // per host, never shared
	return st, nil
}

func encodeState(st *store.State) ([]byte, error) {
	c := *st
	c.DeployPending = false
	return json.Marshal(&c)
}

// ---- versions ----

// Version is the newest certificate of a name as published in etcd.
type Version struct {
	Generation int       `json:"generation"` // 1, 2, … per certificate
	Cert       []byte    `json:"cert"`
	Chain      []byte    `json:"chain"`
	Fullchain  []byte    `json:"fullchain"`
	PrivKey    []byte    `json:"privkey,omitempty"` // sealed; empty for --csr
	IssuedBy   string    `json:"issued_by,omitempty"`
	Published  time.Time `json:"published,omitzero"`
	// Names are the certificate's names (sorted by value); MAC
	// authenticates Cert, Chain, Fullchain, Names and Generation under
	// the storage key (Sealer.recordMAC).
	Names client.Names `json:"names,omitempty"`
	MAC   []byte       `json:"mac,omitempty"`
}

// Latest returns the newest published version of name with its private
// key opened. ErrNotFound (wrapped) when none was published.
func (f *Fleet) Latest(ctx context.Context, name string) (*Version, *store.Files, error) {
	if err := store.ValidCertName(name); err != nil {
		return nil, nil, err
	}
	k := f.certKey(name, "latest")
	data, _, err := f.get(ctx, k)
	if err != nil {
		return nil, nil, err
	}
	var v Version
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, nil, fmt.Errorf("latest version of %s in etcd: %w", name, err)
	}
	if err := f.sealer.checkRecord(k, &v); err != nil {
		return nil, nil, err
	}
	files := &store.Files{Cert: v.Cert, Chain: v.Chain, Fullchain: v.Fullchain}
	if len(v.PrivKey) > 0 {
		if files.PrivKey, err = f.sealer.Open(k+"#privkey", v.PrivKey, f.log); err != nil {
			return nil, nil, err
		}
	}
	return &v, files, nil
}

// List returns the names of the certificates in etcd, sorted.
func (f *Fleet) List(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	pfx := f.key("certs") + "/"
	keys, err := f.kv.Keys(ctx, pfx)
	if err != nil {
		return nil, fmt.Errorf("etcd list certificates: %w", err)
	}
	var names []string
	seen := map[string]bool{}
	for _, k := range keys {
		rest := strings.TrimPrefix(k, pfx)
		name, what, ok := strings.Cut(rest, "/")
		if !ok || what != "settings" || seen[name] || store.ValidCertName(name) != nil {
			continue
		}
		seen[name] = true
		names = append(names, name)
	}
	return names, nil
}

// ---- accounts ----

func (f *Fleet) accountKey(directoryURL, label, what string) (string, error) {
	if err := store.ValidCertName(label); err != nil {
		return "", fmt.Errorf("account label: %w", err)
	}
	id, err := store.ServerID(directoryURL)
	if err != nil {
		return "", err
	}
	return f.key("accounts", id, label, what), nil
}

// LoadAccount returns the shared account for directoryURL and label.
// ErrNotFound (wrapped) if there is none.
func (f *Fleet) LoadAccount(ctx context.Context, directoryURL, label string) (*store.AccountRecord, crypto.Signer, error) {
	rk, err := f.accountKey(directoryURL, label, "record")
	if err != nil {
		return nil, nil, err
	}
	kk, _ := f.accountKey(directoryURL, label, "key")
	data, _, err := f.get(ctx, rk)
	if err != nil {
		return nil, nil, err
	}
	var rec store.AccountRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, nil, fmt.Errorf("account %s in etcd: %w", label, err)
	}
	sealed, _, err := f.get(ctx, kk)
	if err != nil {
		return nil, nil, fmt.Errorf("account %s in etcd: record present but key missing: %v", label, err)
	}
	pemKey, err := f.sealer.Open(kk, sealed, f.log)
	if err != nil {
		return nil, nil, err
	}
	key, err := keys.ParsePrivateKeyPEM(pemKey)
	if err != nil {
		return nil, nil, fmt.Errorf("account %s key in etcd: %w", label, err)
	}
	return &rec, key, nil
}

// SaveAccount stores an account unless one already exists under that
// server and label (first writer wins; the caller reloads). It reports
// whether it wrote.
func (f *Fleet) SaveAccount(ctx context.Context, directoryURL, label string, rec *store.AccountRecord, key crypto.Signer) (bool, error) {
	ops, err := f.accountOps(directoryURL, label, rec, key)
	if err != nil {
		return false, err
	}
	rk, _ := f.accountKey(directoryURL, label, "record")
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	ok, err := f.kv.CreateIfAbsent(ctx, rk, ops...)
	if err != nil {
		return false, fmt.Errorf("etcd save account %s: %w", label, err)
	}
	return ok, nil
}

// ---- settings writes ----

// SaveSettings stores name's shared settings (hooks, exec programs, named
// solvers and listen addresses are stripped), conditioned on holding lk.
func (f *Fleet) SaveSettings(ctx context.Context, lk *Lock, s *store.Settings) error {
	data, err := encodeSettings(s)
	if err != nil {
		return fmt.Errorf("save settings of %s: %w", lk.name, err)
	}
	if _, _, err := decodeSettings(f.certKey(lk.name, "settings"), data); err != nil {
		return fmt.Errorf("save settings of %s: %w", lk.name, err)
	}
	return lk.Txn(ctx, kv.Put(f.certKey(lk.name, "settings"), data))
}

// SaveState stores name's shared state, conditioned on holding lk.
func (f *Fleet) SaveState(ctx context.Context, lk *Lock, st *store.State) error {
	js, err := encodeState(st)
	if err != nil {
		return err
	}
	return lk.Txn(ctx, kv.Put(f.certKey(lk.name, "state"), js))
}

// Delete removes everything etcd holds for name, conditioned on lk. Hosts
// keep their local files.
func (f *Fleet) Delete(ctx context.Context, lk *Lock) error {
	return lk.Txn(ctx, kv.DeletePrefix(f.key("certs", lk.name)+"/"))
}

// ---- locks ----

// Lock is a certificate's fleet-wide lock: a concurrency.Mutex on its own
// session (lease), held by the etcd helper. Ctx is cancelled when the
// lease is lost or the lock released; every write through Txn is
// conditioned on still owning it.
type Lock struct {
	f      *Fleet
	name   string
	mu     kv.Mutex
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// LockCert takes name's fleet lock. wait <= 0 tries once; otherwise it
// waits up to wait. A lock held elsewhere past the wait is a
// *store.LockedError (errors.Is store.ErrLocked), so the CLI's exit codes
// treat it like a local lock. etcd being unreachable is an error wrapping
// the client's.
func (f *Fleet) LockCert(ctx context.Context, name string, wait time.Duration) (*Lock, error) {
	if err := store.ValidCertName(name); err != nil {
		return nil, err
	}
	return f.lock(ctx, f.key("locks", "certs", name), name, wait)
}

func (f *Fleet) lock(ctx context.Context, pfx, name string, wait time.Duration) (*Lock, error) {
	mu, err := f.kv.Lock(ctx, pfx, f.ttl, wait)
	if err != nil {
		if errors.Is(err, kv.ErrLocked) {
			return nil, &store.LockedError{Name: name}
		}
		return nil, fmt.Errorf("etcd lock %s: %w", name, err)
	}
	lctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-mu.Done():
			cancel(ErrLockLost)
		case <-lctx.Done():
		}
	}()
	f.log.Debug("fleet lock taken", "cert_name", name, "lease", fmt.Sprintf("%x", mu.Lease()))
	return &Lock{f: f, name: name, mu: mu, ctx: lctx, cancel: cancel}, nil
}

// Ctx is cancelled (with cause ErrLockLost) when the lease is lost.
func (l *Lock) Ctx() context.Context { return l.ctx }

// Name is the certificate the lock is for.
func (l *Lock) Name() string { return l.name }

// Txn runs ops in one transaction conditioned on still owning the lock.
// ErrLockLost (wrapped) when the condition fails.
func (l *Lock) Txn(ctx context.Context, ops ...kv.Op) error {
	if err := context.Cause(l.ctx); err != nil {
		return fmt.Errorf("%s: %w", l.name, ErrLockLost)
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	ok, err := l.mu.Txn(ctx, ops...)
	if err != nil {
		return fmt.Errorf("etcd write %s: %w", l.name, err)
	}
	if !ok {
		l.cancel(ErrLockLost)
		return fmt.Errorf("%s: %w", l.name, ErrLockLost)
	}
	return nil
}

// Check verifies with one round trip that the lock is still owned.
func (l *Lock) Check(ctx context.Context) error { return l.Txn(ctx) }

// Unlock releases the lock and revokes its lease. Safe to call twice.
func (l *Lock) Unlock() {
	if l.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = l.mu.Unlock(ctx)
		cancel()
	}
	l.cancel(context.Canceled)
}

// abandon drops the lock without releasing it, as a killed process would
// (tests).
func (l *Lock) abandon() {
	l.mu.Orphan()
	l.cancel(context.Canceled)
}

// ---- pending key ----

func (f *Fleet) pendingKeyOp(name string, key crypto.Signer) (kv.Op, error) {
	k := f.certKey(name, "pending-key")
	pemKey, err := keys.MarshalPrivateKeyPEM(key)
	if err != nil {
		return kv.Op{}, err
	}
	sealed, err := f.sealer.Seal(k, pemKey)
	if err != nil {
		return kv.Op{}, err
	}
	return kv.Put(k, sealed), nil
}

// PendingKey returns the key of name's order in flight; ErrNotFound
// (wrapped) if none.
func (f *Fleet) PendingKey(ctx context.Context, name string) (crypto.Signer, error) {
	k := f.certKey(name, "pending-key")
	sealed, _, err := f.get(ctx, k)
	if err != nil {
		return nil, err
	}
	pemKey, err := f.sealer.Open(k, sealed, f.log)
	if err != nil {
		return nil, err
	}
	return keys.ParsePrivateKeyPEM(pemKey)
}
