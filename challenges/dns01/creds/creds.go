// Package creds finds the settings and secrets of a DNS provider, the way
// users of lego and certbot already keep them, so they can move over
// without retyping anything:
//
//   - an environment variable, under acmectl's own name
//     (ACMECTL_CLOUDFLARE_API_TOKEN) or lego's (CLOUDFLARE_DNS_API_TOKEN,
//     CF_DNS_API_TOKEN);
//   - a file named by the same variable with _FILE appended
//     (CLOUDFLARE_DNS_API_TOKEN_FILE=/run/secrets/cf), as lego reads them;
//   - a systemd credential, $CREDENTIALS_DIRECTORY/<name> (LoadCredential=
//     or LoadCredentialEncrypted= in the unit);
//   - a key of a certbot INI credentials file (dns_cloudflare_api_token =
//     ...), named by the provider's "credentials" option.
//
// They are tried in that order; the first one set wins. Values are never
// taken from flags or settings.yaml, and errors name the variables and
// files tried but never a value. The environment is injected (Source.Getenv)
// so library code never reads the process environment itself.
package creds

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// CredentialsDirectoryEnv is the variable systemd sets to the directory of
// a service's credentials (systemd.exec(5), "Credentials").
const CredentialsDirectoryEnv = "CREDENTIALS_DIRECTORY"

// maxSecretFile bounds what is read from one secret or INI file.
const maxSecretFile = 64 << 10

// Item describes one setting or secret of a provider and where to look for
// it.
type Item struct {
	// What names it in messages: "API token".
	What string
	// Env lists the variable names accepted, acmectl's own first, then
	// lego's. Each is also tried with _FILE appended.
	Env []string
	// Credential is the systemd credential name, e.g.
	// "cloudflare-api-token"; "" means none.
	Credential string
	// INI lists the keys accepted in a certbot credentials file, e.g.
	// "dns_cloudflare_api_token".
	INI []string
	// Secret marks a value that must never be logged. All lookups treat
	// values as secret in errors; Secret only changes the debug log.
	Secret bool
}

// Value is what Lookup found.
type Value struct {
	Value string
	// From says where it came from, for messages: "CF_DNS_API_TOKEN",
	// "CF_DNS_API_TOKEN_FILE (/run/secrets/cf)", "systemd credential
	// cloudflare-api-token", "dns_cloudflare_api_token in /etc/cf.ini".
	From string
}

// NotFoundError is returned when no source holds an item. Its message
// names the provider and every place tried.
type NotFoundError struct {
	Provider string
	Item     Item
	INIFile  string // the certbot file consulted, if any
}

func (e *NotFoundError) Error() string {
	var places []string
	if len(e.Item.Env) > 0 {
		places = append(places, "set "+orList(e.Item.Env)+" (or "+e.Item.Env[0]+"_FILE)")
	}
	if e.Item.Credential != "" {
		places = append(places, "a systemd credential "+e.Item.Credential)
	}
	if len(e.Item.INI) > 0 {
		if e.INIFile != "" {
			places = append(places, e.Item.INI[0]+" in "+e.INIFile)
		} else {
			places = append(places, e.Item.INI[0]+" in a certbot credentials file (option credentials)")
		}
	}
	return fmt.Sprintf("%s: no %s: %s", e.Provider, e.Item.What, strings.Join(places, ", or "))
}

// ErrNotFound is matched by errors.Is for a *NotFoundError.
var ErrNotFound = errors.New("credential not found")

func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

func orList(names []string) string {
	switch len(names) {
	case 1:
		return names[0]
	case 2:
		return names[0] + " or " + names[1]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Source looks items up for one provider. The zero value finds nothing.
// It is safe for concurrent use.
type Source struct {
	// Provider names the provider in errors ("cloudflare").
	Provider string
	// Getenv reads the environment (the CLI passes its Env's); nil reads
	// none.
	Getenv func(string) string
	// INIFile is a certbot credentials file ("" for none).
	INIFile string
	// Logger receives a warning for an INI file readable by group or
	// others, and debug lines naming where each item came from (never
	// values). nil discards.
	Logger *slog.Logger

	once   sync.Once
	ini    map[string]string
	iniErr error
}

func (s *Source) getenv(k string) string {
	if s.Getenv == nil {
		return ""
	}
	return s.Getenv(k)
}

func (s *Source) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Lookup returns the first source that holds it, or a *NotFoundError, or
// an error reading a named file (which names the file, not its content).
func (s *Source) Lookup(it Item) (Value, error) {
	v, err := s.lookup(it)
	if err == nil {
		s.log().Debug("dns provider setting found", "provider", s.Provider, "item", it.What, "from", v.From)
	}
	return v, err
}

func (s *Source) lookup(it Item) (Value, error) {
	for _, name := range it.Env {
		if v := s.getenv(name); v != "" {
			return Value{Value: strings.TrimSpace(v), From: name}, nil
		}
		if p := s.getenv(name + "_FILE"); p != "" {
			v, err := readSecretFile(p)
			if err != nil {
				return Value{}, fmt.Errorf("%s: %s_FILE: %w", s.Provider, name, err)
			}
			return Value{Value: v, From: name + "_FILE (" + p + ")"}, nil
		}
	}
	if dir := s.getenv(CredentialsDirectoryEnv); dir != "" && it.Credential != "" {
		p := filepath.Join(dir, it.Credential)
		v, err := readSecretFile(p)
		switch {
		case err == nil:
			return Value{Value: v, From: "systemd credential " + it.Credential}, nil
		case !errors.Is(err, os.ErrNotExist):
			return Value{}, fmt.Errorf("%s: systemd credential %s: %w", s.Provider, it.Credential, err)
		}
	}
	if s.INIFile != "" && len(it.INI) > 0 {
		ini, err := s.loadINI()
		if err != nil {
			return Value{}, err
		}
		for _, k := range it.INI {
			if v, ok := ini[k]; ok && v != "" {
				return Value{Value: v, From: k + " in " + s.INIFile}, nil
			}
		}
	}
	return Value{}, &NotFoundError{Provider: s.Provider, Item: it, INIFile: s.INIFile}
}

// Optional is Lookup that returns "" (and no error) when nothing holds it.
func (s *Source) Optional(it Item) (Value, error) {
	v, err := s.Lookup(it)
	if errors.Is(err, ErrNotFound) {
		return Value{}, nil
	}
	return v, err
}

func (s *Source) loadINI() (map[string]string, error) {
	s.once.Do(func() {
		s.ini, s.iniErr = readINI(s.INIFile, s.log())
		if s.iniErr != nil {
			s.iniErr = fmt.Errorf("%s: certbot credentials file: %w", s.Provider, s.iniErr)
		}
	})
	return s.ini, s.iniErr
}

// readSecretFile reads a small file holding one value (trailing newline
// and surrounding space removed).
func readSecretFile(path string) (string, error) {
	b, err := readBounded(path)
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return v, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxSecretFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxSecretFile)
	}
	return b, nil
}

// readINI parses a certbot credentials file (configobj syntax as certbot
// writes it: "key = value" lines, # and ; comments, optional quotes). It
// warns, as certbot does, when group or others may read it.
func readINI(path string, log *slog.Logger) (map[string]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		log.Warn("credentials file is readable by group or others: chmod 600 it", "path", path, "mode", fmt.Sprintf("%04o", st.Mode().Perm()))
	}
	b, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	return ParseINI(string(b), path)
}

// ParseINI parses the text of a certbot credentials file. Keys are
// lowercased; name is used in errors, which give line numbers but never
// content.
func ParseINI(text, name string) (map[string]string, error) {
	out := map[string]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s line %d: want key = value", name, i+1)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		} else if j := strings.Index(v, " #"); j >= 0 {
			v = strings.TrimSpace(v[:j])
		}
		if k == "" {
			return nil, fmt.Errorf("%s line %d: empty key", name, i+1)
		}
		out[k] = v
	}
	return out, nil
}
