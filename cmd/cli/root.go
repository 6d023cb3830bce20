// Package cli is acmectl's command tree (cobra) and configuration (viper).
// A fresh tree is built for every run; nothing here is package state.
package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/internal/term"
)

// app is the state of one run, filled by the root's PersistentPreRunE.
type app struct {
	env *Env
	cfg *config
	g   globals
	log *slog.Logger
	// jsonDone is set once a command wrote its --json document.
	jsonDone bool
	// orderOpts are the order options, bound on first use (a.order).
	orderOpts *orderOptions
	// runF, when set (tests), runs instead of every command, with the
	// command's options bound (run).
	runF func(ctx context.Context, opts any) error
}

// globals are the global flags, resolved (docs/guide.md "Configuration").
type globals struct {
	server, serverSource   string
	stateDir               string
	account                string
	caBundle               string
	acmeVersion            string
	email                  []string
	acceptTOS              bool
	eabKID, eabHMACKeyFile string
	json, quiet            bool
	logLevel, logFormat    string
	lockWait               time.Duration
	lockWaitSet            bool
	keepVersions           int
	storage                string
	orderTimeout           time.Duration
}

// Main runs acmectl with env and returns the exit code.
func Main(env *Env) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return Run(ctx, env)
}

// Run executes one command line (env.Args).
func Run(ctx context.Context, env *Env) int {
	return (&app{env: env}).execute(ctx)
}

// execute runs a's command line.
func (a *app) execute(ctx context.Context) int {
	env := a.env
	root := newRootCmd(a)
	root.SetArgs(env.Args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	// cobra's own parse errors (unknown command, wrong argument count) are
	// usage errors too.
	var ue *usageError
	if !errors.As(err, &ue) && isCobraUsage(err) {
		err = &usageError{msg: usageHint(nil, err.Error())}
	}
	if !a.g.json && a.cfg == nil {
		// The flags were not parsed (a flag or command error): --json
		// still gets its one error document.
		a.g.json = jsonRequested(env.Args)
	}
	return a.fail(err)
}

// fail reports err once (one line, or one JSON document) and returns the
// exit code.
func (a *app) fail(err error) int {
	code := exitCode(err)
	var ee *exitError
	if errors.As(err, &ee) && ee.silent {
		return code
	}
	msg := term.Text(oneLine(err.Error())) + retryHint(err)
	if code == ExitInterrupted {
		msg = "interrupted"
	}
	if a.g.json && !a.jsonDone {
		_ = a.writeJSON(map[string]any{"error": errorJSON(err)})
	}
	fmt.Fprintf(a.env.Stderr, "acmectl: %s\n", msg)
	return code
}

func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func errorJSON(err error) map[string]any {
	e := map[string]any{"class": errorClass(err), "message": oneLine(err.Error())}
	if t := client.RetryAfterOf(err); !t.IsZero() {
		e["retry_after"] = t.UTC().Format(time.RFC3339)
	}
	return e
}

// oneLine flattens a message to one line.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", " ")
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "acmectl",
		Short: "Obtain and renew TLS certificates from ACME CAs (RFC 8555 and legacy v1)",
		Long: `acmectl obtains certificates from ACME certificate authorities such as Let's Encrypt,
keeps them renewed from cron, a systemd timer or its own daemon, and runs deploy hooks
to reload the servers that use them. It speaks RFC 8555 and the legacy pre-IETF ACME
(v1), chosen by what the server's directory advertises.`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		DisableAutoGenTag: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setup(cmd)
		},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{msg: usageHint(c, err.Error())} })
	root.SetHelpCommand(newHelpCmd(root))
	root.SetUsageFunc(usage)
	addVersionFlag(root, a.env.Version)
	f := root.PersistentFlags()
	f.String("config", "", "config file (default /etc/acmectl/config.yaml as root, else $XDG_CONFIG_HOME/acmectl/config.yaml; env ACMECTL_CONFIG)")
	f.String("server", "letsencrypt", "ACME directory URL or alias (letsencrypt, letsencrypt-staging, letsencrypt-v1, zerossl, google, google-staging, buypass, buypass-staging)")
	f.String("state-dir", "", "state directory (default /var/lib/acmectl as root, else $XDG_DATA_HOME/acmectl)")
	f.String("account", "default", "account label on that server")
	f.String("ca-bundle", "", "extra PEM roots to trust for the ACME server's HTTPS (system roots stay)")
	f.String("acme-version", "auto", "protocol: auto (from the directory), 1 (legacy) or 2 (RFC 8555)")
	f.StringSlice("email", nil, "contact email for a new account (repeatable)")
	f.Bool("accept-tos", false, "agree to the CA's terms of service when creating an account")
	f.String("eab-kid", "", "external account binding key ID")
	f.String("eab-hmac-key-file", "", "file holding the EAB HMAC key (base64url); or env ACMECTL_EAB_HMAC_KEY")
	f.Bool("json", false, "print results as one JSON document on stdout")
	f.String("log-level", "warn", "log level: debug, info, warn, error")
	f.BoolP("verbose", "v", false, "log progress at info level (same as --log-level info)")
	f.String("log-format", "text", "log format: text or json (logs go to stderr)")
	f.BoolP("quiet", "q", false, "print errors only")
	f.Int("keep-versions", 10, "certificate versions to keep under versions/ (the current one is never removed)")
	f.Duration("lock-wait", 0, "how long to wait for a certificate's lock (default 0 for renew, 2m otherwise)")
	f.Duration("order-timeout", client.DefaultOrderTimeout, "deadline for one certificate's order, from the directory to the installed files")
	f.String("storage", "", "shared storage URL (etcd://host:port/prefix); default the local state dir")
	addFleetFlags(root)

	root.AddCommand(
		newObtainCmd(a),
		newRenewCmd(a),
		newReconfigureCmd(a),
		newDeployCmd(a),
		newDeleteCmd(a),
		newRevokeCmd(a),
		newListCmd(a),
		newShowCmd(a),
		newAccountCmd(a),
		newDirectoryCmd(a),
		newImportCmd(a),
		newDoctorCmd(a),
		newConfigCmd(a),
		newDNSPersistCmd(a),
		newVersionCmd(a),
		newCompletionCmd(a),
	)
	return root
}

// setup resolves configuration and logging for the command about to run.
func (a *app) setup(cmd *cobra.Command) error {
	cfg, err := loadConfig(cmd, a.env)
	if err != nil {
		return err
	}
	a.cfg = cfg
	g := &a.g
	g.json, _ = cfg.Bool("json")
	if !g.json {
		// Human-readable output carries text from CAs, certificates and
		// storage: no escape sequence reaches the terminal through it.
		a.env.Stdout = term.NewWriter(a.env.Stdout)
	}
	g.quiet, _ = cfg.Bool("quiet")
	g.logLevel = cfg.String("log-level")
	if v, _ := cfg.Bool("verbose"); v && cfg.source("log-level") == sourceDefault {
		g.logLevel = "info"
	}
	g.logFormat = cfg.String("log-format")
	if err := a.setupLogger(); err != nil {
		return err
	}
	g.serverSource = cfg.source("server")
	if g.server, err = resolveServer(cfg.String("server")); err != nil {
		return err
	}
	g.stateDir = cfg.String("state-dir")
	if g.stateDir == "" {
		g.stateDir = defaultStateDir(a.env)
	}
	g.account = cfg.String("account")
	if err := store.ValidCertName(g.account); err != nil {
		return usagef("--account %q: labels are lowercase letters, digits, '.', '_' and '-'", g.account)
	}
	g.caBundle = cfg.String("ca-bundle")
	g.acmeVersion = cfg.String("acme-version")
	switch g.acmeVersion {
	case "auto", "1", "2":
	default:
		return usagef("--acme-version %q: want auto, 1 or 2", g.acmeVersion)
	}
	for _, e := range cfg.Strings("email") {
		addr, err := checkEmail(e)
		if err != nil {
			return err
		}
		g.email = append(g.email, addr)
	}
	if g.acceptTOS, err = cfg.Bool("accept-tos"); err != nil {
		return err
	}
	g.eabKID = cfg.String("eab-kid")
	g.eabHMACKeyFile = cfg.String("eab-hmac-key-file")
	keep, err := strconv.Atoi(cfg.String("keep-versions"))
	if err != nil || keep < 1 {
		return usagef("--keep-versions %q: want a whole number of at least 1", cfg.String("keep-versions"))
	}
	g.keepVersions = keep
	g.lockWaitSet = cfg.source("lock-wait") != sourceDefault
	if g.lockWait, err = cfg.Duration("lock-wait"); err != nil {
		return err
	}
	if g.orderTimeout, err = cfg.Duration("order-timeout"); err != nil {
		return err
	}
	g.storage = cfg.String("storage")
	if g.storage != "" {
		if _, err := a.fleetConfig(); err != nil {
			return err
		}
	}
	return nil
}

func (a *app) setupLogger() error {
	var level slog.Level
	switch strings.ToLower(a.g.logLevel) {
	case "debug":
		level = slog.LevelDebug
	case "info", "":
		level = slog.LevelInfo
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return usagef("--log-level %q: want debug, info, warn or error", a.g.logLevel)
	}
	if a.g.quiet {
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	switch a.g.logFormat {
	case "text", "":
		a.log = slog.New(slog.NewTextHandler(a.env.Stderr, opts))
	case "json":
		a.log = slog.New(slog.NewJSONHandler(a.env.Stderr, opts))
	default:
		return usagef("--log-format %q: want text or json", a.g.logFormat)
	}
	return nil
}

// lockWait is --lock-wait, or 2 minutes for commands other than renew.
func (a *app) lockWait() time.Duration {
	if a.g.lockWaitSet {
		return a.g.lockWait
	}
	return 2 * time.Minute
}

// openStore opens the state directory.
func (a *app) openStore() (*store.Dir, error) {
	if a.g.stateDir == "" {
		return nil, usagef("no state directory: set --state-dir")
	}
	opts := []store.Option{store.WithLogger(a.log), store.WithKeepVersions(a.g.keepVersions),
		store.WithLockWaitNotice(func(held *store.LockedError, wait time.Duration) {
			if !a.g.quiet {
				fmt.Fprintf(a.env.Stderr, "acmectl: %s; waiting up to %s for it (--lock-wait; Ctrl-C stops)\n", held, wait.Round(time.Second))
			}
		})}
	if fp := a.env.Failpoint; fp != nil {
		// Test builds: failpoints "install-<step>" inside Install.
		opts = append(opts, store.WithFailpoint(func(step string) error {
			fp(context.Background(), "install-"+strings.ReplaceAll(step, " ", "-"))
			return nil
		}))
	}
	d, err := store.Open(a.g.stateDir, opts...)
	if err != nil {
		return nil, usagef("state directory: %v", err)
	}
	return d, nil
}

// run is how every command runs once its options are bound (flags into
// the fields of its options struct, config-backed order options through
// bindOrder): f, or the test seam a.runF with the same options.
func run[T any](ctx context.Context, a *app, opts *T, f func(context.Context, *T) error) error {
	if a.runF != nil {
		return a.runF(ctx, opts)
	}
	return f(ctx, opts)
}

// writeJSON prints the command's one JSON document.
func (a *app) writeJSON(doc map[string]any) error {
	doc["schema"] = 1
	a.jsonDone = true
	// One time format in every document: RFC 3339, UTC, whole seconds.
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	var generic any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return err
	}
	enc := json.NewEncoder(a.env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(normalizeTimes(generic))
}

// normalizeTimes rewrites every string of v that is an RFC 3339 time as
// UTC with whole seconds, so that all JSON documents share one format.
func normalizeTimes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeTimes(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeTimes(e)
		}
	case string:
		if len(x) >= 20 && len(x) <= 40 && x[4] == '-' && x[10] == 'T' {
			if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return t.UTC().Truncate(time.Second).Format(time.RFC3339)
			}
		}
	}
	return v
}

// checkEmail accepts an address as a CA would, with a "mailto:" prefix
// removed (acmectl adds it), and refuses what Let's Encrypt refuses before
// any request: no domain with a dot, "localhost", spaces and the like.
func checkEmail(e string) (string, error) {
	addr := strings.TrimSpace(e)
	if len(addr) >= 7 && strings.EqualFold(addr[:7], "mailto:") {
		addr = addr[7:]
	}
	local, domain, ok := strings.Cut(addr, "@")
	switch {
	case !ok || local == "" || domain == "" || strings.Contains(domain, "@"):
		return "", usagef("--email %q is not an email address (want user@example.com)", e)
	case strings.ContainsAny(addr, " \t,;<>\"()[]\\") || strings.ContainsFunc(addr, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", usagef("--email %q: an address has no spaces, commas, quotes or brackets", e)
	case !strings.Contains(strings.Trim(domain, "."), ".") || strings.EqualFold(strings.TrimSuffix(domain, "."), "localhost") || strings.HasSuffix(strings.ToLower(domain), ".localhost"):
		return "", usagef("--email %q: the domain %q is not a public domain name; CAs refuse such contacts", e, domain)
	}
	return addr, nil
}
