package fleet

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/http01"
	"github.com/acmectl/acmectl/challenges/tlsalpn01"
	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/renew"
)

// DeployFunc runs a host's deploy hooks for the version just installed
// locally (settings are the merged ones: hooks from this host only).
type DeployFunc func(ctx context.Context, name string, s *store.Settings, inst *store.Installed) error

// Host is one acmectl host of a fleet: the shared etcd data plus its own
// state dir. Build one per run.
type Host struct {
	Fleet *Fleet
	Local *store.Dir
	// Engine provides the ACME client, accounts (registration) and the
	// non-built-in solvers; its Store must be Local.
	Engine *issue.Engine
	// Deploy runs this host's deploy hooks; nil runs none.
	Deploy DeployFunc
	Logger *slog.Logger
	Now    func() time.Time
	Policy renew.Policy
	// Account is used when an account must be registered.
	Account issue.AccountOptions
	// LocalLockWait bounds the wait for the local flock when installing
	// (default 2m).
	LocalLockWait time.Duration
}

func (h *Host) log() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

func (h *Host) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// localSettings reads the host's own settings.yaml (nil if absent).
func (h *Host) localSettings(name string) *store.Settings {
	s, err := h.Local.LoadSettings(name)
	if err != nil {
		return nil
	}
	return s
}

// Settings returns name's settings for this host (etcd merged with the
// local host-specific parts).
func (h *Host) Settings(ctx context.Context, name string) (*store.Settings, error) {
	return h.Fleet.Settings(ctx, name, h.localSettings(name))
}

// Publish stores new settings for name in etcd (under lk) and the full
// settings, with this host's hooks, locally.
func (h *Host) Publish(ctx context.Context, lk *Lock, s *store.Settings) error {
	if err := h.Fleet.SaveSettings(ctx, lk, s); err != nil {
		return err
	}
	return h.Local.SaveSettings(lk.name, s)
}

// IssueOptions tune one issuance.
type IssueOptions struct {
	Force    bool
	Progress func(client.Event)
}

// Issued describes a published certificate.
type Issued struct {
	Generation int
	Leaf       *x509.Certificate
	OrderURL   string
	Resumed    bool
	Replaced   string
}

// Issue orders name's certificate under lk and publishes it to etcd. It
// resumes the order persisted in etcd (by this or a dead host) when it is
// still usable, with the pending key stored (sealed) beside it. Before
// finalizing it checks with etcd that the lock is still held; losing the
// lease cancels the order (ErrLockLost). It does not install locally: call
// Sync (the daemon's watch does it on every host).
func (h *Host) Issue(ctx context.Context, lk *Lock, opts IssueOptions) (*Issued, error) {
	name := lk.name
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(lk.ctx, func() { cancel(context.Cause(lk.ctx)) })
	defer stop()

	s, err := h.Settings(ctx, name)
	if err != nil {
		return nil, err
	}
	st, err := h.Fleet.LoadState(ctx, name)
	if err != nil {
		return nil, err
	}
	if st.RetryAfter.After(h.now()) {
		return nil, &client.TemporaryError{Err: errors.New("not contacting the CA: it asked to wait (Retry-After)"), RetryAfter: st.RetryAfter}
	}
	e := h.Engine
	c, err := e.Client(s)
	if err != nil {
		return nil, err
	}
	dir, err := c.Directory(ctx)
	if err != nil {
		return nil, err
	}
	names := s.Names
	var csrDER []byte
	if s.CSR != "" {
		csr, err := issue.ParseCSR([]byte(s.CSR))
		if err != nil {
			return nil, err
		}
		csrDER, names = csr.Raw, issue.CSRNames(csr)
	}
	set, err := e.Solvers(s)
	if err != nil {
		return nil, err
	}
	defer set.Close()
	pubs := map[string]*Publisher{
		challenges.HTTP01:    {Type: challenges.HTTP01, Lock: lk, Addrs: s.HTTP01Addrs, Log: h.log()},
		challenges.TLSALPN01: {Type: challenges.TLSALPN01, Lock: lk, Addrs: s.TLSALPN01Addrs, Log: h.log()},
	}
	solvers := func(id client.Identifier, wildcard bool) []client.SolverChoice {
		out := set.For(id, wildcard)
		for i, ch := range out {
			switch ch.Solver.(type) {
			case *http01.Server, *tlsalpn01.Server:
				out[i].Solver = pubs[ch.Type]
			}
		}
		return out
	}
	progress := func(ev client.Event) {
		if ev.Step == "finalize" {
			if err := lk.Check(ctx); err != nil {
				h.log().Warn("lock lost before finalize; stopping", "cert_name", name, "err", err)
				cancel(fmt.Errorf("%s: %w", name, ErrLockLost))
			}
		}
		if opts.Progress != nil {
			opts.Progress(ev)
		}
	}
	orderReq := client.OrderRequest{
		Identifiers: issue.Identifiers(names), Profile: s.Profile, Solvers: solvers,
		AlternateChains: s.PreferredChain != "", Progress: progress, CSR: []byte{0},
	}
	if err := c.CheckOrder(ctx, &orderReq); err != nil {
		return nil, err
	}
	acct, err := h.account(ctx, c, s)
	if err != nil {
		return nil, err
	}
	label := acctLabel(s)

	var key crypto.Signer
	resumed := false
	if csrDER == nil {
		if st.PendingOrder != nil {
			if k, err := h.Fleet.PendingKey(ctx, name); err == nil {
				key, resumed = k, true
			} else if !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
		}
		if key == nil {
			if key, err = h.newKey(ctx, name, s, st); err != nil {
				return nil, err
			}
			op, err := h.Fleet.pendingKeyOp(name, key)
			if err != nil {
				return nil, err
			}
			if err := lk.Txn(ctx, op); err != nil {
				return nil, fmt.Errorf("save pending key: %w", err)
			}
		}
		if csrDER, err = issue.NewCSR(key, names, s.MustStaple); err != nil {
			return nil, err
		}
	}
	orderReq.CSR = csrDER
	var replaced string
	var latestFiles *store.Files
	latest, latestFiles, lerr := h.Fleet.Latest(ctx, name)
	if lerr == nil && dir.RenewalInfo != "" && !st.Revoked {
		if leaf, err := leafOf(latestFiles.Cert); err == nil {
			if id, err := renew.CertID(leaf); err == nil {
				replaced, orderReq.Replaces = id, id
			}
		}
	}
	if p := st.PendingOrder; p != nil && p.DirectoryURL == s.Server && p.Account == label && sameNames(p.Names, names) {
		orderReq.ResumeURL = p.URL
	} else {
		resumed = false
	}
	orderReq.OnOrder = func(u string) error {
		st.PendingOrder = &store.PendingOrder{URL: u, DirectoryURL: s.Server, Account: label, Names: names, Replaces: replaced, Created: h.now()}
		st.LastAttempt = h.now()
		return h.Fleet.SaveState(ctx, lk, st)
	}
	cert, err := c.Obtain(ctx, acct, orderReq)
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, ErrLockLost) {
			return nil, fmt.Errorf("order of %s stopped: %w", name, cause)
		}
		return nil, err
	}
	chain := issue.ChooseChain(cert.Chain, cert.Alternates, s.PreferredChain)
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fmt.Errorf("parse issued certificate: %w", err)
	}
	v := Version{
		Generation: 1,
		Cert:       pemCerts(chain[:1]), Chain: pemCerts(chain[1:]), Fullchain: pemCerts(chain),
		IssuedBy: h.Fleet.host, Published: h.now().UTC(),
	}
	if latest != nil {
		v.Generation = latest.Generation + 1
	}
	lkey := h.Fleet.certKey(name, "latest")
	if key != nil {
		pemKey, err := keys.MarshalPrivateKeyPEM(key)
		if err != nil {
			return nil, err
		}
		if v.PrivKey, err = h.Fleet.sealer.Seal(lkey+"#privkey", pemKey); err != nil {
			return nil, err
		}
	}
	vjs, err := json.Marshal(&v)
	if err != nil {
		return nil, err
	}
	st.PendingOrder, st.LastError, st.Backoff, st.ARI = nil, nil, nil, nil
	st.Revoked = false
	st.RetryAfter = time.Time{}
	st.LastSuccess = h.now()
	recordLeaf(st, leaf, v.Generation)
	sjs, err := encodeState(st)
	if err != nil {
		return nil, err
	}
	// One transaction: the new version, the state without the pending
	// order, and no pending key.
	if err := lk.Txn(context.WithoutCancel(ctx),
		clientv3.OpPut(lkey, string(vjs)),
		clientv3.OpPut(h.Fleet.certKey(name, "state"), string(sjs)),
		clientv3.OpDelete(h.Fleet.certKey(name, "pending-key")),
	); err != nil {
		return nil, fmt.Errorf("publish certificate of %s (the order %s stays recorded for the next holder): %w", name, cert.OrderURL, err)
	}
	h.log().Info("certificate published to the fleet", "cert_name", name, "generation", v.Generation,
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339), "order_url", cert.OrderURL, "resumed", resumed)
	return &Issued{Generation: v.Generation, Leaf: leaf, OrderURL: cert.OrderURL, Resumed: resumed, Replaced: replaced}, nil
}

func recordLeaf(st *store.State, leaf *x509.Certificate, gen int) {
	st.NotBefore, st.NotAfter = leaf.NotBefore.UTC(), leaf.NotAfter.UTC()
	st.Serial = fmt.Sprintf("%x", leaf.SerialNumber)
	st.Issuer = leaf.Issuer.CommonName
	if st.Issuer == "" {
		st.Issuer = leaf.Issuer.String()
	}
	st.Version = gen
	st.KeyType = keys.KeyTypeOf(leaf.PublicKey)
}

// RecordFailure stores a failed attempt in the shared state (last error,
// backoff, the CA's Retry-After), under lk.
func (h *Host) RecordFailure(ctx context.Context, lk *Lock, err error) {
	st, lerr := h.Fleet.LoadState(ctx, lk.name)
	if lerr != nil {
		return
	}
	now := h.now()
	ra := client.RetryAfterOf(err)
	st.LastAttempt = now
	st.LastError = &store.LastError{Class: client.Classify(err), Message: client.Sanitize(err.Error(), 500), Time: now, RetryAfter: ra}
	if !ra.IsZero() {
		st.RetryAfter = ra
	}
	fails := 1
	if st.Backoff != nil {
		fails = st.Backoff.Failures + 1
	}
	st.Backoff = &store.Backoff{Failures: fails, NextAttempt: renew.NextBackoff(fails, now, ra)}
	if serr := h.Fleet.SaveState(context.WithoutCancel(ctx), lk, st); serr != nil {
		h.log().Warn("record failure in etcd", "cert_name", lk.name, "err", serr)
	}
}

func (h *Host) newKey(ctx context.Context, name string, s *store.Settings, st *store.State) (crypto.Signer, error) {
	kt := s.KeyType
	if kt == "" {
		kt = keys.EC256
	}
	if s.ReuseKey && !st.Revoked {
		if _, files, err := h.Fleet.Latest(ctx, name); err == nil && files.PrivKey != nil {
			if k, err := keys.ParsePrivateKeyPEM(files.PrivKey); err == nil && keys.KeyTypeOf(k.Public()) == kt {
				return k, nil
			}
		}
	}
	return keys.Generate(kt)
}

// account returns the fleet's account for the settings, registering it
// once for the whole fleet (under a fleet-wide account lock) if needed.
func (h *Host) account(ctx context.Context, c *client.Client, s *store.Settings) (*client.Account, error) {
	label := acctLabel(s)
	if rec, key, err := h.Fleet.LoadAccount(ctx, s.Server, label); err == nil && rec.URL != "" {
		return &client.Account{URL: rec.URL, Key: key, Contact: rec.Contacts, Status: rec.Status}, nil
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	alk, err := h.Fleet.lock(ctx, h.Fleet.key("locks", "accounts"), "", 2*time.Minute)
	if err != nil {
		return nil, err
	}
	defer alk.Unlock()
	if rec, key, err := h.Fleet.LoadAccount(ctx, s.Server, label); err == nil && rec.URL != "" {
		return &client.Account{URL: rec.URL, Key: key, Contact: rec.Contacts, Status: rec.Status}, nil
	}
	opts := h.Account
	opts.Label = label
	if len(opts.Email) == 0 {
		opts.Email = s.Email
	}
	// The engine registers (or finds the account of a key this host
	// already has) and stores it locally; then it is shared.
	a, err := h.Engine.Account(ctx, c, s, opts)
	if err != nil {
		return nil, err
	}
	rec, _, err := h.Local.LoadAccount(s.Server, label)
	if err != nil {
		return nil, err
	}
	if _, err := h.Fleet.SaveAccount(ctx, s.Server, label, rec, a.Key); err != nil {
		return nil, err
	}
	return a, nil
}

func acctLabel(s *store.Settings) string {
	if s.Account == "" {
		return "default"
	}
	return s.Account
}

func sameNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]bool{}
	for _, n := range a {
		seen[n] = true
	}
	for _, n := range b {
		if !seen[n] {
			return false
		}
	}
	return true
}

func leafOf(certPEM []byte) (*x509.Certificate, error) {
	certs, err := keys.ParseCertificateChainPEM(certPEM)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

func pemCerts(ders [][]byte) []byte {
	var out []byte
	for _, d := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	return out
}

// SyncResult says what Sync did.
type SyncResult struct {
	Installed *store.Installed // set when a new version was installed
	Deployed  bool             // deploy hooks ran and succeeded
	DeployErr error
}

// Sync installs name's newest fleet version locally when it differs from
// the live one (never an older certificate over a newer one) and runs this
// host's deploy hooks once for it: deploy_pending is set in the local
// state before the switch and cleared when the hooks succeed, so a crash
// in between re-runs them. It holds the local lock while doing so. With
// etcd unreachable it returns the error and touches nothing.
func (h *Host) Sync(ctx context.Context, name string) (*SyncResult, error) {
	v, files, err := h.Fleet.Latest(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return &SyncResult{}, nil
	}
	if err != nil {
		return nil, err
	}
	shared, err := h.Settings(ctx, name)
	if err != nil {
		return nil, err
	}
	wait := h.LocalLockWait
	if wait <= 0 {
		wait = 2 * time.Minute
	}
	unlock, err := h.Local.LockCert(ctx, name, wait)
	if err != nil {
		return nil, err
	}
	defer unlock()
	res := &SyncResult{}
	local, err := h.Local.LoadState(name)
	if err != nil {
		return nil, err
	}
	cur, _, cerr := h.Local.Current(name)
	same := cerr == nil && bytes.Equal(cur.Fullchain, files.Fullchain) && bytes.Equal(cur.PrivKey, files.PrivKey)
	if !same {
		newLeaf, err := leafOf(files.Cert)
		if err != nil {
			return nil, fmt.Errorf("certificate of %s in etcd: %w", name, err)
		}
		if cerr == nil {
			if old, err := leafOf(cur.Cert); err == nil && old.NotBefore.After(newLeaf.NotBefore) {
				h.log().Warn("etcd holds an older certificate than this host; not installing it", "cert_name", name, "generation", v.Generation)
				return res, nil
			}
		}
		if h.localSettings(name) == nil {
			if err := h.Local.SaveSettings(name, shared); err != nil {
				return nil, err
			}
		}
		local.DeployPending = true
		if err := h.Local.SaveState(name, local); err != nil {
			return nil, err
		}
		inst, err := h.Local.Install(name, *files, store.InstallOptions{KeyGroup: shared.KeyGroup})
		var ierr *store.InstallError
		if errors.As(err, &ierr) {
			inst = ierr.Installed
		} else if err != nil {
			return nil, fmt.Errorf("install %s: %w", name, err)
		}
		inst.Leaf = newLeaf
		res.Installed = inst
		h.log().Info("installed fleet certificate", "cert_name", name, "generation", v.Generation, "version", inst.Version, "issued_by", v.IssuedBy)
	}
	// Mirror the shared state locally (list/show), keeping what is ours.
	if sst, err := h.Fleet.LoadState(ctx, name); err == nil {
		pending := local.DeployPending
		*local = *sst
		local.DeployPending = pending
	}
	if res.Installed != nil {
		local.RecordInstall(res.Installed)
	}
	if local.DeployPending {
		paths, err := h.Local.CurrentPaths(name)
		if err != nil {
			return nil, err
		}
		if paths.Leaf, err = leafOf(files.Cert); err != nil {
			return nil, err
		}
		if h.Deploy != nil {
			res.DeployErr = h.Deploy(ctx, name, shared, paths)
		}
		if res.DeployErr == nil {
			local.DeployPending = false
			res.Deployed = true
		} else {
			h.log().Warn("deploy hook failed; will retry", "cert_name", name, "err", res.DeployErr)
		}
	}
	if err := h.Local.SaveState(name, local); err != nil {
		return nil, err
	}
	return res, nil
}
