package policy

import (
	"github.com/palyra/palyra/internal/authz"
)

// Explanation is what the active set decides for one request, evaluated
// and never executed.
type Explanation struct {
	// Effect is the engine's: Allow, Deny, or Pending for a deny that a
	// human may approve (docs/approvals.md).
	Effect authz.Effect
	// Decision is the engine's decision: determining policies,
	// obligations and evaluation errors.
	Decision authz.Decision
}

// Explain evaluates req against the set.
func (s *Set) Explain(req authz.Request) Explanation {
	d := s.engine.Decide(req)
	return Explanation{Effect: d.Effect, Decision: d}
}
