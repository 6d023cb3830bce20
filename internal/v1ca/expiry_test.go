package v1ca

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestAuthzReuseAndExpiry moves the CA's clock: a valid authorization is
// reused only while it is good for more than a day, and an expired one
// answers 404 malformed "Expired authorization".
func TestAuthzReuseAndExpiry(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	h := startHTTP01(t)
	s := startCA(t, Config{HTTP01Port: h.port, Now: now})
	c := newClient(t, s, newECKey(t))
	c.register()
	azURL, az := c.newAuthz("reuse.example.org")
	ch := chal(t, az, "http-01")
	h.set(ch.Token, c.keyAuth(ch.Token))
	if got := c.accept(azURL, ch); got.Status != "valid" {
		t.Fatalf("authz: %+v", got)
	}
	offset.Store(int64(28 * 24 * time.Hour))
	if again, az := c.newAuthz("reuse.example.org"); again != azURL || az.Status != "valid" {
		t.Errorf("day 28: got %s (%s); want reuse of %s", again, az.Status, azURL)
	}
	offset.Store(int64(29*24*time.Hour + 12*time.Hour))
	again, az := c.newAuthz("reuse.example.org")
	if again == azURL || az.Status != "pending" {
		t.Errorf("day 29.5: got %s (%s); want a fresh pending authorization", again, az.Status)
	}
	offset.Store(int64(31 * 24 * time.Hour))
	r := c.get(http.MethodGet, azURL)
	if p := r.problem(t); r.status != 404 || p.Type != probMalformed || p.Detail != "Expired authorization" {
		t.Errorf("expired authz: %d %+v", r.status, p)
	}
}
