// Package devices is the registry of enrolled devices and the revocation
// index that the TLS handshake consults.
//
// A device is known by its ULID and bound to one Ed25519 public key for
// life: enrolling the same id with another key is refused (re-keying means
// removing the device and enrolling a new one), and a revoked id stays
// revoked. The registry is persisted in SQLite and mirrored in memory, so the
// per-handshake check (Check) is a map lookup with no I/O.
package devices

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/pki"
	"github.com/palyra/palyra/internal/sqlitedb"
)

// Errors callers branch on.
var (
	ErrNotFound    = errors.New("devices: no such device")
	ErrRevoked     = errors.New("devices: device is revoked")
	ErrKeyMismatch = errors.New("devices: device id is bound to another key")
	// ErrAlreadyRevoked is Revoke's answer for a device revoked before:
	// nothing changed, the first revocation time stands.
	ErrAlreadyRevoked = errors.New("devices: device was already revoked")
	// ErrNameTaken means an active device has the name already (names are
	// unique among active devices, ignoring case; a revoked device's name
	// may be reused).
	ErrNameTaken = errors.New("devices: name taken")
	// ErrKeyBarred means the key belonged to a device that was revoked: a
	// key ever revoked is never enrolled or paired again, under any id.
	ErrKeyBarred = errors.New("devices: key was revoked and is barred")
	// ErrWeakID means the device id is not a random ULID (all zero, or a
	// random part of one repeated character).
	ErrWeakID = errors.New("devices: device id is not random")
	// ErrNotRevoked is Remove's answer for a device still active.
	ErrNotRevoked = errors.New("devices: device is not revoked; revoke it first")
)

// Device is one enrolled device.
type Device struct {
	ID           identity.DeviceID
	Name         string
	Owner        string // user the device acts for
	PublicKey    ed25519.PublicKey
	EnrolledAt   time.Time
	RevokedAt    time.Time // zero when not revoked
	CertSerial   string    // hex serial of the latest issued certificate
	CertNotAfter time.Time
	// Connector is the connector name when the certificate makes its
	// holder the principal Connector::"NAME" rather than a device of
	// Owner; "" for a device.
	Connector string
}

// Revoked reports whether the device has been revoked.
func (d Device) Revoked() bool { return !d.RevokedAt.IsZero() }

// CommonName is the subject CN of the device's certificates: its name, or
// "connector:NAME" for a connector (for people; the registry is what
// counts).
func (d Device) CommonName() string {
	if d.Connector != "" {
		return "connector:" + d.Connector
	}
	return d.Name
}

// Fingerprint is the device key's fingerprint (identity.Fingerprint).
func (d Device) Fingerprint() string { return identity.Fingerprint(d.PublicKey) }

var migrations = []string{`
CREATE TABLE devices (
	device_id      TEXT PRIMARY KEY,
	name           TEXT NOT NULL,
	owner          TEXT NOT NULL,
	public_key     BLOB NOT NULL CHECK (length(public_key) = 32),
	enrolled_at    INTEGER NOT NULL,
	revoked_at     INTEGER NOT NULL DEFAULT 0,
	cert_serial    TEXT NOT NULL,
	cert_not_after INTEGER NOT NULL
) STRICT;
-- Revocation is permanent: a revoked row can never be un-revoked.
CREATE TRIGGER devices_revocation_is_final BEFORE UPDATE OF revoked_at ON devices
WHEN OLD.revoked_at != 0 BEGIN SELECT RAISE(ABORT, 'device revocation is final'); END;
`, migrationKeyContinuity, migrationPairing}

// migrationKeyContinuity bars every key and every device id ever revoked,
// for ever: a revoked device's key and id are copied to barred_keys and
// barred_ids by the database itself, rows there are never deleted, and no
// device row may carry a barred key or id. Only a revoked device may be
// removed, which frees its name, never its id (a new key cannot take over
// the old id's vault scope and audit history).
const migrationKeyContinuity = `
ALTER TABLE devices ADD COLUMN connector TEXT NOT NULL DEFAULT '';
CREATE TABLE barred_keys (
	public_key BLOB PRIMARY KEY CHECK (length(public_key) = 32),
	barred_at  INTEGER NOT NULL
) STRICT;
INSERT INTO barred_keys SELECT public_key, revoked_at FROM devices WHERE revoked_at != 0;
CREATE TRIGGER barred_keys_are_permanent BEFORE DELETE ON barred_keys
BEGIN SELECT RAISE(ABORT, 'a barred key stays barred'); END;
CREATE TRIGGER barred_keys_are_immutable BEFORE UPDATE ON barred_keys
BEGIN SELECT RAISE(ABORT, 'a barred key stays barred'); END;
CREATE TRIGGER devices_bar_revoked_key AFTER UPDATE OF revoked_at ON devices
WHEN NEW.revoked_at != 0 BEGIN INSERT OR IGNORE INTO barred_keys VALUES (NEW.public_key, NEW.revoked_at); END;
CREATE TRIGGER devices_refuse_barred_key BEFORE INSERT ON devices
WHEN EXISTS (SELECT 1 FROM barred_keys WHERE public_key = NEW.public_key)
BEGIN SELECT RAISE(ABORT, 'device key is barred'); END;
CREATE TRIGGER devices_remove_only_revoked BEFORE DELETE ON devices
WHEN OLD.revoked_at = 0 BEGIN SELECT RAISE(ABORT, 'only a revoked device can be removed'); END;
CREATE TABLE barred_ids (
	device_id TEXT PRIMARY KEY,
	barred_at INTEGER NOT NULL
) STRICT;
INSERT INTO barred_ids SELECT device_id, revoked_at FROM devices WHERE revoked_at != 0;
CREATE TRIGGER barred_ids_are_permanent BEFORE DELETE ON barred_ids
BEGIN SELECT RAISE(ABORT, 'a barred device id stays barred'); END;
CREATE TRIGGER barred_ids_are_immutable BEFORE UPDATE ON barred_ids
BEGIN SELECT RAISE(ABORT, 'a barred device id stays barred'); END;
CREATE TRIGGER devices_bar_revoked_id AFTER UPDATE OF revoked_at ON devices
WHEN NEW.revoked_at != 0 BEGIN INSERT OR IGNORE INTO barred_ids VALUES (NEW.device_id, NEW.revoked_at); END;
CREATE TRIGGER devices_refuse_barred_id BEFORE INSERT ON devices
WHEN EXISTS (SELECT 1 FROM barred_ids WHERE device_id = NEW.device_id)
BEGIN SELECT RAISE(ABORT, 'device id is barred'); END;
`

// Registry is the device registry. Safe for concurrent use.
type Registry struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[identity.DeviceID]Device
	// barred holds every barred key (string of the 32 raw bytes).
	barred map[string]bool
	// barredIDs holds every device id ever revoked.
	barredIDs map[identity.DeviceID]bool
}

// Open opens (creating if needed) the registry database at path and loads it
// into memory.
func Open(ctx context.Context, path string) (*Registry, error) {
	db, err := sqlitedb.Open(ctx, path, migrations)
	if err != nil {
		return nil, err
	}
	r := &Registry{db: db, m: map[identity.DeviceID]Device{}, barred: map[string]bool{}, barredIDs: map[identity.DeviceID]bool{}}
	if err := r.loadBarred(ctx); err != nil {
		db.Close()
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT device_id, name, owner, public_key, enrolled_at, revoked_at, cert_serial, cert_not_after, connector FROM devices`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("devices: load: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d Device
		var pub []byte
		var enrolled, revoked, notAfter int64
		if err := rows.Scan(&d.ID, &d.Name, &d.Owner, &pub, &enrolled, &revoked, &d.CertSerial, &notAfter, &d.Connector); err != nil {
			db.Close()
			return nil, fmt.Errorf("devices: load: %w", err)
		}
		d.PublicKey = ed25519.PublicKey(pub)
		d.EnrolledAt, d.CertNotAfter = time.Unix(enrolled, 0), time.Unix(notAfter, 0)
		if revoked != 0 {
			d.RevokedAt = time.Unix(revoked, 0)
		}
		r.m[d.ID] = d
	}
	if err := rows.Err(); err != nil {
		db.Close()
		return nil, fmt.Errorf("devices: load: %w", err)
	}
	return r, nil
}

// Close closes the database.
func (r *Registry) Close() error { return r.db.Close() }

// Record stores the issuance of cert to device d (ID, Name, Owner,
// PublicKey set). A new id is inserted; a known id must have the same key
// and not be revoked, and gets its name and certificate fields updated.
// It returns ErrKeyMismatch or ErrRevoked otherwise, ErrKeyBarred for a key
// ever revoked, ErrWeakID for a non-random id, and ErrNameTaken when
// another active device has d's name, changing nothing.
func (r *Registry) Record(ctx context.Context, d Device, cert *x509.Certificate) (Device, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, err := r.prepare(d, cert)
	if err != nil {
		return Device{}, err
	}
	if err := r.store(ctx, r.db, d); err != nil {
		return Device{}, err
	}
	r.m[d.ID] = d
	return d, nil
}

// prepare checks that d may be recorded with cert and fills in its
// certificate and enrollment fields. r.mu must be held.
func (r *Registry) prepare(d Device, cert *x509.Certificate) (Device, error) {
	if err := r.admissible(d.ID, d.PublicKey); err != nil {
		return Device{}, err
	}
	if other, ok := r.activeNamed(d.Name, d.ID); ok {
		return Device{}, fmt.Errorf("%w: active device %s is named %q; choose another name, or revoke that device first", ErrNameTaken, other.ID, other.Name)
	}
	d.CertSerial = cert.SerialNumber.Text(16)
	d.CertNotAfter = cert.NotAfter.Truncate(time.Second)
	d.EnrolledAt = time.Now().Truncate(time.Second)
	if old, ok := r.m[d.ID]; ok {
		d.EnrolledAt, d.Owner, d.Connector = old.EnrolledAt, old.Owner, old.Connector
	}
	return d, nil
}

// execer is a *sql.DB or *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// store writes d, prepared, inserting a new id or updating a known one.
// r.mu must be held.
func (r *Registry) store(ctx context.Context, db execer, d Device) error {
	if _, ok := r.m[d.ID]; ok {
		_, err := db.ExecContext(ctx, `UPDATE devices SET name = ?, cert_serial = ?, cert_not_after = ? WHERE device_id = ?`,
			d.Name, d.CertSerial, d.CertNotAfter.Unix(), d.ID)
		if err != nil {
			return fmt.Errorf("devices: update %s: %w", d.ID, err)
		}
		return nil
	}
	if d.EnrolledAt.IsZero() {
		return errors.New("devices: internal error: unprepared device")
	}
	_, err := db.ExecContext(ctx, `INSERT INTO devices (device_id, name, owner, public_key, enrolled_at, cert_serial, cert_not_after, connector) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.Name, d.Owner, []byte(d.PublicKey), d.EnrolledAt.Unix(), d.CertSerial, d.CertNotAfter.Unix(), d.Connector)
	if err != nil {
		return fmt.Errorf("devices: insert %s: %w", d.ID, err)
	}
	return nil
}

// activeNamed returns an active device other than except whose name is
// name, ignoring case. r.mu must be held.
func (r *Registry) activeNamed(name string, except identity.DeviceID) (Device, bool) {
	for _, o := range r.m {
		if o.ID != except && !o.Revoked() && strings.EqualFold(o.Name, name) {
			return o, true
		}
	}
	return Device{}, false
}

// Revoke marks the device revoked, durably, before returning. Revoking an
// already revoked device changes nothing (its revocation time stands) and
// returns an error wrapping ErrAlreadyRevoked that says when.
func (r *Registry) Revoke(ctx context.Context, id identity.DeviceID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.m[id]
	if !ok {
		return ErrNotFound
	}
	if d.Revoked() {
		return fmt.Errorf("%w at %s", ErrAlreadyRevoked, d.RevokedAt.UTC().Format(time.RFC3339))
	}
	now := time.Now().Truncate(time.Second)
	if _, err := r.db.ExecContext(ctx, `UPDATE devices SET revoked_at = ? WHERE device_id = ?`, now.Unix(), id); err != nil {
		return fmt.Errorf("devices: revoke %s: %w", id, err)
	}
	d.RevokedAt = now
	r.m[id] = d
	r.barred[string(d.PublicKey)] = true
	r.barredIDs[id] = true
	return nil
}

// Get returns the device with id.
func (r *Registry) Get(id identity.DeviceID) (Device, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.m[id]
	if !ok {
		return Device{}, ErrNotFound
	}
	return d, nil
}

// List returns every device, oldest enrollment first.
func (r *Registry) List() []Device {
	r.mu.RLock()
	out := make([]Device, 0, len(r.m))
	for _, d := range r.m {
		out = append(out, d)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].EnrolledAt.Equal(out[j].EnrolledAt) {
			return out[i].EnrolledAt.Before(out[j].EnrolledAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Check decides whether a client certificate that already chains to the CA
// names a device that may connect: the device must be enrolled, not
// revoked, and bound to the certificate's key. It runs in every TLS handshake
// and again on every request, with no I/O.
func (r *Registry) Check(cert *x509.Certificate) (Device, error) {
	id, err := pki.DeviceIDFromCert(cert)
	if err != nil {
		return Device{}, err
	}
	d, err := r.Get(id)
	if err != nil {
		return Device{}, err
	}
	if d.Revoked() {
		return Device{}, ErrRevoked
	}
	if !d.PublicKey.Equal(cert.PublicKey) {
		return Device{}, ErrKeyMismatch
	}
	return d, nil
}
