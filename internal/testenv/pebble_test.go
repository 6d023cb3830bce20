package testenv

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestReuseGuard: a new order listing an authorization an earlier order
// listed (Pebble's 1-in-100 reuse at PEBBLE_AUTHZREUSE=0) reaches the
// client as badNonce with Pebble's fresh nonce, so the client retries;
// other answers pass unchanged.
func TestReuseGuard(t *testing.T) {
	g := &reuseGuard{seen: map[string]bool{}}
	answer := func(method, path string, status int, body string) *http.Response {
		t.Helper()
		u, _ := url.Parse("https://127.0.0.1:1" + path)
		resp := &http.Response{
			StatusCode: status,
			Header:     http.Header{"Replay-Nonce": {"n-" + body[:4]}, "Location": {"https://127.0.0.1:1/my-order/x"}},
			Body:       io.NopCloser(strings.NewReader(body)),
			Request:    &http.Request{Method: method, URL: u},
		}
		if err := g.check(resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	read := func(resp *http.Response) string {
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}

	first := `{"status":"pending","authorizations":["https://p/authZ/a1","https://p/authZ/b1"]}`
	if resp := answer("POST", "/order-plz", 201, first); resp.StatusCode != 201 || read(resp) != first {
		t.Fatalf("first order changed: %d", resp.StatusCode)
	}
	// An authorization fetch lists nothing new and passes.
	if resp := answer("POST", "/authZ/a1", 200, `{"status":"valid"}`); resp.StatusCode != 200 {
		t.Fatalf("authorization answer changed: %d", resp.StatusCode)
	}
	fresh := `{"status":"pending","authorizations":["https://p/authZ/a2"]}`
	if resp := answer("POST", "/order-plz", 201, fresh); resp.StatusCode != 201 || read(resp) != fresh {
		t.Fatalf("order with fresh authorizations changed: %d", resp.StatusCode)
	}
	reused := `{"status":"ready","authorizations":["https://p/authZ/c9","https://p/authZ/b1"]}`
	resp := answer("POST", "/order-plz", 201, reused)
	body := read(resp)
	if resp.StatusCode != 400 || !strings.Contains(body, "urn:ietf:params:acme:error:badNonce") {
		t.Fatalf("reused authorization: status %d body %s; want 400 badNonce", resp.StatusCode, body)
	}
	if resp.Header.Get("Replay-Nonce") != "n-{\"st" || resp.Header.Get("Location") != "" || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("headers after rewrite: %v", resp.Header)
	}
}
