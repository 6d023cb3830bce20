// Command demo obtains a real certificate from a local Pebble with the
// built acmectl binary: `make demo`. It generates Pebble's HTTPS
// certificate, serves DNS for the test name on 127.0.0.1, starts Pebble,
// runs `acmectl obtain`, then `acmectl show` (where the certificate is, when
// it expires and when it will be renewed) and `acmectl renew` (silent: not
// due), and stops Pebble. Everything stays on 127.0.0.1.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

func main() {
	bin := flag.String("acmectl", "bin/acmectl", "acmectl binary")
	pebble := flag.String("pebble", ".tools/pebble", "pebble binary")
	name := flag.String("d", "demo.acmectl.test", "name to certify")
	keep := flag.String("dir", "", "work directory to keep (default: a temp dir)")
	flag.Parse()
	if err := run(*bin, *pebble, *name, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(bin, pebbleBin, name, dir string) error {
	var err error
	if dir == "" {
		if dir, err = os.MkdirTemp("", "acmectl-demo-"); err != nil {
			return err
		}
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	caPEM, certPEM, keyPEM, err := localhostTLS()
	if err != nil {
		return err
	}
	for f, data := range map[string][]byte{"ca.pem": caPEM, "cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			return err
		}
	}
	dnsAddr, stopDNS, err := stubDNS()
	if err != nil {
		return err
	}
	defer stopDNS()
	api, mgmt, httpPort := freePort(), freePort(), freePort()
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": "127.0.0.1:" + strconv.Itoa(api), "managementListenAddress": "127.0.0.1:" + strconv.Itoa(mgmt),
		"certificate": filepath.Join(dir, "cert.pem"), "privateKey": filepath.Join(dir, "key.pem"),
		"httpPort": httpPort, "tlsPort": freePort(), "ocspResponderURL": "", "keyAlgorithm": "ecdsa",
		"profiles": map[string]any{"default": map[string]any{"description": "90 days", "validityPeriod": 7776000}},
	}}
	data, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, data, 0o600); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "pebble.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(pebbleBin, "-config", cfgFile, "-dnsserver", dnsAddr)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start pebble (run `make tools`): %w", err)
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	dirURL := fmt.Sprintf("https://127.0.0.1:%d/dir", api)
	if err := waitReady(dirURL, caPEM); err != nil {
		return fmt.Errorf("pebble not ready: %w (log: %s)", err, logf.Name())
	}
	fmt.Printf("Pebble is up at %s (log %s)\n\n", dirURL, logf.Name())

	state := filepath.Join(dir, "state")
	common := []string{"--server", dirURL, "--ca-bundle", filepath.Join(dir, "ca.pem"), "--state-dir", state}
	args := append([]string{"obtain"}, common...)
	args = append(args, "--accept-tos", "--email", "demo@example.test", "-d", name,
		"--http-01", "--http-01-addr", "127.0.0.1:"+strconv.Itoa(httpPort))
	fmt.Printf("$ acmectl %s\n", strings.Join(args, " "))
	ob := exec.Command(bin, args...)
	ob.Stdout, ob.Stderr = os.Stdout, os.Stderr
	start := time.Now()
	if err := ob.Run(); err != nil {
		return fmt.Errorf("acmectl obtain: %w", err)
	}
	fmt.Printf("(took %v)\n\n", time.Since(start).Round(time.Millisecond))

	// Where it is and when it expires, as a user would ask.
	for _, a := range [][]string{{"show", name}, {"renew", "--no-random-sleep"}} {
		args := append(append([]string{}, a...), "--state-dir", state)
		fmt.Printf("$ acmectl %s\n", strings.Join(args, " "))
		c := exec.Command(bin, args...)
		c.Stdout, c.Stderr = os.Stdout, os.Stderr
		if err := c.Run(); err != nil {
			return fmt.Errorf("acmectl %s: %w", a[0], err)
		}
		if a[0] == "renew" {
			fmt.Println("(renew printed nothing: the certificate is not due, as cron should see it)")
		}
		fmt.Println()
	}
	fmt.Printf("\nWork directory (kept): %s\nPebble stopped.\n", dir)
	return nil
}

func waitReady(url string, caPEM []byte) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 2 * time.Second}
	var err error
	for range 200 {
		var resp *http.Response
		if resp, err = hc.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return err
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// stubDNS answers A 127.0.0.1 for every name (TCP, as Pebble asks).
func stubDNS() (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &dns.Server{Listener: l, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	return l.Addr().String(), func() { _ = srv.ShutdownContext(context.Background()) }, nil
}

func localhostTLS() (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "acmectl demo HTTPS root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	ca, _ = x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}
