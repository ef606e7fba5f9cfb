package audit

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Entry is one audited decision, as the caller supplies it to
// [Journal.Append]. Every string must be valid UTF-8 without NUL bytes and at
// most MaxFieldBytes long.
type Entry struct {
	// Time is when the decision was made. Append sets it to the commit time
	// if it is zero. It is stored in UTC with nanosecond precision, so a
	// Record's Time is always in UTC without a monotonic clock reading.
	Time time.Time
	// Principal is who asked, e.g. `User::"admin"`, `Device::"01J..."`, or
	// "anonymous".
	Principal string
	// Action is what was asked, e.g. "vault.read".
	Action string
	// Resource is what it was asked on, e.g. `Secret::"global/openai_api_key"`.
	Resource string
	// Decision is "allow" or "deny"; anything else is refused.
	Decision string
	// Policies are the ids of the determining policies, in the order the
	// caller gives them; at most MaxPolicies. Nil and empty are the same.
	Policies []string
	// Transport is how the request arrived: "unix", "tcp", "quic", or ""
	// (not from a network request); anything else is refused.
	Transport string
	// Reason is a short, non-secret outcome code, e.g. "ok", "not_found",
	// "no_client_certificate". Callers must never put a secret value, a
	// token, or request or response content in it: the journal is kept
	// forever and is exported in plain text.
	Reason string
}

// Record is an Entry as stored in the journal: its position Seq (1, 2, 3, …
// without gaps), the hash of the record before it (all zeros for record 1),
// and its own hash as specified in docs/audit-format.md.
type Record struct {
	Seq int64
	Entry
	PrevHash, Hash [32]byte
}

// Decisions and transports accepted in an Entry.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"

	TransportUnix = "unix"
	TransportTCP  = "tcp"
	TransportQUIC = "quic"
)

// Limits on an Entry. They keep one record small (the journal is never
// pruned) and bound what Verify has to read.
const (
	// MaxFieldBytes is the longest Principal, Action, Resource, Reason or
	// policy id, in bytes.
	MaxFieldBytes = 4096
	// MaxPolicies is the largest number of determining policy ids.
	MaxPolicies = 256
)

// ErrInvalidEntry is wrapped by the error Append returns for an Entry that
// breaks the rules documented on Entry; nothing is written.
var ErrInvalidEntry = errors.New("audit: invalid entry")

// timeLayout is RFC 3339 with exactly nine fractional digits, so every
// instant has exactly one stored (and hashed) form.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// validate checks e against the rules documented on Entry.
func (e *Entry) validate() error {
	if !e.Time.IsZero() {
		if y := e.Time.UTC().Year(); y < 0 || y > 9999 {
			return fmt.Errorf("%w: time %v is outside years 0000-9999", ErrInvalidEntry, e.Time)
		}
	}
	switch e.Decision {
	case DecisionAllow, DecisionDeny:
	default:
		return fmt.Errorf("%w: decision %q is not %q or %q", ErrInvalidEntry, e.Decision, DecisionAllow, DecisionDeny)
	}
	switch e.Transport {
	case "", TransportUnix, TransportTCP, TransportQUIC:
	default:
		return fmt.Errorf("%w: transport %q is not %q, %q, %q or empty", ErrInvalidEntry, e.Transport, TransportUnix, TransportTCP, TransportQUIC)
	}
	if len(e.Policies) > MaxPolicies {
		return fmt.Errorf("%w: %d policies, at most %d", ErrInvalidEntry, len(e.Policies), MaxPolicies)
	}
	for _, f := range [...]struct{ name, v string }{
		{"principal", e.Principal},
		{"action", e.Action},
		{"resource", e.Resource},
		{"reason", e.Reason},
	} {
		if err := checkText(f.name, f.v); err != nil {
			return err
		}
	}
	for i, p := range e.Policies {
		if err := checkText(fmt.Sprintf("policy %d", i), p); err != nil {
			return err
		}
	}
	return nil
}

// checkText enforces the string rules. Values are not quoted into the error:
// a caller that broke the rules may have put something it should not have
// into the field.
func checkText(name, v string) error {
	switch {
	case len(v) > MaxFieldBytes:
		return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrInvalidEntry, name, len(v), MaxFieldBytes)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidEntry, name)
	case strings.IndexByte(v, 0) >= 0:
		return fmt.Errorf("%w: %s contains a NUL byte", ErrInvalidEntry, name)
	}
	return nil
}
