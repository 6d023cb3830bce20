package store

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/keys"
)

// SettingsVersion is the settings.yaml format this package reads and writes.
const SettingsVersion = 1

const settingsFile = "settings.yaml"

// Settings is certificates/<name>/settings.yaml: what the user asked for. It
// is safe to edit by hand; unknown keys are refused. It holds secret file
// paths, never secret values.
type Settings struct {
	Version        int                          `yaml:"version"`
	Names          client.Names                 `yaml:"names"`  // typed; plain strings on disk
	Server         string                       `yaml:"server"` // directory URL
	Account        string                       `yaml:"account,omitempty"`
	ACMEVersion    string                       `yaml:"acme-version,omitempty"`
	KeyType        string                       `yaml:"key-type,omitempty"`
	ReuseKey       bool                         `yaml:"reuse-key,omitempty"`
	KeyGroup       string                       `yaml:"key-group,omitempty"`
	CSR            string                       `yaml:"csr,omitempty"`     // PEM
	Solvers        map[string][]string          `yaml:"solvers,omitempty"` // identifier or "default" → solver names in order
	HTTP01Addrs    []string                     `yaml:"http-01-addrs,omitempty"`
	Webroot        string                       `yaml:"webroot,omitempty"`
	TLSALPN01Addrs []string                     `yaml:"tls-alpn-01-addrs,omitempty"`
	DNS            DNSSettings                  `yaml:"dns,omitempty"`
	NamedSolvers   map[string]map[string]string `yaml:"named-solvers,omitempty"`
	Profile        string                       `yaml:"profile,omitempty"`
	PreferredChain string                       `yaml:"preferred-chain,omitempty"`
	MustStaple     bool                         `yaml:"must-staple,omitempty"`
	Hooks          Hooks                        `yaml:"hooks,omitempty"`
	HookTimeout    string                       `yaml:"hook-timeout,omitempty"`
	HookEnv        []string                     `yaml:"hook-env,omitempty"` // further variables passed to hooks
	CABundle       string                       `yaml:"ca-bundle,omitempty"`
	Email          []string                     `yaml:"email,omitempty"`
}

// DNSSettings are the dns-01 settings of a certificate.
type DNSSettings struct {
	Provider           string   `yaml:"provider,omitempty"` // rfc2136, exec, manual
	RFC2136Server      string   `yaml:"rfc2136-server,omitempty"`
	RFC2136TSIGFile    string   `yaml:"rfc2136-tsig-file,omitempty"`
	Exec               string   `yaml:"exec,omitempty"`
	Resolvers          []string `yaml:"resolvers,omitempty"`
	PropagationWait    string   `yaml:"propagation-wait,omitempty"`
	PropagationTimeout string   `yaml:"propagation-timeout,omitempty"`
	// RFC2136Zone is the zone to update (default: found by SOA queries).
	RFC2136Zone string `yaml:"rfc2136-zone,omitempty"`
	// RFC2136TSIGKey and RFC2136TSIGAlgorithm name the key whose bare
	// secret is in ACMECTL_RFC2136_TSIG_SECRET (never stored here).
	RFC2136TSIGKey       string `yaml:"rfc2136-tsig-key,omitempty"`
	RFC2136TSIGAlgorithm string `yaml:"rfc2136-tsig-algorithm,omitempty"`
	// ManualContinueAfter: the manual provider waits this long instead of
	// for Enter (--manual-continue-after).
	ManualContinueAfter string `yaml:"manual-continue-after,omitempty"`
	// Options are the non-secret settings of a provider from
	// challenges/dns01/providers/registry (credentials file path,
	// endpoint, zone); secrets stay in the environment and files.
	Options map[string]string `yaml:"options,omitempty"`
}

// Hooks are argv lists, run without a shell.
type Hooks struct {
	Pre     [][]string `yaml:"pre,omitempty"`
	Post    [][]string `yaml:"post,omitempty"`
	Deploy  [][]string `yaml:"deploy,omitempty"`
	Failure [][]string `yaml:"failure,omitempty"`
	// NotImported are another client's hooks that import could not carry
	// over (certbot's command lines that need a shell), by event (pre,
	// post, deploy), as written there. They never run; show and doctor
	// remind of each while no hook of its event is set.
	NotImported map[string]string `yaml:"not-imported,omitempty"`
}

// Missing returns the events of NotImported that still have no hook, in
// the order pre, deploy, post.
func (h Hooks) Missing() []string {
	var out []string
	for _, e := range []struct {
		event string
		set   [][]string
	}{{"pre", h.Pre}, {"deploy", h.Deploy}, {"post", h.Post}} {
		if h.NotImported[e.event] != "" && len(e.set) == 0 {
			out = append(out, e.event)
		}
	}
	return out
}

// SettingsError is a settings.yaml that cannot be used. Callers fail only
// that certificate.
type SettingsError struct {
	Path string
	Line int // 0 if unknown
	Msg  string
}

func (e *SettingsError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// LoadSettings reads certificates/<name>/settings.yaml. A missing file is an
// error wrapping ErrNotFound; a file with an unknown key, a duplicate key, a
// wrong type, a newer version or an unknown key type is a *SettingsError
// naming the file (and line). A missing version is taken as 1.
func (d *Dir) LoadSettings(name string) (*Settings, error) {
	dir, err := d.certDir(name)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, settingsFile)
	data, err := readTrusted(path, maxSettingsSize)
	if err != nil {
		return nil, fmt.Errorf("load settings of %s: %w", name, err)
	}
	s, err := parseSettings(path, data)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func parseSettings(path string, data []byte) (*Settings, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &SettingsError{Path: path, Msg: err.Error()}
	}
	if root.Kind == 0 {
		return nil, &SettingsError{Path: path, Msg: "file is empty"}
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if err := checkKeys(doc, reflect.TypeFor[Settings](), ""); err != nil {
		err.Path = path
		return nil, err
	}
	// The version first: a newer format may spell names differently.
	var v struct {
		Version int `yaml:"version"`
	}
	_ = doc.Decode(&v) // a wrong type is reported by the full decode below
	if v.Version != 0 && v.Version != SettingsVersion {
		return nil, &SettingsError{Path: path, Msg: fmt.Sprintf("version %d is not supported (this acmectl reads version %d)", v.Version, SettingsVersion)}
	}
	var s Settings
	if err := doc.Decode(&s); err != nil {
		return nil, &SettingsError{Path: path, Msg: err.Error()}
	}
	if s.Version == 0 {
		s.Version = SettingsVersion
	}
	if s.KeyType != "" {
		if err := keys.ValidKeyType(s.KeyType); err != nil {
			return nil, &SettingsError{Path: path, Msg: "key-type: " + err.Error()}
		}
	}
	if s.Account != "" {
		if err := ValidCertName(s.Account); err != nil {
			return nil, &SettingsError{Path: path, Msg: "account: " + err.Error()}
		}
	}
	return &s, nil
}

// checkKeys walks a YAML node alongside the Go type it decodes into and
// refuses mapping keys that the type does not have.
func checkKeys(n *yaml.Node, t reflect.Type, where string) *SettingsError {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		return &SettingsError{Line: n.Line, Msg: "YAML aliases are not supported"}
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // Decode reports the type mismatch
		}
		fields := map[string]reflect.Type{}
		var known []string
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			fields[tag] = f.Type
			known = append(known, tag)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("unknown key %q", where+k.Value)
				if where != "" {
					msg += fmt.Sprintf(" (known keys under %s: %s)", strings.TrimSuffix(where, "."), strings.Join(known, ", "))
				}
				return &SettingsError{Line: k.Line, Msg: msg}
			}
			if err := checkKeys(v, ft, where+k.Value+"."); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkKeys(n.Content[i+1], t.Elem(), where+n.Content[i].Value+"."); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for _, c := range n.Content {
			if err := checkKeys(c, t.Elem(), where); err != nil {
				return err
			}
		}
	}
	return nil
}

// SaveSettings writes certificates/<name>/settings.yaml atomically (0600),
// creating the certificate directory if needed. Version 0 is written as 1.
// The settings are checked as LoadSettings would.
func (d *Dir) SaveSettings(name string, s *Settings) error {
	if s == nil {
		return errors.New("save settings: nil settings")
	}
	dir, err := d.certDir(name)
	if err != nil {
		return err
	}
	c := *s
	if c.Version == 0 {
		c.Version = SettingsVersion
	}
	var buf bytes.Buffer
	buf.WriteString("# acmectl certificate settings; safe to edit by hand (see `acmectl reconfigure`).\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&c); err != nil {
		return fmt.Errorf("save settings of %s: %w", name, err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("save settings of %s: %w", name, err)
	}
	path := filepath.Join(dir, settingsFile)
	if _, err := parseSettings(path, buf.Bytes()); err != nil {
		return fmt.Errorf("save settings of %s: %w", name, err)
	}
	if err := ensureDir(dir); err != nil {
		return fmt.Errorf("save settings of %s: %w", name, err)
	}
	// Every successful obtain saves its settings, mostly unchanged.
	if unchanged(path, buf.Bytes(), filePerm, maxSettingsSize) {
		return nil
	}
	if err := writeFileAtomic(dir, settingsFile, buf.Bytes(), filePerm, -1); err != nil {
		return fmt.Errorf("save settings of %s: %w", name, err)
	}
	return nil
}
