package authz

import (
	"iter"

	"github.com/cedar-policy/cedar-go"
)

// pending turns an approvable deny into Pending; Decide calls it last, on
// every decision it made from evaluation.
//
// A deny is approvable when
//   - it has no evaluation errors (an error is a plain deny: a forbid that
//     failed might have matched, and its obligations are unknown);
//   - it has determining policies (a default deny, no permit matching, is
//     not something a human can approve: nothing would allow it);
//   - every determining policy (every forbid that matched) carries
//     @approval("required"); and
//   - the permits alone allow the request: evaluated without the forbids,
//     some permit matches. Other forbids are not re-evaluated: a deny's
//     determining policies are all the forbids that matched.
//
// The Pending decision keeps the determining forbids as Policies and their
// approval obligations; any other obligation they carry is kept too.
// Anything else is returned unchanged.
//
// creq, ents and cands are the request, entities and index candidates
// Decide evaluated; the permits are re-evaluated over the same candidates.
func (e *Engine) pending(creq cedar.Request, ents cedar.EntityGetter, cands cedar.PolicyIterator, d Decision) Decision {
	if d.Effect != Deny || len(d.Errors) > 0 || len(d.Policies) == 0 {
		return d
	}
	for _, id := range d.Policies {
		if !e.forbids[cedar.PolicyID(id)] || !hasApproval(d.Obligations, id) {
			return d
		}
	}
	if dec, _ := cedar.Authorize(permitsOnly{cands, e.forbids}, ents, creq); dec != cedar.Allow {
		return d
	}
	d.Effect = Pending
	return d
}

// hasApproval reports whether obs holds @approval("required") of policy id.
func hasApproval(obs []Obligation, id string) bool {
	for _, o := range obs {
		if o.Policy == id && o.Name == ObligationApproval && o.Value == ApprovalRequired {
			return true
		}
	}
	return false
}

// permitsOnly is a policy set without its forbids.
type permitsOnly struct {
	src     cedar.PolicyIterator
	forbids map[cedar.PolicyID]bool
}

// All implements cedar.PolicyIterator.
func (p permitsOnly) All() iter.Seq2[cedar.PolicyID, *cedar.Policy] {
	return func(yield func(cedar.PolicyID, *cedar.Policy) bool) {
		for id, pol := range p.src.All() {
			if p.forbids[id] {
				continue
			}
			if !yield(id, pol) {
				return
			}
		}
	}
}
