package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/fleet"
	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/renew"
)

// Fleet mode (--storage etcd://...): the glue between the command tree
// and internal/fleet. See docs/fleet.md.

// addFleetFlags adds the global flags of fleet mode.
func addFleetFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.String("etcd-ca", "", "with etcds://: PEM CA file to verify etcd's certificate")
	f.String("etcd-cert", "", "with etcds://: client certificate file")
	f.String("etcd-key", "", "with etcds://: client key file")
	f.String("etcd-user", "", "etcd user (with --etcd-password-file)")
	f.String("etcd-password-file", "", "file holding the etcd user's password")
	f.String("storage-key-file", "", "file with 32 random bytes that encrypt private keys stored in etcd")
	f.Bool("storage-plaintext-keys", false, "store private keys in etcd unencrypted (rely on etcd auth and TLS alone)")
	f.Duration("etcd-lease-ttl", fleet.DefaultLeaseTTL, "lease of a host's certificate locks: a host that dies loses them after this long")
}

// fleetConfig resolves the fleet flags (called from setup when --storage
// is set).
func (a *app) fleetConfig() (fleet.Config, error) {
	c := fleet.Config{
		URL: a.g.storage, CAFile: a.cfg.String("etcd-ca"), CertFile: a.cfg.String("etcd-cert"), KeyFile: a.cfg.String("etcd-key"),
		User: a.cfg.String("etcd-user"), PasswordFile: a.cfg.String("etcd-password-file"),
		StorageKeyFile: a.cfg.String("storage-key-file"), Logger: a.log,
	}
	var err error
	if c.PlaintextKeys, err = a.cfg.Bool("storage-plaintext-keys"); err != nil {
		return c, err
	}
	if c.LeaseTTL, err = a.cfg.Duration("etcd-lease-ttl"); err != nil {
		return c, err
	}
	if _, err := fleet.ParseURL(c.URL); err != nil {
		return c, usagef("%v", err)
	}
	return c, nil
}

// openFleetHost connects this host to the fleet.
func (a *app) openFleetHost(st *store.Dir) (*fleet.Host, error) {
	cfg, err := a.fleetConfig()
	if err != nil {
		return nil, err
	}
	f, err := fleet.Open(cfg)
	var ce *fleet.ConfigError
	if errors.As(err, &ce) {
		return nil, usagef("%v", err)
	}
	if err != nil {
		return nil, err
	}
	acct, err := a.accountOptions()
	if err != nil {
		f.Close()
		return nil, err
	}
	hooks := a.hookManager()
	return &fleet.Host{
		Fleet: f, Local: st, Engine: a.engine(st), Logger: a.log, Now: a.env.Now, Account: acct, Classify: errorClass,
		// Host-local settings come from this host only (never etcd).
		Defaults: &store.Settings{Server: a.g.server, CABundle: a.g.caBundle},
		RenewalInfo: func(ctx context.Context, s *store.Settings, leaf *x509.Certificate) (*client.RenewalInfo, time.Time, error) {
			eng := a.engine(st)
			eng.Logger = slog.New(demoteHandler{eng.Logger.Handler()}) // routine: a cron run stays silent
			c, err := eng.Client(s)
			if err != nil {
				return nil, time.Time{}, err
			}
			return c.RenewalInfo(ctx, leaf)
		},
		// Sync records this host's deploy_pending.
		Deploy: func(ctx context.Context, name string, s *store.Settings, inst *store.Installed) error {
			return hooks.Deploy(ctx, lifecycle.HookCert(name, s), lifecycle.HookInstalled(inst, inst.Leaf.NotAfter), nil)
		},
	}, nil
}

// fleetObtainStorage connects this host to the fleet and takes the
// certificate's fleet lock for an obtain; release unlocks and disconnects.
func (a *app) fleetObtainStorage(ctx context.Context, st *store.Dir, name string) (*fleet.ObtainStorage, func(), error) {
	h, err := a.openFleetHost(st)
	if err != nil {
		return nil, nil, err
	}
	lk, err := h.Fleet.LockCert(ctx, name, a.lockWait())
	if err != nil {
		h.Fleet.Close()
		return nil, nil, err
	}
	return &fleet.ObtainStorage{Host: h, Lock: lk}, func() { lk.Unlock(); h.Fleet.Close() }, nil
}

// certNamesOrAll is the daemon's Names for --cert-name: nil (every
// certificate) when none was given.
func certNamesOrAll(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	return names
}

// runFleetRenew is renew in fleet mode: one pass, or with --daemon the
// watch-driven fleet daemon (with a responder on the http-01 and
// tls-alpn-01 addresses of this host's local settings).
func (a *app) runFleetRenew(ctx context.Context, opts *renewOptions) error {
	if opts.dryRun {
		return usagef("--dry-run is not available with --storage etcd")
	}
	for _, n := range opts.certNames {
		if err := store.ValidCertName(n); err != nil {
			return usagef("--cert-name %q: must match ^[a-z0-9][a-z0-9._-]{0,127}$", n)
		}
	}
	if opts.daemon {
		if opts.force {
			return usagef("--daemon and --force do not go together in fleet mode")
		}
		return a.runFleetDaemon(ctx, opts)
	}
	st, err := a.openStore()
	if err != nil {
		return err
	}
	h, err := a.openFleetHost(st)
	if err != nil {
		return err
	}
	defer h.Fleet.Close()
	d := &fleet.Daemon{Host: h, Names: certNamesOrAll(opts.certNames), Force: opts.force, Hooks: a.hookManager()}
	if !opts.noRandomSleep && !(a.env.StdinTerminal && a.env.StderrTerminal) {
		d.BeforeFirstRequest = randomSleep(a)
	}
	results, err := d.Pass(ctx)
	if err != nil && fleet.IsUnavailable(err) {
		// Nothing was done: a temporary failure (exit 75).
		return &client.TemporaryError{Err: fmt.Errorf("list fleet certificates: %w", err)}
	}
	if err != nil {
		return err
	}
	return a.reportRenew(ctx, results, opts)
}

// runFleetDaemon runs the fleet daemon until ctx ends. SIGHUP re-reads the
// configuration (flags, env, config file) and the local settings (the
// responder's addresses), then reconnects; a configuration that does not
// load keeps the previous one.
func (a *app) runFleetDaemon(ctx context.Context, opts *renewOptions) error {
	reload, stop := hangups(ctx)
	defer stop()
	type loaded struct {
		cfg *config
		g   globals
		log *slog.Logger
	}
	var prev *loaded // the configuration before a reload, until the new one started
	for {
		err := a.fleetDaemonOnce(ctx, opts, reload)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if prev == nil {
				return err
			}
			a.log.Error("fleet daemon cannot start with the reloaded configuration; back to the previous one", "err", err)
			a.cfg, a.g, a.log = prev.cfg, prev.g, prev.log
			prev = nil
			continue
		}
		// SIGHUP.
		cur := &loaded{a.cfg, a.g, a.log}
		if err := a.setup(opts.cmd); err != nil {
			a.cfg, a.g, a.log = cur.cfg, cur.g, cur.log
			a.log.Error("reload configuration; keeping the previous one", "err", err)
			prev = nil
			continue
		}
		prev = cur
		a.log.Info("configuration reloaded")
	}
}

// fleetDaemonOnce connects, starts the responder on the http-01 and
// tls-alpn-01 addresses of this host's local settings and runs the daemon
// until ctx ends or reload receives.
func (a *app) fleetDaemonOnce(ctx context.Context, opts *renewOptions, reload <-chan struct{}) error {
	st, err := a.openStore()
	if err != nil {
		return err
	}
	h, err := a.openFleetHost(st)
	if err != nil {
		return err
	}
	defer h.Fleet.Close()
	d := &fleet.Daemon{Host: h, Names: certNamesOrAll(opts.certNames), Reload: reload, Hooks: a.hookManager(),
		OnPass: func(results []renew.Result) {
			for _, r := range results {
				a.logResult(r)
			}
		}}
	d.Responder = fleet.LocalResponder(h.Fleet, st, a.log)
	var httpAddrs, tlsAddrs []string
	if d.Responder != nil {
		httpAddrs, tlsAddrs = d.Responder.HTTPAddrs, d.Responder.TLSALPNAddrs
	}
	a.log.Info("fleet daemon started", "storage", a.g.storage, "host", h.Fleet.Host(), "http_01_addrs", httpAddrs, "tls_alpn_01_addrs", tlsAddrs)
	return d.Run(ctx)
}
