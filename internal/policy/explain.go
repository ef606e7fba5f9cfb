package policy

import (
	"github.com/palyra/palyra/internal/authz"
)

// Explanation is what the active set decides for one request, evaluated
// and never executed.
type Explanation struct {
	// Effect is Allow, Deny, or Pending for a deny whose determining
	// forbids all carry @approval (a human may approve it).
	Effect authz.Effect
	// Decision is the engine's decision: determining policies,
	// obligations and evaluation errors.
	Decision authz.Decision
}

// Explain evaluates req against the set.
func (s *Set) Explain(req authz.Request) Explanation {
	d := s.engine.Decide(req)
	return Explanation{Effect: effectOf(d), Decision: d}
}

// effectOf is the effect a caller sees: a deny becomes Pending when it has
// determining policies and each of them carries the approval obligation.
// (The engine drops obligations when a forbid failed to evaluate, so such a
// deny stays a deny.)
func effectOf(d authz.Decision) authz.Effect {
	if d.Effect != authz.Deny || len(d.Policies) == 0 {
		return d.Effect
	}
	approvable := map[string]bool{}
	for _, o := range d.Obligations {
		if o.Name == authz.ObligationApproval && o.Value == authz.ApprovalRequired {
			approvable[o.Policy] = true
		}
	}
	for _, p := range d.Policies {
		if !approvable[p] {
			return authz.Deny
		}
	}
	return authz.Pending
}
