package policy

import (
	"github.com/palyra/palyra/internal/authz"
)

// Explain evaluates req against the set, without executing anything, and
// returns the engine's decision: Allow, Deny, or Pending for a deny that a
// human may approve (docs/approvals.md), with its determining policies,
// obligations and evaluation errors.
func (s *Set) Explain(req authz.Request) authz.Decision {
	return s.engine.Decide(req)
}
