package guard

import (
	"context"

	"connectrpc.com/connect"
	"github.com/cedar-policy/cedar-go/types"

	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/authz"
)

// Also is a further decision a request needs besides its route's own: a
// tool call that injects a vault secret needs secret.use on that Secret as
// well as tool.execute on the Tool. The guard decides and journals each,
// like the route's decision, for the same principal and connection.
type Also struct {
	Action   authz.Action
	Resource authz.Resource
	// Context is the action's own context attributes (see Target.Context).
	Context map[string]types.Value
}

// decideAlso decides every entry of also after the route's own decision
// (journaled at seq) allowed the request, and journals each decision. The
// request goes ahead only if every one allows it: on the first deny the
// remaining entries are not decided, an error outcome is recorded for the
// route's decision (the action never ran) and the caller is told which
// decision denied it.
func (g *Guard) decideAlso(ctx context.Context, c authn.Caller, also []Also, d Durability, seq int64) error {
	for _, a := range also {
		dec := g.cfg.Authz.Decide(authz.Request{
			Principal: c.Principal,
			Action:    a.Action,
			Resource:  a.Resource,
			Transport: c.Transport,
			DeviceID:  c.DeviceID,
			Context:   a.Context,
		})
		e := decisionEntry(c, a.Action, a.Resource, dec)
		dd := d
		if !dec.Allowed() {
			dd = Read
		}
		if _, err := g.journal(ctx, e, dd); err != nil {
			return err
		}
		if !dec.Allowed() {
			g.cfg.Journal.AppendAsync(audit.Entry{Kind: audit.KindOutcome, DecisionSeq: seq, Outcome: audit.OutcomeError})
			if n, ok := g.denialLog.Allow(g.cfg.Now()); ok {
				g.cfg.Log.Info("denied", "principal", e.Principal, "action", a.Action, "resource", e.Resource, "policies", dec.Policies, "suppressed_before", n)
			}
			return connect.NewError(connect.CodePermissionDenied, &DeniedError{Principal: e.Principal, Action: string(a.Action), Resource: e.Resource})
		}
	}
	return nil
}
