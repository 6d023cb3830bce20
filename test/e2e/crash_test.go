package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/testenv"
)

// crashPoints are the failpoints killed with SIGKILL: every step of an
// order (client/order.go) and every step of the store write (Install).
var crashPoints = []string{
	"before-new-order", "after-new-order", "after-present", "after-challenge",
	"before-finalize", "after-finalize", "after-download",
	"install-mkdir", "install-write-cert.pem", "install-write-fullchain.pem", "install-write-privkey.pem",
	"install-sync-version-dir", "install-rename-version-dir", "install-create-current-link",
	"install-switch-current", "install-stable-links",
}

// livePair checks the live set of a certificate: absent (ok only when
// allowAbsent), or complete with the key matching the leaf and cert.pem,
// fullchain.pem and privkey.pem from one version. It returns fullchain.
func livePair(t *testing.T, dir string, allowAbsent bool) []byte {
	t.Helper()
	full, err := os.ReadFile(filepath.Join(dir, "fullchain.pem"))
	if errors.Is(err, os.ErrNotExist) && allowAbsent {
		if _, err := os.Lstat(filepath.Join(dir, "current")); err == nil {
			t.Errorf("current exists but fullchain.pem does not")
		}
		return nil
	}
	if err != nil {
		t.Fatalf("live fullchain: %v", err)
	}
	if err := matching(dir); err != nil {
		t.Fatalf("live set broken: %v", err)
	}
	return full
}

// matching reads one version through "current" and checks it.
func matching(dir string) error {
	target, err := os.Readlink(filepath.Join(dir, "current"))
	if err != nil {
		return err
	}
	vd := filepath.Join(dir, target)
	full, err := os.ReadFile(filepath.Join(vd, "fullchain.pem"))
	if err != nil {
		return err
	}
	cert, err := os.ReadFile(filepath.Join(vd, "cert.pem"))
	if err != nil {
		return err
	}
	kb, err := os.ReadFile(filepath.Join(vd, "privkey.pem"))
	if err != nil {
		return err
	}
	chain, err := keys.ParseCertificateChainPEM(full)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(full, cert) {
		return errors.New("fullchain.pem does not start with cert.pem")
	}
	key, err := keys.ParsePrivateKeyPEM(kb)
	if err != nil {
		return err
	}
	if !keys.MatchesKey(chain[0], key.Public()) {
		return errors.New("privkey.pem does not match the certificate")
	}
	return nil
}

// reader reads the live set in a loop (as a web server reloading would)
// until stop, counting reads and broken sets.
type reader struct {
	reads, broken atomic.Int64
	first         atomic.Value
	stop          chan struct{}
	wg            sync.WaitGroup
}

func startReader(dir string) *reader {
	r := &reader{stop: make(chan struct{})}
	r.wg.Go(func() {
		for {
			select {
			case <-r.stop:
				return
			default:
			}
			if _, err := os.Lstat(filepath.Join(dir, "current")); err != nil {
				continue
			}
			r.reads.Add(1)
			if err := matching(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
				r.broken.Add(1)
				r.first.CompareAndSwap(nil, err.Error())
			}
		}
	})
	return r
}

func (r *reader) done(t *testing.T) int64 {
	close(r.stop)
	r.wg.Wait()
	if n := r.broken.Load(); n > 0 {
		t.Errorf("reader saw %d broken live sets out of %d reads (first: %v)", n, r.reads.Load(), r.first.Load())
	}
	return r.reads.Load()
}

// TestCrashConsistency kills acmectl with SIGKILL at every step of an order
// and of the store write, three times each (the first time on a first
// issuance), and checks after each kill that the live set is complete and
// matching (or absent on a first issuance), and that a rerun finishes the
// job by resuming the stored order: one order and one finalize per
// kill-and-rerun, never a second finalize of one order.
func TestCrashConsistency(t *testing.T) {
	t.Parallel() // own servers and state; long, so it runs beside the others (docs/dev/testing.md)
	if testing.Short() {
		t.Skip("kills against Pebble")
	}
	l := newLab(t, testenv.PebbleOptions{})
	var kills, reads atomic.Int64
	for _, fp := range crashPoints {
		t.Run(fp, func(t *testing.T) {
			name := strings.ReplaceAll(fp, ".", "-") + ".crash.example.test"
			dir := l.certDir(name)
			rd := startReader(dir)
			defer func() { reads.Add(rd.done(t)) }()
			for round := range 3 {
				first := round == 0
				// A new account each round: Pebble reuses a valid
				// authorization of the same account 1 time in 100 even
				// with PEBBLE_AUTHZREUSE=0 (its check is
				// rand.Intn(100) > percent), and an order born ready
				// never reaches the validation failpoints.
				args := l.args("obtain", append(l.http01(), "-d", name, "--account", fmt.Sprintf("crash-%d", round))...)
				if !first {
					args = append(args, "--force")
				}
				before := livePair(t, dir, first)
				orders, finals := l.p.Count("POST /order-plz 201"), l.p.Count("POST /finalize-order 200")
				r := run(t, []string{"ACMECTL_FAILPOINT=" + fp + ":kill"}, args...)
				if r.code != -1 {
					t.Fatalf("round %d: exit %d; want killed by SIGKILL at %s", round, r.code, fp)
				}
				kills.Add(1)
				after := livePair(t, dir, first)
				killedBeforeSwitch := !strings.HasPrefix(fp, "install-switch") && !strings.HasPrefix(fp, "install-stable")
				if killedBeforeSwitch && !bytes.Equal(before, after) {
					t.Errorf("round %d: live set changed by a run killed at %s", round, fp)
				}
				// Killed after the switch, the renewal is done: a rerun
				// without --force finds the new certificate current. Before
				// it, the rerun repeats the command and resumes the order.
				rerun := args
				if !killedBeforeSwitch && !first {
					if bytes.Equal(before, after) {
						t.Errorf("round %d: killed at %s, after the switch, but the old set is live", round, fp)
					}
					rerun = args[:len(args)-1]
				}
				r = run(t, nil, rerun...)
				if r.code != 0 {
					t.Fatalf("round %d: rerun after kill at %s: exit %d", round, fp, r.code)
				}
				livePair(t, dir, false)
				// After a kill at after-challenge the http-01 responder died
				// with the process, so the CA's validation may fail and the
				// order become invalid: then, and only then, a new one.
				wantOrders := 1
				if fp == "after-challenge" {
					wantOrders = 2
				}
				if got := l.p.Count("POST /order-plz 201") - orders; got < 1 || got > wantOrders {
					t.Errorf("round %d: %d orders created for one kill and rerun; want %d (resume)", round, got, wantOrders)
				}
				if got := l.p.Count("POST /finalize-order 200") - finals; got != 1 {
					t.Errorf("round %d: %d finalizes for one kill and rerun; want 1", round, got)
				}
				if leftovers, _ := filepath.Glob(filepath.Join(dir, "versions", ".tmp-*")); len(leftovers) > 0 {
					t.Errorf("round %d: leftovers after rerun: %v", round, leftovers)
				}
			}
		})
	}
	t.Logf("figures: %d kills survived at %d failpoints; %d live-set reads, all complete", kills.Load(), len(crashPoints), reads.Load())
}

// TestDiskFullDuringInstall fills a small tmpfs holding the state dir while
// acmectl is paused after the download: the write fails with ENOSPC, the
// old set stays live byte-identical, state and settings stay parseable,
// and once space is back a rerun resumes the order (no new order, no
// second finalize).
func TestDiskFullDuringInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Pebble")
	}
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })

	l := newLab(t, testenv.PebbleOptions{})
	l.state = filepath.Join(mnt, "state")
	for i, a := range l.base {
		if a == "--state-dir" {
			l.base[i+1] = l.state
		}
	}
	name := "full.example.test"
	dir := l.certDir(name)
	args := l.args("obtain", append(l.http01(), "-d", name)...)
	if r := run(t, nil, args...); r.code != 0 {
		t.Fatalf("first obtain: exit %d", r.code)
	}
	before := snapshot(t, dir)
	settingsBefore, _ := os.ReadFile(filepath.Join(dir, "settings.yaml"))

	fpDir := t.TempDir()
	ctx := testenv.Context(t, 2*time.Minute)
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "acmectl"), append(args, "--force")...)
	cmd.Env = append(cleanEnv(), "ACMECTL_FAILPOINT=after-download:pause", "ACMECTL_FAILPOINT_DIR="+fpDir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitMarker(t, ctx, filepath.Join(fpDir, "after-download.reached"))
	orders, finals := l.p.Count("POST /order-plz 201"), l.p.Count("POST /finalize-order 200")
	filler := filepath.Join(mnt, "filler")
	fill(t, filler)
	if err := os.WriteFile(filepath.Join(fpDir, "after-download.release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("obtain on a full disk: %v; want exit 1\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "no space left on device") {
		t.Errorf("stderr does not name the full disk:\n%s", stderr.String())
	}
	sameSnapshot(t, before, snapshot(t, dir))
	livePair(t, dir, false)
	if b, _ := os.ReadFile(filepath.Join(dir, "settings.yaml")); !bytes.Equal(b, settingsBefore) {
		t.Error("settings.yaml changed on a full disk")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "state.json")); err != nil || !bytes.Contains(b, []byte(`"pending_order"`)) {
		t.Errorf("state.json damaged or lost the pending order: %v %s", err, b)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if r := run(t, nil, append(args, "--force")...); r.code != 0 {
		t.Fatalf("rerun with space: exit %d", r.code)
	}
	livePair(t, dir, false)
	if got := l.p.Count("POST /order-plz 201") - orders; got != 0 {
		t.Errorf("%d new orders after the full disk; want 0 (resume)", got)
	}
	if got := l.p.Count("POST /finalize-order 200") - finals; got != 0 {
		t.Errorf("%d more finalizes after the full disk; want 0", got)
	}
}

// fill writes path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			t.Fatal(err)
		}
	}
	// The last partial block too.
	for {
		if _, err := f.Write(buf[:1]); err != nil {
			return
		}
	}
}

// waitMarker polls for a failpoint marker.
func waitMarker(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never appeared", path)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// dropProxy is a TLS proxy in front of Pebble that forwards every request
// and, for the first request whose path starts with drop, throws Pebble's
// answer away and closes the connection: the server acted, the client
// never hears of it.
type dropProxy struct {
	url    string
	bundle string
	mu     sync.Mutex
	drop   string
	done   int
}

func startDropProxy(t *testing.T, p *testenv.Pebble) *dropProxy {
	t.Helper()
	caPEM, certPEM, keyPEM := testenv.LocalhostTLS(t)
	dp := &dropProxy{bundle: filepath.Join(t.TempDir(), "proxy-ca.pem")}
	must(t, os.WriteFile(dp.bundle, caPEM, 0o644))
	up, _ := url.Parse(strings.TrimSuffix(p.DirURL, "/dir"))
	rp := httputil.NewSingleHostReverseProxy(up)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.HTTPClient.Transport.(*http.Transport).TLSClientConfig.RootCAs}}
	director := rp.Director
	rp.Director = func(r *http.Request) {
		host := r.Host
		director(r)
		r.Host = host // Pebble builds its URLs on this proxy's address
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	must(t, err)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	must(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dp.mu.Lock()
		drop := dp.drop != "" && strings.HasPrefix(r.URL.Path, dp.drop)
		if drop {
			dp.drop = ""
			dp.done++
		}
		dp.mu.Unlock()
		if !drop {
			rp.ServeHTTP(w, r)
			return
		}
		rp.ServeHTTP(httptest.NewRecorder(), r) // Pebble acts…
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close() // …and the answer is lost
		}
	}), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	dp.url = "https://" + ln.Addr().String() + "/dir"
	return dp
}

func (dp *dropProxy) arm(prefix string) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	dp.drop, dp.done = prefix, 0
}

func (dp *dropProxy) dropped() int {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	return dp.done
}

// TestLostResponses: the connection drops after Pebble acted on newOrder,
// a challenge, finalize or the certificate download. At most one rerun
// finishes the renewal, and never with a second finalize or a second
// certificate for one renewal.
func TestLostResponses(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Pebble")
	}
	l := newLab(t, quietPebble(nil))
	dp := startDropProxy(t, l.p)
	for _, c := range []struct{ endpoint, prefix string }{
		{"newOrder", "/order-plz"}, {"challenge", "/chalZ/"}, {"finalize", "/finalize-order/"}, {"certificate", "/certZ/"},
	} {
		t.Run(c.endpoint, func(t *testing.T) {
			name := "lost-" + strings.ToLower(c.endpoint) + ".example.test"
			args := []string{"obtain", "--server", dp.url, "--ca-bundle", dp.bundle, "--state-dir", l.state,
				"--accept-tos", "-d", name, "--http-01", "--http-01-addr", fmt.Sprintf("127.0.0.1:%d", l.p.HTTPPort)}
			if r := run(t, nil, args...); r.code != 0 {
				t.Fatalf("first obtain: exit %d", r.code)
			}
			old := livePair(t, l.certDir(name), false)
			finals := l.p.Count("POST /finalize-order 200")
			posts := l.p.Count("POST /finalize-order")
			dp.arm(c.prefix)
			// The renewal under another account: Pebble reuses the first
			// order's valid authorization 1 time in 100 even at
			// PEBBLE_AUTHZREUSE=0, and an order born ready sends no
			// challenge to drop (the armed drop then hit the next
			// subtest's first obtain).
			args = append(args, "--force", "--account", "renewal")
			r := run(t, nil, args...)
			if dp.dropped() != 1 {
				t.Fatalf("no %s response was dropped", c.endpoint)
			}
			runs := 1
			if r.code != 0 {
				if r.code != 75 {
					t.Errorf("run with the lost %s response: exit %d; want 0 or 75 (CA unavailable)", c.endpoint, r.code)
				}
				if bytes.Equal(old, livePair(t, l.certDir(name), false)) == false {
					t.Error("live set changed by the failed run")
				}
				// The operator (or cron) repeats the command: the stored
				// order is resumed when there is one.
				r = run(t, nil, args...)
				runs++
			}
			if r.code != 0 {
				t.Fatalf("renewal after the lost %s response never finished: exit %d", c.endpoint, r.code)
			}
			if bytes.Equal(old, livePair(t, l.certDir(name), false)) {
				t.Error("the renewal did not install a new certificate")
			}
			if got := l.p.Count("POST /finalize-order 200") - finals; got != 1 {
				t.Errorf("finalizes for one renewal after a lost %s response = %d; want 1", c.endpoint, got)
			}
			// Not even an attempt Pebble would refuse (no badNonce here).
			if got := l.p.Count("POST /finalize-order") - posts; got != 1 {
				t.Errorf("finalize requests for one renewal after a lost %s response = %d; want 1", c.endpoint, got)
			}
			t.Logf("lost %s response: renewal finished in %d run(s)", c.endpoint, runs)
		})
	}
}
