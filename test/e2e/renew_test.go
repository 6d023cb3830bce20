package e2e

import (
	"bufio"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/testenv"
)

// renewArgs: renew never takes --server or other order-shaping flags.
func (l *lab) renewArgs(extra ...string) []string {
	return append([]string{"renew", "--state-dir", l.state, "--no-random-sleep"}, extra...)
}

type renewDoc struct {
	Schema       int `json:"schema"`
	Certificates []struct {
		CertName string `json:"cert_name"`
		Outcome  string `json:"outcome"`
		Replaced string `json:"replaced"`
		OrderURL string `json:"order_url"`
		Version  int    `json:"version"`
		Rule     string `json:"rule"`
		Next     string `json:"next_renewal"`
		Error    *struct {
			Class      string `json:"class"`
			Message    string `json:"message"`
			RetryAfter string `json:"retry_after"`
		} `json:"error"`
	} `json:"certificates"`
	Summary map[string]int `json:"summary"`
	Error   *struct {
		Class string `json:"class"`
	} `json:"error"`
}

func parseRenew(t *testing.T, r result) renewDoc {
	t.Helper()
	var d renewDoc
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("renew --json stdout is not a JSON document: %v\n%s", err, r.stdout)
	}
	if dec.More() {
		t.Fatalf("renew --json printed more than one document:\n%s", r.stdout)
	}
	if d.Schema != 1 {
		t.Errorf("schema = %d; want 1", d.Schema)
	}
	return d
}

func outcomes(d renewDoc) map[string]string {
	m := map[string]string{}
	for _, c := range d.Certificates {
		m[c.CertName] = c.Outcome
	}
	return m
}

// makeDue makes Pebble answer renewalInfo for the live certificate of name
// with a window that ended an hour ago. Call it before renew first fetches
// ARI for that certificate.
func makeDue(t *testing.T, l *lab, name string) {
	t.Helper()
	certPEM := readFile(t, filepath.Join(l.certDir(name), "cert.pem"))
	now := time.Now().UTC()
	l.p.SetRenewalInfo(t, certPEM, fmt.Sprintf(`{"suggestedWindow":{"start":%q,"end":%q}}`,
		now.Add(-2*time.Hour).Format(time.RFC3339), now.Add(-time.Hour).Format(time.RFC3339)))
	ariCheckDue(t, l, name)
}

// ariCheckDue stands in for the day after issuance: a certificate just
// issued is not asked about for a day, so its next renewal-information
// check is made due now.
func ariCheckDue(t *testing.T, l *lab, name string) {
	t.Helper()
	now := time.Now().UTC()
	path := filepath.Join(l.certDir(name), "state.json")
	st := stateOf(t, l, name)
	st["ari"] = map[string]any{"next_fetch": now.Add(-time.Minute).Format(time.RFC3339)}
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// stateOf reads state.json loosely.
func stateOf(t *testing.T, l *lab, name string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(readFile(t, filepath.Join(l.certDir(name), "state.json")), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// pebbleOrder fetches an order from Pebble with POST-as-GET signed by the
// stored account key: what Pebble itself recorded about the order.
func pebbleOrder(t *testing.T, l *lab, orderURL string) map[string]any {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(l.state, "accounts", "*", "default"))
	if len(dirs) != 1 {
		t.Fatalf("account dirs: %v", dirs)
	}
	key, err := keys.ParsePrivateKeyPEM(readFile(t, filepath.Join(dirs[0], "key.pem")))
	if err != nil {
		t.Fatal(err)
	}
	var acct struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(readFile(t, filepath.Join(dirs[0], "account.json")), &acct); err != nil {
		t.Fatal(err)
	}
	var dir struct {
		NewNonce string `json:"newNonce"`
	}
	resp, err := l.p.HTTPClient.Get(l.p.DirURL)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&dir)
	resp.Body.Close()
	resp, err = l.p.HTTPClient.Head(dir.NewNonce)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key.(crypto.Signer)}, &jose.SignerOptions{
		NonceSource:  staticNonce(resp.Header.Get("Replay-Nonce")),
		ExtraHeaders: map[jose.HeaderKey]any{"kid": acct.URL, "url": orderURL},
	})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign([]byte{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = l.p.HTTPClient.Post(orderURL, "application/jose+json", strings.NewReader(jws.FullSerialize()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST-as-GET %s: %d %s", orderURL, resp.StatusCode, body)
	}
	var order map[string]any
	if err := json.Unmarshal(body, &order); err != nil {
		t.Fatal(err)
	}
	return order
}

type staticNonce string

func (n staticNonce) Nonce() (string, error) { return string(n), nil }

// TestRenewARI: of two certificates, the one whose ARI window has passed
// is renewed with "replaces" (Pebble's own order record carries the old
// certificate's ID) and the other is left alone byte for byte; later runs
// with nothing due print nothing, order nothing and, once ARI is fetched,
// send no request at all.
func TestRenewARI(t *testing.T) {
	l := newLab(t, quietPebble(nil))
	mustObtain(t, l, "due.example.test")
	mustObtain(t, l, "fresh.example.test")
	makeDue(t, l, "due.example.test")
	old := leafAt(t, filepath.Join(l.certDir("due.example.test"), "cert.pem"))
	oldID, err := client.CertID(old)
	if err != nil {
		t.Fatal(err)
	}
	fresh := snapshot(t, l.certDir("fresh.example.test"))
	l.p.ResetCounts()

	r := run(t, nil, l.renewArgs("--json")...)
	if r.code != 0 {
		t.Fatalf("renew exit %d; want 0\n%s", r.code, r.stderr)
	}
	doc := parseRenew(t, r)
	if got, want := outcomes(doc), map[string]string{"due.example.test": "renewed", "fresh.example.test": "not_due"}; !sameMap(got, want) {
		t.Errorf("outcomes = %v; want %v", got, want)
	}
	if n := l.p.Count("POST /order-plz 201"); n != 1 {
		t.Errorf("orders created = %d; want 1", n)
	}
	var orderURL, replaced string
	for _, c := range doc.Certificates {
		if c.CertName == "due.example.test" {
			orderURL, replaced = c.OrderURL, c.Replaced
			// The new certificate's next renewal (a third of its
			// lifetime before expiry), not the moment of this one.
			next, err := time.Parse(time.RFC3339, c.Next)
			if err != nil || next.Before(time.Now().Add(30*24*time.Hour)) {
				t.Errorf("renewed certificate's next_renewal = %q; want the new certificate's (weeks ahead)", c.Next)
			}
		}
	}
	if replaced != oldID {
		t.Errorf("replaced = %q; want the old certificate's ARI ID %q", replaced, oldID)
	}
	if orderURL == "" {
		t.Fatal("no order_url in the renew document")
	}
	if got := pebbleOrder(t, l, orderURL)["replaces"]; got != oldID {
		t.Errorf("Pebble's order replaces = %v; want %q", got, oldID)
	}
	now := leafAt(t, filepath.Join(l.certDir("due.example.test"), "cert.pem"))
	if now.SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Error("due.example.test was not replaced on disk")
	}
	sameSnapshot(t, fresh, snapshot(t, l.certDir("fresh.example.test")))

	// Nothing due: silent, and no request at all — the certificates are
	// fresh, so their renewal information is not needed before a day has
	// passed. So a cron run (random sleep on) does not sleep either.
	for i := range 2 {
		l.p.ResetCounts()
		args := l.renewArgs()
		if i == 1 {
			args = []string{"renew", "--state-dir", l.state} // the cron line: random sleep enabled
		}
		r = run(t, nil, args...)
		if r.code != 0 || r.stdout != "" || r.stderr != "" {
			t.Errorf("run %d with nothing due: exit %d, stdout %q, stderr %q; want 0 and silence", i+2, r.code, r.stdout, r.stderr)
		}
		if n := l.p.Count("total"); n != 0 {
			t.Errorf("run %d: %d requests to the CA; want 0 (%v)", i+2, n, l.p.Counts())
		}
	}
	r = run(t, nil, "renew", "--state-dir", l.state, "--log-level", "debug")
	if strings.Contains(r.stderr, "sleeping") || l.p.Count("total") != 0 {
		t.Errorf("a run that needs no request slept or made one: %q, %v", r.stderr, l.p.Counts())
	}
	sameSnapshot(t, fresh, snapshot(t, l.certDir("fresh.example.test")))

	// A day later both are asked about once (one renewalInfo GET each,
	// no order); list and show report the windows from state.json.
	ariCheckDue(t, l, "due.example.test")
	ariCheckDue(t, l, "fresh.example.test")
	l.p.ResetCounts()
	if r = run(t, nil, l.renewArgs()...); r.code != 0 || l.p.Count("POST /order-plz") != 0 {
		t.Errorf("renew a day later: exit %d, %v", r.code, l.p.Counts())
	}
	r = run(t, nil, "list", "--state-dir", l.state, "--json")
	var list struct {
		Certificates []struct {
			CertName    string   `json:"cert_name"`
			Names       []string `json:"names"`
			NextRenewal string   `json:"next_renewal"`
			Rule        string   `json:"rule"`
			Server      string   `json:"server"`
			Version     int      `json:"version"`
		} `json:"certificates"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Certificates) != 2 {
		t.Fatalf("list --json: %v\n%s", err, r.stdout)
	}
	for _, c := range list.Certificates {
		if c.Rule != "ari" || c.NextRenewal == "" || c.Server != l.p.DirURL {
			t.Errorf("list entry %+v; want rule ari, a next renewal and the server", c)
		}
	}
	r = run(t, nil, "show", "due.example.test", "--state-dir", l.state)
	if r.code != 0 || !strings.Contains(r.stdout, "ARI window:") || !strings.Contains(r.stdout, "\nVersion:        2\n") {
		t.Errorf("show: exit %d\n%s", r.code, r.stdout)
	}
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// hookScript writes an executable script (0755, owned by the test user).
func renewHookScript(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// envDumps returns the environments the dump hook recorded, in order.
func renewEnvDumps(t *testing.T, dir string) []map[string]string {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Slice(names, func(i, j int) bool {
		var a, b int
		fmt.Sscanf(names[i], "env.%d", &a)
		fmt.Sscanf(names[j], "env.%d", &b)
		return a < b
	})
	var out []map[string]string
	for _, n := range names {
		m := map[string]string{}
		sc := bufio.NewScanner(strings.NewReader(string(readFile(t, filepath.Join(dir, n)))))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				m[k] = v
			}
		}
		out = append(out, m)
	}
	return out
}

// TestRenewDeployHookEnv: the deploy hook of a renewal gets exactly the
// documented variables (and no other ACMECTL_* variable from the parent),
// once per new certificate.
func TestRenewDeployHookEnv(t *testing.T) {
	l := newLab(t, quietPebble(nil))
	dumps := t.TempDir()
	script := renewHookScript(t, fmt.Sprintf("n=$(ls %s | wc -l)\nenv > %s/env.$n\n", dumps, dumps))
	name := "hook.example.test"
	mustObtain(t, l, name, "--deploy-hook", script)
	if n := len(renewEnvDumps(t, dumps)); n != 1 {
		t.Fatalf("deploy hook ran %d times on obtain; want 1", n)
	}
	makeDue(t, l, name)
	r := run(t, []string{"ACMECTL_SECRET_TOKEN=hunter2", "ACMECTL_SERVER=https://example.invalid/dir"}, l.renewArgs()...)
	if r.code != 0 {
		t.Fatalf("renew exit %d\n%s", r.code, r.stderr)
	}
	envs := renewEnvDumps(t, dumps)
	if len(envs) != 2 {
		t.Fatalf("deploy hook ran %d times in total; want 2 (obtain + one renewal)", len(envs))
	}
	env := envs[1]
	dir := l.certDir(name)
	leaf := leafAt(t, filepath.Join(dir, "cert.pem"))
	want := map[string]string{
		"ACMECTL_HOOK_EVENT":          "deploy",
		"ACMECTL_HOOK_DRY_RUN":        "0",
		"ACMECTL_HOOK_CERT_NAME":      name,
		"ACMECTL_HOOK_DOMAINS":        name,
		"ACMECTL_HOOK_CERT_PATH":      filepath.Join(dir, "cert.pem"),
		"ACMECTL_HOOK_KEY_PATH":       filepath.Join(dir, "privkey.pem"),
		"ACMECTL_HOOK_CHAIN_PATH":     filepath.Join(dir, "chain.pem"),
		"ACMECTL_HOOK_FULLCHAIN_PATH": filepath.Join(dir, "fullchain.pem"),
		"ACMECTL_HOOK_SERVER":         l.p.DirURL,
		"ACMECTL_HOOK_NOT_AFTER":      leaf.NotAfter.UTC().Format(time.RFC3339),
		"RENEWED_LINEAGE":             dir,
		"RENEWED_DOMAINS":             name,
	}
	got := map[string]string{}
	for k, v := range env {
		if strings.HasPrefix(k, "ACMECTL_") || strings.HasPrefix(k, "RENEWED_") {
			got[k] = v
		}
	}
	if !sameMap(got, want) {
		var keys []string
		for k := range got {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		t.Errorf("deploy hook environment:\n got %v\nwant %v", got, want)
	}
	// A second run has nothing due: the hook does not run again.
	if r := run(t, nil, l.renewArgs()...); r.code != 0 || r.stdout+r.stderr != "" {
		t.Errorf("second renew: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if n := len(renewEnvDumps(t, dumps)); n != 2 {
		t.Errorf("deploy hook ran %d times; want 2", n)
	}
}

// TestRenewDeployHookFailure: a failing deploy hook keeps the new
// certificate, exits 1 and sets deploy_pending; the next renew re-runs
// only the hook (no order); acmectl deploy re-runs it by hand and clears
// deploy_pending once it succeeds.
func TestRenewDeployHookFailure(t *testing.T) {
	l := newLab(t, quietPebble(nil))
	work := t.TempDir()
	fail := filepath.Join(work, "fail")
	runs := filepath.Join(work, "runs")
	script := renewHookScript(t, fmt.Sprintf("echo run >> %s\nif [ -e %s ]; then echo 'reload failed' >&2; exit 3; fi\n", runs, fail))
	name := "deployfail.example.test"
	mustObtain(t, l, name, "--deploy-hook", script)
	makeDue(t, l, name)
	old := leafAt(t, filepath.Join(l.certDir(name), "cert.pem"))
	if err := os.WriteFile(fail, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	countRuns := func() int { return strings.Count(string(readFile(t, runs)), "run") }

	r := run(t, nil, l.renewArgs("--json")...)
	if r.code != 1 {
		t.Fatalf("renew with failing deploy hook: exit %d; want 1", r.code)
	}
	if got := outcomes(parseRenew(t, r))[name]; got != "deploy_failed" {
		t.Errorf("outcome = %q; want deploy_failed", got)
	}
	leaf := leafAt(t, filepath.Join(l.certDir(name), "cert.pem"))
	if leaf.SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Error("the new certificate is not in place")
	}
	if stateOf(t, l, name)["deploy_pending"] != true {
		t.Error("deploy_pending not set in state.json")
	}
	if countRuns() != 2 {
		t.Errorf("hook runs = %d; want 2", countRuns())
	}
	live := snapshot(t, l.certDir(name))

	// Next cron run: only the pending hook, still failing; no order.
	l.p.ResetCounts()
	r = run(t, nil, l.renewArgs()...)
	if r.code != 1 || !strings.Contains(r.stderr, "deploy") {
		t.Errorf("renew with pending deploy: exit %d stderr %q; want 1 naming the deploy hook", r.code, r.stderr)
	}
	if n := l.p.Count("POST /order-plz"); n != 0 {
		t.Errorf("%d order requests; want 0", n)
	}
	if countRuns() != 3 {
		t.Errorf("hook runs = %d; want 3", countRuns())
	}

	// By hand, fixed.
	os.Remove(fail)
	r = run(t, nil, "deploy", "--cert-name", name, "--state-dir", l.state)
	if r.code != 0 {
		t.Fatalf("deploy: exit %d\n%s", r.code, r.stderr)
	}
	if stateOf(t, l, name)["deploy_pending"] != nil {
		t.Error("deploy_pending still set after a successful deploy")
	}
	if countRuns() != 4 {
		t.Errorf("hook runs = %d; want 4", countRuns())
	}
	// Nothing pending, nothing due: silent, hook not run.
	if r := run(t, nil, l.renewArgs()...); r.code != 0 || r.stdout+r.stderr != "" {
		t.Errorf("renew after deploy: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if countRuns() != 4 {
		t.Errorf("hook runs = %d; want 4", countRuns())
	}
	sameSnapshot(t, live, snapshot(t, l.certDir(name)))
}

// startAcmectl starts acmectl in the background; wait() returns its result.
func renewStart(t *testing.T, env []string, args ...string) (*exec.Cmd, *testenv.SyncBuffer, *testenv.SyncBuffer, func() result) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "acmectl"), args...)
	cmd.Env = append(cleanEnv(), env...)
	var out, errb testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var code int
	go func() {
		err := cmd.Wait()
		code = cmd.ProcessState.ExitCode()
		_ = err
		close(done)
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
	})
	wait := func() result {
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			<-done
			t.Errorf("acmectl %v did not finish", args)
		}
		r := result{code: code, stdout: out.String(), stderr: errb.String()}
		t.Logf("acmectl %s → %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		return r
	}
	return cmd, &out, &errb, wait
}

func renewWaitFile(t *testing.T, path string, d time.Duration) {
	t.Helper()
	testenv.WaitFor(t, path, d, func() error {
		_, err := os.Stat(path)
		return err
	})
}

// TestRenewConcurrent: while one renew holds a certificate at the
// before-new-order failpoint, a second renew skips it, says it is locked
// and exits 75; exactly one order is made.
func TestRenewConcurrent(t *testing.T) {
	l := newLab(t, quietPebble(nil))
	name := "lock.example.test"
	mustObtain(t, l, name)
	makeDue(t, l, name)
	l.p.ResetCounts()
	fp := t.TempDir()
	_, _, _, wait1 := renewStart(t, []string{"ACMECTL_FAILPOINT=before-new-order:pause", "ACMECTL_FAILPOINT_DIR=" + fp}, l.renewArgs()...)
	renewWaitFile(t, filepath.Join(fp, "before-new-order.reached"), time.Minute)

	before := snapshot(t, l.certDir(name))
	r2 := run(t, nil, l.renewArgs()...)
	if r2.code != 75 {
		t.Errorf("second renew: exit %d; want 75", r2.code)
	}
	if !strings.Contains(r2.stderr, name) || !strings.Contains(r2.stderr, "locked by pid") {
		t.Errorf("second renew stderr %q does not name the lock", r2.stderr)
	}
	sameSnapshot(t, before, snapshot(t, l.certDir(name)))
	// JSON says locked too.
	r3 := run(t, nil, l.renewArgs("--json")...)
	if r3.code != 75 || outcomes(parseRenew(t, r3))[name] != "locked" {
		t.Errorf("--json while locked: exit %d outcome %q", r3.code, outcomes(parseRenew(t, r3))[name])
	}

	if err := os.WriteFile(filepath.Join(fp, "before-new-order.release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r1 := wait1()
	if r1.code != 0 {
		t.Errorf("first renew: exit %d; want 0", r1.code)
	}
	if n := l.p.Count("POST /order-plz 201"); n != 1 {
		t.Errorf("orders created = %d; want exactly 1", n)
	}
	// Waiting for the lock instead: a third run started now finds the
	// work done after re-reading the state.
	r4 := run(t, nil, l.renewArgs("--lock-wait", "30s")...)
	if r4.code != 0 || l.p.Count("POST /order-plz 201") != 1 {
		t.Errorf("after the first finished: exit %d, orders %d", r4.code, l.p.Count("POST /order-plz 201"))
	}
}

// TestRenewFailureBackoff: a failed renewal records the error and a
// backoff; the next run defers the certificate (exit 75) without a single
// request to the CA and leaves the live files as they were; --force
// ignores the local backoff.
func TestRenewFailureBackoff(t *testing.T) {
	l := newLab(t, quietPebble(nil))
	name := "backoff.example.test"
	mustObtain(t, l, name)
	makeDue(t, l, name)
	live := snapshot(t, l.certDir(name))
	// Something else holds the http-01 port: the solver cannot listen.
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", l.p.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(ln)
	defer srv.Close()

	r := run(t, nil, l.renewArgs("--json")...)
	if r.code != 1 {
		t.Errorf("failing renew: exit %d; want 1", r.code)
	}
	doc := parseRenew(t, r)
	if outcomes(doc)[name] != "failed" || doc.Error == nil {
		t.Errorf("document: %+v", doc)
	}
	st := stateOf(t, l, name)
	if st["last_error"] == nil || st["backoff"] == nil {
		t.Fatalf("state.json lacks last_error/backoff: %v", st)
	}
	sameSnapshot(t, live, snapshot(t, l.certDir(name)))

	l.p.ResetCounts()
	r = run(t, nil, l.renewArgs()...)
	if r.code != 75 {
		t.Errorf("renew in backoff: exit %d; want 75", r.code)
	}
	if !strings.Contains(r.stderr, "deferred") || !strings.Contains(r.stderr, "backoff") {
		t.Errorf("stderr %q; want a deferred line naming the backoff", r.stderr)
	}
	if n := l.p.Count("total"); n != 0 {
		t.Errorf("%d requests to the CA while in backoff; want 0 (%v)", n, l.p.Counts())
	}
	sameSnapshot(t, live, snapshot(t, l.certDir(name)))
	r = run(t, nil, "show", name, "--state-dir", l.state)
	if !strings.Contains(r.stdout, "Backoff:") || !strings.Contains(r.stdout, "Last error:") {
		t.Errorf("show does not report the failure:\n%s", r.stdout)
	}

	// The port is free again; --force ignores the local backoff.
	srv.Close()
	r = run(t, nil, l.renewArgs("--force", "--cert-name", name)...)
	if r.code != 0 {
		t.Fatalf("forced renew: exit %d\n%s", r.code, r.stderr)
	}
	st = stateOf(t, l, name)
	if st["last_error"] != nil || st["backoff"] != nil {
		t.Errorf("failure not cleared after success: %v", st)
	}
}

// TestRenewUsage: order-shaping flags and unknown certificates exit 2
// before anything is touched.
func TestRenewUsage(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"domain", []string{"-d", "x.example.test"}, "reconfigure"},
		{"server", []string{"--server", "https://127.0.0.1:1/dir"}, "reconfigure"},
		{"deploy hook", []string{"--deploy-hook", "/bin/true"}, "reconfigure"},
		{"unknown cert", []string{"--cert-name", "nope.example.test"}, "no such certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, nil, append([]string{"renew", "--state-dir", state}, tc.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Errorf("exit %d stderr %q; want 2 mentioning %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

// TestRenewDaemon: the daemon renews a 20-second certificate on its own,
// with replaces, and stops on SIGTERM with exit 0.
func TestRenewDaemon(t *testing.T) {
	t.Parallel() // own servers and state; long, so it runs beside the others (docs/dev/testing.md)
	opts := quietPebble(nil)
	opts.Profiles = map[string]int{"default": 7776000, "short": 20}
	l := newLab(t, opts)
	name := "daemon.example.test"
	if r := run(t, nil, l.args("obtain", append(l.http01(), "-d", name, "--profile", "short")...)...); r.code != 0 {
		t.Fatalf("obtain: exit %d", r.code)
	}
	first := leafAt(t, filepath.Join(l.certDir(name), "cert.pem"))
	l.p.ResetCounts()
	cmd, _, stderr, wait := renewStart(t, nil, "renew", "--daemon", "-v", "--state-dir", l.state)
	testenv.WaitFor(t, "a renewal by the daemon", 90*time.Second, func() error {
		if !strings.Contains(stderr.String(), "certificate renewed") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	// Wait until it is idle again, then stop it.
	testenv.WaitFor(t, "daemon waiting", 60*time.Second, func() error {
		s := stderr.String()
		if strings.LastIndex(s, "daemon waiting") < strings.LastIndex(s, "certificate renewed") {
			return fmt.Errorf("not waiting yet")
		}
		return nil
	})
	stopAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := wait()
	if el := time.Since(stopAt); el > 45*time.Second {
		t.Errorf("daemon took %v to stop; want ≤ 45s", el)
	}
	if r.code != 0 {
		t.Errorf("daemon exit %d; want 0", r.code)
	}
	if !strings.Contains(r.stderr, "daemon stopped") {
		t.Errorf("no stop line in the log")
	}
	if r.stdout != "" {
		t.Errorf("daemon wrote to stdout: %q", r.stdout)
	}
	now := leafAt(t, filepath.Join(l.certDir(name), "cert.pem"))
	if now.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Error("certificate not renewed on disk")
	}
	if n := l.p.Count("POST /order-plz 201"); n < 1 {
		t.Errorf("orders = %d; want ≥ 1", n)
	}
	if !strings.Contains(r.stderr, "replaces=") {
		t.Errorf("renewal log line lacks replaces")
	}
	// Every renewal was logged once, with its own version.
	var versions []string
	for _, line := range strings.Split(r.stderr, "\n") {
		if strings.Contains(line, "certificate renewed") {
			f := strings.Fields(line[strings.Index(line, "version="):])
			versions = append(versions, f[0])
		}
	}
	if len(versions) == 0 || len(slices.Compact(slices.Clone(versions))) != len(versions) {
		t.Errorf("renewal lines: %v", versions)
	}
	_ = context.Background
}

// TestRenewScale (ACMECTL_E2E_SCALE=1): 100 certificates renewed in one
// run (webroot behind nginx, so no port is shared), --parallel 1 against
// --parallel 10; the figures are logged. Every run must renew all 100 with
// exactly 100 orders.
func TestRenewScale(t *testing.T) {
	if os.Getenv("ACMECTL_E2E_SCALE") == "" {
		t.Skip("set ACMECTL_E2E_SCALE=1 to run the 100-certificate measurement")
	}
	l := newLab(t, quietPebble(nil))
	webroot := t.TempDir()
	os.Chmod(webroot, 0o755)
	testenv.StartNginx(t, webroot, l.p.HTTPPort)
	seed := "c000.example.test"
	if r := run(t, nil, l.args("obtain", "--webroot", webroot, "-d", seed, "--profile", "default")...); r.code != 0 {
		t.Fatalf("obtain: %d", r.code)
	}
	// 99 more by copying the seed's directory (relative links) and
	// renaming the certificate in its settings.
	settings := string(readFile(t, filepath.Join(l.certDir(seed), "settings.yaml")))
	for i := 1; i < 100; i++ {
		name := fmt.Sprintf("c%03d.example.test", i)
		if out, err := exec.Command("cp", "-a", l.certDir(seed), l.certDir(name)).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		if err := os.WriteFile(filepath.Join(l.certDir(name), "settings.yaml"), []byte(strings.ReplaceAll(settings, seed, name)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	one := func(args ...string) time.Duration {
		l.p.ResetCounts()
		start := time.Now()
		r := run(t, nil, l.renewArgs(append([]string{"--force", "--json"}, args...)...)...)
		el := time.Since(start)
		if r.code != 0 {
			t.Fatalf("renew %v: exit %d", args, r.code)
		}
		return el
	}
	single := one("--cert-name", seed)
	serial := one("--parallel", "1")
	if n := l.p.Count("POST /order-plz 201"); n != 100 {
		t.Errorf("orders = %d; want 100", n)
	}
	par := one("--parallel", "10")
	if n := l.p.Count("POST /order-plz 201"); n != 100 {
		t.Errorf("orders = %d; want 100", n)
	}
	t.Logf("one certificate: %v; 100 with --parallel 1: %v; 100 with --parallel 10: %v (%.1f× one)",
		single.Round(time.Millisecond), serial.Round(time.Millisecond), par.Round(time.Millisecond), float64(par)/float64(single))
}

// TestRenewNginxReload: the docs' nginx hook, "nginx -s reload" (with the
// test server's prefix and config), reloads a running nginx after a
// renewal: a location added to its config before the renewal answers
// only after the hook ran.
func TestRenewNginxReload(t *testing.T) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			t.Skip("nginx not installed")
		}
		bin = "/usr/sbin/nginx"
	}
	l := newLab(t, quietPebble(nil))
	webroot := t.TempDir()
	os.Chmod(webroot, 0o755)
	ng := testenv.StartNginx(t, webroot, l.p.HTTPPort)
	conf := filepath.Join(ng.Dir, "nginx.conf")
	hookCmd := fmt.Sprintf("%s -p %s -e %s -c %s -s reload", bin, ng.Dir, filepath.Join(ng.Dir, "error.log"), conf)
	name := "nginx.example.test"
	if r := run(t, nil, l.args("obtain", "--webroot", webroot, "-d", name, "--profile", "default", "--deploy-hook", hookCmd)...); r.code != 0 {
		t.Fatalf("obtain: exit %d", r.code)
	}
	makeDue(t, l, name)
	c := string(readFile(t, conf))
	c = strings.Replace(c, "location / { return 404; }", "location = /reloaded { return 204; }\n        location / { return 404; }", 1)
	if err := os.WriteFile(conf, []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	get := func() int {
		resp, err := http.Get(ng.URL + "/reloaded")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != 404 {
		t.Fatalf("before renewal: /reloaded = %d; want 404 (old config)", code)
	}
	if r := run(t, nil, l.renewArgs()...); r.code != 0 {
		t.Fatalf("renew: exit %d", r.code)
	}
	testenv.WaitFor(t, "nginx reloaded by the deploy hook", 10*time.Second, func() error {
		if code := get(); code != 204 {
			return fmt.Errorf("/reloaded = %d", code)
		}
		return nil
	})
}

// TestSystemdUnits: the packaged units pass systemd-analyze verify (when
// installed), and the timer service's exact command runs silently with
// nothing due.
func TestSystemdUnits(t *testing.T) {
	src := filepath.Join("..", "..", "packaging", "systemd")
	units := []string{"acmectl-renew.service", "acmectl-renew.timer", "acmectl.service"}
	dir := t.TempDir()
	bin := filepath.Join(binDir, "acmectl")
	var execStart string
	for _, u := range units {
		data := string(readFile(t, filepath.Join(src, u)))
		for _, line := range strings.Split(data, "\n") {
			if u == "acmectl-renew.service" && strings.HasPrefix(line, "ExecStart=") {
				execStart = strings.TrimPrefix(line, "ExecStart=")
			}
		}
		if err := os.WriteFile(filepath.Join(dir, u), []byte(strings.ReplaceAll(data, "/usr/bin/acmectl", bin)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	argv := strings.Fields(execStart)
	if len(argv) < 2 || argv[0] != "/usr/bin/acmectl" {
		t.Fatalf("ExecStart = %q", execStart)
	}
	state := filepath.Join(t.TempDir(), "state")
	r := run(t, nil, append(argv[1:], "--state-dir", state)...)
	if r.code != 0 || r.stdout+r.stderr != "" {
		t.Errorf("%s with nothing due: exit %d %q %q", execStart, r.code, r.stdout, r.stderr)
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd)")
	}
	args := []string{"verify", "--man=no"}
	for _, u := range units {
		args = append(args, filepath.Join(dir, u))
	}
	cmd := exec.Command(sa, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=notice")
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
