package guard

import (
	"context"

	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/authz"
)

// Also is a further decision a request needs besides its route's own: a
// tool call that injects a vault secret needs secret.use on that Secret as
// well as tool.execute on the Tool. The guard decides and journals each,
// like the route's decision, for the same principal and connection, before
// the route's own decision.
type Also struct {
	Action   authz.Action
	Resource authz.Resource
}

// decideAlso decides every entry of also, in order, before the route's
// own decision, and journals each decision. The request goes on to its own
// decision only if every one allowed it: on the first deny the remaining
// entries and the route's action are not decided and the caller is told
// which decision denied it. Deciding these first means every path the
// route's decision can take (allow, deny, or waiting for an approval)
// comes after them.
func (g *Guard) decideAlso(ctx context.Context, c authn.Caller, also []Also, d Durability) error {
	for _, a := range also {
		dec := g.decide(c, a.Action, a.Resource, nil)
		if _, err := g.journalDecision(ctx, c, a.Action, a.Resource, dec, d, ""); err != nil {
			return err
		}
	}
	return nil
}
