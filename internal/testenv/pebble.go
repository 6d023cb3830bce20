package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// PebbleOptions configure a Pebble instance.
type PebbleOptions struct {
	// Env adds PEBBLE_* variables; PEBBLE_VA_NOSLEEP=1 and
	// PEBBLE_AUTHZREUSE=0 are set unless overridden. Even at 0, Pebble
	// reuses a valid authorization of the same account for the same name
	// 1 time in 100 (its check is rand.Intn(100) > percent); at 0 the proxy
	// makes that exact (see noReuse). Nonce rejection stays at Pebble's
	// default (5 %) unless set.
	Env map[string]string
	// DNSServer is Pebble's resolver (host:port, TCP). Empty starts a stub
	// DNS server answering A 127.0.0.1 for every name.
	DNSServer string
	// HTTPPort and TLSPort are where the VA connects for http-01 and
	// tls-alpn-01; zero picks free ports.
	HTTPPort, TLSPort int
	// Profiles maps name → validity in seconds; nil gives one "default"
	// profile of 90 days plus "shortlived" of 6 days.
	Profiles map[string]int
	// EAB maps kid → base64url HMAC key and makes EAB required.
	EAB map[string]string
	// Blocklist names Pebble refuses (rejectedIdentifier), with their
	// subdomains. Keep order names at least as long in labels (a Pebble bug
	// panics otherwise).
	Blocklist []string
	// RetryAfterAuthz/Order set Pebble's retryAfter config (seconds).
	RetryAfterAuthz, RetryAfterOrder int
}

// Pebble is a running Pebble behind a counting TLS proxy: every request a
// client makes passes the proxy, so tests count requests on the server
// side, by method and path.
type Pebble struct {
	DirURL     string // https://127.0.0.1:<proxy>/dir
	MgmtURL    string
	CABundle   string // PEM file of the root that signs Pebble's HTTPS cert
	HTTPPort   int
	TLSPort    int
	DNSServer  string
	HTTPClient *http.Client // trusts CABundle

	mu     sync.Mutex
	counts map[string]int
}

// StartPebble starts Pebble (binary from LookTool) for the test.
func StartPebble(t testing.TB, opts PebbleOptions) *Pebble {
	t.Helper()
	bin := LookTool(t, "pebble", "GOBIN=$PWD/.tools go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3")
	dir := t.TempDir()
	caPEM, certPEM, keyPEM := LocalhostTLS(t)
	caFile := filepath.Join(dir, "ca.pem")
	must(t, os.WriteFile(caFile, caPEM, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600))

	if opts.HTTPPort == 0 {
		opts.HTTPPort = FreePort(t)
	}
	if opts.TLSPort == 0 {
		opts.TLSPort = FreePort(t)
	}
	if opts.DNSServer == "" {
		opts.DNSServer = StartStubDNS(t)
	}
	profiles := map[string]any{}
	if opts.Profiles == nil {
		opts.Profiles = map[string]int{"default": 7776000, "shortlived": 518400}
	}
	for name, secs := range opts.Profiles {
		profiles[name] = map[string]any{"description": name + " profile", "validityPeriod": secs}
	}
	apiPort, mgmtPort := FreePort(t), FreePort(t)
	cfg := map[string]any{
		"listenAddress":                  "127.0.0.1:" + strconv.Itoa(apiPort),
		"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(mgmtPort),
		"certificate":                    filepath.Join(dir, "cert.pem"),
		"privateKey":                     filepath.Join(dir, "key.pem"),
		"httpPort":                       opts.HTTPPort,
		"tlsPort":                        opts.TLSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": len(opts.EAB) > 0,
		"externalAccountMACKeys":         opts.EAB,
		"domainBlocklist":                append([]string{}, opts.Blocklist...),
		"keyAlgorithm":                   "ecdsa",
		"profiles":                       profiles,
		"retryAfter":                     map[string]int{"authz": opts.RetryAfterAuthz, "order": opts.RetryAfterOrder},
	}
	data, _ := json.Marshal(map[string]any{"pebble": cfg})
	cfgFile := filepath.Join(dir, "pebble.json")
	must(t, os.WriteFile(cfgFile, data, 0o644))

	cmd := exec.Command(bin, "-config", cfgFile, "-dnsserver", opts.DNSServer)
	env := map[string]string{"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_AUTHZREUSE": "0"}
	for k, v := range opts.Env {
		env[k] = v
	}
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = dir
	Start(t, "pebble", cmd)

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	upstream := "https://127.0.0.1:" + strconv.Itoa(apiPort)
	WaitFor(t, "pebble", 10*time.Second, func() error {
		resp, err := hc.Get(upstream + "/dir")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})

	p := &Pebble{
		MgmtURL: "https://127.0.0.1:" + strconv.Itoa(mgmtPort), CABundle: caFile,
		HTTPPort: opts.HTTPPort, TLSPort: opts.TLSPort, DNSServer: opts.DNSServer,
		HTTPClient: hc, counts: map[string]int{},
	}
	p.DirURL = p.startProxy(t, upstream, certPEM, keyPEM, pool, env["PEBBLE_AUTHZREUSE"] == "0") + "/dir"
	// The management interface starts on its own: its port may not accept
	// yet when the ACME API already answers.
	WaitFor(t, "pebble management", 10*time.Second, func() error {
		resp, err := hc.Get(p.MgmtURL + "/roots/0")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	p.appendIssuingRoots(t)
	return p
}

// appendIssuingRoots adds Pebble's issuing roots (default and alternates)
// to CABundle, as a user of a private CA puts its root there: a fleet host
// verifies certificates from etcd against the system roots and its
// ca-bundle.
func (p *Pebble) appendIssuingRoots(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(p.CABundle, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	defer f.Close()
	for i := 0; ; i++ {
		resp, err := p.HTTPClient.Get(p.MgmtURL + "/roots/" + strconv.Itoa(i))
		must(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		must(t, err)
		if resp.StatusCode != 200 {
			if i == 0 {
				t.Fatalf("pebble management /roots/0: %d %s", resp.StatusCode, b)
			}
			return
		}
		_, err = f.Write(append([]byte("\n"), b...))
		must(t, err)
	}
}

// startProxy runs the counting TLS reverse proxy; the Host header is kept
// so Pebble builds every URL on the proxy's address. With noReuse, a new
// order that Pebble answered with an authorization it had already handed
// out is turned into a badNonce answer (see noReuse.check).
func (p *Pebble) startProxy(t testing.TB, upstream string, certPEM, keyPEM []byte, pool *x509.CertPool, noReuse bool) string {
	u, _ := url.Parse(upstream)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	director := rp.Director
	rp.Director = func(r *http.Request) {
		host := r.Host
		director(r)
		r.Host = host
	}
	rp.ErrorLog = nil
	if noReuse {
		rp.ModifyResponse = (&reuseGuard{seen: map[string]bool{}}).check
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	must(t, err)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	must(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		rp.ServeHTTP(rec, r)
		key := r.Method + " " + pathKind(r.URL.Path)
		p.mu.Lock()
		p.counts[key]++
		p.counts[key+" "+strconv.Itoa(rec.status)]++
		p.counts["total"]++
		p.mu.Unlock()
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "https://" + l.Addr().String()
}

// reuseGuard makes PEBBLE_AUTHZREUSE=0 mean never. Pebble still reuses
// a valid authorization 1 time in 100 at 0, and then an order that a test
// needs validated (a renewal without a responder that must fail, a renewal
// held at a solver failpoint) is born ready, and the test fails for a
// reason that is not the code's. Authorization URLs are unique per
// authorization, so one that a new order lists and an earlier order
// already listed is a reuse. The guard answers that order with badNonce,
// as Pebble itself does for 5 % of requests: the client retries with the
// fresh nonce, and Pebble creates another order. The reused order stays
// at Pebble, unseen by the client.
type reuseGuard struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (g *reuseGuard) check(resp *http.Response) error {
	if resp.Request.Method != http.MethodPost || pathKind(resp.Request.URL.Path) != "/order-plz" || resp.StatusCode != http.StatusCreated {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return err
	}
	var order struct {
		Authorizations []string `json:"authorizations"`
	}
	_ = json.Unmarshal(body, &order)
	g.mu.Lock()
	reused := false
	for _, a := range order.Authorizations {
		reused = reused || g.seen[a]
	}
	if !reused {
		for _, a := range order.Authorizations {
			g.seen[a] = true
		}
	}
	g.mu.Unlock()
	if reused {
		body = []byte(`{"type":"urn:ietf:params:acme:error:badNonce","detail":"test proxy: Pebble reused a valid authorization at PEBBLE_AUTHZREUSE=0","status":400}`)
		resp.StatusCode, resp.Status = http.StatusBadRequest, "400 Bad Request"
		resp.Header.Del("Location")
		resp.Header.Set("Content-Type", "application/problem+json")
	}
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// pathKind reduces a Pebble path to its endpoint: "/my-order/abc" → "/my-order".
func pathKind(path string) string {
	parts := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 2)
	return "/" + parts[0]
}

// Count returns how many requests with method and endpoint (e.g.
// "POST /order-plz", "POST /finalize-order") reached Pebble; a key with a
// status ("POST /order-plz 201") counts only those answers (orders
// created); "total" counts all.
func (p *Pebble) Count(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[key]
}

// Counts returns a copy of all counters.
func (p *Pebble) Counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.counts))
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

// ResetCounts zeroes the counters.
func (p *Pebble) ResetCounts() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts = map[string]int{}
}

// Root returns the PEM of issuing root n (0 = default) from the management API.
func (p *Pebble) Root(t testing.TB, n int) []byte {
	t.Helper()
	return p.mgmtGet(t, "/roots/"+strconv.Itoa(n))
}

// CertStatus returns Pebble's view of a certificate by serial:
// ("Valid"|"Revoked", reason).
func (p *Pebble) CertStatus(t testing.TB, serial *big.Int) (string, int) {
	t.Helper()
	body := p.mgmtGet(t, "/cert-status-by-serial/"+fmt.Sprintf("%x", serial))
	var st struct {
		Status string
		Reason int
	}
	must(t, json.Unmarshal(body, &st))
	return st.Status, st.Reason
}

// SetRenewalInfo overrides the ARI response for a certificate.
func (p *Pebble) SetRenewalInfo(t testing.TB, certPEM []byte, ariJSON string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"Certificate": string(certPEM), "ARIResponse": ariJSON})
	resp, err := p.HTTPClient.Post(p.MgmtURL+"/set-renewal-info/", "application/json", strings.NewReader(string(body)))
	must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("set-renewal-info: %d %s", resp.StatusCode, b)
	}
}

func (p *Pebble) mgmtGet(t testing.TB, path string) []byte {
	t.Helper()
	resp, err := p.HTTPClient.Get(p.MgmtURL + path)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	if resp.StatusCode != 200 {
		t.Fatalf("pebble management %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// LocalhostTLS generates a CA and a leaf for localhost/127.0.0.1 (PEM), so
// tests do not depend on Pebble's bundled certificate and its expiry.
func LocalhostTLS(t testing.TB) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "acmectl test HTTPS root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(t, err)
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		DNSNames: []string{"localhost", "pebble"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	must(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// StartStubDNS serves A 127.0.0.1 for every name (no AAAA) over TCP and
// UDP on 127.0.0.1, for Pebble's VA in http-01 and tls-alpn-01 tests.
func StartStubDNS(t testing.TB) string {
	t.Helper()
	return ServeDNS(t, dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		_ = w.WriteMsg(m)
	}))
}

// ServeDNS serves h over TCP and UDP on one free port of 127.0.0.1 until
// the test ends, and returns host:port. The listeners are open when it
// returns (bound here, on a port free for both; another one is drawn if a
// bind fails), so there is no start to wait for.
func ServeDNS(t testing.TB, h dns.Handler) string {
	t.Helper()
	var (
		l  net.Listener
		pc net.PacketConn
	)
	for attempt := 0; l == nil; attempt++ {
		if attempt == 20 {
			t.Fatal("testenv: no port free for both TCP and UDP on 127.0.0.1")
		}
		addr := "127.0.0.1:" + strconv.Itoa(FreeUDPTCPPort(t))
		tl, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken since the check: draw again
		}
		up, err := net.ListenPacket("udp", addr)
		if err != nil {
			tl.Close()
			continue
		}
		l, pc = tl, up
	}
	for _, srv := range []*dns.Server{{Listener: l, Handler: h}, {PacketConn: pc, Handler: h}} {
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.ActivateAndServe() }()
		t.Cleanup(func() {
			_ = srv.Shutdown() // fails if it never started: the closes below stop it
			l.Close()
			pc.Close()
			<-done
		})
	}
	return l.Addr().String()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
