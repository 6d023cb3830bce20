package rfc2136

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"unicode"

	"github.com/miekg/dns"
)

// Algorithms accepted for TSIG, by their BIND names.
var algorithms = map[string]string{
	"hmac-sha256": dns.HmacSHA256,
	"hmac-sha384": dns.HmacSHA384,
	"hmac-sha512": dns.HmacSHA512,
}

// TSIGKey is a TSIG key (RFC 8945). Its String and LogValue hide Secret.
type TSIGKey struct {
	Name      string // key name, e.g. "acmectl-key" (a trailing dot is optional)
	Algorithm string // hmac-sha256, hmac-sha384 or hmac-sha512 (case-insensitive, trailing dot optional)
	Secret    string // base64
}

// String describes the key without its secret.
func (k TSIGKey) String() string {
	return fmt.Sprintf("TSIG key %q (%s)", k.Name, k.Algorithm)
}

// GoString describes the key without its secret (for %#v).
func (k TSIGKey) GoString() string { return k.String() }

// LogValue describes the key without its secret.
func (k TSIGKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", k.Name), slog.String("algorithm", k.Algorithm))
}

// Validate checks the name, algorithm and secret (without revealing it).
func (k TSIGKey) Validate() error {
	if k.Name == "" {
		return errors.New("rfc2136: TSIG key name is empty")
	}
	if _, ok := dns.IsDomainName(k.Name); !ok {
		return fmt.Errorf("rfc2136: TSIG key name %q is not a valid DNS name", k.Name)
	}
	if _, err := k.algorithm(); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(k.Secret)
	if err != nil || len(raw) == 0 {
		return fmt.Errorf("rfc2136: TSIG key %q: secret is not valid base64", k.Name)
	}
	return nil
}

func (k TSIGKey) algorithm() (string, error) {
	a, ok := algorithms[strings.TrimSuffix(strings.ToLower(k.Algorithm), ".")]
	if !ok {
		return "", fmt.Errorf("rfc2136: TSIG algorithm %q not supported (use hmac-sha256, hmac-sha384 or hmac-sha512)", k.Algorithm)
	}
	return a, nil
}

// KeyFromEnv builds a key from the value of ACMECTL_RFC2136_TSIG_SECRET:
// either a whole tsig-keygen key statement (name and algorithm come from
// it), or a bare base64 secret, used with name (required) and algorithm
// (default hmac-sha256). Errors never contain the value.
func KeyFromEnv(value, name, algorithm string) (TSIGKey, error) {
	value = strings.TrimSpace(value)
	if strings.Contains(value, "{") {
		k, err := ParseTSIG([]byte(value))
		if err != nil {
			return TSIGKey{}, fmt.Errorf("rfc2136: TSIG key from the environment: %w", err)
		}
		return k, nil
	}
	if algorithm == "" {
		algorithm = "hmac-sha256"
	}
	if name == "" {
		return TSIGKey{}, errors.New("rfc2136: a bare TSIG secret in the environment needs the key name")
	}
	k := TSIGKey{Name: name, Algorithm: algorithm, Secret: value}
	if err := k.Validate(); err != nil {
		return TSIGKey{}, err
	}
	return k, nil
}

// maxKeyFile bounds the size of a key file read.
const maxKeyFile = 64 << 10

// ParseTSIGFile reads a key file in the format BIND's tsig-keygen writes:
//
//	key "acmectl-key" {
//		algorithm hmac-sha256;
//		secret "base64...";
//	};
//
// Comments (#, //, /* */), any whitespace and an unquoted key name are
// accepted; the file must hold exactly one key. When the file is readable
// by group or others it logs a warning on logger (nil: no log) and still
// returns the key. Errors name the file, never the secret.
func ParseTSIGFile(path string, logger *slog.Logger) (TSIGKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return TSIGKey{}, fmt.Errorf("rfc2136: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return TSIGKey{}, fmt.Errorf("rfc2136: %w", err)
	}
	if !st.Mode().IsRegular() {
		return TSIGKey{}, fmt.Errorf("rfc2136: TSIG file %s is not a regular file", path)
	}
	if st.Size() > maxKeyFile {
		return TSIGKey{}, fmt.Errorf("rfc2136: TSIG file %s is larger than %d bytes", path, maxKeyFile)
	}
	if st.Mode().Perm()&0o044 != 0 && logger != nil {
		logger.Warn("secret file readable by group or others", "path", path, "mode", st.Mode().Perm().String())
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil && st.Size() > 0 {
		return TSIGKey{}, fmt.Errorf("rfc2136: %w", err)
	}
	k, err := ParseTSIG(data)
	if err != nil {
		return TSIGKey{}, fmt.Errorf("rfc2136: TSIG file %s: %w", path, err)
	}
	return k, nil
}

// ParseTSIG parses the contents of a tsig-keygen key file (see
// ParseTSIGFile). Its errors never contain the secret.
func ParseTSIG(data []byte) (TSIGKey, error) {
	toks, err := tokenize(string(data))
	if err != nil {
		return TSIGKey{}, err
	}
	p := &parser{toks: toks}
	var keys []TSIGKey
	for !p.done() {
		k, err := p.key()
		if err != nil {
			return TSIGKey{}, err
		}
		keys = append(keys, k)
	}
	switch len(keys) {
	case 0:
		return TSIGKey{}, errors.New("no key statement")
	case 1:
	default:
		return TSIGKey{}, fmt.Errorf("%d key statements; want exactly one", len(keys))
	}
	k := keys[0]
	if k.Algorithm == "" {
		return TSIGKey{}, fmt.Errorf("key %q has no algorithm", k.Name)
	}
	if k.Secret == "" {
		return TSIGKey{}, fmt.Errorf("key %q has no secret", k.Name)
	}
	if err := k.Validate(); err != nil {
		return TSIGKey{}, errors.New(strings.TrimPrefix(err.Error(), "rfc2136: "))
	}
	return k, nil
}

type token struct {
	s      string
	quoted bool
	line   int
}

func tokenize(s string) ([]token, error) {
	var toks []token
	line := 1
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#' || strings.HasPrefix(s[i:], "//"):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("line %d: unterminated comment", line)
			}
			line += strings.Count(s[i:i+2+end], "\n")
			i += end + 4
		case c == '{' || c == '}' || c == ';':
			toks = append(toks, token{s: string(c), line: line})
			i++
		case c == '"':
			end := strings.IndexAny(s[i+1:], "\"\n")
			if end < 0 || s[i+1+end] != '"' {
				return nil, fmt.Errorf("line %d: unterminated string", line)
			}
			toks = append(toks, token{s: s[i+1 : i+1+end], quoted: true, line: line})
			i += end + 2
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n{};\"#", rune(s[j])) {
				if s[j] < 0x21 || s[j] > 0x7e {
					return nil, fmt.Errorf("line %d: unexpected character", line)
				}
				j++
			}
			if j == i {
				return nil, fmt.Errorf("line %d: unexpected character", line)
			}
			toks = append(toks, token{s: s[i:j], line: line})
			i = j
		}
	}
	return toks, nil
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) done() bool { return p.i >= len(p.toks) }

func (p *parser) next() (token, error) {
	if p.done() {
		line := 1
		if len(p.toks) > 0 {
			line = p.toks[len(p.toks)-1].line
		}
		return token{}, fmt.Errorf("line %d: unexpected end of file", line)
	}
	t := p.toks[p.i]
	p.i++
	return t, nil
}

func (p *parser) expect(s string) error {
	t, err := p.next()
	if err != nil {
		return err
	}
	if t.quoted || t.s != s {
		return fmt.Errorf("line %d: want %q", t.line, s)
	}
	return nil
}

// key parses: key NAME { (algorithm ALG; | secret "S"; )* } ;
func (p *parser) key() (TSIGKey, error) {
	t, err := p.next()
	if err != nil {
		return TSIGKey{}, err
	}
	if t.quoted || !strings.EqualFold(t.s, "key") {
		return TSIGKey{}, fmt.Errorf("line %d: want a key statement", t.line)
	}
	name, err := p.next()
	if err != nil {
		return TSIGKey{}, err
	}
	if !name.quoted && (name.s == "{" || name.s == ";" || name.s == "}") || name.s == "" {
		return TSIGKey{}, fmt.Errorf("line %d: key name missing", name.line)
	}
	if strings.IndexFunc(name.s, func(r rune) bool { return r > unicode.MaxASCII || r < 0x21 }) >= 0 {
		return TSIGKey{}, fmt.Errorf("line %d: key name is not printable ASCII", name.line)
	}
	k := TSIGKey{Name: name.s}
	if err := p.expect("{"); err != nil {
		return TSIGKey{}, err
	}
	for {
		t, err := p.next()
		if err != nil {
			return TSIGKey{}, err
		}
		if !t.quoted && t.s == "}" {
			break
		}
		v, err := p.next()
		if err != nil {
			return TSIGKey{}, err
		}
		switch {
		case !t.quoted && strings.EqualFold(t.s, "algorithm"):
			k.Algorithm = v.s
		case !t.quoted && strings.EqualFold(t.s, "secret"):
			k.Secret = v.s // never echoed in errors
		default:
			return TSIGKey{}, fmt.Errorf("line %d: unknown key clause %q", t.line, truncate(t.s))
		}
		if err := p.expect(";"); err != nil {
			return TSIGKey{}, err
		}
	}
	if err := p.expect(";"); err != nil {
		return TSIGKey{}, err
	}
	return k, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
