package fleet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/keys"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/internal/testenv"
)

// TestCertStorePublishesWithState: Install only stages; the SaveState that
// follows publishes the version, the state and the pending key's removal
// together; account writes need the account lock.
func TestCertStorePublishesWithState(t *testing.T) {
	if testing.Short() {
		t.Skip("needs etcd")
	}
	e := testenv.StartEtcd(t)
	f, err := Open(Config{URL: "etcd://" + e.Endpoint + "/store-test", StorageKeyFile: writeKeyFile(t), HostID: "h1", Helper: helperBin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	ctx := testenv.Context(t, time.Minute)
	const name = "store.example.com"
	lk, err := f.LockCert(ctx, name, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	cs := &certStore{f: f, lk: lk, ctx: ctx, host: "h1", now: time.Now}

	key, err := keys.Generate(keys.EC256)
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.SavePendingKey(name, key); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.LoadPendingKey(name); err != nil {
		t.Fatalf("pending key not stored: %v", err)
	}
	if err := cs.SavePendingKey("other.example.com", key); err == nil {
		t.Error("the store of one certificate wrote another's pending key")
	}
	files := selfSigned(t, name)
	inst, err := cs.Install(name, files)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Version != 1 || inst.Leaf == nil {
		t.Errorf("Install = version %d, leaf %v; want 1 and the leaf", inst.Version, inst.Leaf)
	}
	if _, _, err := f.Latest(ctx, name); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Latest after Install alone: %v; want not found (staged only)", err)
	}
	st := &store.State{LastSuccess: time.Now().UTC()}
	if err := cs.SaveState(name, st); err != nil {
		t.Fatal(err)
	}
	v, got, err := f.Latest(ctx, name)
	if err != nil {
		t.Fatalf("Latest after SaveState: %v", err)
	}
	if v.Generation != 1 || string(got.Fullchain) != string(files.Fullchain) || string(got.PrivKey) != string(files.PrivKey) || v.IssuedBy != "h1" {
		t.Errorf("published version: generation %d, issued by %q, files differ: %v", v.Generation, v.IssuedBy, string(got.Fullchain) != string(files.Fullchain))
	}
	if _, err := f.PendingKey(ctx, name); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pending key after publishing: %v; want not found", err)
	}
	if sst, err := f.LoadState(ctx, name); err != nil || sst.LastSuccess.IsZero() {
		t.Errorf("state after publishing: %+v, %v", sst, err)
	}

	// Accounts: only under the fleet-wide account lock.
	rec := &store.AccountRecord{URL: "https://ca.example/acct/1", DirectoryURL: "https://ca.example/dir"}
	if err := cs.SaveAccount(rec.DirectoryURL, "default", rec, key); err == nil {
		t.Error("SaveAccount without the account lock succeeded")
	}
	unlock, err := cs.LockState(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.SaveAccount(rec.DirectoryURL, "default", rec, key); err != nil {
		t.Fatal(err)
	}
	unlock()
	if got, _, err := cs.LoadAccount(rec.DirectoryURL, "default"); err != nil || got.URL != rec.URL {
		t.Errorf("LoadAccount = %+v, %v", got, err)
	}

	// A lost lock: nothing staged is published.
	lk.abandon()
	if _, err := cs.Install(name, files); err != nil {
		t.Fatal(err)
	}
	if err := cs.SaveState(name, st); !errors.Is(err, ErrLockLost) {
		t.Errorf("SaveState after losing the lock: %v; want ErrLockLost", err)
	}
	if v, _, err := f.Latest(context.Background(), name); err != nil || v.Generation != 1 {
		t.Errorf("latest after the refused publish: %+v, %v; want generation 1", v, err)
	}
}

func selfSigned(t *testing.T, name string) store.Files {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM, err := keys.MarshalPrivateKeyPEM(k)
	if err != nil {
		t.Fatal(err)
	}
	return store.Files{Cert: certPEM, Fullchain: certPEM, PrivKey: keyPEM}
}
