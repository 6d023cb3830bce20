// Package fleet is acmectl's fleet mode: several hosts share accounts,
// certificates, renewal settings and state, challenge answers and locks
// through etcd (docs/fleet.md).
//
// The shared data lives under one key prefix:
//
//	<prefix>/accounts/<server-id>/<label>/record   account.json
//	<prefix>/accounts/<server-id>/<label>/key      account key (sealed)
//	<prefix>/certs/<name>/settings                 settings.yaml without hooks and exec programs
//	<prefix>/certs/<name>/state                    state.json (ARI, backoff, pending order, last error)
//	<prefix>/certs/<name>/pending-key              key of the order in flight (sealed)
//	<prefix>/certs/<name>/latest                   newest version: cert, chain, fullchain, key (sealed)
//	<prefix>/locks/certs/<name>/<lease>            concurrency.Mutex per certificate
//	<prefix>/locks/accounts/<lease>                serializes account registration
//	<prefix>/challenges/http-01/<token>            identifier, key authorization, MAC while presented
//	<prefix>/challenges/tls-alpn-01/<sni>          identifier, key authorization, MAC while presented
//
// Private keys are sealed with AES-256-GCM (Sealer) unless the operator
// chose plaintext keys; published certificate records and challenge
// answers then carry MACs under keys derived from the storage key, checked
// before a host installs or serves them. Every write of a certificate's data is one etcd
// transaction conditioned on still owning that certificate's lock (the
// mutex key's create revision), so a host that lost its lease cannot
// overwrite the work of the host that took over.
//
// Each host keeps its own local state dir (internal/store): the versions,
// the stable paths users point servers at, the deploy-pending flag, and the
// host's own hooks, exec programs and listen addresses, which never come
// from etcd.
package fleet

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/acmectl/acmectl/internal/fleet/kv"
)

// DefaultLeaseTTL is the lease of a host's etcd session: a host that dies
// while holding a certificate's lock loses it after this long.
const DefaultLeaseTTL = 15 * time.Second

// Location is a parsed --storage etcd URL.
type Location struct {
	Endpoints []string // host:port
	Prefix    string   // "/" + path, no trailing slash
	TLS       bool     // etcds://
}

// ParseURL parses --storage etcd://HOST:PORT[,HOST:PORT...]/PREFIX (etcds://
// for TLS). The prefix is required, made of [A-Za-z0-9._-] segments joined
// by "/"; ports are required. The error says what is wrong.
func ParseURL(s string) (*Location, error) {
	var loc Location
	rest, ok := strings.CutPrefix(s, "etcd://")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "etcds://"); !ok {
			return nil, fmt.Errorf("--storage %q: want etcd://HOST:PORT[,HOST:PORT]/PREFIX or etcds://… (or leave it unset for the local state dir)", s)
		}
		loc.TLS = true
	}
	hosts, prefix, _ := strings.Cut(rest, "/")
	if hosts == "" {
		return nil, fmt.Errorf("--storage %q: no etcd endpoint", s)
	}
	for _, h := range strings.Split(hosts, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" {
			return nil, fmt.Errorf("--storage %q: endpoint %q is not HOST:PORT", s, h)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("--storage %q: endpoint %q: bad port", s, h)
		}
		loc.Endpoints = append(loc.Endpoints, h)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return nil, fmt.Errorf("--storage %q: a key prefix is required, e.g. etcd://%s/acmectl", s, hosts)
	}
	for _, seg := range strings.Split(prefix, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.Trim(seg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
			return nil, fmt.Errorf("--storage %q: prefix segment %q: use letters, digits, '.', '_' and '-'", s, seg)
		}
	}
	loc.Prefix = "/" + prefix
	return &loc, nil
}

// Config is how to reach etcd and protect what is stored there.
type Config struct {
	URL string // --storage
	// CAFile, CertFile, KeyFile: TLS to etcd (etcds://); CertFile/KeyFile
	// are a client certificate.
	CAFile, CertFile, KeyFile string
	// User and PasswordFile: etcd authentication. The password comes only
	// from a file (docs/fleet.md: no secret is a flag value).
	User, PasswordFile string
	// StorageKeyFile holds the 32-byte key that seals private keys (raw, or
	// 64 hex digits, or base64). Required unless PlaintextKeys.
	StorageKeyFile string
	PlaintextKeys  bool
	// LeaseTTL is the session lease (default DefaultLeaseTTL; minimum 2 s).
	LeaseTTL time.Duration
	// HostID names this host in logs and records (default: hostname).
	HostID string
	Logger *slog.Logger
	// Helper is the acmectl-etcd executable that holds the etcd client
	// (default: kv.HelperPath, beside the running executable).
	Helper string
}

// ConfigError is a fleet configuration that cannot work (exit 2 in the CLI).
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

func (c *Config) log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c *Config) leaseSeconds() int {
	ttl := c.LeaseTTL
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	return max(2, int((ttl+time.Second-1)/time.Second))
}

// dialConfig is what the etcd helper needs to reach etcd. It reads the
// TLS files and the password file here, so that their errors are the
// CLI's; a secret file readable by group or others gets a warning
// (docs/fleet.md).
func (c *Config) dialConfig(loc *Location) (kv.DialConfig, error) {
	dc := kv.DialConfig{Endpoints: loc.Endpoints, TLS: loc.TLS}
	if !loc.TLS && (c.CAFile != "" || c.CertFile != "" || c.KeyFile != "") {
		return dc, &ConfigError{Msg: "--etcd-ca/--etcd-cert/--etcd-key need an etcds:// --storage URL"}
	}
	if loc.TLS {
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return dc, fmt.Errorf("--etcd-ca: %w", err)
			}
			if !x509.NewCertPool().AppendCertsFromPEM(pem) {
				return dc, &ConfigError{Msg: fmt.Sprintf("--etcd-ca %s: no PEM certificate in it", c.CAFile)}
			}
			dc.CAPEM = pem
		}
		if (c.CertFile == "") != (c.KeyFile == "") {
			return dc, &ConfigError{Msg: "--etcd-cert and --etcd-key go together"}
		}
		if c.CertFile != "" {
			warnReadable(c.log(), "--etcd-key", c.KeyFile)
			certPEM, err := os.ReadFile(c.CertFile)
			if err != nil {
				return dc, fmt.Errorf("--etcd-cert/--etcd-key: %w", err)
			}
			keyPEM, err := os.ReadFile(c.KeyFile)
			if err != nil {
				return dc, fmt.Errorf("--etcd-cert/--etcd-key: %w", err)
			}
			if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
				return dc, fmt.Errorf("--etcd-cert/--etcd-key: %w", err)
			}
			dc.CertPEM, dc.KeyPEM = certPEM, keyPEM
		}
	}
	if (c.User == "") != (c.PasswordFile == "") {
		return dc, &ConfigError{Msg: "--etcd-user and --etcd-password-file go together"}
	}
	if c.User != "" {
		warnReadable(c.log(), "--etcd-password-file", c.PasswordFile)
		pw, err := readSecret(c.PasswordFile, 4096)
		if err != nil {
			return dc, fmt.Errorf("--etcd-password-file: %w", err)
		}
		dc.Username, dc.Password = c.User, strings.TrimRight(string(pw), "\r\n")
	}
	return dc, nil
}

func readSecret(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, limit+1)
	n, err := f.Read(buf)
	if err != nil && n == 0 {
		return nil, err
	}
	if int64(n) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return buf[:n], nil
}

func warnReadable(log *slog.Logger, flag, path string) {
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		log.Warn("secret file is readable by group or others", "flag", flag, "path", path, "mode", fmt.Sprintf("%04o", st.Mode().Perm()))
	}
}

// ErrLockLost is returned (wrapped) when a write or the order is stopped
// because this host no longer owns the certificate's lock (its lease
// expired or etcd was unreachable for longer than the lease).
var ErrLockLost = errors.New("fleet lock lost")
