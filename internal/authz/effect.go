package authz

import "fmt"

// Effect is the outcome of a decision. The zero value is Deny, so a
// Decision that was never filled in denies.
type Effect uint8

// The effects.
const (
	// Deny refuses the request.
	Deny Effect = iota
	// Allow permits the request.
	Allow
	// Pending means the request waits for a human's approval: only
	// forbids annotated @approval("required") denied it and some permit
	// would otherwise allow it.
	Pending
)

var effectNames = [...]string{Deny: "deny", Allow: "allow", Pending: "pending"}

// String returns "deny", "allow" or "pending".
func (e Effect) String() string {
	if int(e) < len(effectNames) {
		return effectNames[e]
	}
	return fmt.Sprintf("effect(%d)", uint8(e))
}

// ParseEffect returns the Effect named s ("deny", "allow" or "pending").
// Names are exact: "Allow" is an error.
func ParseEffect(s string) (Effect, error) {
	for e, n := range effectNames {
		if n == s {
			return Effect(e), nil
		}
	}
	return Deny, fmt.Errorf("authz: unknown effect %q (want allow, deny or pending)", truncate(s, 40))
}

// MarshalText implements encoding.TextMarshaler.
func (e Effect) MarshalText() ([]byte, error) {
	if int(e) >= len(effectNames) {
		return nil, fmt.Errorf("authz: invalid effect %d", uint8(e))
	}
	return []byte(effectNames[e]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseEffect.
func (e *Effect) UnmarshalText(b []byte) error {
	v, err := ParseEffect(string(b))
	if err != nil {
		return err
	}
	*e = v
	return nil
}
