package devices

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/pki"
)

func setup(t *testing.T) (*Registry, *pki.CA, string) {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), bytes.Repeat([]byte{1}, 32), "t")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "devices.db")
	r, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, ca, path
}

func TestEnrollCheckRevokePersist(t *testing.T) {
	ctx := context.Background()
	r, ca, path := setup(t)
	id, _ := identity.Generate()
	der, _ := pki.CreateDeviceCSR(id, "laptop")
	req, _ := pki.ParseDeviceCSR(der)
	cert, _ := ca.IssueClient(req, "laptop", time.Now(), time.Hour)
	d := Device{ID: id.DeviceID, Name: "laptop", Owner: "admin", PublicKey: id.PublicKey()}
	if _, err := r.Record(ctx, d, cert); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Check(cert); err != nil || got.ID != id.DeviceID {
		t.Fatalf("check: %v", err)
	}

	// The same id with another key is refused and changes nothing.
	other, _ := identity.Generate()
	other.DeviceID = id.DeviceID
	der2, _ := pki.CreateDeviceCSR(other, "evil")
	req2, _ := pki.ParseDeviceCSR(der2)
	cert2, _ := ca.IssueClient(req2, "evil", time.Now(), time.Hour)
	if _, err := r.Record(ctx, Device{ID: id.DeviceID, Name: "evil", Owner: "admin", PublicKey: other.PublicKey()}, cert2); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("re-key: %v", err)
	}
	if _, err := r.Check(cert2); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("check of a certificate for another key: %v", err)
	}

	if err := r.Revoke(ctx, id.DeviceID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Check(cert); !errors.Is(err, ErrRevoked) {
		t.Fatalf("check after revoke: %v", err)
	}
	// A second revocation says so and leaves the first one's time.
	first, _ := r.Get(id.DeviceID)
	if err := r.Revoke(ctx, id.DeviceID); !errors.Is(err, ErrAlreadyRevoked) {
		t.Fatalf("second revoke: %v", err)
	}
	if again, _ := r.Get(id.DeviceID); !again.RevokedAt.Equal(first.RevokedAt) {
		t.Fatalf("second revoke moved the revocation time: %v -> %v", first.RevokedAt, again.RevokedAt)
	}
	if _, err := r.Record(ctx, d, cert); !errors.Is(err, ErrRevoked) {
		t.Fatalf("re-enroll after revoke: %v", err)
	}
	if err := r.Revoke(ctx, "01HZZZZZZZZZZZZZZZZZZZZZZZ"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}

	// Revocation survives a restart, and cannot be undone in the database.
	r.Close()
	r2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if _, err := r2.Check(cert); !errors.Is(err, ErrRevoked) {
		t.Fatalf("check after reopen: %v", err)
	}
	if _, err := r2.db.Exec(`UPDATE devices SET revoked_at = 0`); err == nil {
		t.Fatal("un-revoked a device")
	}
	if n := len(r2.List()); n != 1 {
		t.Fatalf("list: %d devices", n)
	}
}

// Names are unique among active devices, ignoring case; a revoked device's
// name is free again, and a device keeps its own name on renewal.
func TestNamesUniqueAmongActive(t *testing.T) {
	ctx := context.Background()
	r, ca, _ := setup(t)
	enroll := func(name string) (Device, *identity.Identity, error) {
		id, _ := identity.Generate()
		der, _ := pki.CreateDeviceCSR(id, name)
		req, _ := pki.ParseDeviceCSR(der)
		cert, _ := ca.IssueClient(req, name, time.Now(), time.Hour)
		d, err := r.Record(ctx, Device{ID: id.DeviceID, Name: name, Owner: "admin", PublicKey: id.PublicKey()}, cert)
		return d, id, err
	}
	first, id, err := enroll("laptop")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"laptop", "Laptop"} {
		if _, _, err := enroll(name); !errors.Is(err, ErrNameTaken) {
			t.Fatalf("second %q: %v", name, err)
		}
	}
	if n := len(r.List()); n != 1 {
		t.Fatalf("a refused name was recorded: %d devices", n)
	}
	// Renewal of the device itself, under its own name.
	der, _ := pki.CreateDeviceCSR(id, "laptop")
	req, _ := pki.ParseDeviceCSR(der)
	cert, _ := ca.IssueClient(req, "laptop", time.Now(), time.Hour)
	if _, err := r.Record(ctx, first, cert); err != nil {
		t.Fatalf("renewal: %v", err)
	}
	if err := r.Revoke(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := enroll("laptop"); err != nil {
		t.Fatalf("the name of a revoked device: %v", err)
	}
}
