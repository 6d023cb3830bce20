package hostile

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Boulder-faithful cases: answers Let's Encrypt's server (Boulder) gives
// where Pebble is lenient or never answers that way, reproduced exactly
// (status, problem type, headers, detail text as in Boulder's wfe2/ra
// source). Unlike TestHostileServer, some cases must succeed: these are
// renewals that used to fail for good.

// bcase is one Boulder answer.
type bcase struct {
	name string
	// boulder turns on the fake CA's Boulder mode (ARI, replaces checked
	// against the certificate's account, must-staple refused) before the
	// good obtain.
	boulder bool
	muts    map[string]mutator
	before  func(t *testing.T, l *lab)
	args    func(l *lab) []string
	code    int
	want    string // in the one error line when code != 0
	// doc: that error line is in docs/troubleshooting.md, verbatim once
	// the lab's values are replaced by the doc's placeholders (old, new
	// pairs beyond the common ones).
	doc   []string
	check func(t *testing.T, l *lab, r result)
}

// pausedDetail is Boulder's paused answer for names (wfe2 NewOrder with
// CheckIdentifiersPaused): the unpause URL carries a JWT naming them.
func pausedDetail(base string, names ...string) string {
	enc := base64.RawURLEncoding.EncodeToString
	claims, _ := json.Marshal(map[string]any{"apiVersion": "v1", "aud": "letsencrypt.org/sfe/v1/unpause", "exp": 1796000000,
		"i": strings.Join(names, ","), "iat": 1795000000, "iss": "WFE", "nbf": 1795000000, "sub": "1872309"})
	jwt := enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc(claims) + "." + enc([]byte(strings.Repeat("s", 32)))
	return fmt.Sprintf("Your account is temporarily prevented from requesting certificates for %s and possibly others. Please visit: %s/sfe/v1/unpause?jwt=%s",
		strings.Join(names, ", "), base, jwt)
}

// onReplaces applies m only to newOrder requests that carry replaces.
func onReplaces(m mutator) mutator {
	return func(f *fakeCA, r *http.Request, rep *reply) {
		reqs := f.newOrders()
		if len(reqs) > 0 && reqs[len(reqs)-1]["replaces"] != nil {
			m(f, r, rep)
		}
	}
}

func noPendingOrder(t *testing.T, l *lab) {
	t.Helper()
	if st := readState(t, l); strings.Contains(st, `"pending_order"`) {
		t.Errorf("a dead order is kept for resumption: %s", st)
	}
}

func boulderCases() []bcase {
	return []bcase{
		// Item 1: a new account under the same label (deactivate, recover
		// with another key, import without the account): the CA refuses
		// replaces with 403 unauthorized. The new account's URL differs from
		// the one recorded at issuance, so replaces is not sent at all.
		{name: "replaces-after-new-account", boulder: true,
			before: func(t *testing.T, l *lab) { must(t, os.RemoveAll(filepath.Join(l.state, "accounts"))) },
			code:   0, check: func(t *testing.T, l *lab, r result) {
				reqs := l.f.newOrders()
				if len(reqs) != 1 || reqs[0]["replaces"] != nil {
					t.Errorf("newOrder requests %v; want one, without replaces", reqs)
				}
			}},
		// Item 1: the same account URL, and the CA still refuses replaces
		// with Boulder's 403: one retry without it.
		{name: "replaces-unauthorized-retried-without", boulder: true,
			muts: map[string]mutator{"new-order": onReplaces(prob(403, "unauthorized",
				"Could not validate ARI 'replaces' field :: while checking that this order is a replacement: requester account did not request the certificate being replaced by this order"))},
			code: 0, check: func(t *testing.T, l *lab, r result) {
				reqs := l.f.newOrders()
				if len(reqs) != 2 || reqs[0]["replaces"] == nil || reqs[1]["replaces"] != nil {
					t.Errorf("newOrder requests %v; want one with replaces, then one without", reqs)
				}
			}},
		// Item 13b: a JWS error is not about replaces (Boulder's account
		// cache right after a rollover): no doomed second order.
		{name: "replaces-fallback-not-on-jws-error", boulder: true,
			muts: map[string]mutator{"new-order": prob(400, "malformed", "Unable to validate JWS :: JWS verification error")},
			code: 1, want: "Unable to validate JWS", check: exactCount("POST new-order", 1)},
		// Item 2: a paused account: 429 rateLimited, no Retry-After, the
		// unpause URL at the end of a long detail. A failure needing a
		// person (exit 1), with the whole URL.
		{name: "paused-account", muts: map[string]mutator{"new-order": func(f *fakeCA, r *http.Request, rep *reply) {
			rep.problem(429, "rateLimited", pausedDetail("https://127.0.0.1:4003", certName, "www."+certName, "api."+certName, "mail."+certName, "shop."+certName))
		}}, code: 1, want: "paused", check: func(t *testing.T, l *lab, r result) {
			want := pausedDetail("https://127.0.0.1:4003", certName, "www."+certName, "api."+certName, "mail."+certName, "shop."+certName)
			url := want[strings.Index(want, "https://"):]
			if len(want) <= 512 {
				t.Fatalf("test detail is only %d bytes", len(want))
			}
			if !strings.Contains(r.stderr, url) {
				t.Errorf("the unpause URL is not printed whole (%d bytes): %s", len(url), r.stderr)
			}
			if st := readState(t, l); !strings.Contains(st, url) {
				t.Errorf("state last_error lacks the whole unpause URL: %s", st)
			}
		}},
		// Item 3: must-staple at Boulder is refused at finalize, after all
		// validations: refuse it before ordering, saying how to clear it.
		{name: "must-staple-refused-before-order", boulder: true,
			args: func(l *lab) []string { return append(append([]string(nil), l.base...), "--must-staple") },
			code: 2, want: "--must-staple=false", check: exactCount("POST new-order", 0), doc: []string{}},
		// Item 10: Boulder answers notBefore/notAfter with malformed (and a
		// replaces fallback would send a second doomed order): refused
		// before ordering.
		{name: "order-window-refused-before-order", boulder: true,
			args: func(l *lab) []string { return append(append([]string(nil), l.base...), "--not-after", "72h") },
			code: 2, want: "NotBefore and NotAfter are not supported", check: exactCount("POST new-order", 0), doc: []string{}},
		// Item 11: Let's Encrypt allows IP identifiers only in the
		// shortlived profile (ra.go: rejectedIdentifier "Default profile
		// does not permit IP address identifiers"): said before ordering.
		{name: "ip-default-profile-refused-before-order", boulder: true,
			args: func(l *lab) []string { return append(append([]string(nil), l.base...), "-d", "8.8.8.8") },
			code: 2, want: "--profile shortlived", check: exactCount("POST new-order", 0), doc: []string{"8.8.8.8", "ADDRESS"}},
		// Item 11: reserved and private addresses are refused whatever the
		// profile (policy/pa.go, the IANA special-purpose registries).
		{name: "ip-private-refused-before-order", boulder: true,
			args: func(l *lab) []string {
				return append(append([]string(nil), l.base...), "-d", "192.168.1.10", "--profile", "shortlived")
			},
			code: 2, want: "private use (RFC 1918)", check: exactCount("POST new-order", 0),
			doc: []string{"192.168.1.10", "ADDRESS", "192.168.0.0/16, private use (RFC 1918)", "BLOCK"}},
		// Item 11: a public address with shortlived is ordered.
		{name: "ip-shortlived-ordered", boulder: true,
			args: func(l *lab) []string {
				return append(append([]string(nil), l.base...), "-d", "8.8.8.8", "--profile", "shortlived")
			},
			code: 0, check: func(t *testing.T, l *lab, r result) {
				if reqs := l.f.newOrders(); len(reqs) != 1 || reqs[0]["profile"] != "shortlived" {
					t.Errorf("newOrder requests %v; want one with profile shortlived", reqs)
				}
			}},
		// Item 3: a server not recognised as Boulder refusing must-staple at
		// finalize (Boulder's exact answer): that ready order is never
		// resumed.
		{name: "finalize-refused-order-not-resumed",
			muts: map[string]mutator{"finalize": prob(403, "unauthorized", "Error finalizing order :: OCSP must-staple extension is no longer available: see https://letsencrypt.org/2024/12/05/ending-ocsp")},
			args: func(l *lab) []string { return append(append([]string(nil), l.base...), "--must-staple") },
			code: 1, want: "must-staple extension is no longer available", check: func(t *testing.T, l *lab, r result) {
				noPendingOrder(t, l)
			}},
		// Item 7: many names: authorization fetches are bounded, and a 503
		// from new-nonce (Let's Encrypt's load balancer) is retried.
		manyNamesCase(),
		// Item 8: replica lag: the order still reads "ready" right after
		// finalize.
		{name: "stale-ready-after-finalize", muts: func() map[string]mutator {
			var stale atomic.Int32
			m := func(_ *fakeCA, _ *http.Request, rep *reply) {
				if rep.obj != nil && rep.obj["status"] == "valid" && stale.Add(1) <= 2 {
					rep.obj["status"] = "ready"
					delete(rep.obj, "certificate")
				}
			}
			return map[string]mutator{"finalize": m, "order": m}
		}(), code: 0},
		// Item 8: orderNotReady from a replica that has not seen the
		// challenge answers yet (Boulder's exact detail); the order is ready
		// when read again.
		{name: "stale-order-not-ready-at-finalize", muts: func() map[string]mutator {
			var once sync.Once
			return map[string]mutator{"finalize": func(f *fakeCA, _ *http.Request, rep *reply) {
				once.Do(func() {
					o := f.latest()
					f.mu.Lock()
					o.status, o.chainPEM, o.csr = "", nil, nil // undo: the replica did not finalize
					f.mu.Unlock()
					rep.problem(403, "orderNotReady", `Error finalizing order :: Order's status ("pending") is not acceptable for finalization`)
				})
			}}
		}(), code: 0, check: exactCount("POST finalize", 2)},
	}
}

// manyNamesCase orders 17 names while every third HEAD new-nonce gets the
// load balancer's 503, and records how many authorization fetches overlap.
func manyNamesCase() bcase {
	var inflight, peak, heads atomic.Int32
	return bcase{name: "many-names-bounded-fetches-nonce-503",
		muts: map[string]mutator{
			"authz": func(f *fakeCA, r *http.Request, rep *reply) {
				n := inflight.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				time.Sleep(30 * time.Millisecond) // hold the slot so that overlap shows
				inflight.Add(-1)
			},
			"nonce": func(f *fakeCA, r *http.Request, rep *reply) {
				if heads.Add(1)%3 == 1 {
					rep.status = http.StatusServiceUnavailable
					rep.header.Del("Replay-Nonce")
					rep.body = []byte("<html>503 Service Temporarily Unavailable</html>")
				}
			},
		},
		args: func(l *lab) []string {
			a := append([]string(nil), l.base...)
			for i := range 16 {
				a = append(a, "-d", fmt.Sprintf("n%d.%s", i, certName))
			}
			return a
		},
		code: 0, check: func(t *testing.T, l *lab, r result) {
			if n := l.f.count("POST authz"); n < 17 {
				t.Errorf("POST authz = %d; want ≥ 17", n)
			}
			if heads.Load() < 2 {
				t.Errorf("%d HEAD new-nonce: the 503 path was not exercised", heads.Load())
			}
			if p := peak.Load(); p > 4 || p < 2 {
				t.Errorf("authorization fetches in flight at once: %d; want 2..4", p)
			}
		}}
}

// rollover runs account rollover against the lab's CA.
func rollover(t *testing.T, l *lab) result {
	t.Helper()
	return l.run(t, 40*time.Second, "account", "rollover", "--server", l.f.DirURL(), "--ca-bundle", filepath.Join(l.root, "hooks", "ca.pem"), "--state-dir", l.state)
}

// once applies m to the first reply only.
func once(m mutator) mutator {
	var o sync.Once
	return func(f *fakeCA, r *http.Request, rep *reply) { o.Do(func() { m(f, r, rep) }) }
}

func rolloverCases() []bcase {
	return []bcase{
		// Item 5: Boulder commits the new key, then answers 500 (with its
		// Retry-After: 60). The new key must not be thrown away: the
		// account is looked up with it, and the next order works.
		{name: "rollover-500-after-commit", before: func(t *testing.T, l *lab) {
			l.f.hostile(map[string]mutator{"key-change": once(chain(prob(500, "serverInternal", "Failed to marshal updated account"), header("Retry-After", "60")))})
			if r := rollover(t, l); r.code != 0 {
				t.Errorf("rollover: exit %d; want 0 (the CA has the new key)", r.code)
			}
			if _, err := os.Stat(filepath.Join(l.state, "accounts")); err != nil {
				t.Fatal(err)
			}
		}, code: 0},
		// Item 13b: right after a rollover Boulder's account cache refuses
		// the new key's signatures for seconds ("Unable to validate JWS"):
		// retried, and never the replaces fallback.
		{name: "jws-refused-right-after-rollover", boulder: true, before: func(t *testing.T, l *lab) {
			if r := rollover(t, l); r.code != 0 {
				t.Fatalf("rollover: exit %d", r.code)
			}
			var n atomic.Int32
			l.f.hostile(map[string]mutator{"new-order": func(f *fakeCA, r *http.Request, rep *reply) {
				if n.Add(1) <= 2 {
					rep.problem(400, "malformed", "Unable to validate JWS :: JWS verification error")
				}
			}})
		}, code: 0, check: func(t *testing.T, l *lab, r result) {
			reqs := l.f.newOrders()
			if len(reqs) == 0 || reqs[len(reqs)-1]["replaces"] == nil {
				t.Errorf("the order that succeeded lost replaces: %v", reqs)
			}
		}},
	}
}

// TestBoulderAnswers runs each case: a good obtain, then Boulder's answer,
// then obtain --force.
func TestBoulderAnswers(t *testing.T) {
	for _, c := range append(boulderCases(), rolloverCases()...) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			l.f.setBoulder(c.boulder)
			l.good(t)
			live := l.live(t)
			if c.before != nil {
				c.before(t, l)
			}
			l.f.hostile(c.muts)
			args := append(append([]string(nil), l.base...), "--force")
			if c.args != nil {
				args = append(c.args(l), "--force")
			}
			r := l.run(t, 40*time.Second, args...)
			if r.code != c.code {
				t.Errorf("exit %d; want %d", r.code, c.code)
			}
			if c.code != 0 {
				line := errorLine(t, r, c.want)
				if c.doc != nil {
					documented(t, l, line, c.doc...)
				}
				after := l.live(t)
				for f, b := range live {
					if string(b) != string(after[f]) {
						t.Errorf("live %s changed", f)
					}
				}
			} else if n := l.canaryRuns(t); n != 2 {
				t.Errorf("deploy hook ran %d times in total; want 2", n)
			}
			if c.check != nil {
				c.check(t, l, r)
			}
		})
	}
}

// TestBoulderRevoke: item 4 and the reasons of item 12. At Let's Encrypt a
// revocation signed with the certificate key is recorded as keyCompromise
// whatever the request says, and the key is blocked; only reasons 0, 1, 4
// and 5 are accepted.
func TestBoulderRevoke(t *testing.T) {
	l := newLab(t)
	l.f.setBoulder(true)
	l.good(t)
	l.f.hostile(nil)
	revoke := func(args ...string) result {
		return l.run(t, 20*time.Second, append([]string{"revoke", "--state-dir", l.state, "--cert-name", certName, "--yes"}, args...)...)
	}
	// affiliationChanged (3): refused by Boulder since 2022; nothing sent.
	r := revoke("--reason", "affiliationChanged")
	if r.code != 2 || !strings.Contains(r.stderr, "accepts only") {
		t.Errorf("reason 3: exit %d; want 2 naming what Let's Encrypt accepts", r.code)
	}
	// No account: never a silent switch to the certificate key.
	must(t, os.RemoveAll(filepath.Join(l.state, "accounts")))
	r = revoke("--reason", "superseded")
	if r.code != 2 || !strings.Contains(r.stderr, "--with-cert-key") || !strings.Contains(r.stderr, "keyCompromise") {
		t.Errorf("no account: exit %d; want 2 naming --with-cert-key and what Let's Encrypt does", r.code)
	}
	if n := len(l.f.revocations()); n != 0 {
		t.Fatalf("%d revocation requests before an explicit choice; want 0", n)
	}
	// Explicit: warned, and the reason reported is the one the CA applies.
	r = revoke("--reason", "superseded", "--with-cert-key")
	if r.code != 0 {
		t.Fatalf("--with-cert-key: exit %d", r.code)
	}
	if !strings.Contains(r.stderr, "blocks this key") {
		t.Errorf("no warning about the blocked key: %s", r.stderr)
	}
	if !strings.Contains(r.stdout, "keyCompromise (1)") || strings.Contains(r.stdout, "superseded") {
		t.Errorf("reported reason: %q; want keyCompromise (1), the one Let's Encrypt applies", r.stdout)
	}
	rv := l.f.revocations()
	if len(rv) != 1 || rv[0]["signed_with_account"] != false || rv[0]["reason"] != float64(1) {
		t.Errorf("revocation requests %v; want one signed with the certificate key, reason 1", rv)
	}
}

// acctCmd runs an account subcommand against the lab's CA.
func (l *lab) acctCmd(t *testing.T, args ...string) result {
	t.Helper()
	return l.run(t, 30*time.Second, append(append([]string{"account"}, args...),
		"--server", l.f.DirURL(), "--ca-bundle", filepath.Join(l.root, "hooks", "ca.pem"), "--state-dir", l.state)...)
}

// TestBoulderAccounts: item 13 and issue 15 item 12. A CA that lost the
// account (database or staging reset: Boulder answers 400
// accountDoesNotExist "Account ... not found") or whose account was
// deactivated elsewhere (403 unauthorized "Account is not valid, has
// status", and for a lookup by key "exists but is deactivated") is a dead
// end no more: obtain and doctor print the exact command, and
// register --replace gets the label working again.
func TestBoulderAccounts(t *testing.T) {
	for _, c := range []struct {
		name    string
		lose    func(f *fakeCA)
		status  string // what account show names after the loss
		sameKey bool   // the replacement account has the old key
	}{
		{name: "lost", lose: (*fakeCA).loseAccounts, status: "no longer knows", sameKey: true},
		{name: "deactivated-elsewhere", lose: (*fakeCA).deactivateAccounts, status: "deactivated"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			l.f.setBoulder(true)
			l.good(t)
			keyFile := filepath.Join(l.state, "accounts")
			before := accountFiles(t, keyFile, "key.pem")
			// --replace of an account the CA still has: refused, nothing sent.
			r := l.acctCmd(t, "register", "--replace", "--accept-tos")
			if r.code != 2 || !strings.Contains(r.stderr, "is valid at the CA") {
				t.Errorf("register --replace of a valid account: exit %d; want 2 saying it is valid", r.code)
			}
			c.lose(l.f)
			l.f.hostile(nil)
			cmd := "acmectl account register --replace --server " + l.f.DirURL() + " --account default"
			r = l.run(t, 30*time.Second, append(append([]string(nil), l.base...), "--force")...)
			if r.code != 1 {
				t.Errorf("obtain with the lost account: exit %d; want 1", r.code)
			}
			documented(t, l, errorLine(t, r, cmd))
			r = l.acctCmd(t, "show")
			if r.code != 1 || !strings.Contains(r.stderr, cmd) || !strings.Contains(r.stderr, c.status) {
				t.Errorf("account show: exit %d; want 1 naming %q and %q", r.code, c.status, cmd)
			}
			documented(t, l, errorLine(t, r, cmd))
			r = l.run(t, 30*time.Second, "doctor", "--server", l.f.DirURL(), "--ca-bundle", filepath.Join(l.root, "hooks", "ca.pem"),
				"--state-dir", l.state, "--webroot", l.www, "-d", certName)
			if !strings.Contains(r.stdout, cmd) {
				t.Errorf("doctor does not print %q:\n%s", cmd, r.stdout)
			}
			// The way out, as printed (plus the test's trust and state).
			r = l.acctCmd(t, "register", "--replace", "--account", "default", "--accept-tos")
			if r.code != 0 {
				t.Fatalf("register --replace: exit %d", r.code)
			}
			after := accountFiles(t, keyFile, "key.pem")
			if same := before == after; same != c.sameKey {
				t.Errorf("replacement account has the old key: %v; want %v", same, c.sameKey)
			}
			if !strings.Contains(accountFiles(t, filepath.Join(l.state, "accounts"), "account.json"), "admin@example.test") {
				t.Errorf("the stored contacts were not carried over")
			}
			l.f.hostile(nil)
			r = l.run(t, 30*time.Second, append(append([]string(nil), l.base...), "--force")...)
			if r.code != 0 {
				t.Fatalf("obtain after register --replace: exit %d", r.code)
			}
			if reqs := l.f.newOrders(); len(reqs) != 1 || reqs[0]["replaces"] != nil {
				t.Errorf("newOrder requests %v; want one, without replaces (another account's certificate)", reqs)
			}
		})
	}
}

// TestBoulderContacts: item 12. Let's Encrypt neither stores nor returns
// contacts: account update does not claim success, and account show keeps
// the local list.
func TestBoulderContacts(t *testing.T) {
	l := newLab(t)
	l.f.setBoulder(true)
	l.good(t)
	r := l.acctCmd(t, "update", "--email", "new@example.test")
	documented(t, l, strings.SplitN(r.stdout, "\n", 2)[0])
	documented(t, l, strings.TrimSpace(r.stderr))
	if r.code != 0 || strings.Contains(r.stdout, "Account updated") || !strings.Contains(r.stdout, "locally only") ||
		!strings.Contains(r.stderr, "Let's Encrypt no longer stores contact addresses") {
		t.Errorf("account update at Let's Encrypt: exit %d, claims success or says nothing about the CA", r.code)
	}
	for _, args := range [][]string{{"show"}, {"show", "--json"}} {
		r = l.acctCmd(t, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "mailto:new@example.test") {
			t.Errorf("account %v: exit %d; the local contact list is gone", args, r.code)
		}
	}
	if !strings.Contains(r.stdout, `"ca_contacts": []`) {
		t.Errorf("account show --json does not say what the CA returned: %s", r.stdout)
	}
	if !strings.Contains(accountFiles(t, filepath.Join(l.state, "accounts"), "account.json"), "mailto:new@example.test") {
		t.Errorf("account.json lost the local contact list")
	}
}

// accountFiles concatenates every file called name (key.pem,
// account.json) under dir.
func accountFiles(t *testing.T, dir, name string) string {
	t.Helper()
	var out strings.Builder
	must(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == name {
			b, err := os.ReadFile(p)
			out.Write(b)
			return err
		}
		return err
	}))
	return out.String()
}

// TestBoulderStoredOrders: item 9. A stored pending order is resumed only
// for the same plan (profile included: Boulder's own reuse matches the
// profile, and an order of another profile would issue the wrong
// certificate). (The "in progress" display: cmd/cli TestPendingOrderFailed.)
func TestBoulderStoredOrders(t *testing.T) {
	// stall: the CA never validates, so a run ends at its --order-timeout
	// (deferred, exit 75) with the order stored for resumption.
	pending := func(_ *fakeCA, _ *http.Request, rep *reply) {
		if rep.obj != nil && rep.obj["status"] != nil {
			rep.obj["status"] = "pending"
		}
	}
	stall := map[string]mutator{"authz": pending, "chall": pending, "order": pending, "new-order": pending}
	t.Run("other-profile-not-resumed", func(t *testing.T) {
		t.Parallel()
		l := newLab(t)
		l.f.setBoulder(true)
		l.good(t)
		l.f.hostile(stall)
		r := l.run(t, 40*time.Second, append(append([]string(nil), l.base...), "--force", "--profile", "classic")...)
		if r.code != 75 {
			t.Fatalf("the CA never validates: exit %d; want 75", r.code)
		}
		if st := readState(t, l); !strings.Contains(st, `"pending_order"`) || !strings.Contains(st, `"classic"`) {
			t.Fatalf("no pending order of profile classic stored: %s", st)
		}
		l.f.hostile(map[string]mutator{"authz": nil, "chall": nil, "order": nil, "new-order": nil})
		r = l.run(t, 40*time.Second, append(append([]string(nil), l.base...), "--force", "--profile", "shortlived")...)
		if r.code != 0 {
			t.Fatalf("obtain --profile shortlived: exit %d", r.code)
		}
		reqs := l.f.newOrders()
		if len(reqs) != 1 || reqs[0]["profile"] != "shortlived" {
			t.Errorf("newOrder requests %v; want one new order with profile shortlived (not the stored classic one resumed)", reqs)
		}
	})
}

// documented checks that line, as acmectl printed it, is in
// docs/troubleshooting.md once the lab's values are replaced by the
// doc's placeholders (SERVER, NAME, LABEL, URL, and the pairs in repl).
func documented(t *testing.T, l *lab, line string, repl ...string) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "troubleshooting.md"))
	must(t, err)
	r := append([]string{l.f.DirURL(), "SERVER", certName, "NAME", `account "default"`, `account "LABEL"`, "--account default", "--account LABEL"}, repl...)
	line = strings.NewReplacer(r...).Replace(line)
	line = regexp.MustCompile(regexp.QuoteMeta(l.f.URL)+`/acct/[A-Za-z0-9_-]+`).ReplaceAllString(line, "URL")
	if !strings.Contains(string(doc), "    "+line+"\n") {
		t.Errorf("docs/troubleshooting.md lacks the message (as an indented line):\n    %s", line)
	}
}
