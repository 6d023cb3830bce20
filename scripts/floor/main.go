// Command floor is the protocol floor `make bench` measures acmectl
// against: a bare golang.org/x/crypto/acme program doing the same
// issuance with an existing account (directory, nonce, newOrder, per name
// authorization + challenge + poll, finalize, order poll, certificate),
// writing the key and chain without fsync, and nothing else: no state, no
// locks, no hooks, no durability. It is a benchmark tool, never shipped.
//
//	floor -directory URL -ca-bundle FILE -account FILE -register
//	floor -directory URL -ca-bundle FILE -account FILE (-http-addr ADDR | -webroot DIR)
//	      -name NAME|FORMAT [-n N] [-parallel P] [-out DIR]
//
// With -n > 1 the name is a fmt format with one %d (host%03d.example.test)
// and the issuances run in one process with one client, at most -parallel
// at a time: the bare in-process loop of renewals.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

type account struct {
	KID string `json:"kid"`
	Key []byte `json:"key"` // PKCS#8 DER
}

func run() error {
	dirURL := flag.String("directory", "", "ACME directory URL")
	caFile := flag.String("ca-bundle", "", "PEM roots for the CA's TLS certificate")
	acctFile := flag.String("account", "", "account file (written by -register)")
	register := flag.Bool("register", false, "register an account, write it to -account and exit")
	httpAddr := flag.String("http-addr", "", "answer http-01 on this address")
	webroot := flag.String("webroot", "", "answer http-01 by files under this directory")
	name := flag.String("name", "", "DNS name, or a format with %d when -n > 1")
	n := flag.Int("n", 1, "issuances")
	parallel := flag.Int("parallel", 1, "issuances at a time")
	out := flag.String("out", "", "write <name>.key and <name>.pem here")
	flag.Parse()

	caPEM, err := os.ReadFile(*caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tr := &orderLocation{rt: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: max(*parallel, 2)}}
	cl := &acme.Client{DirectoryURL: *dirURL, HTTPClient: &http.Client{Transport: tr}}
	ctx := context.Background()
	if *register {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		cl.Key = key
		a, err := cl.Register(ctx, &acme.Account{}, acme.AcceptTOS)
		if err != nil {
			return err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		js, _ := json.Marshal(account{KID: a.URI, Key: der})
		return os.WriteFile(*acctFile, js, 0o600)
	}
	js, err := os.ReadFile(*acctFile)
	if err != nil {
		return err
	}
	var a account
	if err := json.Unmarshal(js, &a); err != nil {
		return err
	}
	k, err := x509.ParsePKCS8PrivateKey(a.Key)
	if err != nil {
		return err
	}
	cl.Key, cl.KID = k.(crypto.Signer), acme.KeyID(a.KID)

	var tokens sync.Map
	present := func(token, keyAuth string) (func(), error) {
		if *webroot != "" {
			p := filepath.Join(*webroot, ".well-known", "acme-challenge", token)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(p, []byte(keyAuth), 0o644); err != nil {
				return nil, err
			}
			return func() { os.Remove(p) }, nil
		}
		tokens.Store(token, keyAuth)
		return func() { tokens.Delete(token) }, nil
	}
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			return err
		}
		defer ln.Close()
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if v, ok := tokens.Load(strings.TrimPrefix(r.URL.Path, "/.well-known/acme-challenge/")); ok {
				w.Write([]byte(v.(string)))
				return
			}
			http.NotFound(w, r)
		}))
	}

	if _, err := cl.Discover(ctx); err != nil {
		return err
	}
	sem := make(chan struct{}, max(*parallel, 1))
	var wg sync.WaitGroup
	errs := make(chan error, *n)
	for i := range *n {
		dn := *name
		if *n > 1 {
			dn = fmt.Sprintf(*name, i)
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := issue(ctx, cl, tr, dn, present, *out); err != nil {
				errs <- fmt.Errorf("%s: %w", dn, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	return errors.Join(func() []error {
		var all []error
		for e := range errs {
			all = append(all, e)
		}
		return all
	}()...)
}

func issue(ctx context.Context, cl *acme.Client, tr *orderLocation, name string, present func(token, keyAuth string) (func(), error), out string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	o, err := cl.AuthorizeOrder(ctx, acme.DomainIDs(name))
	if err != nil {
		return err
	}
	tr.orders.Store(o.FinalizeURL, o.URI)
	tr.polls.Store(o.URI, true)
	for _, u := range o.AuthzURLs {
		z, err := cl.GetAuthorization(ctx, u)
		if err != nil {
			return err
		}
		if z.Status == acme.StatusValid {
			continue
		}
		var ch *acme.Challenge
		for _, c := range z.Challenges {
			if c.Type == "http-01" {
				ch = c
			}
		}
		if ch == nil {
			return errors.New("no http-01 challenge")
		}
		ka, err := cl.HTTP01ChallengeResponse(ch.Token)
		if err != nil {
			return err
		}
		cleanup, err := present(ch.Token, ka)
		if err != nil {
			return err
		}
		if _, err := cl.Accept(ctx, ch); err != nil {
			cleanup()
			return err
		}
		// Like acmectl: give the CA a moment before the first poll (x/crypto/acme
		// would otherwise wait a whole second after a "pending").
		time.Sleep(pollStart)
		_, err = cl.WaitAuthorization(ctx, z.URI)
		cleanup()
		if err != nil {
			return err
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, key)
	if err != nil {
		return err
	}
	ders, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if err != nil {
		return err
	}
	if out == "" {
		return nil
	}
	var chain []byte
	for _, d := range ders {
		chain = append(chain, pemBlock("CERTIFICATE", d)...)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, name+".key"), pemBlock("PRIVATE KEY", kd), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, name+".pem"), chain, 0o644)
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// pollStart is acmectl's wait before the first poll.
const pollStart = 15 * time.Millisecond

// orderLocation gives the finalize response the order's URL as Location
// when the CA sends none (RFC 8555 does not require it; Pebble omits it,
// and x/crypto/acme's CreateOrderCert polls the order at that URL), and
// waits pollStart before the order poll that follows finalize, as acmectl
// does. It adds no request.
type orderLocation struct {
	rt     http.RoundTripper
	orders sync.Map // finalize URL -> order URL
	polls  sync.Map // order URLs
}

func (t *orderLocation) RoundTrip(r *http.Request) (*http.Response, error) {
	if _, ok := t.polls.Load(r.URL.String()); ok && r.Method == http.MethodPost {
		time.Sleep(pollStart)
	}
	resp, err := t.rt.RoundTrip(r)
	if err == nil && r.Method == http.MethodPost && resp.Header.Get("Location") == "" {
		if u, ok := t.orders.Load(r.URL.String()); ok {
			resp.Header.Set("Location", u.(string))
		}
	}
	return resp, err
}
