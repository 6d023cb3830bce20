package client

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDirectoryConfigErrors: a --server that is not an ACME directory or
// whose TLS this machine does not trust is the user's configuration
// (ConfigError, exit 2) with a message naming the URL and the fix, never
// "about:blank"; a CA that is down stays temporary.
func TestDirectoryConfigErrors(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/missing", func(w http.ResponseWriter, _ *http.Request) { http.NotFound(w, nil) })
	mux.HandleFunc("/html", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("<html>hello</html>")) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	plain := httptest.NewServer(mux)
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()

	cases := []struct {
		name, url string
		client    *http.Client
		want      string // "" = not a ConfigError
	}{
		{"404", plain.URL + "/missing", nil, "HTTP 404: not an ACME directory (check --server"},
		{"not JSON", plain.URL + "/html", nil, "not an ACME directory"},
		{"untrusted TLS", tlsSrv.URL + "/missing", &http.Client{Transport: &http.Transport{}}, "TLS certificate is not trusted"},
		{"not TLS", strings.Replace(plain.URL, "http://", "https://", 1) + "/missing", nil, "does not speak TLS"},
		{"503", plain.URL + "/down", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{DirectoryURL: tc.url, HTTPClient: tc.client, RootCAs: x509.NewCertPool()}
			if tc.client == nil && strings.HasPrefix(tc.url, "https://") {
				cfg.HTTPClient = &http.Client{Transport: &http.Transport{}}
			}
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tc.want == "" {
				// Retried as temporary: stop after the first attempt.
				cancel()
			}
			_, err = c.Directory(ctx)
			var ce *ConfigError
			if tc.want == "" {
				if errors.As(err, &ce) {
					t.Errorf("503 is the CA's state, not configuration: %v", err)
				}
				return
			}
			if !errors.As(err, &ce) || Temporary(err) {
				t.Fatalf("err = %v (%T), temporary %v; want a ConfigError, not temporary", err, err, Temporary(err))
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || !strings.Contains(msg, tc.url) || strings.Contains(msg, "about:blank") {
				t.Errorf("message %q; want the URL and %q", msg, tc.want)
			}
		})
	}
}

// TestAboutBlankNeverShown: a problem without a type (about:blank) reads
// as its HTTP status, not as "about:blank".
func TestAboutBlankNeverShown(t *testing.T) {
	for _, p := range []*Problem{parseProblem(404, []byte("<html>"), "https://ca.example/x"), {Type: "about:blank", Status: 403}} {
		if msg := p.Error(); strings.Contains(msg, "about:blank") || !strings.Contains(msg, "HTTP 40") {
			t.Errorf("Error() = %q", msg)
		}
	}
}
