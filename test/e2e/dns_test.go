package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/acmectl/acmectl/challenges/dns01/rfc2136"
	"github.com/acmectl/acmectl/internal/testenv"
)

// dnsLab is a BIND authoritative for zones plus a Pebble resolving every
// name (A and TXT) through it.
func dnsLab(t *testing.T, zones ...testenv.Zone) (*lab, *testenv.BIND) {
	t.Helper()
	b := testenv.StartBIND(t, zones...)
	l := newLab(t, testenv.PebbleOptions{DNSServer: b.Addr, Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	return l, b
}

// rfc2136Flags answer dns-01 through b with RFC 2136 and check propagation
// at b (--dns-resolvers: the authorities' NS names resolve to port 53,
// which tests cannot use).
func rfc2136Flags(b *testenv.BIND) []string {
	return []string{"--dns-01", "rfc2136", "--rfc2136-server", b.Addr, "--rfc2136-tsig-file", b.TSIGFile,
		"--dns-resolvers", b.Addr, "--dns-propagation-timeout", "30s"}
}

// txt returns the TXT values b serves at name (over TCP).
func txt(t *testing.T, addr, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query TXT %s at %s: %v", name, addr, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if tx, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(tx.Txt, ""))
		}
	}
	slices.Sort(out)
	return out
}

// provider is an RFC 2136 client the test uses to play the DNS admin.
func provider(t *testing.T, b *testenv.BIND, addr string) *rfc2136.Provider {
	t.Helper()
	p, err := rfc2136.New(rfc2136.Config{Server: addr, Key: &rfc2136.TSIGKey{Name: b.KeyName, Algorithm: b.Algorithm, Secret: b.Secret}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d; want %d\nstderr: %s", r.code, code, r.stderr)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func wantNoTXT(t *testing.T, addr string, names ...string) {
	t.Helper()
	for _, n := range names {
		if got := txt(t, addr, n); len(got) != 0 {
			t.Errorf("TXT %s at %s left behind: %q", n, addr, got)
		}
	}
}

func leafNames(t *testing.T, l *lab, certName string) []string {
	t.Helper()
	chain := readChain(t, filepath.Join(l.certDir(certName), "fullchain.pem"))
	names := append([]string(nil), chain[0].DNSNames...)
	for _, ip := range chain[0].IPAddresses {
		names = append(names, ip.String())
	}
	slices.Sort(names)
	return names
}

// TestDNS01RFC2136: one name through BIND; Pebble resolved the TXT at
// BIND; the record is gone afterwards.
func TestDNS01RFC2136(t *testing.T) {
	t.Parallel()
	l, b := dnsLab(t)
	r := run(t, nil, l.args("obtain", append(rfc2136Flags(b), "-d", "one.acme.test")...)...)
	wantCode(t, r, 0)
	if got := leafNames(t, l, "one.acme.test"); !slices.Equal(got, []string{"one.acme.test"}) {
		t.Errorf("names = %v", got)
	}
	if !b.AwaitQuery("_acme-challenge.one.acme.test.", "TXT") {
		t.Error("BIND logged no TXT query for _acme-challenge.one.acme.test")
	}
	if !strings.Contains(b.Log(), "adding an RR at '_acme-challenge.one.acme.test' TXT") {
		t.Error("BIND logged no update adding the record")
	}
	wantNoTXT(t, b.Addr, "_acme-challenge.one.acme.test")
	if got := l.p.Count("POST /order-plz 201"); got != 1 {
		t.Errorf("orders = %d; want 1", got)
	}
}

// TestDNS01WildcardAndApex: *.acme.test and acme.test in one order put two
// TXT values at one name; both are removed afterwards.
func TestDNS01WildcardAndApex(t *testing.T) {
	t.Parallel()
	l, b := dnsLab(t)
	r := run(t, nil, l.args("obtain", append(rfc2136Flags(b), "-d", "*.acme.test", "-d", "acme.test")...)...)
	wantCode(t, r, 0)
	if got := leafNames(t, l, "_wildcard.acme.test"); !slices.Equal(got, []string{"*.acme.test", "acme.test"}) {
		t.Errorf("names = %v", got)
	}
	// Both values were added at the same name (not replaced).
	if n := strings.Count(b.Log(), "adding an RR at '_acme-challenge.acme.test' TXT"); n != 2 {
		t.Errorf("BIND added %d RRs at _acme-challenge.acme.test; want 2\n%s", n, b.Log())
	}
	wantNoTXT(t, b.Addr, "_acme-challenge.acme.test")
}

// chasingResolver stands in for the CA's recursive resolver: it answers
// over TCP from upstream (an authoritative BIND, which does not follow a
// CNAME into another zone) and follows CNAME chains itself.
func chasingResolver(t *testing.T, upstream string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetReply(req)
		if len(req.Question) != 1 {
			resp.Rcode = dns.RcodeFormatError
			_ = w.WriteMsg(resp)
			return
		}
		name, qt := req.Question[0].Name, req.Question[0].Qtype
		c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
		for hop := 0; hop < 8; hop++ {
			m := new(dns.Msg)
			m.SetQuestion(name, qt)
			r, _, err := c.Exchange(m, upstream)
			if err != nil {
				resp.Rcode = dns.RcodeServerFailure
				break
			}
			resp.Answer = append(resp.Answer, r.Answer...)
			resp.Rcode = r.Rcode
			next := ""
			for _, rr := range r.Answer {
				if rr.Header().Rrtype == qt {
					next = ""
					break
				}
				if cn, ok := rr.(*dns.CNAME); ok && qt != dns.TypeCNAME {
					next = cn.Target
				}
			}
			if next == "" {
				break
			}
			name = next
		}
		_ = w.WriteMsg(resp)
	})
	srv := &dns.Server{Listener: ln, Handler: h}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// TestDNS01CNAMEDelegation: _acme-challenge.www.acme.test is a CNAME into
// another zone; the record goes to the target and Pebble follows the chain.
func TestDNS01CNAMEDelegation(t *testing.T) {
	t.Parallel()
	b := testenv.StartBIND(t,
		testenv.Zone{Name: "acme.test", Records: []string{"_acme-challenge.www IN CNAME www.delegated.test."}},
		testenv.Zone{Name: "delegated.test"})
	l := newLab(t, testenv.PebbleOptions{DNSServer: chasingResolver(t, b.Addr), Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	r := run(t, nil, l.args("obtain", append(rfc2136Flags(b), "-d", "www.acme.test")...)...)
	wantCode(t, r, 0)
	if !strings.Contains(b.Log(), "adding an RR at 'www.delegated.test' TXT") {
		t.Errorf("the record was not placed at the CNAME target\n%s", b.Log())
	}
	if strings.Contains(b.Log(), "adding an RR at '_acme-challenge.www.acme.test'") {
		t.Error("a record was placed at the CNAME itself")
	}
	if !b.AwaitQuery("www.delegated.test.", "TXT") {
		t.Error("nobody queried the CNAME target's TXT")
	}
	wantNoTXT(t, b.Addr, "www.delegated.test")
}

// bg is acmectl running in the background with its stderr streamed.
type bg struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr strings.Builder
	lines  chan string
	done   chan struct{}
	code   int
}

func start(t *testing.T, env []string, args ...string) *bg {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "acmectl"), args...)
	cmd.Env = append(cleanEnv(), env...)
	pr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	p := &bg{cmd: cmd, lines: make(chan string, 1000), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		err := cmd.Wait()
		p.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		t.Logf("acmectl %s → %d\nstderr: %s", strings.Join(args, " "), p.code, p.errText())
	})
	return p
}

func (p *bg) errText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *bg) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		t.Fatalf("acmectl did not exit within %v\nstderr: %s", d, p.errText())
	}
	return -1
}

// TestDNS01LaggingAuthority: the second authority does not serve the
// record; acmectl keeps polling it and answers no challenge until it does.
func TestDNS01LaggingAuthority(t *testing.T) {
	t.Parallel()
	l, b := dnsLab(t, testenv.Zone{Name: "acme.test", Lagging: true})
	lag := b.Lagging
	flags := rfc2136Flags(b)
	flags[len(flags)-3] = b.Addr + "," + lag.Addr // --dns-resolvers: both authorities
	p := start(t, nil, l.args("obtain", append(flags, "-d", "lag.acme.test")...)...)
	name := "_acme-challenge.lag.acme.test"
	// acmectl has set the record at the primary and polls the lagging one.
	testenv.WaitFor(t, "acmectl polling the lagging authority", 20*time.Second, func() error {
		if n := strings.Count(lag.Log(), "query: "+name+" IN TXT"); n < 2 {
			return fmt.Errorf("%d queries at the lagging server", n)
		}
		return nil
	})
	vals := txt(t, b.Addr, name)
	if len(vals) != 1 {
		t.Fatalf("primary serves %q; want one value", vals)
	}
	if got := l.p.Count("POST /chalZ"); got != 0 {
		t.Fatalf("challenge answered (%d POST /chalZ) while an authority lags", got)
	}
	// Now the lagging server catches up.
	lp := provider(t, b, lag.Addr)
	ctx := testenv.Context(t, 30*time.Second)
	if err := lp.SetTXT(ctx, name+".", vals[0]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lp.DeleteTXT(context.WithoutCancel(ctx), name+".", vals[0]) })
	if code := p.wait(t, 90*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := l.p.Count("POST /chalZ"); got != 1 {
		t.Errorf("challenge answered %d times; want 1", got)
	}
	wantNoTXT(t, b.Addr, name)
}

// TestDNS01PropagationTimeout: an authority that never catches up fails
// the order with an error naming it; no challenge answered, record removed.
func TestDNS01PropagationTimeout(t *testing.T) {
	t.Parallel()
	l, b := dnsLab(t, testenv.Zone{Name: "acme.test", Lagging: true})
	flags := rfc2136Flags(b)
	flags[len(flags)-3] = b.Addr + "," + b.Lagging.Addr
	flags[len(flags)-1] = "3s"
	r := run(t, nil, l.args("obtain", append(flags, "-d", "late.acme.test")...)...)
	wantCode(t, r, 1)
	if msg := lastLine(r.stderr); !strings.HasPrefix(msg, "acmectl: ") || !strings.Contains(msg, "not served by "+b.Lagging.Addr) {
		t.Errorf("error does not name the lagging server %s: %q", b.Lagging.Addr, msg)
	}
	if got := l.p.Count("POST /chalZ"); got != 0 {
		t.Errorf("challenge answered %d times; want 0", got)
	}
	wantNoTXT(t, b.Addr, "_acme-challenge.late.acme.test")
}

// execScript writes a dns-01 exec program that logs its calls and updates
// b with nsupdate.
func execScript(t *testing.T, b *testenv.BIND, mode os.FileMode) (prog, log string) {
	t.Helper()
	nsupdate := testenv.LookTool(t, "nsupdate", "apt-get install bind9-dnsutils")
	dir := t.TempDir()
	log = filepath.Join(dir, "calls.log")
	prog = filepath.Join(dir, "dns-hook.sh")
	script := fmt.Sprintf(`#!/bin/sh
set -e
echo "$1 $2 $3 env=$ACMECTL_DNS_ACTION secret=${ACMECTL_RFC2136_TSIG_SECRET:-none}" >> %q
case "$1" in
present) printf 'server %s %d\nupdate add %%s 60 TXT "%%s"\nsend\n' "$2" "$3" | %s -k %q ;;
cleanup) printf 'server %s %d\nupdate delete %%s TXT "%%s"\nsend\n' "$2" "$3" | %s -k %q ;;
*) exit 3 ;;
esac
`, log, b.IP, b.Port, nsupdate, b.TSIGFile, b.IP, b.Port, nsupdate, b.TSIGFile)
	if err := os.WriteFile(prog, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(prog, mode); err != nil {
		t.Fatal(err)
	}
	return prog, log
}

// TestDNS01Exec: a user program places and removes the record; it sees no
// ACMECTL_* variable but its own three.
func TestDNS01Exec(t *testing.T) {
	t.Parallel()
	l, b := dnsLab(t)
	prog, log := execScript(t, b, 0o700)
	r := run(t, []string{"ACMECTL_RFC2136_TSIG_SECRET=do-not-leak"}, l.args("obtain", "-d", "ex.acme.test", "--dns-01", "exec", "--dns-exec", prog,
		"--dns-resolvers", b.Addr, "--dns-propagation-timeout", "30s")...)
	wantCode(t, r, 0)
	data, _ := os.ReadFile(log)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	re := regexp.MustCompile(`^(present|cleanup) _acme-challenge\.ex\.acme\.test\. [A-Za-z0-9_-]{43} env=(present|cleanup) secret=none$`)
	if len(lines) != 2 || !re.MatchString(lines[0]) || !re.MatchString(lines[1]) || !strings.HasPrefix(lines[0], "present") || !strings.HasPrefix(lines[1], "cleanup") {
		t.Errorf("program calls:\n%s", data)
	}
	wantNoTXT(t, b.Addr, "_acme-challenge.ex.acme.test")
}

// TestDNS01ExecUnsafe: a group-writable program is refused before
// anything is ordered or written.
func TestDNS01ExecUnsafe(t *testing.T) {
	t.Parallel()
	l, b := dnsLab(t)
	prog, log := execScript(t, b, 0o770)
	r := run(t, nil, l.args("obtain", "-d", "ex.acme.test", "--dns-01", "exec", "--dns-exec", prog, "--dns-resolvers", b.Addr)...)
	wantCode(t, r, 2)
	if !strings.Contains(r.stderr, "unsafe program") || !strings.Contains(r.stderr, prog) {
		t.Errorf("stderr = %q", r.stderr)
	}
	if got := l.p.Count("POST /order-plz 201"); got != 0 {
		t.Errorf("orders = %d; want 0", got)
	}
	if _, err := os.Stat(log); err == nil {
		t.Error("the refused program ran")
	}
	if _, err := os.Stat(l.certDir("ex.acme.test")); err == nil {
		t.Error("a certificate directory was written")
	}
}

var manualLine = regexp.MustCompile(`^\s+(_acme-challenge\.[a-z0-9.*-]+\.) \d+ IN TXT "([A-Za-z0-9_-]{43})"$`)

// TestDNS01Manual: the records of the whole order are printed at once; the
// test creates them while acmectl waits, as a person would.
func TestDNS01Manual(t *testing.T) {
	t.Parallel()
	l, b := dnsLab(t)
	p := start(t, nil, l.args("obtain", "-d", "*.man.acme.test", "-d", "man.acme.test", "--dns-01", "manual", "--manual-continue-after", "1s",
		"--dns-resolvers", b.Addr, "--dns-propagation-timeout", "60s")...)
	type rec struct{ name, value string }
	var recs []rec
	deadline := time.After(30 * time.Second)
	for len(recs) < 2 {
		select {
		case line := <-p.lines:
			if m := manualLine.FindStringSubmatch(line); m != nil {
				recs = append(recs, rec{m[1], m[2]})
			}
		case <-deadline:
			t.Fatalf("records not printed; stderr: %s", p.errText())
		}
	}
	if !strings.Contains(p.errText(), "Create these DNS TXT records (2)") {
		t.Errorf("the two records were not printed at once:\n%s", p.errText())
	}
	if got := l.p.Count("POST /chalZ"); got != 0 {
		t.Fatalf("challenge answered before the records exist")
	}
	admin := provider(t, b, b.Addr)
	ctx := testenv.Context(t, 30*time.Second)
	for _, r := range recs {
		if err := admin.SetTXT(ctx, r.name, r.value); err != nil {
			t.Fatal(err)
		}
	}
	if code := p.wait(t, 90*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if n := strings.Count(p.errText(), "You may now remove"); n != 2 {
		t.Errorf("%d removal notices; want 2", n)
	}
	for _, r := range recs {
		_ = admin.DeleteTXT(ctx, r.name, r.value)
	}
	if got := leafNames(t, l, "_wildcard.man.acme.test"); !slices.Equal(got, []string{"*.man.acme.test", "man.acme.test"}) {
		t.Errorf("names = %v", got)
	}
}

// TestDNS01ManualOffTerminal: without a terminal or --manual-continue-after
// the manual provider is a usage error found before anything: exit 2, no
// order, nothing stored.
func TestDNS01ManualOffTerminal(t *testing.T) {
	t.Parallel()
	l, b := dnsLab(t)
	r := run(t, nil, l.args("obtain", "-d", "m.acme.test", "--dns-01", "manual", "--dns-resolvers", b.Addr)...)
	wantCode(t, r, 2)
	if _, err := os.Stat(l.certDir("m.acme.test")); !os.IsNotExist(err) {
		t.Errorf("certificate directory left behind: %v", err)
	}
	if !strings.Contains(r.stderr, "--manual-continue-after") {
		t.Errorf("stderr = %q", r.stderr)
	}
	if got := l.p.Count("POST /order-plz 201"); got != 0 {
		t.Errorf("orders = %d; want 0", got)
	}
}

// TestDNSAccount01: --solver default=dns-account-01 puts the record at the
// account-specific label and Pebble validates dns-account-01.
func TestDNSAccount01(t *testing.T) {
	t.Parallel()
	l, b := dnsLab(t)
	r := run(t, nil, l.args("obtain", append(rfc2136Flags(b), "-d", "acct.acme.test", "--solver", "default=dns-account-01,dns-01")...)...)
	wantCode(t, r, 0)
	re := regexp.MustCompile(`adding an RR at '(_[a-z2-7]{16}\._acme-challenge\.acct\.acme\.test)' TXT`)
	m := re.FindStringSubmatch(b.Log())
	if m == nil {
		t.Fatalf("no dns-account-01 record added\n%s", b.Log())
	}
	if strings.Contains(b.Log(), "adding an RR at '_acme-challenge.acct.acme.test'") {
		t.Error("a dns-01 record was added too")
	}
	wantNoTXT(t, b.Addr, m[1])
}

// TestDNSPersist01: the record printed by `dns-persist record` is
// published by the test; the order validates with it and changes no DNS.
// A record for another account is refused before the challenge is answered.
func TestDNSPersist01(t *testing.T) {
	t.Parallel()
	l, b := dnsLab(t)
	// The record names the account: none yet → exit 2, nothing created.
	r := run(t, nil, l.args("dns-persist", "record", "-d", "per.acme.test")...)
	wantCode(t, r, 2)
	if !strings.Contains(r.stderr, "create the account first") || l.p.Count("POST /sign-me-up") != 0 {
		t.Errorf("without an account: stderr %q, newAccount %d", r.stderr, l.p.Count("POST /sign-me-up"))
	}
	// The account comes from a first order.
	wantCode(t, run(t, nil, l.args("obtain", append(rfc2136Flags(b), "-d", "first.acme.test")...)...), 0)

	r = run(t, nil, l.args("dns-persist", "record", "-d", "*.per.acme.test", "--json")...)
	wantCode(t, r, 0)
	var doc struct {
		Name, Value, Issuer string
		AccountURL          string `json:"account_url"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Name != "_validation-persist.per.acme.test." || doc.Issuer != "pebble.letsencrypt.org" ||
		doc.Value != "pebble.letsencrypt.org; accounturi="+doc.AccountURL+"; policy=wildcard" || !strings.Contains(doc.AccountURL, "/my-account/") {
		t.Fatalf("record = %+v", doc)
	}
	// --check before publishing: exit 1.
	wantCode(t, run(t, nil, l.args("dns-persist", "record", "-d", "*.per.acme.test", "--check", "--dns-resolvers", b.Addr)...), 1)

	admin := provider(t, b, b.Addr)
	ctx := testenv.Context(t, 30*time.Second)
	if err := admin.SetTXT(ctx, doc.Name, doc.Value); err != nil {
		t.Fatal(err)
	}
	wantCode(t, run(t, nil, l.args("dns-persist", "record", "-d", "*.per.acme.test", "--check", "--dns-resolvers", b.Addr)...), 0)

	before := strings.Count(b.Log(), "adding an RR")
	r = run(t, nil, l.args("obtain", "-d", "*.per.acme.test", "-d", "per.acme.test", "--solver", "default=dns-persist-01", "--dns-resolvers", b.Addr)...)
	wantCode(t, r, 0)
	if got := leafNames(t, l, "_wildcard.per.acme.test"); !slices.Equal(got, []string{"*.per.acme.test", "per.acme.test"}) {
		t.Errorf("names = %v", got)
	}
	if strings.Count(b.Log(), "adding an RR") != before {
		t.Error("dns-persist-01 changed DNS")
	}
	if got := txt(t, b.Addr, doc.Name); !slices.Equal(got, []string{doc.Value}) {
		t.Errorf("persistent record = %q; want it kept", got)
	}

	// A record naming another account: refused before ordering.
	other := "pebble.letsencrypt.org; accounturi=https://example.test/acct/999"
	if err := admin.SetTXT(ctx, "_validation-persist.bad.acme.test.", other); err != nil {
		t.Fatal(err)
	}
	chal := l.p.Count("POST /chalZ")
	orders := l.p.Count("POST /order-plz")
	r = run(t, nil, l.args("obtain", "-d", "bad.acme.test", "--solver", "default=dns-persist-01", "--dns-resolvers", b.Addr)...)
	wantCode(t, r, 1)
	if !strings.Contains(r.stderr, "accounturi is not this account") {
		t.Errorf("stderr = %q", r.stderr)
	}
	if got := l.p.Count("POST /chalZ"); got != chal {
		t.Errorf("a challenge was answered with a bad record (%d → %d)", chal, got)
	}
	if got := l.p.Count("POST /order-plz"); got != orders {
		t.Errorf("an order was created for a bad record (%d → %d); the check runs before ordering", orders, got)
	}
}
