package identity

import (
	"errors"
	"fmt"

	"github.com/oklog/ulid/v2"
)

// DeviceID names a device: a ULID in its canonical form, 26 upper-case
// Crockford base32 characters (as ulid.String writes it). The zero value ""
// means no device (the local owner on the admin socket). A DeviceID obtained
// from ParseDeviceID, NewDeviceID or UnmarshalText is always canonical.
type DeviceID string

// ErrInvalidDeviceID is wrapped by the errors of ParseDeviceID.
var ErrInvalidDeviceID = errors.New("identity: invalid device id")

// NewDeviceID returns a fresh random device id.
func NewDeviceID() DeviceID { return DeviceID(ulid.Make().String()) }

// ParseDeviceID returns s as a DeviceID if it is a canonical ULID. Lower
// case, Crockford aliases (I, L, O, U) and overflowing timestamps are
// refused, so every device has exactly one spelling.
func ParseDeviceID(s string) (DeviceID, error) {
	u, err := ulid.ParseStrict(s)
	if err != nil || u.String() != s {
		return "", fmt.Errorf("%w %q (want a 26-character upper-case ULID)", ErrInvalidDeviceID, truncate(s, 40))
	}
	return DeviceID(s), nil
}

// String returns the canonical form, "" for the zero value.
func (d DeviceID) String() string { return string(d) }

// IsZero reports whether d is the zero value (no device).
func (d DeviceID) IsZero() bool { return d == "" }

// MarshalText implements encoding.TextMarshaler.
func (d DeviceID) MarshalText() ([]byte, error) { return []byte(d), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts only a
// canonical id (see ParseDeviceID).
func (d *DeviceID) UnmarshalText(b []byte) error {
	v, err := ParseDeviceID(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// truncate shortens s for an error message, so a hostile value cannot make
// an error line arbitrarily long.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
