package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/acmectl/acmectl/internal/testenv"
)

// caaStub is a recursive-resolver stand-in on 127.0.0.1: A 127.0.0.1 for
// every name under example.test, and the CAA records of caa; everything
// else is an empty NOERROR answer (as a real resolver gives for names
// without CAA up to the TLD).
func caaStub(t *testing.T, caa map[string][]string) string {
	t.Helper()
	return testenv.ServeDNS(t, dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		for _, q := range r.Question {
			name := strings.ToLower(q.Name)
			switch q.Qtype {
			case dns.TypeA:
				if strings.HasSuffix(name, ".example.test.") {
					m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.IPv4(127, 0, 0, 1)})
				}
			case dns.TypeCAA:
				for _, rec := range caa[strings.TrimSuffix(name, ".")] {
					rr, err := dns.NewRR(q.Name + " 1 IN CAA " + rec)
					if err != nil {
						panic(err)
					}
					m.Answer = append(m.Answer, rr)
				}
			}
		}
		_ = w.WriteMsg(m)
	}))
}

type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs one command line in process, isolated from the machine's
// config and environment.
func runCLI(t *testing.T, now func() time.Time, vars map[string]string, args ...string) cliResult {
	t.Helper()
	cfgHome := filepath.Join(t.TempDir(), "config")
	var out, errb bytes.Buffer
	env := &Env{
		Args: args, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string {
			if k == "XDG_CONFIG_HOME" {
				return cfgHome
			}
			return vars[k]
		},
		Environ: func() []string { return []string{"PATH=" + os.Getenv("PATH")} },
		Now:     now, Euid: 1000, Version: "test",
	}
	code := Run(testenv.Context(t, 2*time.Minute), env)
	r := cliResult{code: code, stdout: out.String(), stderr: errb.String()}
	t.Logf("acmectl %s → %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, r.stdout, r.stderr)
	return r
}

type doctorDoc struct {
	Checks  []doctorCheck `json:"checks"`
	Verdict string        `json:"verdict"`
}

func parseDoctor(t *testing.T, r cliResult) doctorDoc {
	t.Helper()
	var doc doctorDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("doctor --json output is not one JSON document: %v\n%s", err, r.stdout)
	}
	return doc
}

// verdictOf returns the verdict and detail of the check named check for
// target ("" matches any target).
func verdictOf(t *testing.T, doc doctorDoc, check, target string) (string, string) {
	t.Helper()
	for _, c := range doc.Checks {
		if c.Check == check && (target == "" || c.Target == target) {
			return c.Verdict, c.Detail
		}
	}
	t.Fatalf("no %s check for %q in %+v", check, target, doc.Checks)
	return "", ""
}

func TestDoctorAgainstPebble(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Pebble")
	}
	p := testenv.StartPebble(t, testenv.PebbleOptions{})
	resolver := caaStub(t, map[string][]string{
		"deny.example.test":  {`0 issue "other-ca.example"`},
		"allow.example.test": {`0 issue "pebble.letsencrypt.org"`, `0 iodef "mailto:sec@example.test"`},
		"crit.example.test":  {`128 future "x"`},
		"wild.example.test":  {`0 issue "pebble.letsencrypt.org"`, `0 issuewild ";"`},
		"vm.example.test":    {`0 issue "pebble.letsencrypt.org; validationmethods=dns-01"`},
	})
	state := filepath.Join(t.TempDir(), "state")
	base := []string{"--server", p.DirURL, "--ca-bundle", p.CABundle, "--state-dir", state, "--dns-resolvers", resolver, "--json"}
	webroot := t.TempDir()
	ng := testenv.StartNginx(t, webroot, 0)

	// Something already serving HTTP where the built-in responder would listen.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	busySrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Server", "busybox-httpd")
		http.NotFound(w, nil)
	})}
	go func() { _ = busySrv.Serve(busy) }()
	t.Cleanup(func() { _ = busySrv.Close() })
	freePort := testenv.FreePort(t)

	t.Run("served webroot, busy responder port", func(t *testing.T) {
		r := runCLI(t, time.Now, nil, append([]string{"doctor"}, append(base,
			"-d", "www.allow.example.test", "-d", "plain.example.test",
			"--webroot", webroot, "--http-port", strconv.Itoa(ng.Port),
			"--http-01", "--http-01-addr", "127.0.0.1:"+strconv.Itoa(ng.Port), // in use by nginx
		)...)...)
		doc := parseDoctor(t, r)
		if v, d := verdictOf(t, doc, "server", ""); v != verdictOK || !strings.Contains(d, "RFC 8555") {
			t.Errorf("server: %s %s; want OK naming RFC 8555", v, d)
		}
		if v, d := verdictOf(t, doc, "clock", ""); v != verdictOK {
			t.Errorf("clock: %s %s; want OK", v, d)
		}
		if v, d := verdictOf(t, doc, "account", ""); v != verdictWarn || !strings.Contains(d, "obtain will register one") {
			t.Errorf("account: %s %s; want WARN (none yet)", v, d)
		}
		if v, d := verdictOf(t, doc, "dns", "www.allow.example.test"); v != verdictOK || !strings.Contains(d, "127.0.0.1") {
			t.Errorf("dns: %s %s; want OK 127.0.0.1", v, d)
		}
		if v, d := verdictOf(t, doc, "caa", "www.allow.example.test"); v != verdictOK || !strings.Contains(d, "at allow.example.test allows pebble.letsencrypt.org") {
			t.Errorf("caa (climbing to the parent): %s %s; want OK from allow.example.test", v, d)
		}
		if v, d := verdictOf(t, doc, "caa", "plain.example.test"); v != verdictOK || !strings.Contains(d, "no CAA") {
			t.Errorf("caa (none): %s %s", v, d)
		}
		for _, n := range []string{"www.allow.example.test", "plain.example.test"} {
			if v, d := verdictOf(t, doc, "webroot", n); v != verdictOK || !strings.Contains(d, "probe served") {
				t.Errorf("webroot %s: %s %s; want the probe served by nginx", n, v, d)
			}
		}
		if v, d := verdictOf(t, doc, "http-01", ""); v != verdictFail || !strings.Contains(d, "in use by a web server (nginx") {
			t.Errorf("http-01 on nginx's port: %s %s; want FAIL naming nginx", v, d)
		}
		if r.code != 1 || doc.Verdict != "fail" {
			t.Errorf("exit %d verdict %q; want 1 fail", r.code, doc.Verdict)
		}
		left, _ := filepath.Glob(filepath.Join(webroot, ".well-known", "acme-challenge", "*"))
		if len(left) != 0 {
			t.Errorf("probe files left in the webroot: %v", left)
		}
	})

	t.Run("caa refusals", func(t *testing.T) {
		r := runCLI(t, time.Now, nil, append([]string{"doctor"}, append(base,
			"-d", "deny.example.test", "-d", "crit.example.test", "-d", "vm.example.test",
			"--http-01", "--http-01-addr", "127.0.0.1:"+strconv.Itoa(freePort), "--http-port", strconv.Itoa(freePort),
		)...)...)
		doc := parseDoctor(t, r)
		for target, want := range map[string]string{
			"deny.example.test": `allows only other-ca.example, not this CA (pebble.letsencrypt.org)`,
			"crit.example.test": `critical tag "future"`,
			"vm.example.test":   `validationmethods=dns-01, not http-01`,
		} {
			if v, d := verdictOf(t, doc, "caa", target); v != verdictFail || !strings.Contains(d, want) {
				t.Errorf("caa %s: %s %q; want FAIL containing %q", target, v, d, want)
			}
		}
		if v, d := verdictOf(t, doc, "http-01", ""); v != verdictOK {
			t.Errorf("http-01 on a free port: %s %s; want OK", v, d)
		}
		if r.code != 1 {
			t.Errorf("exit %d; want 1", r.code)
		}
	})

	t.Run("busy port, unserved webroot, skewed clock", func(t *testing.T) {
		skewed := func() time.Time { return time.Now().Add(time.Hour) }
		other := t.TempDir() // nginx serves webroot, not this
		r := runCLI(t, skewed, nil, append([]string{"doctor"}, append(base,
			"-d", "a.example.test", "--webroot", other, "--http-port", strconv.Itoa(ng.Port),
			"--http-01", "--http-01-addr", busy.Addr().String(),
		)...)...)
		doc := parseDoctor(t, r)
		if v, d := verdictOf(t, doc, "clock", ""); v != verdictFail || !strings.Contains(d, "ahead of the CA's clock") {
			t.Errorf("clock an hour ahead: %s %s; want FAIL", v, d)
		}
		if v, d := verdictOf(t, doc, "webroot", "a.example.test"); v != verdictFail || !strings.Contains(d, "404") {
			t.Errorf("unserved webroot: %s %s; want FAIL with the 404", v, d)
		}
		if v, d := verdictOf(t, doc, "http-01", ""); v != verdictFail || !strings.Contains(d, "busybox-httpd") {
			t.Errorf("busy port: %s %s; want FAIL naming the holder", v, d)
		}
	})

	t.Run("wildcard without dns-01", func(t *testing.T) {
		r := runCLI(t, time.Now, nil, append([]string{"doctor"}, append(base, "-d", "*.wild.example.test", "--http-01", "--http-01-addr", "127.0.0.1:"+strconv.Itoa(freePort))...)...)
		doc := parseDoctor(t, r)
		if v, d := verdictOf(t, doc, "dns", "*.wild.example.test"); v != verdictFail || !strings.Contains(d, "dns-01") {
			t.Errorf("wildcard with http-01: %s %s; want FAIL naming dns-01", v, d)
		}
		if v, d := verdictOf(t, doc, "caa", "*.wild.example.test"); v != verdictFail || !strings.Contains(d, "issuewild") {
			t.Errorf("caa issuewild \";\": %s %s; want FAIL", v, d)
		}
	})

	t.Run("account present", func(t *testing.T) {
		reg := runCLI(t, time.Now, nil, "account", "register", "--server", p.DirURL, "--ca-bundle", p.CABundle, "--state-dir", state, "--accept-tos", "--email", "doc@example.test")
		if reg.code != 0 {
			t.Fatalf("account register: exit %d", reg.code)
		}
		r := runCLI(t, time.Now, nil, append([]string{"doctor"}, append(base, "-d", "plain.example.test", "--http-01", "--http-01-addr", "127.0.0.1:"+strconv.Itoa(freePort), "--http-port", strconv.Itoa(freePort))...)...)
		doc := parseDoctor(t, r)
		if v, d := verdictOf(t, doc, "account", ""); v != verdictOK || !strings.Contains(d, "is valid") {
			t.Errorf("account: %s %s; want OK valid", v, d)
		}
		if r.code != 0 || doc.Verdict != "ok" {
			t.Errorf("exit %d verdict %q; want 0 ok", r.code, doc.Verdict)
		}
	})

	t.Run("text output", func(t *testing.T) {
		args := []string{"doctor", "--server", p.DirURL, "--ca-bundle", p.CABundle, "--state-dir", state, "--dns-resolvers", resolver, "-d", "deny.example.test"}
		r := runCLI(t, time.Now, nil, args...)
		if r.code != 1 || !strings.Contains(r.stdout, "FAIL  caa") || !strings.Contains(r.stdout, "WARN  solver") || !strings.Contains(r.stdout, "failed,") {
			t.Errorf("text report: exit %d\n%s", r.code, r.stdout)
		}
		if r.stderr != "" {
			t.Errorf("stderr not empty: %q", r.stderr)
		}
	})
}

func TestDoctorDNSProvider(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Pebble and BIND")
	}
	p := testenv.StartPebble(t, testenv.PebbleOptions{})
	b := testenv.StartBIND(t, testenv.Zone{Name: "acme.test"})
	resolver := caaStub(t, nil)
	state := filepath.Join(t.TempDir(), "state")
	base := []string{"doctor", "--json", "--server", p.DirURL, "--ca-bundle", p.CABundle, "--state-dir", state, "--dns-resolvers", resolver, "-d", "*.acme.test"}

	r := runCLI(t, time.Now, nil, append(base, "--dns-01", "rfc2136", "--rfc2136-server", b.Addr, "--rfc2136-tsig-file", b.TSIGFile)...)
	doc := parseDoctor(t, r)
	if v, d := verdictOf(t, doc, "dns-01", ""); v != verdictOK || !strings.Contains(d, "set and removed at _acme-challenge.acme.test.") {
		t.Errorf("rfc2136 with the right key: %s %s; want OK", v, d)
	}
	if !strings.Contains(b.Log(), "_acme-challenge.acme.test") {
		t.Errorf("named never saw an update for _acme-challenge.acme.test:\n%s", b.Log())
	}
	m := new(dns.Msg)
	m.SetQuestion("_acme-challenge.acme.test.", dns.TypeTXT)
	in, err := dns.Exchange(m, b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Answer) != 0 {
		t.Errorf("test record left behind: %v", in.Answer)
	}

	// A wrong secret: the provider's refusal is a FAIL.
	bad := filepath.Join(t.TempDir(), "bad.key")
	if err := os.WriteFile(bad, []byte(`key "`+b.KeyName+`" { algorithm hmac-sha256; secret "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="; };`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, time.Now, nil, append(base, "--dns-01", "rfc2136", "--rfc2136-server", b.Addr, "--rfc2136-tsig-file", bad)...)
	doc = parseDoctor(t, r)
	if v, d := verdictOf(t, doc, "dns-01", ""); v != verdictFail {
		t.Errorf("rfc2136 with a wrong key: %s %s; want FAIL", v, d)
	}
	if r.code != 1 {
		t.Errorf("exit %d; want 1", r.code)
	}
}

func TestEvalCAA(t *testing.T) {
	mk := func(recs ...string) []dns.RR {
		var out []dns.RR
		for _, r := range recs {
			rr, err := dns.NewRR("example.com. 1 IN CAA " + r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, rr)
		}
		return out
	}
	ids := []string{"letsencrypt.org"}
	for _, tc := range []struct {
		name     string
		recs     []string
		wildcard bool
		methods  []string
		acct     string
		want     string
	}{
		{"allowed", []string{`0 issue "letsencrypt.org"`}, false, nil, "", verdictOK},
		{"case and dot", []string{`0 issue "LetsEncrypt.org."`}, false, nil, "", verdictOK},
		{"other CA", []string{`0 issue "digicert.com"`}, false, nil, "", verdictFail},
		{"nobody", []string{`0 issue ";"`}, false, nil, "", verdictFail},
		{"iodef only", []string{`0 iodef "mailto:a@example.com"`}, false, nil, "", verdictOK},
		{"wildcard falls back to issue", []string{`0 issue "letsencrypt.org"`}, true, nil, "", verdictOK},
		{"issuewild wins for wildcard", []string{`0 issue "letsencrypt.org"`, `0 issuewild "digicert.com"`}, true, nil, "", verdictFail},
		{"issuewild ignored for plain name", []string{`0 issue "letsencrypt.org"`, `0 issuewild ";"`}, false, nil, "", verdictOK},
		{"critical unknown", []string{`0 issue "letsencrypt.org"`, `128 tbs "x"`}, false, nil, "", verdictFail},
		{"non-critical unknown", []string{`0 issue "letsencrypt.org"`, `0 tbs "x"`}, false, nil, "", verdictOK},
		{"account match", []string{`0 issue "letsencrypt.org; accounturi=https://ca/acct/1"`}, false, nil, "https://ca/acct/1", verdictOK},
		{"account mismatch", []string{`0 issue "letsencrypt.org; accounturi=https://ca/acct/1"`}, false, nil, "https://ca/acct/2", verdictFail},
		{"account unknown", []string{`0 issue "letsencrypt.org; accounturi=https://ca/acct/1"`}, false, nil, "", verdictWarn},
		{"method allowed", []string{`0 issue "letsencrypt.org; validationmethods=dns-01,http-01"`}, false, []string{"http-01"}, "", verdictOK},
		{"method refused", []string{`0 issue "letsencrypt.org; validationmethods=dns-01"`}, false, []string{"http-01"}, "", verdictFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := evalCAA("example.com", mk(tc.recs...), tc.wildcard, caaQuery{identities: ids, methods: tc.methods, accountURL: tc.acct})
			if got.verdict != tc.want {
				t.Errorf("evalCAA(%q) = %s (%s); want %s", tc.recs, got.verdict, got.detail, tc.want)
			}
		})
	}
	if got := evalCAA("example.com", mk(`0 issue "letsencrypt.org"`), false, caaQuery{}); got.verdict != verdictWarn {
		t.Errorf("no caaIdentities: %s; want WARN", got.verdict)
	}
}

// TestReadOnlyHint: a webroot on a read-only file system (the shipped
// units' ProtectSystem=strict) names the ReadWritePaths= fix; other errors
// get no such hint.
func TestReadOnlyHint(t *testing.T) {
	err := fmt.Errorf("write token: %w", &os.PathError{Op: "open", Path: "/srv/site/.well-known", Err: syscall.EROFS})
	if h := readOnlyHint(err, "/srv/site"); !strings.Contains(h, "ReadWritePaths=/srv/site") {
		t.Errorf("hint for EROFS = %q", h)
	}
	if h := readOnlyHint(fmt.Errorf("write: %w", syscall.EACCES), "/srv/site"); h != "" {
		t.Errorf("hint for EACCES = %q, want none", h)
	}
}
