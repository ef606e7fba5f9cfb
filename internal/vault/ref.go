package vault

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/palyra/palyra/internal/identity"
)

// MaxNameBytes bounds a secret key and the name part of a scope
// ("alice" in "user:alice").
const MaxNameBytes = 128

// RefPrefix is the optional scheme of a textual reference.
const RefPrefix = "vault://"

// Scope kinds other than "global"; each takes a name: "user:alice".
var scopeKinds = [...]string{"user", "device", "connector", "tool"}

// Ref names one secret: a scope and a key inside it. Its text form is
// "<scope>/<key>", for example "global/openai_api_key" or
// "user:alice/gh_token". A Ref built directly rather than by ParseRef is
// checked by every Vault method, so an invalid one never reaches storage.
type Ref struct {
	// Scope is "global", "user:<name>", "device:<id>", "connector:<name>"
	// or "tool:<name>"; see ValidScope.
	Scope string
	// Key is the secret's name inside the scope: 1..MaxNameBytes bytes of
	// [A-Za-z0-9._-], without "..".
	Key string
}

// ParseRef parses "<scope>/<key>", optionally preceded by "vault://". It is
// strict: the scope must pass ValidScope and the key the same name rules,
// with exactly one '/' between them, and nothing is trimmed or case-folded.
// Errors wrap ErrInvalidRef and do not echo the input, which may be a
// mistakenly pasted secret.
func ParseRef(s string) (Ref, error) {
	s = strings.TrimPrefix(s, RefPrefix)
	scope, key, ok := strings.Cut(s, "/")
	if !ok {
		return Ref{}, fmt.Errorf("%w: want <scope>/<key>, found no '/'", ErrInvalidRef)
	}
	r := Ref{Scope: scope, Key: key}
	if err := r.Validate(); err != nil {
		return Ref{}, err
	}
	return r, nil
}

// ParseVersionedRef parses "<scope>/<key>#<version>" (the "#<version>"
// suffix and the "vault://" prefix are optional) into a Ref and a version
// number. version is 0 when the suffix is absent, meaning the latest version;
// otherwise it is a decimal integer from 1 to 2^63-1 without sign or leading
// zeros. Errors wrap ErrInvalidRef.
func ParseVersionedRef(s string) (ref Ref, version int64, err error) {
	s, v, hasVersion := strings.Cut(s, "#")
	if hasVersion {
		if version, err = parseVersion(v); err != nil {
			return Ref{}, 0, err
		}
	}
	if ref, err = ParseRef(s); err != nil {
		return Ref{}, 0, err
	}
	return ref, version, nil
}

func parseVersion(s string) (int64, error) {
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, fmt.Errorf("%w: version must be a decimal integer >= 1 without leading zeros", ErrInvalidRef)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: version must be a decimal integer >= 1 without leading zeros", ErrInvalidRef)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: version out of range", ErrInvalidRef)
	}
	return n, nil
}

// String returns "<scope>/<key>", the form ParseRef accepts, without the
// "vault://" prefix.
func (r Ref) String() string { return r.Scope + "/" + r.Key }

// Validate reports whether r is a well-formed reference; errors wrap
// ErrInvalidRef.
func (r Ref) Validate() error {
	if err := ValidScope(r.Scope); err != nil {
		return err
	}
	if err := validName(r.Key); err != nil {
		return fmt.Errorf("%w: key: %s", ErrInvalidRef, err)
	}
	return nil
}

// ValidScope reports whether s is a scope: exactly "global", or one of
// "user:", "connector:", "tool:" (lower case) followed by a name of
// 1..MaxNameBytes bytes of [A-Za-z0-9._-] without "..", or "device:"
// followed by a device id in its canonical form (identity.ParseDeviceID: 26
// upper-case Crockford base32 characters), so that one device has exactly
// one scope. Errors wrap ErrInvalidRef.
func ValidScope(s string) error {
	if s == "global" {
		return nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if !ok {
		return fmt.Errorf("%w: scope must be global, user:<name>, device:<id>, connector:<name> or tool:<name>", ErrInvalidRef)
	}
	known := false
	for _, k := range scopeKinds {
		known = known || kind == k
	}
	if !known {
		return fmt.Errorf("%w: unknown scope kind; want user, device, connector or tool", ErrInvalidRef)
	}
	if err := validName(name); err != nil {
		return fmt.Errorf("%w: %s scope name: %s", ErrInvalidRef, kind, err)
	}
	if kind == "device" {
		// The id's own error quotes it; this one describes it only.
		if _, err := identity.ParseDeviceID(name); err != nil {
			return fmt.Errorf("%w: device scope: want the device's id, a 26-character upper-case ULID (palyra devices list)", ErrInvalidRef)
		}
	}
	return nil
}

// validName checks a key or a scope name. The returned message describes
// the problem by position, never by quoting the input.
func validName(s string) error {
	if len(s) == 0 || len(s) > MaxNameBytes {
		return fmt.Errorf("must be 1..%d bytes, got %d", MaxNameBytes, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("byte %d (0x%02x) is not one of [A-Za-z0-9._-]", i, c)
		}
	}
	if strings.Contains(s, "..") {
		return errors.New(`must not contain ".."`)
	}
	return nil
}
