package devices

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"

	"github.com/palyra/palyra/internal/identity"
)

// Key continuity: a device id is bound to one key for life, a key ever
// revoked is barred for ever (under any id), an id ever revoked is barred
// for ever (under any key), and ids must be random.

// CheckRandomID refuses a device id that is not a plausible random ULID:
// its 48-bit time part all zero, or its 80-bit random part one repeated
// character (the all-zero id and hand-made ids like 01J…0000000000000000).
// It returns an error wrapping ErrWeakID.
func CheckRandomID(id identity.DeviceID) error {
	s := id.String()
	if len(s) != 26 {
		return fmt.Errorf("%w: %q", ErrWeakID, id)
	}
	ts, rnd := s[:10], s[10:]
	if strings.Count(ts, "0") == len(ts) || strings.Count(rnd, rnd[:1]) == len(rnd) {
		return fmt.Errorf("%w: %s", ErrWeakID, id)
	}
	return nil
}

// admissible reports whether key may be recorded for id: the id is random,
// the key is not barred, and a known id is unrevoked and bound to key.
// r.mu must be held (read or write).
func (r *Registry) admissible(id identity.DeviceID, key ed25519.PublicKey) error {
	if err := CheckRandomID(id); err != nil {
		return err
	}
	if old, ok := r.m[id]; ok {
		if old.Revoked() {
			return ErrRevoked
		}
		if !old.PublicKey.Equal(key) {
			return ErrKeyMismatch
		}
	}
	if r.barred[string(key)] {
		return ErrKeyBarred
	}
	if r.barredIDs[id] {
		return ErrRevoked
	}
	return nil
}

// Admissible reports whether a device with id and key could be enrolled or
// paired now (see Record): nil, or ErrWeakID, ErrKeyBarred, ErrRevoked or
// ErrKeyMismatch.
func (r *Registry) Admissible(id identity.DeviceID, key ed25519.PublicKey) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.admissible(id, key)
}

// NameInUse reports whether an active device or connector other than
// except is named name, ignoring case.
func (r *Registry) NameInUse(name string, except identity.DeviceID) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.activeNamed(name, except)
	return ok
}

func (r *Registry) loadBarred(ctx context.Context) error {
	ids, err := r.db.QueryContext(ctx, `SELECT device_id FROM barred_ids`)
	if err != nil {
		return fmt.Errorf("devices: load barred ids: %w", err)
	}
	defer ids.Close()
	for ids.Next() {
		var id identity.DeviceID
		if err := ids.Scan(&id); err != nil {
			return fmt.Errorf("devices: load barred ids: %w", err)
		}
		r.barredIDs[id] = true
	}
	if err := ids.Err(); err != nil {
		return fmt.Errorf("devices: load barred ids: %w", err)
	}
	rows, err := r.db.QueryContext(ctx, `SELECT public_key FROM barred_keys`)
	if err != nil {
		return fmt.Errorf("devices: load barred keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k []byte
		if err := rows.Scan(&k); err != nil {
			return fmt.Errorf("devices: load barred keys: %w", err)
		}
		r.barred[string(k)] = true
	}
	return rows.Err()
}

// Remove forgets a revoked device: its name may be used again, by a new
// device (new id, new key); its id and key stay barred. It returns ErrNotFound or ErrNotRevoked otherwise.
func (r *Registry) Remove(ctx context.Context, id identity.DeviceID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.m[id]
	if !ok {
		return ErrNotFound
	}
	if !d.Revoked() {
		return ErrNotRevoked
	}
	if _, err := r.db.ExecContext(ctx, `DELETE FROM devices WHERE device_id = ?`, id); err != nil {
		return fmt.Errorf("devices: remove %s: %w", id, err)
	}
	delete(r.m, id)
	return nil
}
