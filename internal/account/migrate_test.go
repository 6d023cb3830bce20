package account

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/lifecycle"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/internal/testenv"
)

const oldServer = "https://acme-v01.old.test/directory"

// TestMigrateToPebble: an account and a certificate stored for an old
// server move to a real Pebble: the plan registers the same key there (the
// old server is never contacted), Apply stores the account under the new
// server and points the certificate at it through lifecycle.Repoint; a
// second plan finds everything migrated.
func TestMigrateToPebble(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Pebble")
	}
	p := testenv.StartPebble(t, testenv.PebbleOptions{Env: map[string]string{"PEBBLE_WFE_NONCEREJECT": "0"}})
	st, err := store.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveAccount(oldServer, "default", &store.AccountRecord{URL: "https://acme-v01.old.test/acct/1", DirectoryURL: oldServer}, key); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveSettings("old", &store.Settings{Names: client.MustNames("old.example.test"), Server: oldServer, ACMEVersion: "1"}); err != nil {
		t.Fatal(err)
	}
	c := testenv.PebbleClient(t, p, nil)
	ctx := testenv.Context(t, time.Minute)
	o := MigrateOptions{From: oldServer, To: p.DirURL, Email: []string{"ops@example.com"}, CABundle: p.CABundle}

	plan, err := PlanMigration(ctx, st, c, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Accounts) != 1 || plan.Accounts[0].Action != ActionRegister {
		t.Fatalf("accounts: %+v; want one to register", plan.Accounts)
	}
	wantChanges := [][3]string{{"server", oldServer, p.DirURL}, {"ca-bundle", "", p.CABundle}, {"acme-version", "1", "auto"}}
	if len(plan.Certs) != 1 || !reflect.DeepEqual(plan.Certs[0].Changes, wantChanges) {
		t.Fatalf("certificates: %+v; want old with %v", plan.Certs, wantChanges)
	}
	if err := plan.Apply(ctx, st, c, ApplyOptions{LockWait: time.Second}); err != nil {
		t.Fatal(err)
	}
	if got := p.Count("POST /sign-me-up 201"); got != 1 {
		t.Errorf("registrations at Pebble = %d; want 1", got)
	}
	rec, _, err := st.LoadAccount(p.DirURL, "default")
	if err != nil || rec.URL == "" || rec.Status != "valid" {
		t.Fatalf("account under the new server: %+v, %v", rec, err)
	}
	if s, err := st.LoadSettings("old"); err != nil || s.Server != p.DirURL || s.CABundle != p.CABundle || s.ACMEVersion != "auto" {
		t.Errorf("certificate settings after Apply: %+v, %v", s, err)
	}

	// Again: the account is migrated, no certificate is left on the old
	// server, and nothing is sent but the directory.
	plan, err = PlanMigration(ctx, st, c, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Accounts) != 1 || plan.Accounts[0].Action != ActionDone || len(plan.Certs) != 0 {
		t.Errorf("second plan: accounts %+v, certificates %d; want already-migrated and none", plan.Accounts, len(plan.Certs))
	}
}

// TestPlanMigrationNothing: nothing stored for the old server is a plan
// error (a usage error), found before any request.
func TestPlanMigrationNothing(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	var pe *lifecycle.PlanError
	_, err = PlanMigration(context.Background(), st, nil, MigrateOptions{From: oldServer, To: "https://new.test/directory"})
	if !errors.As(err, &pe) {
		t.Errorf("PlanMigration with nothing stored: %v; want a *lifecycle.PlanError", err)
	}
}
