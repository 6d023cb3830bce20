package cli

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/acmectl/acmectl/internal/issue"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/store"
)

// obtainExtras are obtain's one-off options: they shape this order or its
// output only and are not stored in settings.yaml.
type obtainExtras struct {
	notBefore, notAfter time.Time
	pkcs12File          string
	pkcs12Password      string
	pkcs12Legacy        bool
}

// extraFlags are obtain's one-off flags as given.
type extraFlags struct {
	notBefore, notAfter string
	pkcs12File          string
	pkcs12PasswordFile  string
	pkcs12Legacy        bool
}

// addObtainExtraFlags registers the one-off obtain flags into x.
func addObtainExtraFlags(cmd *cobra.Command, x *extraFlags) {
	f := cmd.Flags()
	f.StringVar(&x.notBefore, "not-before", "", "ask for this notBefore (RFC 3339 time or a duration from now, e.g. 1h); CAs may refuse")
	f.StringVar(&x.notAfter, "not-after", "", "ask for this notAfter (RFC 3339 time or a duration from now, e.g. 720h); CAs may refuse")
	f.StringVar(&x.pkcs12File, "pkcs12", "", "also write the certificate, chain and key as a PKCS#12 file (0600)")
	f.StringVar(&x.pkcs12PasswordFile, "pkcs12-password-file", "", "file holding the PKCS#12 password; or env ACMECTL_PKCS12_PASSWORD")
	f.BoolVar(&x.pkcs12Legacy, "pkcs12-legacy", false, "encrypt the PKCS#12 file with 3DES/SHA-1 for old Windows and Java (default AES-256/SHA-256)")
}

// obtainExtras checks the one-off flags (exit 2 on bad input, before any
// request).
func (a *app) obtainExtras(in *extraFlags, s *store.Settings) (*obtainExtras, error) {
	x := &obtainExtras{}
	now := a.env.Now()
	var err error
	nb := in.notBefore
	if x.notBefore, err = parseWhen(nb, now); err != nil {
		return nil, usagef("--not-before %q: %v", nb, err)
	}
	na := in.notAfter
	if x.notAfter, err = parseWhen(na, now); err != nil {
		return nil, usagef("--not-after %q: %v", na, err)
	}
	if !x.notBefore.IsZero() && !x.notAfter.IsZero() && !x.notAfter.After(x.notBefore) {
		return nil, usagef("--not-after must be later than --not-before")
	}
	if !x.notAfter.IsZero() && !x.notAfter.After(now) {
		return nil, usagef("--not-after %q is in the past", na)
	}
	x.pkcs12File, x.pkcs12Legacy = in.pkcs12File, in.pkcs12Legacy
	if x.pkcs12File == "" {
		if a.cfg.flag("pkcs12-password-file").Changed || x.pkcs12Legacy {
			return nil, usagef("--pkcs12-password-file and --pkcs12-legacy need --pkcs12 FILE")
		}
		return x, nil
	}
	if s.CSR != "" {
		return nil, usagef("--pkcs12 needs the private key, which acmectl does not have for a --csr certificate")
	}
	if x.pkcs12File, err = filepath.Abs(x.pkcs12File); err != nil {
		return nil, usagef("--pkcs12: %v", err)
	}
	if st, err := os.Stat(filepath.Dir(x.pkcs12File)); err != nil || !st.IsDir() {
		return nil, usagef("--pkcs12 %s: its directory does not exist", x.pkcs12File)
	}
	if pf := in.pkcs12PasswordFile; pf != "" {
		data, err := readSecretFile(a.env, "--pkcs12-password-file", pf)
		if err != nil {
			return nil, err
		}
		x.pkcs12Password = string(data)
	} else if pw, ok := a.lookupEnv("ACMECTL_PKCS12_PASSWORD"); ok {
		x.pkcs12Password = pw
	} else {
		return nil, usagef("--pkcs12 needs a password: --pkcs12-password-file FILE or ACMECTL_PKCS12_PASSWORD (an empty file means no password)")
	}
	return x, nil
}

// lookupEnv tells an empty variable from an unset one when Environ is
// available.
func (a *app) lookupEnv(name string) (string, bool) {
	if v := a.env.Getenv(name); v != "" {
		return v, true
	}
	if a.env.Environ != nil {
		for _, kv := range a.env.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok && k == name {
				return v, true
			}
		}
	}
	return "", false
}

// parseWhen reads an RFC 3339 time or a duration from now; "" is zero.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, errors.New("want an RFC 3339 time (2030-01-02T15:04:05Z) or a duration from now (90m, 720h)")
	}
	return now.Add(d).Truncate(time.Second), nil
}

// writePKCS12 exports the installed version as PKCS#12 (leaf, chain and
// key; keys.WritePKCS12). It returns the path written, "" if none.
func (x *obtainExtras) writePKCS12(res *issue.Result) (string, error) {
	if x == nil || x.pkcs12File == "" || res.Installed == nil || res.Installed.PrivKey == "" {
		return "", nil
	}
	keyPEM, err := os.ReadFile(res.Installed.PrivKey)
	if err != nil {
		return "", fmt.Errorf("pkcs12: %w", err)
	}
	var cas []*x509.Certificate
	for _, der := range res.Chain[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return "", fmt.Errorf("pkcs12: chain: %w", err)
		}
		cas = append(cas, c)
	}
	if err := keys.WritePKCS12(x.pkcs12File, keyPEM, res.Leaf, cas, x.pkcs12Password, x.pkcs12Legacy); err != nil {
		return "", err
	}
	return x.pkcs12File, nil
}
