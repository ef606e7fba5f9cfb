package devices

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/palyra/palyra/internal/identity"
)

// Pairing state kept beside the registry (docs/pairing.md): one-time codes,
// whose PAKE password is stored only sealed under a key the database does
// not hold, and pairing requests, whose state machine the database
// enforces.

// Pairing errors.
var (
	ErrTooManyCodes     = errors.New("devices: too many active pairing codes")
	ErrCodeIDTaken      = errors.New("devices: pairing code id in use")
	ErrTooManyRequests  = errors.New("devices: too many pending pairing requests")
	ErrRequestNotFound  = errors.New("devices: no such pairing request")
	ErrRequestNotActive = errors.New("devices: pairing request is not pending")
)

// migrationPairing creates the pairing tables. A code's PAKE password is
// kept only sealed (AEAD) under a key derived from the daemon's master key,
// so a copy of devices.db alone reveals no code. A code is used at most
// once (used_at, once set, never changes); a request moves only along
// pending → approved → completed, pending → rejected, pending|approved →
// expired.
const migrationPairing = `
CREATE TABLE pairing_codes (
	code_id         INTEGER PRIMARY KEY CHECK (code_id > 0),
	sealed_password BLOB NOT NULL CHECK (length(sealed_password) BETWEEN 32 AND 128),
	name            TEXT NOT NULL,
	connector       TEXT NOT NULL,
	approve         INTEGER NOT NULL CHECK (approve IN (0, 1)),
	created_at      INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL,
	used_at         INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TRIGGER pairing_codes_single_use BEFORE UPDATE OF used_at ON pairing_codes
WHEN OLD.used_at != 0 BEGIN SELECT RAISE(ABORT, 'pairing code already used'); END;
CREATE TABLE pairing_requests (
	request_id  TEXT PRIMARY KEY,
	code_id     INTEGER NOT NULL,
	device_id   TEXT NOT NULL,
	name        TEXT NOT NULL,
	platform    TEXT NOT NULL,
	connector   TEXT NOT NULL,
	public_key  BLOB NOT NULL CHECK (length(public_key) = 32),
	csr         BLOB NOT NULL,
	poll_hash   BLOB NOT NULL CHECK (length(poll_hash) = 32),
	state       TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'completed', 'rejected', 'expired')),
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	certificate BLOB NOT NULL DEFAULT x''
) STRICT;
CREATE TRIGGER pairing_requests_start BEFORE INSERT ON pairing_requests
WHEN NEW.state NOT IN ('pending', 'approved')
BEGIN SELECT RAISE(ABORT, 'a pairing request starts pending or approved'); END;
CREATE TRIGGER pairing_requests_transitions BEFORE UPDATE OF state ON pairing_requests
WHEN NOT ((OLD.state = 'pending' AND NEW.state IN ('approved', 'rejected', 'expired'))
       OR (OLD.state = 'approved' AND NEW.state IN ('completed', 'expired')))
BEGIN SELECT RAISE(ABORT, 'pairing request state transition not allowed'); END;
`

// PairingCode is a pairing code as stored: never its digits, only the
// PAKE password derived from them (paircode.Code.Password), sealed by the
// caller under a key this package never sees.
type PairingCode struct {
	ID uint32
	// SealedPassword is the sealed PAKE password, 32 to 128 bytes.
	SealedPassword []byte
	Name           string // proposed device name; "" lets the device choose
	Connector      string // connector name, "" for a device
	Approve        bool   // requests are approved at once
	CreatedAt      time.Time
	ExpiresAt      time.Time
}

// PairingState is a pairing request's state.
type PairingState string

// The pairing request states.
const (
	PairingPending   PairingState = "pending"
	PairingApproved  PairingState = "approved"
	PairingCompleted PairingState = "completed"
	PairingRejected  PairingState = "rejected"
	PairingExpired   PairingState = "expired"
)

// PairingRequest is a device's request to be paired, recorded once its
// PAKE was confirmed.
type PairingRequest struct {
	ID        string
	CodeID    uint32
	DeviceID  identity.DeviceID
	Name      string
	Platform  string
	Connector string
	PublicKey ed25519.PublicKey
	CSR       []byte
	// PollHash is SHA-256 of the poll token derived from the PAKE key.
	PollHash    []byte
	State       PairingState
	CreatedAt   time.Time
	ExpiresAt   time.Time
	Certificate []byte // DER, once completed
}

// CreateCode stores c unless max codes are active at now (ErrTooManyCodes)
// or c.ID is held by any stored code (ErrCodeIDTaken). Codes used or
// expired more than a day ago are pruned first.
func (r *Registry) CreateCode(ctx context.Context, c PairingCode, now time.Time, max int) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	defer tx.Rollback()
	day := now.Add(-24 * time.Hour).Unix()
	if _, err := tx.ExecContext(ctx, `DELETE FROM pairing_codes WHERE (used_at != 0 AND used_at < ?) OR expires_at < ?`, day, day); err != nil {
		return fmt.Errorf("devices: prune codes: %w", err)
	}
	var active, taken int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pairing_codes WHERE used_at = 0 AND expires_at > ?`, now.Unix()).Scan(&active); err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	if active >= max {
		return fmt.Errorf("%w (%d); cancel one or let it expire", ErrTooManyCodes, max)
	}
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pairing_codes WHERE code_id = ?`, c.ID).Scan(&taken); err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	if taken > 0 {
		return ErrCodeIDTaken
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO pairing_codes (code_id, sealed_password, name, connector, approve, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.SealedPassword, c.Name, c.Connector, c.Approve, c.CreatedAt.Unix(), c.ExpiresAt.Unix())
	if err != nil {
		return fmt.Errorf("devices: store code: %w", err)
	}
	return tx.Commit()
}

// Codes returns the codes active at now (unused, unexpired), lowest id
// first, without their passwords.
func (r *Registry) Codes(ctx context.Context, now time.Time) ([]PairingCode, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT code_id, name, connector, approve, created_at, expires_at FROM pairing_codes WHERE used_at = 0 AND expires_at > ? ORDER BY code_id`, now.Unix())
	if err != nil {
		return nil, fmt.Errorf("devices: list codes: %w", err)
	}
	defer rows.Close()
	var out []PairingCode
	for rows.Next() {
		var c PairingCode
		var created, expires int64
		if err := rows.Scan(&c.ID, &c.Name, &c.Connector, &c.Approve, &created, &expires); err != nil {
			return nil, fmt.Errorf("devices: list codes: %w", err)
		}
		c.CreatedAt, c.ExpiresAt = time.Unix(created, 0), time.Unix(expires, 0)
		out = append(out, c)
	}
	return out, rows.Err()
}

// CancelCode withdraws an active code (it counts as used). ErrNotFound if
// no code with id is active at now.
func (r *Registry) CancelCode(ctx context.Context, id uint32, now time.Time) error {
	res, err := r.db.ExecContext(ctx, `UPDATE pairing_codes SET used_at = ? WHERE code_id = ? AND used_at = 0 AND expires_at > ?`, now.Unix(), id, now.Unix())
	if err != nil {
		return fmt.Errorf("devices: cancel code: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// TakeCode uses up the code id if it is active at now and returns it; ok
// is false (and nothing changes) otherwise. Two callers racing on one code
// get it at most once between them.
func (r *Registry) TakeCode(ctx context.Context, id uint32, now time.Time) (c PairingCode, ok bool, err error) {
	var created, expires int64
	err = r.db.QueryRowContext(ctx, `UPDATE pairing_codes SET used_at = ? WHERE code_id = ? AND used_at = 0 AND expires_at > ?
		RETURNING code_id, sealed_password, name, connector, approve, created_at, expires_at`, now.Unix(), id, now.Unix()).
		Scan(&c.ID, &c.SealedPassword, &c.Name, &c.Connector, &c.Approve, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return PairingCode{}, false, nil
	}
	if err != nil {
		return PairingCode{}, false, fmt.Errorf("devices: take code: %w", err)
	}
	c.CreatedAt, c.ExpiresAt = time.Unix(created, 0), time.Unix(expires, 0)
	return c, true, nil
}

// CreateRequest stores q (State pending or approved) unless max requests
// are pending or approved at now (ErrTooManyRequests).
func (r *Registry) CreateRequest(ctx context.Context, q PairingRequest, now time.Time, max int) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	defer tx.Rollback()
	if err := expireRequests(ctx, tx, now); err != nil {
		return err
	}
	var open int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pairing_requests WHERE state IN ('pending', 'approved')`).Scan(&open); err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	if open >= max {
		return fmt.Errorf("%w (%d)", ErrTooManyRequests, max)
	}
	if err := insertRequest(ctx, tx, q); err != nil {
		return err
	}
	return tx.Commit()
}

func insertRequest(ctx context.Context, db execer, q PairingRequest) error {
	_, err := db.ExecContext(ctx, `INSERT INTO pairing_requests (request_id, code_id, device_id, name, platform, connector, public_key, csr, poll_hash, state, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		q.ID, q.CodeID, q.DeviceID, q.Name, q.Platform, q.Connector, []byte(q.PublicKey), q.CSR, q.PollHash, q.State, q.CreatedAt.Unix(), q.ExpiresAt.Unix())
	if err != nil {
		return fmt.Errorf("devices: store pairing request: %w", err)
	}
	return nil
}

func expireRequests(ctx context.Context, db execer, now time.Time) error {
	if _, err := db.ExecContext(ctx, `UPDATE pairing_requests SET state = 'expired' WHERE state IN ('pending', 'approved') AND expires_at <= ?`, now.Unix()); err != nil {
		return fmt.Errorf("devices: expire pairing requests: %w", err)
	}
	return nil
}

const requestColumns = `request_id, code_id, device_id, name, platform, connector, public_key, csr, poll_hash, state, created_at, expires_at, certificate`

func scanRequest(row interface{ Scan(...any) error }) (PairingRequest, error) {
	var q PairingRequest
	var pub []byte
	var created, expires int64
	if err := row.Scan(&q.ID, &q.CodeID, &q.DeviceID, &q.Name, &q.Platform, &q.Connector, &pub, &q.CSR, &q.PollHash, &q.State, &created, &expires, &q.Certificate); err != nil {
		return PairingRequest{}, err
	}
	q.PublicKey = ed25519.PublicKey(pub)
	q.CreatedAt, q.ExpiresAt = time.Unix(created, 0), time.Unix(expires, 0)
	return q, nil
}

// Request returns the pairing request id as of now (expiring it first if
// due), or ErrRequestNotFound.
func (r *Registry) Request(ctx context.Context, id string, now time.Time) (PairingRequest, error) {
	if err := expireRequests(ctx, r.db, now); err != nil {
		return PairingRequest{}, err
	}
	q, err := scanRequest(r.db.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM pairing_requests WHERE request_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return PairingRequest{}, ErrRequestNotFound
	}
	if err != nil {
		return PairingRequest{}, fmt.Errorf("devices: pairing request: %w", err)
	}
	return q, nil
}

// Requests returns the pending requests (all of them with all), oldest
// first.
func (r *Registry) Requests(ctx context.Context, all bool, now time.Time) ([]PairingRequest, error) {
	if err := expireRequests(ctx, r.db, now); err != nil {
		return nil, err
	}
	q := `SELECT ` + requestColumns + ` FROM pairing_requests`
	if !all {
		q += ` WHERE state = 'pending'`
	}
	rows, err := r.db.QueryContext(ctx, q+` ORDER BY created_at, request_id`)
	if err != nil {
		return nil, fmt.Errorf("devices: list pairing requests: %w", err)
	}
	defer rows.Close()
	var out []PairingRequest
	for rows.Next() {
		pr, err := scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("devices: list pairing requests: %w", err)
		}
		out = append(out, pr)
	}
	return out, rows.Err()
}

// DecideRequest moves a pending request to approved or rejected, or returns
// ErrRequestNotFound or ErrRequestNotActive.
func (r *Registry) DecideRequest(ctx context.Context, id string, approve bool, now time.Time) (PairingRequest, error) {
	q, err := r.Request(ctx, id, now)
	if err != nil {
		return PairingRequest{}, err
	}
	if q.State != PairingPending {
		return PairingRequest{}, fmt.Errorf("%w (it is %s)", ErrRequestNotActive, q.State)
	}
	next := PairingRejected
	if approve {
		next = PairingApproved
	}
	res, err := r.db.ExecContext(ctx, `UPDATE pairing_requests SET state = ? WHERE request_id = ? AND state = 'pending'`, next, id)
	if err != nil {
		return PairingRequest{}, fmt.Errorf("devices: decide pairing request: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return PairingRequest{}, ErrRequestNotActive
	}
	q.State = next
	return q, nil
}

// CompletePairing records device d with cert for the approved request id
// and marks the request completed with the certificate, in one
// transaction: either both happen or neither. It returns the Record
// errors, or ErrRequestNotActive when the request is not approved.
//
// With newRequest set (State approved, ID id), the request is stored in
// the same transaction first: a pre-approved pairing is one commit.
func (r *Registry) CompletePairing(ctx context.Context, id string, d Device, cert *x509.Certificate, newRequest *PairingRequest) (Device, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, err := r.prepare(d, cert)
	if err != nil {
		return Device{}, err
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return Device{}, fmt.Errorf("devices: %w", err)
	}
	defer tx.Rollback()
	if q := newRequest; q != nil {
		if q.ID != id || q.State != PairingApproved {
			return Device{}, errors.New("devices: internal error: new request must be approved and named id")
		}
		if err := insertRequest(ctx, tx, *q); err != nil {
			return Device{}, err
		}
	}
	res, err := tx.ExecContext(ctx, `UPDATE pairing_requests SET state = 'completed', certificate = ? WHERE request_id = ? AND state = 'approved'`, cert.Raw, id)
	if err != nil {
		return Device{}, fmt.Errorf("devices: complete pairing: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Device{}, ErrRequestNotActive
	}
	if err := r.store(ctx, tx, d); err != nil {
		return Device{}, err
	}
	if err := tx.Commit(); err != nil {
		return Device{}, fmt.Errorf("devices: complete pairing: %w", err)
	}
	r.m[d.ID] = d
	return d, nil
}
