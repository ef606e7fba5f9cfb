package approval

import (
	"fmt"
	"strings"
	"time"
)

// Scope kinds: how long an approval lets the same request through.
const (
	// ScopeOnce lets the approved request through once.
	ScopeOnce = "once"
	// ScopeSession lets the same request through again on the same
	// session (see Request.Session), for at most MaxGrant.
	ScopeSession = "session"
	// ScopeFor lets the same request through until the grant expires.
	ScopeFor = "for"
)

// MaxGrant is the longest any grant lasts: `for DURATION` accepts at most
// this, and a session grant ends at this age even if its session does not.
// There is no unbounded grant.
const MaxGrant = 24 * time.Hour

// MinGrant is the shortest `for DURATION`.
const MinGrant = time.Second

// Scope is how far an approval reaches.
type Scope struct {
	// Kind is ScopeOnce, ScopeSession or ScopeFor.
	Kind string
	// For is the grant's lifetime for ScopeFor, 1s..MaxGrant; zero
	// otherwise.
	For time.Duration
}

// ParseScope parses "once", "session", "for=DURATION" or "for DURATION"
// (a Go duration, 1s to MaxGrant, e.g. "for=10m").
func ParseScope(s string) (Scope, error) {
	switch s {
	case ScopeOnce, ScopeSession:
		return Scope{Kind: s}, nil
	}
	rest, ok := strings.CutPrefix(s, "for=")
	if !ok {
		rest, ok = strings.CutPrefix(s, "for ")
	}
	if !ok {
		return Scope{}, fmt.Errorf("approval: scope %q: want once, session or for=DURATION (%v to %v, e.g. for=10m)", truncate(s, 40), MinGrant, MaxGrant)
	}
	d, err := time.ParseDuration(rest)
	if err != nil || d < MinGrant || d > MaxGrant {
		return Scope{}, fmt.Errorf("approval: scope %q: the duration must be %v to %v, e.g. for=10m", truncate(s, 40), MinGrant, MaxGrant)
	}
	return Scope{Kind: ScopeFor, For: d}, nil
}

// String returns the scope as ParseScope reads it ("for=10m0s").
func (s Scope) String() string {
	if s.Kind == ScopeFor {
		return "for=" + s.For.String()
	}
	return s.Kind
}

// lifetime is how long a grant of this scope lasts from its decision.
func (s Scope) lifetime() time.Duration {
	if s.Kind == ScopeFor {
		return s.For
	}
	return MaxGrant
}

func (s Scope) valid() bool {
	switch s.Kind {
	case ScopeOnce, ScopeSession:
		return s.For == 0
	case ScopeFor:
		return s.For >= MinGrant && s.For <= MaxGrant
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
