package authz

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"

	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/peer"
)

// Request is one authorization question: may Principal perform Action on
// Resource, given how the call arrived and the action's own attributes.
type Request struct {
	// Principal is the authenticated caller.
	Principal Principal
	// Action is one of the Action* constants.
	Action Action
	// Resource is the object acted on.
	Resource Resource
	// Transport is peer.Unix, peer.TCP or peer.QUIC; peer.None is
	// malformed.
	Transport peer.Transport
	// DeviceID is the calling device, "" on the local socket. For a
	// Device principal it must equal Principal.ID.
	DeviceID identity.DeviceID
	// Context holds the action-specific context attributes, exactly those
	// the action's context declares in the schema besides the ones the
	// Engine fills in (transport, device_id, scope): every required one,
	// with a value of the declared type, and nothing else. For example
	// vault.write needs {"value_size": types.Long(n)}; most actions take
	// none, and nil is then the right value.
	Context map[string]types.Value
}

// Decision is the outcome of Decide.
type Decision struct {
	// Effect is Allow only if some permit matched and no forbid matched or
	// failed to evaluate; Pending when the deny is approvable (see
	// pending.go and docs/approvals.md); otherwise Deny.
	Effect Effect
	// Policies are the @id values of the determining policies, sorted: the
	// matching permits of an allow, or the forbids that caused a deny
	// (matched, or failed to evaluate). Empty for a default deny.
	Policies []string
	// Obligations are the annotations (other than @id) of the determining
	// policies, sorted by policy and name. A deny in which any forbid
	// failed to evaluate carries none: an error is a plain deny.
	Obligations []Obligation
	// Errors are evaluation errors, "<policy id>: <message>", or a single
	// "request: <problem>" entry for a malformed request. They never
	// contain secret values: requests carry names, not secrets.
	Errors []string
}

// Allowed reports whether the decision is Allow.
func (d Decision) Allowed() bool { return d.Effect == Allow }

// Engine evaluates requests against an immutable, validated policy set. It
// is safe for concurrent use.
type Engine struct {
	model    *model
	policies *cedar.PolicySet
	// forbids is the set of forbid policy ids, to fail closed when one of
	// them errors.
	forbids map[cedar.PolicyID]bool
	// obligations are the obligations of each policy that has any,
	// computed once at load so Decide parses no annotations.
	obligations map[cedar.PolicyID][]Obligation
	ids         []string
	// index selects the policies whose scope can match a request; see
	// index.go.
	index policySelector
}

// NewEngine returns an Engine for the embedded baseline policies plus the
// given extra policy texts, named "extra[0]", "extra[1]", ... in errors.
// Every policy must carry a unique @id annotation and validate against the
// schema; otherwise NewEngine returns a *PolicyError naming the source, the
// position and, when known, the policy id.
func NewEngine(extra ...[]byte) (*Engine, error) {
	srcs := make([]Source, len(extra))
	for i, text := range extra {
		srcs[i] = Source{Name: fmt.Sprintf("extra[%d]", i), Text: text}
	}
	return NewEngineFromSources(srcs...)
}

// NewEngineFromSources is NewEngine with named policy texts, so errors and
// positions name the policy file they came from.
func NewEngineFromSources(srcs ...Source) (*Engine, error) {
	m, err := loadModel()
	if err != nil {
		return nil, err
	}
	all := append([]Source{{Name: BaselineSourceName, Text: baselineText}}, srcs...)
	loaded, err := loadPolicies(m.validator, all)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		model:    m,
		policies: cedar.NewPolicySet(),
		forbids:  map[cedar.PolicyID]bool{},
	}
	for _, p := range loaded {
		e.policies.Add(p.id, p.policy)
		if p.policy.Effect() == cedar.Forbid {
			e.forbids[p.id] = true
		}
		if len(p.obligations) > 0 {
			if e.obligations == nil {
				e.obligations = map[cedar.PolicyID][]Obligation{}
			}
			e.obligations[p.id] = p.obligations
		}
		e.ids = append(e.ids, string(p.id))
	}
	slices.Sort(e.ids)
	e.index = newPolicyIndex(e.policies)
	return e, nil
}

// PolicyIDs returns the ids of every loaded policy, sorted.
func (e *Engine) PolicyIDs() []string {
	if e == nil {
		return nil
	}
	return slices.Clone(e.ids)
}

// CheckRequest reports whether req is well formed, as Decide checks it
// before evaluating any policy: nil, or the error Decide would deny it with
// ("request: " + error). A malformed request is the caller's mistake (a
// principal kind or resource type the action does not take, a device id
// on the unix transport, a context attribute the action does not declare
// or the engine fills in), never a policy question.
func (e *Engine) CheckRequest(req Request) error {
	if e == nil || e.model == nil {
		return errors.New("engine: not initialized")
	}
	_, _, err := e.model.buildRequest(req)
	return err
}

// Decide runs exactly one Cedar authorization for req. Anything other than
// an allow by a matching permit, with no forbid matching or failing, is a
// deny; a malformed request or an internal failure is a deny with an Errors
// entry, never a panic.
func (e *Engine) Decide(req Request) (d Decision) {
	if e == nil || e.model == nil {
		return Decision{Errors: []string{"engine: not initialized"}}
	}
	defer func() {
		if r := recover(); r != nil {
			d = Decision{Errors: []string{fmt.Sprintf("engine: internal error: %v", r)}}
		}
	}()
	creq, ents, err := e.model.buildRequest(req)
	if err != nil {
		return Decision{Errors: []string{"request: " + err.Error()}}
	}
	cands := e.index.candidates(creq, ents)
	dec, diag := cedar.Authorize(cands, ents, creq)

	var failedForbids []string
	if len(diag.Errors) > 0 {
		d.Errors = make([]string, 0, len(diag.Errors))
		for _, de := range diag.Errors {
			d.Errors = append(d.Errors, string(de.PolicyID)+": "+de.Message)
			if e.forbids[de.PolicyID] {
				failedForbids = append(failedForbids, string(de.PolicyID))
			}
		}
		slices.Sort(d.Errors)
	}
	// Cedar skips a policy whose evaluation errors. A forbid that errored
	// might have matched, so it still denies: an error must never be the
	// reason a request is allowed.
	if dec == cedar.Allow && len(failedForbids) > 0 {
		slices.Sort(failedForbids)
		d.Policies = failedForbids
		return d
	}
	if dec == cedar.Allow {
		d.Effect = Allow
	}
	if len(diag.Reasons) > 0 {
		d.Policies = make([]string, len(diag.Reasons))
		for i, r := range diag.Reasons {
			d.Policies[i] = string(r.PolicyID)
		}
		slices.Sort(d.Policies)
	}
	// Obligations follow the determining policies, unless a forbid failed:
	// then a forbid that might have matched is unknown, and the deny must
	// not carry obligations (such as @approval) that could soften it.
	if e.obligations != nil && len(failedForbids) == 0 {
		for _, id := range d.Policies {
			d.Obligations = append(d.Obligations, e.obligations[cedar.PolicyID(id)]...)
		}
	}
	return e.pending(creq, ents, cands, d)
}
