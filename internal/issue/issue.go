// Package issue is the issuance engine shared by `acmectl obtain` and the
// renewal scheduler: it turns a certificate's stored settings into an ACME
// client, an account, a key and CSR, runs the order and installs the result
// in the store, keeping state.json up to date so an interrupted order is
// resumed, not repeated.
//
// The caller holds the certificate's lock and decides whether work is due;
// hooks are the caller's too.
package issue

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/store"
)

// Engine issues certificates. Build one per run; it is safe for concurrent
// use by several certificates' issuances.
type Engine struct {
	// Store is the local state dir (*store.Dir) or, in fleet mode, the
	// etcd-backed store of one certificate.
	Store     Store
	Logger    *slog.Logger
	UserAgent string
	Now       func() time.Time
	// Stdin/Stderr/Interactive serve the manual DNS solver and prompts.
	Stdin       io.Reader
	Stderr      io.Writer
	Interactive bool
	Getenv      func(string) string
	// Environ is the process environment handed (filtered) to exec DNS
	// programs; nil means the process's own.
	Environ func() []string
	// Failpoint is passed to the client (tests only).
	Failpoint func(ctx context.Context, name string)
	// HTTPClient, when set, returns the client for every server (tests;
	// a renewal pass shares one client among its orders).
	HTTPClient func(caBundle string) (*client.Client, error)
	// OrderTimeout bounds one Issue from the directory fetch to the
	// installed certificate; zero means client.DefaultOrderTimeout.
	OrderTimeout time.Duration
}

// AccountOptions are used when the account must be created.
type AccountOptions struct {
	Label      string
	Email      []string
	AcceptTOS  bool
	EABKeyID   string
	EABHMACKey []byte
	// Confirm asks the person at the terminal; nil means not interactive.
	Confirm func(question string) (bool, error)
}

// TermsError: a new account needs the terms of service accepted.
type TermsError struct{ URL string }

func (e *TermsError) Error() string {
	if e.URL == "" {
		return "a new account needs the CA's terms of service accepted: pass --accept-tos"
	}
	return "a new account needs the CA's terms of service accepted (" + client.Sanitize(e.URL, 300) + "): pass --accept-tos"
}

// Request is one issuance.
type Request struct {
	Name     string
	Settings *store.Settings
	// State is the certificate's state, loaded by the caller under the lock;
	// Issue updates and saves it (not on dry runs).
	State   *store.State
	Account AccountOptions
	DryRun  bool
	// Replaces is the certificate being renewed (its ARI certID is sent
	// when the server supports ARI and it came from the same server and
	// account).
	Replaces *x509.Certificate
	// NotBefore/NotAfter ask for a validity window (RFC 8555 §7.4), for
	// this order only (obtain --not-before/--not-after); zero omits them.
	NotBefore, NotAfter time.Time
	Progress            func(client.Event)
	// OnOrder, if set, runs once the CA created the order, before anything
	// else is recorded (obtain saves a new certificate's settings there, so
	// a request refused before any order leaves nothing behind).
	OnOrder func() error
	// OnIssued, if set, runs once the certificate is downloaded, right
	// before it is installed (obtain stores a new certificate's settings
	// there: a certificate exists once it has been issued).
	OnIssued func() error
	// Solvers, if set, may replace the solver choices for an identifier
	// (fleet mode publishes http-01 and tls-alpn-01 answers in etcd).
	Solvers func(id client.Identifier, wildcard bool, choices []client.SolverChoice) []client.SolverChoice
}

// Result is a successful issuance.
type Result struct {
	Installed *store.Installed // nil on dry runs
	Leaf      *x509.Certificate
	Chain     [][]byte
	Requests  int64
	Replaced  string // certID sent as replaces, if any
	OrderURL  string
	Dialect   string
	Resumed   bool // the order persisted in State.PendingOrder was resumed
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) log() *slog.Logger {
	if e.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Logger
}

// Client builds the ACME client for settings.
func (e *Engine) Client(s *store.Settings) (*client.Client, error) {
	if e.HTTPClient != nil {
		return e.HTTPClient(s.CABundle)
	}
	extra, err := bundleCerts(s.CABundle)
	if err != nil {
		return nil, err
	}
	return client.New(client.Config{
		DirectoryURL: s.Server, Version: s.ACMEVersion, ExtraRoots: extra,
		UserAgent: e.UserAgent, Logger: e.log(), Now: e.Now, Failpoint: e.Failpoint,
		OrderTimeout: e.OrderTimeout,
	})
}

// RootPool is the system roots plus the PEM certificates in caBundle; a
// bundle that cannot be read is a *client.ConfigError.
func RootPool(caBundle string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	certs, err := bundleCerts(caBundle)
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// bundleCerts are the PEM certificates in caBundle (none if it is ""); a
// bundle that cannot be read or holds none is a *client.ConfigError.
// The issuance client trusts them besides the system roots, which it
// loads only when needed (client.Config.ExtraRoots).
func bundleCerts(caBundle string) ([]*x509.Certificate, error) {
	if caBundle == "" {
		return nil, nil
	}
	data, err := os.ReadFile(caBundle)
	if err != nil {
		return nil, &client.ConfigError{Msg: fmt.Sprintf("--ca-bundle: %v", err)}
	}
	var certs []*x509.Certificate
	for len(data) > 0 {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" || len(b.Headers) != 0 {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			continue // as x509.CertPool.AppendCertsFromPEM does
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, &client.ConfigError{Msg: fmt.Sprintf("--ca-bundle %s: no PEM certificate in it", caBundle)}
	}
	return certs, nil
}

// Account loads the stored account for the settings' server and label, or
// registers one (finding an existing one for a stored key first).
func (e *Engine) Account(ctx context.Context, c *client.Client, s *store.Settings, opts AccountOptions) (*client.Account, error) {
	label := opts.Label
	if label == "" {
		label = "default"
	}
	rec, key, err := e.Store.LoadAccount(s.Server, label)
	if err == nil && rec.URL != "" {
		if pending, perr := e.Store.LoadPendingAccountKey(s.Server, label); perr == nil {
			// A rollover was interrupted: find out which key the CA has.
			// Only a definitive answer settles it: the CA knows the new key
			// for this account (commit), or knows no account for it
			// (discard). On anything else (network, 5xx, 429) both keys
			// are kept and the next run asks again: deleting a key the CA
			// may have accepted would lose the account.
			a, lerr := c.LookupAccount(ctx, pending)
			switch {
			case lerr == nil && a.URL == rec.URL:
				if err := e.Store.CommitPendingAccountKey(s.Server, label); err != nil {
					return nil, err
				}
				key = pending
				rec.KeyChanged = e.now()
			case errors.Is(lerr, client.ErrAccountNotFound) || lerr == nil:
				_ = e.Store.DiscardPendingAccountKey(s.Server, label)
			default:
				e.log().Warn("an interrupted account key rollover could not be settled now; both keys are kept", "err", lerr)
			}
		}
		return &client.Account{URL: rec.URL, Key: key, Contact: rec.Contacts, Status: rec.Status, KeyChanged: rec.KeyChanged}, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	dir, err := c.Directory(ctx)
	if err != nil {
		return nil, err
	}
	if key == nil {
		if key, err = keys.Generate(keys.EC256); err != nil {
			return nil, err
		}
	}
	var contacts []string
	for _, m := range opts.Email {
		contacts = append(contacts, "mailto:"+m)
	}
	// A key we already stored may have an account the CA knows.
	if rec != nil {
		// (A legacy v1 registration that never agreed to the terms is
		// registered again below, which agrees when the user consents.)
		if a, err := c.LookupAccount(ctx, key); err == nil && (a.TermsAgreed != "" || dir.DialectID != "v1") {
			if len(a.Contact) == 0 {
				a.Contact = rec.Contacts
			}
			unlock, err := e.Store.LockState(ctx, 2*time.Minute)
			if err != nil {
				return nil, err
			}
			defer unlock()
			return e.saveAccount(s, label, a, dir)
		}
	}
	agree := opts.AcceptTOS
	if !agree && dir.Meta.TermsOfService != "" {
		if opts.Confirm == nil {
			return nil, &TermsError{URL: dir.Meta.TermsOfService}
		}
		ok, err := opts.Confirm(fmt.Sprintf("Do you agree to the CA's terms of service at %s?", client.Sanitize(dir.Meta.TermsOfService, 300)))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &TermsError{URL: dir.Meta.TermsOfService}
		}
		agree = true
	}
	// What the dialect or directory cannot do fails before anything is
	// written or sent.
	if opts.EABKeyID != "" && !dir.Supports.ExternalAccountBinding {
		return nil, &client.UnsupportedError{Feature: "external account binding", Dialect: dir.Dialect}
	}
	if opts.EABKeyID == "" && dir.Meta.ExternalAccountRequired {
		return nil, &client.UnsupportedError{Feature: "an account without external account binding", Dialect: dir.Dialect,
			Detail: "the CA requires EAB: pass --eab-kid and --eab-hmac-key-file (or ACMECTL_EAB_HMAC_KEY)"}
	}
	// Keep the key before registering so a crash cannot orphan the account.
	unlock, err := e.Store.LockState(ctx, 2*time.Minute)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Another process (or fleet host) may have registered meanwhile.
	if rec, k, err := e.Store.LoadAccount(s.Server, label); err == nil && rec.URL != "" {
		return &client.Account{URL: rec.URL, Key: k, Contact: rec.Contacts, Status: rec.Status, KeyChanged: rec.KeyChanged}, nil
	}
	if err := e.Store.SaveAccount(s.Server, label, &store.AccountRecord{DirectoryURL: s.Server, Contacts: contacts}, key); err != nil {
		return nil, err
	}
	a, err := c.Register(ctx, key, client.RegisterOptions{
		// Without terms in the directory an RFC 8555 server has none to
		// agree to; a legacy v1 one may name them at registration only
		// (Link header), which needs the user's consent like any terms.
		Contact: contacts, AgreeTerms: agree || (dir.Meta.TermsOfService == "" && dir.DialectID != "v1"),
		EABKeyID: opts.EABKeyID, EABHMACKey: opts.EABHMACKey,
	})
	var tna *client.TermsNotAgreedError
	if errors.As(err, &tna) {
		return nil, &TermsError{URL: tna.URL}
	}
	if err != nil {
		return nil, err
	}
	e.log().Info("account registered", "account_url", a.URL, "server", s.Server)
	if len(a.Contact) == 0 {
		// Let's Encrypt neither keeps nor returns contacts: the local
		// record keeps what was sent.
		a.Contact = contacts
	}
	return e.saveAccount(s, label, a, dir)
}

func (e *Engine) saveAccount(s *store.Settings, label string, a *client.Account, dir *client.Directory) (*client.Account, error) {
	rec := &store.AccountRecord{URL: a.URL, Contacts: a.Contact, DirectoryURL: s.Server, Created: e.now(), Status: a.Status, Dialect: dir.DialectID}
	if err := e.Store.SaveAccount(s.Server, label, rec, a.Key); err != nil {
		return nil, err
	}
	return a, nil
}

// Issue runs one issuance for req. On success the new version is live
// (unless DryRun) and req.State records it.
//
// A Retry-After the CA gave earlier (State.RetryAfter) that has not passed
// yet fails the issuance before any request with a *client.TemporaryError
// carrying that time: the CA is not contacted again before it said so.
func (e *Engine) Issue(ctx context.Context, req Request) (*Result, error) {
	s := req.Settings
	names, csrDER, err := orderNames(s)
	if err != nil {
		return nil, err
	}
	if st := req.State; st != nil && st.RetryAfter.After(e.now()) {
		return nil, &client.TemporaryError{Err: errors.New("not contacting the CA: it asked to wait (Retry-After)"), RetryAfter: st.RetryAfter}
	}
	timeout := e.OrderTimeout
	if timeout <= 0 {
		timeout = client.DefaultOrderTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, &client.TemporaryError{Err: fmt.Errorf("issuance did not complete within %v", timeout)})
	defer cancel()
	c, err := e.Client(s)
	if err != nil {
		return nil, err
	}
	dir, err := c.Directory(ctx)
	if err != nil {
		return nil, err
	}
	var key crypto.Signer
	ids := []client.Identifier(names)
	solvers, err := e.Solvers(s)
	if err != nil {
		return nil, err
	}
	defer solvers.Close()
	solverFor := solvers.For
	if req.Solvers != nil {
		solverFor = func(id client.Identifier, wildcard bool) []client.SolverChoice {
			return req.Solvers(id, wildcard, solvers.For(id, wildcard))
		}
	}
	orderReq := client.OrderRequest{
		Identifiers: ids, Profile: s.Profile, Solvers: solverFor,
		AlternateChains: s.PreferredChain != "", Progress: req.Progress,
		NotBefore: req.NotBefore, NotAfter: req.NotAfter,
		CSR: []byte{0}, // placeholder for the early check
	}
	// Everything the dialect or directory cannot do fails here, before
	// any request that changes state.
	if err := c.CheckOrder(ctx, &orderReq); err != nil {
		return nil, err
	}
	acct, err := e.Account(ctx, c, s, req.Account)
	if err != nil {
		return nil, err
	}
	if err := boulderPolicy(dir, req, s, csrDER); err != nil {
		return nil, err
	}
	if err := checkBeforeOrder(ctx, ids, solverFor, acct.URL, dir.Meta.CAAIdentities); err != nil {
		return nil, err
	}
	st := req.State
	if st == nil {
		st = &store.State{}
	}
	// keySaved waits for a new key's pending-key.pem: it is written
	// while the order is created and must be durable before the order is
	// recorded (OnOrder) and, without an order URL, before the install.
	keySaved := func() error { return nil }
	defer func() { _ = keySaved() }()
	if csrDER == nil {
		key, keySaved, err = e.certKey(req, st)
		if err != nil {
			return nil, err
		}
		csrDER, err = newCSR(key, names, s.MustStaple)
		if err != nil {
			return nil, err
		}
	}
	orderReq.CSR = csrDER
	var replaced string
	// replaces only for a certificate obtained by this very account: same
	// directory and the account URL recorded at issuance (a label can name
	// a new account after deactivate/recover/import, and the CA refuses
	// replaces for another account's certificate). Versions recorded
	// before the URL was kept get no replaces.
	sameIssuer := (st.IssuedBy == "" || st.IssuedBy == s.Server) && st.IssuedAccountURL != "" && st.IssuedAccountURL == acct.URL
	if req.Replaces != nil && dir.RenewalInfo != "" && !st.Revoked && sameIssuer {
		if id, err := client.CertID(req.Replaces); err == nil {
			replaced = id
			orderReq.Replaces = id
		}
	}
	if p, le := st.PendingOrder, st.LastError; p != nil && le != nil && (le.Class == "validation" || le.Class == "ca_error") && !le.Time.Before(p.Created) {
		// Its last attempt failed for good (recorded by a version that
		// kept such orders): a new order, never that one again.
		st.PendingOrder = nil
	}
	if p := st.PendingOrder; p != nil && e.pendingInstalled(req.Name, p) {
		// A crash after the install, before state.json was saved: that
		// order's certificate is the live one; resuming would only fetch
		// it again.
		st.PendingOrder = nil
	}
	// Resumed only for the same plan: server, account, names, profile.
	if p := st.PendingOrder; p != nil && p.DirectoryURL == s.Server && p.Account == acctLabel(req) && (p.AccountURL == "" || p.AccountURL == acct.URL) &&
		p.Names.SameSet(names) && p.Profile == s.Profile {
		orderReq.ResumeURL = p.URL
	}
	if !req.DryRun {
		orderReq.OnOrder = func(u string) error {
			if err := keySaved(); err != nil {
				return err
			}
			if req.OnOrder != nil {
				if err := req.OnOrder(); err != nil {
					return err
				}
			}
			st.PendingOrder = &store.PendingOrder{URL: u, DirectoryURL: s.Server, Account: acctLabel(req), AccountURL: acct.URL, Names: names, Replaces: replaced, Profile: s.Profile, Created: e.now()}
			return e.Store.SaveState(req.Name, st)
		}
	}
	cert, err := c.Obtain(ctx, acct, orderReq)
	if err == nil {
		err = keySaved()
	}
	if err != nil {
		var ag *client.AccountGoneError
		if (client.OrderIsDead(err) || errors.As(err, &ag)) && st.PendingOrder != nil {
			// Never resume an order that failed for good (the caller
			// saves the state with the error).
			st.PendingOrder = nil
		}
		return nil, accountLost(err, s.Server, acctLabel(req), acct)
	}
	chain := chooseChain(cert.Chain, cert.Alternates, s.PreferredChain)
	leaf, _ := x509.ParseCertificate(chain[0])
	res := &Result{Leaf: leaf, Chain: chain, Requests: c.Requests(), Replaced: replaced, OrderURL: cert.OrderURL, Dialect: dir.Dialect, Resumed: orderReq.ResumeURL != ""}
	if req.DryRun {
		return res, nil
	}
	files := store.Files{
		Cert:      pemCert(chain[0]),
		Chain:     pemCerts(chain[1:]),
		Fullchain: pemCerts(chain),
	}
	if key != nil {
		if files.PrivKey, err = keys.MarshalPrivateKeyPEM(key); err != nil {
			return nil, err
		}
	}
	if req.OnIssued != nil {
		if err := req.OnIssued(); err != nil {
			return nil, err
		}
	}
	inst, err := e.Store.Install(req.Name, files, store.InstallOptions{KeyGroup: s.KeyGroup})
	var ierr *store.InstallError
	if errors.As(err, &ierr) {
		inst = ierr.Installed
	} else if err != nil {
		return nil, fmt.Errorf("install certificate: %w", err)
	}
	st.RecordInstall(inst)
	st.IssuedBy, st.IssuedAccount, st.IssuedAccountURL = s.Server, acctLabel(req), acct.URL
	st.PendingOrder = nil
	st.LastError = nil
	st.Backoff = nil
	st.Revoked = false
	st.ARI = nil
	st.LastSuccess = e.now()
	if err := e.Store.SaveState(req.Name, st); err != nil {
		return nil, err
	}
	_ = e.Store.ClearPendingKey(req.Name)
	res.Installed = inst
	return res, err
}

// boulderPolicy refuses, before any order, what Let's Encrypt (Boulder)
// refuses only at the end: an OCSP must-staple CSR is refused at finalize,
// after every validation. For other servers it warns once per issuance.
func boulderPolicy(dir *client.Directory, req Request, s *store.Settings, csrDER []byte) error {
	mustStaple := s.MustStaple
	if csrDER != nil {
		if csr, err := x509.ParseCertificateRequest(csrDER); err == nil {
			for _, ext := range csr.Extensions {
				if ext.Id.Equal(oidTLSFeature) {
					mustStaple = true
				}
			}
		}
	}
	if mustStaple && dir.Boulder {
		how := fmt.Sprintf("clear it with: acmectl reconfigure --cert-name %s --must-staple=false", req.Name)
		if s.CSR != "" {
			how = "use a CSR without the TLS Feature (status_request) extension"
		}
		return &client.UnsupportedError{Feature: "OCSP must-staple", Dialect: client.BoulderPolicy,
			Detail: "Let's Encrypt ended OCSP and refuses every order that asks for it (at finalize, after validation); " + how}
	}
	return nil
}

var oidTLSFeature = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}

// pendingInstalled reports whether the live version was written after the
// pending order was created, i.e. the order already completed.
func (e *Engine) pendingInstalled(name string, p *store.PendingOrder) bool {
	if p.Created.IsZero() {
		return false
	}
	inst, err := e.Store.CurrentPaths(name)
	if err != nil {
		return false
	}
	fi, err := os.Stat(inst.Dir)
	return err == nil && fi.ModTime().After(p.Created)
}

func acctLabel(req Request) string {
	if req.Account.Label == "" {
		return "default"
	}
	return req.Account.Label
}

// certKey picks the certificate key: the pending one of an interrupted
// order, the current one with --reuse-key (never after a revocation), or a
// new one, saved as pending. The save (two fsyncs) runs while the order is
// created; saved waits for it and returns its error (the same every
// call). The key is only ever used from disk with the pending order that
// names it, which is recorded after saved returns, so a crash before that
// leaves nothing that could be used.
func (e *Engine) certKey(req Request, st *store.State) (key crypto.Signer, saved func() error, err error) {
	none := func() error { return nil }
	s := req.Settings
	if !req.DryRun {
		if k, err := e.Store.LoadPendingKey(req.Name); err == nil && st.PendingOrder != nil {
			return k, none, nil
		}
	}
	if s.ReuseKey && !st.Revoked {
		if files, _, err := e.Store.Current(req.Name); err == nil && files.PrivKey != nil {
			if k, err := keys.ParsePrivateKeyPEM(files.PrivKey); err == nil && keys.KeyTypeOf(k.Public()) == keyTypeOr(s.KeyType) {
				return k, none, nil
			}
		}
	}
	k, err := keys.Generate(keyTypeOr(s.KeyType))
	if err != nil {
		return nil, nil, err
	}
	if req.DryRun {
		return k, none, nil
	}
	done := make(chan error, 1)
	go func() { done <- e.Store.SavePendingKey(req.Name, k) }()
	return k, sync.OnceValue(func() error { return <-done }), nil
}

func keyTypeOr(t string) string {
	if t == "" {
		return keys.EC256
	}
	return t
}

// newCSR builds the DER CSR for names with key.
func newCSR(key crypto.Signer, names client.Names, mustStaple bool) ([]byte, error) {
	tmpl := &x509.CertificateRequest{}
	for _, id := range names {
		switch id.Type {
		case challenges.IdentifierIP:
			ip, err := netip.ParseAddr(id.Value) // typed "ip" by client.ParseIdentifier
			if err != nil {
				return nil, fmt.Errorf("csr: %w", err)
			}
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
		case challenges.IdentifierDNS:
			tmpl.DNSNames = append(tmpl.DNSNames, id.Value)
		default:
			return nil, fmt.Errorf("csr: identifier type %q is unknown", id.Type)
		}
	}
	if len(tmpl.DNSNames) > 0 && len(tmpl.DNSNames[0]) <= 64 {
		tmpl.Subject = pkix.Name{CommonName: tmpl.DNSNames[0]}
	}
	if mustStaple {
		// TLS Feature extension (RFC 7633) with status_request.
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: oidTLSFeature, Value: []byte{0x30, 0x03, 0x02, 0x01, 0x05}})
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	return der, nil
}

// ParseCSR reads a PEM or DER CSR and checks its signature.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	if len(data) > 64<<10 {
		return nil, errors.New("CSR: larger than 64 KiB")
	}
	der := data
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "CERTIFICATE REQUEST" && b.Type != "NEW CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("CSR: PEM block is %q, want CERTIFICATE REQUEST", b.Type)
		}
		der = b.Bytes
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("CSR: bad signature: %w", err)
	}
	if names, err := CSRNames(csr); err != nil {
		return nil, fmt.Errorf("CSR: %w", err)
	} else if len(names) == 0 {
		return nil, errors.New("CSR: names no DNS name or IP address")
	}
	return csr, nil
}

// CSRNames are the names a CSR asks for: its SANs, typed by their
// extension (client.SANNames), else its CN through client.ParseIdentifier.
func CSRNames(csr *x509.CertificateRequest) (client.Names, error) {
	names, err := client.SANNames(csr.DNSNames, csr.IPAddresses)
	if err != nil || len(names) > 0 || csr.Subject.CommonName == "" {
		return names, err
	}
	return client.ParseNames([]string{csr.Subject.CommonName})
}

// orderNames are the names an order for s asks for, with the DER of s's
// CSR if it has one. Every name must be as client.ParseIdentifier makes
// it (client.CheckIdentifier): an identifier typed or spelled otherwise
// (a "dns" 192.0.2.1) is refused, never re-typed here.
func orderNames(s *store.Settings) (client.Names, []byte, error) {
	names, csrDER := s.Names, []byte(nil)
	if s.CSR != "" {
		csr, err := ParseCSR([]byte(s.CSR))
		if err != nil {
			return nil, nil, err
		}
		if names, err = CSRNames(csr); err != nil {
			return nil, nil, fmt.Errorf("csr: %w", err)
		}
		csrDER = csr.Raw
	}
	if len(names) == 0 {
		return nil, nil, errors.New("no names to order")
	}
	for _, id := range names {
		if err := client.CheckIdentifier(id); err != nil {
			return nil, nil, fmt.Errorf("names: %w", err)
		}
	}
	return names, csrDER, nil
}

// chooseChain returns the chain whose topmost certificate is issued by (or
// is) preferred (a common name), else the default chain.
func chooseChain(def [][]byte, alts [][][]byte, preferred string) [][]byte {
	if preferred == "" {
		return def
	}
	for _, chain := range append([][][]byte{def}, alts...) {
		top, err := x509.ParseCertificate(chain[len(chain)-1])
		if err != nil {
			continue
		}
		if top.Issuer.CommonName == preferred || top.Subject.CommonName == preferred {
			return chain
		}
	}
	return def
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pemCerts(ders [][]byte) []byte {
	var out []byte
	for _, d := range ders {
		out = append(out, pemCert(d)...)
	}
	return out
}
