package hook

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind is the hook event, ACMECTL_HOOK_EVENT.
type Kind string

// Hook events (docs/renewal.md "Hook environment").
const (
	Pre     Kind = "pre"     // once before the first order of a run
	Post    Kind = "post"    // once after, whenever the pre hook ran
	Deploy  Kind = "deploy"  // once per certificate obtained or renewed
	Failure Kind = "failure" // once per certificate that failed
)

func (k Kind) valid() bool { return k == Pre || k == Post || k == Deploy || k == Failure }

// maxErrorLen caps ACMECTL_HOOK_ERROR (bytes).
const maxErrorLen = 4096

// Event describes what a hook is run for; Vars turns it into the documented
// environment variables.
type Event struct {
	Kind Kind
	// DryRun: ACMECTL_HOOK_DRY_RUN "1", else "0". Every event.
	DryRun bool

	// Certificate fields, for Deploy and Failure only (ignored otherwise).
	CertName string   // ACMECTL_HOOK_CERT_NAME
	Domains  []string // ACMECTL_HOOK_DOMAINS (space-separated); deploy: RENEWED_DOMAINS
	// Stable paths under the state dir: ACMECTL_HOOK_CERT_PATH, _KEY_PATH
	// (empty for --csr certificates), _CHAIN_PATH, _FULLCHAIN_PATH.
	CertPath, KeyPath, ChainPath, FullchainPath string
	// Lineage is the certificate's directory; deploy: RENEWED_LINEAGE.
	Lineage  string
	Server   string    // ACMECTL_HOOK_SERVER, the directory URL
	NotAfter time.Time // ACMECTL_HOOK_NOT_AFTER, RFC 3339 UTC

	// Post only: certificate names renewed and failed in this run,
	// ACMECTL_HOOK_RENEWED and ACMECTL_HOOK_FAILED (space-separated, always
	// set, possibly empty).
	Renewed, Failed []string

	// Failure only: ACMECTL_HOOK_ERROR (one line, at most 4 KiB) and
	// ACMECTL_HOOK_ERROR_CLASS (e.g. rate_limited), always set.
	Error, ErrorClass string
}

// Vars returns the event's variables as NAME=value: ACMECTL_HOOK_EVENT and
// ACMECTL_HOOK_DRY_RUN always; the certificate variables for deploy and
// failure when non-empty; for deploy also certbot's RENEWED_LINEAGE and
// RENEWED_DOMAINS; the post and failure variables above. NUL bytes are
// dropped from values (they cannot pass through exec).
func (e Event) Vars() []string {
	var vs []string
	add := func(name, value string) { vs = append(vs, name+"="+strings.ReplaceAll(value, "\x00", "")) }
	addNonEmpty := func(name, value string) {
		if value != "" {
			add(name, value)
		}
	}
	add("ACMECTL_HOOK_EVENT", string(e.Kind))
	if e.DryRun {
		add("ACMECTL_HOOK_DRY_RUN", "1")
	} else {
		add("ACMECTL_HOOK_DRY_RUN", "0")
	}
	if e.Kind == Deploy || e.Kind == Failure {
		domains := strings.Join(e.Domains, " ")
		addNonEmpty("ACMECTL_HOOK_CERT_NAME", e.CertName)
		addNonEmpty("ACMECTL_HOOK_DOMAINS", domains)
		addNonEmpty("ACMECTL_HOOK_CERT_PATH", e.CertPath)
		addNonEmpty("ACMECTL_HOOK_KEY_PATH", e.KeyPath)
		addNonEmpty("ACMECTL_HOOK_CHAIN_PATH", e.ChainPath)
		addNonEmpty("ACMECTL_HOOK_FULLCHAIN_PATH", e.FullchainPath)
		addNonEmpty("ACMECTL_HOOK_SERVER", e.Server)
		if !e.NotAfter.IsZero() {
			add("ACMECTL_HOOK_NOT_AFTER", e.NotAfter.UTC().Format(time.RFC3339))
		}
		if e.Kind == Deploy {
			addNonEmpty("RENEWED_LINEAGE", e.Lineage)
			addNonEmpty("RENEWED_DOMAINS", domains)
		}
	}
	switch e.Kind {
	case Post:
		add("ACMECTL_HOOK_RENEWED", strings.Join(e.Renewed, " "))
		add("ACMECTL_HOOK_FAILED", strings.Join(e.Failed, " "))
	case Failure:
		add("ACMECTL_HOOK_ERROR", oneLine(e.Error, maxErrorLen))
		add("ACMECTL_HOOK_ERROR_CLASS", oneLine(e.ErrorClass, 64))
	}
	return vs
}

// oneLine replaces control characters with spaces, trims, and cuts s to max bytes
// on a rune boundary. Error text may come from the CA.
func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	s = strings.TrimSpace(s)
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

// Inherit reports whether a parent environment variable reaches hooks and
// dns-exec programs without being asked for: an allowlist, so a secret in acmectl's
// environment (MYSQL_PWD, DATABASE_URL, proxy credentials, SSH_AUTH_SOCK,
// ...) never reaches a hook by accident. Kept: PATH, HOME, LANG, LANGUAGE,
// LC_* and TZ. Everything else, and the event variables (ACMECTL_*,
// RENEWED_LINEAGE, RENEWED_DOMAINS, FAILED_DOMAINS, which only the event
// sets), is dropped unless named in the hook-env setting (ValidPassName).
func Inherit(name string) bool {
	switch name {
	case "PATH", "HOME", "LANG", "LANGUAGE", "TZ":
		return true
	}
	return len(name) > 3 && strings.HasPrefix(name, "LC_") && validName(name)
}

// ValidPassName checks a name for the hook-env setting (variables a user
// wants passed to hooks): an environment variable name, neither ACMECTL_*
// (acmectl's own settings and secrets) nor one the event sets.
func ValidPassName(name string) error {
	if !validName(name) {
		return fmt.Errorf("hook-env %q: not an environment variable name (letters, digits, _)", name)
	}
	up := strings.ToUpper(name)
	switch {
	case strings.HasPrefix(up, "ACMECTL_"):
		return fmt.Errorf("hook-env %q: ACMECTL_* variables never reach hooks", name)
	case up == "RENEWED_LINEAGE" || up == "RENEWED_DOMAINS" || up == "FAILED_DOMAINS":
		return fmt.Errorf("hook-env %q: set by acmectl for each event", name)
	}
	return nil
}

func validName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Environ builds a hook's environment: BaseEnv(parent, pass...) followed by
// ev.Vars().
func Environ(parent []string, ev Event, pass ...string) []string {
	return append(BaseEnv(parent, pass...), ev.Vars()...)
}

// BaseEnv is what a program acmectl runs (a hook, a dns-exec program)
// inherits of parent (NAME=value entries): those Inherit keeps and those
// named in pass (the hook-env setting; names ValidPassName refuses are
// ignored), in order, without malformed entries or duplicates (the last
// wins, as with exec). The caller appends the program's own variables.
func BaseEnv(parent []string, pass ...string) []string {
	extra := map[string]bool{}
	for _, n := range pass {
		if ValidPassName(n) == nil {
			extra[n] = true
		}
	}
	idx := map[string]int{}
	var env []string
	for _, kv := range parent {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" || strings.IndexByte(kv, 0) >= 0 || !(Inherit(name) || extra[name]) {
			continue
		}
		if i, dup := idx[name]; dup {
			env[i] = kv
			continue
		}
		idx[name] = len(env)
		env = append(env, kv)
	}
	return env
}
