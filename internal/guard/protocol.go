package guard

import (
	"context"
	"crypto/tls"
	"net/http"

	"connectrpc.com/connect"

	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/peer"
)

// Event is what a protocol route's act function reports for the journal:
// the resource acted on, whether the protocol let the caller through, and
// a short non-secret reason code ("pairing_started", "confirmation_failed").
type Event struct {
	Resource authz.Resource
	Allowed  bool
	Reason   string
	// Durable fsyncs the record before the answer is sent (for events that
	// changed state); otherwise it is committed, not yet fsynced.
	Durable bool
}

// ProtocolFunc runs one call of a protocol route. p is the caller's
// transport facts (no certificate is required; none is trusted) and tlsState
// its TLS connection (nil on the Unix socket), for channel binding. A
// non-nil event is journaled before the answer leaves, whatever err is.
type ProtocolFunc[Req, Res any] func(ctx context.Context, p peer.Peer, tlsState *tls.ConnectionState, msg *Req) (*Res, *Event, error)

// Protocol is a unary route that callers without a credential may reach
// and that its own protocol decides rather than a policy (pairing: the
// caller proves knowledge of a one-time code through a PAKE). It has its
// own body limit, like Open, but what act reports is journaled under the
// principal "anonymous" and action: an attempt leaves a record even though
// no Cedar decision is made. Callers of such routes must be rate limited by
// act, so that anonymous peers cannot write records at will.
func Protocol[Req, Res any](g *Guard, procedure string, action authz.Action, maxBodyBytes int64, act ProtocolFunc[Req, Res]) Route {
	h := connect.NewUnaryHandler(procedure, func(ctx context.Context, req *connect.Request[Req]) (*connect.Response[Res], error) {
		if g.cfg.Ready != nil {
			// State that changes: refused, like authenticated calls,
			// while the state directory is not the daemon's.
			if err := g.cfg.Ready(); err != nil {
				return nil, connect.NewError(connect.CodeUnavailable, err)
			}
		}
		p, _ := peer.FromContext(ctx)
		st, _ := ctx.Value(tlsStateKey{}).(*tls.ConnectionState)
		res, ev, err := act(ctx, p, st, req.Msg)
		if ev != nil {
			e := audit.Entry{
				Kind:      audit.KindDecision,
				Principal: "anonymous",
				Action:    string(action),
				Resource:  ev.Resource.String(),
				Decision:  audit.DecisionDeny,
				Transport: p.Transport,
				Reason:    ev.Reason,
			}
			if ev.Allowed {
				e.Decision = audit.DecisionAllow
			}
			d := Read
			if ev.Durable {
				d = Write
			}
			if _, jerr := g.journal(ctx, e, d); jerr != nil {
				return nil, jerr
			}
		}
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(res), nil
	}, g.opts...)
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tlsStateKey{}, r.TLS)))
	})
	return Route{Procedure: procedure, Action: action, StreamType: connect.StreamTypeUnary, access: accessOpen, journaled: true, maxBodyBytes: maxBodyBytes, handler: wrapped}
}

// tlsStateKey carries the request's TLS connection state to a protocol
// route.
type tlsStateKey struct{}

// Journaled reports whether every call of an anonymous route leaves a
// journal record (a Protocol route).
func (r Route) Journaled() bool { return r.journaled }
