package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/store"
)

// TestTerminalEscapesSanitizedCAAIdentities is the third case of issue 14
// item 11: a CA's caaIdentities reached the terminal raw in the error
// line of `dns-persist record --issuer` (the final error printer stripped
// only CR and LF). The error line shows them escaped.
func TestTerminalEscapesSanitizedCAAIdentities(t *testing.T) {
	const evil = "ca.example\x1b]0;pwned\x07\x1b[2J"
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/dir" {
			w.Header().Set("Replay-Nonce", "bm9uY2U")
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"newNonce": srv.URL + "/nonce", "newAccount": srv.URL + "/acct", "newOrder": srv.URL + "/order",
			"meta": map[string]any{"caaIdentities": []string{evil}},
		})
	}))
	t.Cleanup(srv.Close)
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "state")
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	server := srv.URL + "/dir"
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := st.SaveAccount(server, "default", &store.AccountRecord{URL: srv.URL + "/acct/1", DirectoryURL: server}, key); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, time.Now, nil, "dns-persist", "record", "-d", "example.com", "--issuer", "other.example",
		"--server", server, "--ca-bundle", bundle, "--state-dir", dir)
	if r.code != 2 || !strings.Contains(r.stderr, "caaIdentities") {
		t.Fatalf("dns-persist record --issuer other.example = %d, stderr %q; want exit 2 naming the caaIdentities", r.code, r.stderr)
	}
	if strings.ContainsAny(r.stdout+r.stderr, "\x1b\x07") {
		t.Errorf("raw control characters on the terminal: stderr %q", r.stderr)
	}
	if !strings.Contains(r.stderr, `\x1b]0;pwned`) {
		t.Errorf("the CA's caaIdentities are not shown escaped: %q", r.stderr)
	}
}
