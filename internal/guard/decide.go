package guard

import (
	"github.com/cedar-policy/cedar-go/types"

	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/authz"
)

// decide is the engine's decision for caller c doing action a on resource
// r with the action's Cedar context ctx; the principal, transport and
// device come from c.
func (g *Guard) decide(c authn.Caller, a authz.Action, r authz.Resource, ctx map[string]types.Value) authz.Decision {
	return g.cfg.Authz.Decide(authz.Request{
		Principal: c.Principal,
		Action:    a,
		Resource:  r,
		Transport: c.Transport,
		DeviceID:  c.DeviceID,
		Context:   ctx,
	})
}
