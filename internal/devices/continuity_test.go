package devices

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/pki"
)

func TestRevokedKeyStaysBarredAfterRemove(t *testing.T) {
	ctx := context.Background()
	r, ca, path := setup(t)
	id, _ := identity.Generate()
	issue := func(i *identity.Identity, name string) Device {
		der, _ := pki.CreateDeviceCSR(i, name)
		req, _ := pki.ParseDeviceCSR(der)
		cert, _ := ca.IssueClient(req, name, time.Now(), time.Hour)
		d, err := r.Record(ctx, Device{ID: i.DeviceID, Name: name, Owner: "admin", PublicKey: i.PublicKey()}, cert)
		if err != nil {
			t.Fatalf("record %s: %v", name, err)
		}
		return d
	}
	issue(id, "phone")
	if err := r.Remove(ctx, id.DeviceID); !errors.Is(err, ErrNotRevoked) {
		t.Fatalf("remove of an active device: %v", err)
	}
	if err := r.Revoke(ctx, id.DeviceID); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(ctx, id.DeviceID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(id.DeviceID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed device still known: %v", err)
	}
	// The same key under the old id or a fresh one: barred.
	fresh := *id
	fresh.DeviceID = identity.NewDeviceID()
	for _, i := range []*identity.Identity{id, &fresh} {
		if err := r.Admissible(i.DeviceID, i.PublicKey()); !errors.Is(err, ErrKeyBarred) {
			t.Fatalf("barred key under %s: %v", i.DeviceID, err)
		}
	}
	// The name is free again for a new key.
	other, _ := identity.Generate()
	issue(other, "phone")

	// The bar survives a restart and is enforced by the database itself.
	r.Close()
	r2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if err := r2.Admissible(fresh.DeviceID, fresh.PublicKey()); !errors.Is(err, ErrKeyBarred) {
		t.Fatalf("after reopen: %v", err)
	}
	_, err = r2.db.Exec(`INSERT INTO devices (device_id, name, owner, public_key, enrolled_at, cert_serial, cert_not_after) VALUES (?, 'x', 'admin', ?, 1, '1', 1)`, fresh.DeviceID, []byte(fresh.PublicKey()))
	if err == nil {
		t.Fatal("database accepted a barred key")
	}
	if _, err := r2.db.Exec(`DELETE FROM barred_keys`); err == nil {
		t.Fatal("database let a bar be lifted")
	}
}

// Removing a revoked device frees its name, never its id: a new key that
// claims the old id would inherit its vault scope and audit history.
func TestRevokedIDStaysBarredAfterRemove(t *testing.T) {
	ctx := context.Background()
	r, ca, path := setup(t)
	record := func(r *Registry, i *identity.Identity, name string) error {
		der, _ := pki.CreateDeviceCSR(i, name)
		req, _ := pki.ParseDeviceCSR(der)
		cert, _ := ca.IssueClient(req, name, time.Now(), time.Hour)
		_, err := r.Record(ctx, Device{ID: i.DeviceID, Name: name, Owner: "admin", PublicKey: i.PublicKey()}, cert)
		return err
	}
	old, _ := identity.Generate()
	if err := record(r, old, "phone"); err != nil {
		t.Fatal(err)
	}
	if err := r.Revoke(ctx, old.DeviceID); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(ctx, old.DeviceID); err != nil {
		t.Fatal(err)
	}
	// A new key claiming the old id: refused.
	taker, _ := identity.Generate()
	taker.DeviceID = old.DeviceID
	if err := r.Admissible(taker.DeviceID, taker.PublicKey()); !errors.Is(err, ErrRevoked) {
		t.Fatalf("new key under a removed id: %v", err)
	}
	if err := record(r, taker, "phone"); !errors.Is(err, ErrRevoked) {
		t.Fatalf("record of a new key under a removed id: %v", err)
	}
	// The name pairs again with a new key and a new id.
	fresh, _ := identity.Generate()
	if err := record(r, fresh, "phone"); err != nil {
		t.Fatalf("name after remove: %v", err)
	}
	// The bar survives a restart and is enforced by the database itself.
	r.Close()
	r2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if err := r2.Admissible(taker.DeviceID, taker.PublicKey()); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after reopen: %v", err)
	}
	if _, err := r2.db.Exec(`INSERT INTO devices (device_id, name, owner, public_key, enrolled_at, cert_serial, cert_not_after) VALUES (?, 'x', 'admin', ?, 1, '1', 1)`, taker.DeviceID, []byte(taker.PublicKey())); err == nil {
		t.Fatal("database accepted a barred id")
	}
	if _, err := r2.db.Exec(`DELETE FROM barred_ids`); err == nil {
		t.Fatal("database let an id bar be lifted")
	}
}

func TestLookalikeNames(t *testing.T) {
	ctx := context.Background()
	r, ca, _ := setup(t)
	id, _ := identity.Generate()
	der, _ := pki.CreateDeviceCSR(id, "laptop")
	req, _ := pki.ParseDeviceCSR(der)
	cert, _ := ca.IssueClient(req, "laptop", time.Now(), time.Hour)
	if _, err := r.Record(ctx, Device{ID: id.DeviceID, Name: "laptop", Owner: "admin", PublicKey: id.PublicKey()}, cert); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"lapt\u03bfp", "l\u0430ptop", "LAPT0P", "\uff4c\uff41\uff50\uff54\uff4f\uff50", "1aptop"} {
		if other, ok := r.NameLookalike(n, ""); !ok || other != "laptop" {
			t.Errorf("%q not flagged: %q %v", n, other, ok)
		}
	}
	for _, n := range []string{"laptop", "Laptop", "desktop", "laptops"} {
		if other, ok := r.NameLookalike(n, ""); ok {
			t.Errorf("%q flagged as like %q", n, other)
		}
	}
	if _, ok := r.NameLookalike("lapt\u03bfp", id.DeviceID); ok {
		t.Error("a device flagged against itself")
	}
}

func TestWeakIDsRefused(t *testing.T) {
	for _, s := range []string{"00000000000000000000000000", "01J00000000000000000000000", "0000000000ABCDEFGHJKMNPQRS", "01JABCDEFGZZZZZZZZZZZZZZZZ"} {
		if err := CheckRandomID(identity.DeviceID(s)); !errors.Is(err, ErrWeakID) {
			t.Errorf("%s: %v", s, err)
		}
	}
	if err := CheckRandomID(identity.NewDeviceID()); err != nil {
		t.Fatal(err)
	}
}

func TestPairingRequestTransitions(t *testing.T) {
	ctx := context.Background()
	r, _, _ := setup(t)
	now := time.Now()
	pw := make([]byte, 32)
	if err := r.CreateCode(ctx, PairingCode{ID: 7, SealedPassword: pw, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}, now, 2); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := r.TakeCode(ctx, 7, now); !ok {
		t.Fatal("code not taken")
	}
	if _, ok, _ := r.TakeCode(ctx, 7, now); ok {
		t.Fatal("code taken twice")
	}
	id, _ := identity.Generate()
	q := PairingRequest{ID: "r1", CodeID: 7, DeviceID: id.DeviceID, Name: "n", PublicKey: id.PublicKey(), CSR: []byte{1}, PollHash: pw, State: PairingPending, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := r.CreateRequest(ctx, q, now, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := r.DecideRequest(ctx, "r1", false, now); err != nil {
		t.Fatal(err)
	}
	if _, err := r.DecideRequest(ctx, "r1", true, now); !errors.Is(err, ErrRequestNotActive) {
		t.Fatalf("rejected then approved: %v", err)
	}
	for _, st := range []string{"approved", "completed", "pending", "expired"} {
		if _, err := r.db.Exec(`UPDATE pairing_requests SET state = ? WHERE request_id = 'r1'`, st); err == nil {
			t.Errorf("database allowed rejected → %s", st)
		}
	}
	q.ID, q.State = "r2", PairingCompleted
	if err := r.CreateRequest(ctx, q, now, 4); err == nil {
		t.Fatal("database accepted a request born completed")
	}
	// Expiry applies when read.
	q.ID, q.State, q.ExpiresAt = "r3", PairingApproved, now.Add(time.Second)
	if err := r.CreateRequest(ctx, q, now, 4); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Request(ctx, "r3", now.Add(2*time.Second)); got.State != PairingExpired {
		t.Fatalf("state %s, want expired", got.State)
	}
}

// An approved request survives a restart and completes after it, in one
// transaction with the device's record.
func TestApprovedRequestCompletesAfterReopen(t *testing.T) {
	ctx := context.Background()
	r, ca, path := setup(t)
	now := time.Now()
	id, _ := identity.Generate()
	der, _ := pki.CreateDeviceCSR(id, "phone")
	q := PairingRequest{ID: "r1", CodeID: 1, DeviceID: id.DeviceID, Name: "phone", PublicKey: id.PublicKey(), CSR: der, PollHash: make([]byte, 32), State: PairingPending, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := r.CreateRequest(ctx, q, now, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := r.DecideRequest(ctx, "r1", true, now); err != nil {
		t.Fatal(err)
	}
	r.Close()
	r2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	got, err := r2.Request(ctx, "r1", now)
	if err != nil || got.State != PairingApproved {
		t.Fatalf("after reopen: %v %v", got.State, err)
	}
	req, _ := pki.ParseDeviceCSR(der)
	cert, _ := ca.IssueClient(req, "phone", now, time.Hour)
	if _, err := r2.CompletePairing(ctx, "r1", Device{ID: id.DeviceID, Name: "phone", Owner: "admin", PublicKey: id.PublicKey()}, cert, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.CompletePairing(ctx, "r1", Device{ID: id.DeviceID, Name: "phone", Owner: "admin", PublicKey: id.PublicKey()}, cert, nil); !errors.Is(err, ErrRequestNotActive) {
		t.Fatalf("completed twice: %v", err)
	}
	if got, _ := r2.Request(ctx, "r1", now); got.State != PairingCompleted || len(got.Certificate) == 0 {
		t.Fatalf("state %s", got.State)
	}
}
