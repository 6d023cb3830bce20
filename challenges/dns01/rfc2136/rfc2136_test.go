package rfc2136_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01/dnstest"
	"github.com/acmectl/acmectl/challenges/dns01/rfc2136"
	"github.com/acmectl/acmectl/internal/testenv"
	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

// txtAt returns the TXT values server serves at name.
func txtAt(t *testing.T, server string) dnstest.Check {
	return func(name string) []string {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeTXT)
		r, _, err := (&dns.Client{Net: "tcp", Timeout: 2 * time.Second}).Exchange(m, server)
		if err != nil {
			t.Errorf("query %s at %s: %v", name, server, err)
			return nil
		}
		var out []string
		for _, rr := range r.Answer {
			if txt, ok := rr.(*dns.TXT); ok {
				out = append(out, strings.Join(txt.Txt, ""))
			}
		}
		return out
	}
}

func newProvider(t *testing.T, b *testenv.BIND, zone string) *rfc2136.Provider {
	t.Helper()
	key, err := rfc2136.ParseTSIGFile(b.TSIGFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := rfc2136.New(rfc2136.Config{Server: b.Addr, Key: &key, Zone: zone,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	b := testenv.StartBIND(t)
	for _, zone := range []string{"", "acme.test"} { // discovered and configured
		t.Run("zone="+zone, func(t *testing.T) {
			dnstest.Run(t, newProvider(t, b, zone), "acme.test", txtAt(t, b.Addr))
		})
	}
}

func TestAlgorithms(t *testing.T) {
	keygen := testenv.LookTool(t, "tsig-keygen", "apt-get install bind9")
	for _, alg := range []string{"hmac-sha256", "hmac-sha384", "hmac-sha512"} {
		t.Run(alg, func(t *testing.T) {
			out, err := exec.Command(keygen, "-a", alg, "k-"+alg).Output()
			if err != nil {
				t.Fatal(err)
			}
			key, err := rfc2136.ParseTSIG(out)
			if err != nil {
				t.Fatalf("ParseTSIG(tsig-keygen -a %s) = %v", alg, err)
			}
			if key.Algorithm != alg || key.Name != "k-"+alg {
				t.Fatalf("ParseTSIG = %v; want k-%s (%s)", key, alg, alg)
			}
			// named verifies hmac-sha256 in TestConformance; here
			// check that a message signed with each parsed
			// key verifies.
			m := new(dns.Msg)
			m.SetUpdate("acme.test.")
			m.SetTsig(dns.CanonicalName(key.Name), map[string]string{"hmac-sha256": dns.HmacSHA256, "hmac-sha384": dns.HmacSHA384, "hmac-sha512": dns.HmacSHA512}[alg], 300, time.Now().Unix())
			buf, _, err := dns.TsigGenerate(m, key.Secret, "", false)
			if err != nil {
				t.Fatalf("sign with %s: %v", alg, err)
			}
			if err := dns.TsigVerify(buf, key.Secret, "", false); err != nil {
				t.Fatalf("verify %s: %v", alg, err)
			}
		})
	}
}

func TestWrongSecret(t *testing.T) {
	b := testenv.StartBIND(t)
	wrong := rfc2136.TSIGKey{Name: b.KeyName, Algorithm: b.Algorithm, Secret: "c2VjcmV0LW5vdC10aGUtcmlnaHQtb25lLTAxMjM0NTY3"}
	for _, tc := range []struct {
		name string
		key  rfc2136.TSIGKey
	}{
		{"wrong secret", wrong},
		{"unknown key", rfc2136.TSIGKey{Name: "other-key", Algorithm: b.Algorithm, Secret: b.Secret}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := rfc2136.New(rfc2136.Config{Server: b.Addr, Key: &tc.key, Zone: "acme.test"})
			if err != nil {
				t.Fatal(err)
			}
			err = p.SetTXT(t.Context(), "_acme-challenge.wrong.acme.test.", "v")
			if err == nil {
				t.Fatal("SetTXT with a bad key succeeded")
			}
			t.Logf("error: %v", err)
			var ue *rfc2136.UpdateError
			if !errors.As(err, &ue) {
				t.Fatalf("error %T is not *UpdateError: %v", err, err)
			}
			if ue.Rcode != dns.RcodeNotAuth && ue.Rcode != dns.RcodeRefused {
				t.Errorf("Rcode = %s; want NOTAUTH or REFUSED", dns.RcodeToString[ue.Rcode])
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "rfc2136: ") || !strings.Contains(msg, b.Addr) {
				t.Errorf("error %q lacks the rfc2136: prefix or the server %s", msg, b.Addr)
			}
			for _, s := range []string{tc.key.Secret, b.Secret} {
				if strings.Contains(msg, s) || strings.Contains(fmt.Sprintf("%+v %#v", tc.key, tc.key), s) {
					t.Errorf("error or key formatting reveals the secret")
				}
			}
			if got := txtAt(t, b.Addr)("_acme-challenge.wrong.acme.test."); len(got) != 0 {
				t.Errorf("record added despite the bad key: %q", got)
			}
		})
	}
}

func TestNoKeyRefused(t *testing.T) {
	b := testenv.StartBIND(t)
	p, err := rfc2136.New(rfc2136.Config{Server: b.Addr})
	if err != nil {
		t.Fatal(err)
	}
	err = p.SetTXT(t.Context(), "_acme-challenge.nokey.acme.test.", "v")
	var ue *rfc2136.UpdateError
	if !errors.As(err, &ue) || ue.Rcode != dns.RcodeRefused {
		t.Fatalf("unsigned SetTXT = %v; want REFUSED", err)
	}
	if !strings.Contains(err.Error(), "REFUSED") || !strings.Contains(err.Error(), b.Addr) {
		t.Errorf("error %q does not say REFUSED at %s", err, b.Addr)
	}
}

func TestParseTSIG(t *testing.T) {
	const secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="
	for _, tc := range []struct {
		name, in string
		want     rfc2136.TSIGKey
		wantErr  string
	}{
		{"tsig-keygen", "key \"acmectl-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"" + secret + "\";\n};\n",
			rfc2136.TSIGKey{Name: "acmectl-key", Algorithm: "hmac-sha256", Secret: secret}, ""},
		{"one line, unquoted name, comments", "# made by hand\nkey k.example. { secret \"" + secret + "\"; /* x\n */ algorithm HMAC-SHA512; }; // end",
			rfc2136.TSIGKey{Name: "k.example.", Algorithm: "HMAC-SHA512", Secret: secret}, ""},
		{"crlf", "key \"k\" {\r\n algorithm hmac-sha384;\r\n secret \"" + secret + "\";\r\n};\r\n",
			rfc2136.TSIGKey{Name: "k", Algorithm: "hmac-sha384", Secret: secret}, ""},
		{"md5 refused", "key \"k\" { algorithm hmac-md5; secret \"" + secret + "\"; };", rfc2136.TSIGKey{}, "not supported"},
		{"bad base64", "key \"k\" { algorithm hmac-sha256; secret \"not*base64\"; };", rfc2136.TSIGKey{}, "not valid base64"},
		{"no secret", "key \"k\" { algorithm hmac-sha256; };", rfc2136.TSIGKey{}, "no secret"},
		{"two keys", "key a { algorithm hmac-sha256; secret \"" + secret + "\"; }; key b { algorithm hmac-sha256; secret \"" + secret + "\"; };", rfc2136.TSIGKey{}, "exactly one"},
		{"missing semicolon", "key \"k\" { algorithm hmac-sha256 secret \"" + secret + "\"; };", rfc2136.TSIGKey{}, "want \";\""},
		{"truncated", "key \"k\" { algorithm hmac-sha256; secret \"" + secret, rfc2136.TSIGKey{}, "unterminated"},
		{"empty", "\n# nothing\n", rfc2136.TSIGKey{}, "no key"},
		{"unknown clause", "key \"k\" { algorithm hmac-sha256; secret \"" + secret + "\"; owner x; };", rfc2136.TSIGKey{}, "unknown key clause"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rfc2136.ParseTSIG([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseTSIG = %v, %v; want error containing %q", got, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "not*base64") {
					t.Errorf("error %q reveals the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTSIG: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseTSIG (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseTSIGFileWarnsOnWideMode(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "k.key")
	if err := os.WriteFile(file, []byte("key \"k\" { algorithm hmac-sha256; secret \"c2VjcmV0\"; };\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o640, true}, {0o604, true}, {0o400, false}} {
		if err := os.Chmod(file, tc.mode); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := rfc2136.ParseTSIGFile(file, slog.New(slog.NewTextHandler(&buf, nil))); err != nil {
			t.Fatalf("mode %v: %v", tc.mode, err)
		}
		if got := strings.Contains(buf.String(), "readable by group or others"); got != tc.warn {
			t.Errorf("mode %v: warned = %v; want %v (log %q)", tc.mode, got, tc.warn, buf.String())
		}
	}
	if _, err := rfc2136.ParseTSIGFile(filepath.Join(dir, "missing"), nil); err == nil || !strings.HasPrefix(err.Error(), "rfc2136: ") {
		t.Errorf("missing file: %v; want an rfc2136: error", err)
	}
}

func TestKeyFromEnv(t *testing.T) {
	const secret = "c2VjcmV0LXNlY3JldA=="
	for _, tc := range []struct {
		name, value, keyName, alg string
		want                      rfc2136.TSIGKey
		wantErr                   bool
	}{
		{"bare secret", secret, "k", "", rfc2136.TSIGKey{Name: "k", Algorithm: "hmac-sha256", Secret: secret}, false},
		{"bare secret sha512", " " + secret + "\n", "k", "hmac-sha512", rfc2136.TSIGKey{Name: "k", Algorithm: "hmac-sha512", Secret: secret}, false},
		{"key statement", `key "e" { algorithm hmac-sha384; secret "` + secret + `"; };`, "", "", rfc2136.TSIGKey{Name: "e", Algorithm: "hmac-sha384", Secret: secret}, false},
		{"bare secret without name", secret, "", "", rfc2136.TSIGKey{}, true},
		{"not base64", "x*y", "k", "", rfc2136.TSIGKey{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rfc2136.KeyFromEnv(tc.value, tc.keyName, tc.alg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("KeyFromEnv = %v, %v; want error %v", got, err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimSpace(tc.value)) {
				t.Errorf("error %q reveals the value", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("KeyFromEnv (-want +got):\n%s", diff)
			}
		})
	}
}
