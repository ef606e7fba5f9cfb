package guard

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
	"github.com/cedar-policy/cedar-go/types"

	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/authz"
)

type access uint8

const (
	accessDecided access = iota // authenticated, one decision, journaled
	accessMeta                  // authenticated, no decision
	accessOpen                  // anyone
)

// Durability says how a route's decision record must be stored before the
// action runs.
type Durability uint8

const (
	// Read routes' decisions are committed before the action runs, so they
	// survive the daemon being killed, and fsynced within the journal's
	// sync window (or at once, when the journal is configured to sync
	// every record).
	Read Durability = iota
	// Write routes' decisions are fsynced before the action runs: what
	// changes state is on disk before it happens.
	Write
)

// Route is one entry of the procedure table. Build routes with Open, Meta,
// Unary and ServerStream.
type Route struct {
	// Procedure is the full procedure path, e.g.
	// "/palyra.v1.VaultService/Get".
	Procedure string
	// Action is the authorization action of a decided route; "" otherwise.
	Action authz.Action
	// StreamType is the connect stream type of a decided route.
	StreamType connect.StreamType

	access       access
	durability   Durability
	maxBodyBytes int64
	handler      http.Handler
	anon         http.Handler // a Meta route's handler for anonymous callers
	journaled    bool         // a Protocol route
}

// Anonymous reports whether callers without a credential may reach the
// route.
func (r Route) Anonymous() bool { return r.access == accessOpen }

// Decided reports whether every call of the route is one authorization
// decision recorded in the journal.
func (r Route) Decided() bool { return r.access == accessDecided }

// Open is a route anyone may reach, with its own body limit (bytes; 0
// means the handler's own). Its handler must not act for the caller beyond
// answering: it gets no principal.
func Open(procedure string, maxBodyBytes int64, h http.Handler) Route {
	return Route{Procedure: procedure, access: accessOpen, maxBodyBytes: maxBodyBytes, handler: h}
}

// Meta is a route for authenticated callers that makes no decision, for
// procedures that describe the API rather than touch data (reflection).
// anon, if not nil, answers callers without a credential instead of a
// refusal (reflection limited to the health service), with the body limit
// of an open route.
func Meta(procedure string, h http.Handler, anon http.Handler, anonMaxBodyBytes int64) Route {
	return Route{Procedure: procedure, access: accessMeta, handler: h, anon: anon, maxBodyBytes: anonMaxBodyBytes}
}

// Target is what a request acts on: the resource of its one decision and
// the action's own Cedar context attributes, exactly those its schema
// context declares beyond the ones the engine fills in (nil for most
// actions; see authz.Request.Context).
type Target struct {
	Resource authz.Resource
	Context  map[string]types.Value
	// Also are further decisions the request needs (see Also); all of
	// them and the route's own must allow it.
	Also []Also
	// Digest is the exact request digest an approval binds (see
	// approval.CanonicalRequest.Digest): everything that determines what
	// the action does beyond Context. Nil means the request message's
	// deterministic protobuf encoding, which fits any route whose message
	// holds no secret value.
	Digest []byte
	// Summary is what an approver is shown of the request: bounded,
	// without secret values (secret references by name only). "" means
	// "<action> <resource>".
	Summary string
	// Hint is what a denied caller is told to do next, after the deny
	// ("approval X is your own request; ask another principal"); "" for
	// none. It is shown only when the decision denies.
	Hint string
}

// TargetFunc validates a request message and names its target. It returns
// arg, the validated value the act function receives (so what was
// authorized is what runs). An error is mapped with Config.MapError and
// nothing is decided or journaled; a *Refusal is journaled as a deny.
type TargetFunc[Req, Arg any] func(c authn.Caller, msg *Req) (arg Arg, t Target, err error)

// Refusal is returned by a TargetFunc for a request that is refused before
// policy is consulted but must still be journaled (for example a device
// renewing another device's certificate: the strongest sign of a compromised
// device the API can see). It becomes a deny record with Reason and no
// policies, and PermissionDenied with Message.
type Refusal struct {
	Resource authz.Resource
	Reason   string // short non-secret code for the journal
	Message  string // what the caller is told
}

func (r *Refusal) Error() string { return r.Message }

// Unary is a decided unary route: target validates and names the resource,
// the guard decides and journals, then act runs and its outcome is
// journaled. A response with a GetVersion() int64 method records that
// version in the outcome.
func Unary[Req, Res, Arg any](g *Guard, procedure string, action authz.Action, d Durability, target TargetFunc[Req, Arg], act func(ctx context.Context, c authn.Caller, arg Arg) (*Res, error)) Route {
	h := connect.NewUnaryHandler(procedure, func(ctx context.Context, req *connect.Request[Req]) (*connect.Response[Res], error) {
		c, arg, _, seq, err := authorize(ctx, g, action, d, target, req.Msg)
		if err != nil {
			return nil, err
		}
		res, err := act(ctx, c, arg)
		return finish(g, c, seq, res, err)
	}, g.opts...)
	return Route{Procedure: procedure, Action: action, StreamType: connect.StreamTypeUnary, durability: d, handler: h}
}

// ServerStream is a decided server-streaming route: one decision when the
// stream opens, the outcome when act returns. act's ctx carries that
// decision's request, so that act can check it again with StillAllowed
// before it sends what the caller may no longer see.
func ServerStream[Req, Res, Arg any](g *Guard, procedure string, action authz.Action, target TargetFunc[Req, Arg], act func(ctx context.Context, c authn.Caller, arg Arg, s *connect.ServerStream[Res]) error) Route {
	h := connect.NewServerStreamHandler(procedure, func(ctx context.Context, req *connect.Request[Req], s *connect.ServerStream[Res]) error {
		c, arg, t, seq, err := authorize(ctx, g, action, Read, target, req.Msg)
		if err != nil {
			return err
		}
		ctx = context.WithValue(ctx, recheckKey{}, func() error { return g.recheck(ctx, c, action, t) })
		err = act(ctx, c, arg, s)
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			err = nil // the caller ended the stream: that is how a tail stops
		}
		_, err = finish[Res](g, c, seq, nil, err)
		return err
	}, g.opts...)
	return Route{Procedure: procedure, Action: action, StreamType: connect.StreamTypeServer, handler: h}
}

// authorize is the guarded prefix of every decided call: the caller, the
// validated target, one decision, its record. It returns the target and
// the decision's journal seq.
func authorize[Req, Arg any](ctx context.Context, g *Guard, action authz.Action, d Durability, target TargetFunc[Req, Arg], msg *Req) (authn.Caller, Arg, Target, int64, error) {
	var zero Arg
	c, ok := CallerFrom(ctx)
	if !ok {
		return c, zero, Target{}, 0, connect.NewError(connect.CodeInternal, errNoCaller)
	}
	arg, t, err := target(c, msg)
	if err != nil {
		var rf *Refusal
		if errors.As(err, &rf) {
			e := decisionEntry(c, action, rf.Resource, authz.Decision{})
			e.Reason = rf.Reason
			if _, jerr := g.journal(ctx, e, Write); jerr != nil {
				return c, zero, t, 0, jerr
			}
			return c, zero, t, 0, connect.NewError(connect.CodePermissionDenied, rf)
		}
		return c, zero, t, 0, g.cfg.MapError(err, c)
	}
	if err := g.decideAlso(ctx, c, t.Also, d); err != nil {
		return c, zero, t, 0, err
	}
	dec := g.decide(c, action, t.Resource, t.Context)
	if dec.Effect == authz.Pending {
		seq, err := g.approve(ctx, c, action, t, dec, d, msg)
		if err != nil {
			return c, zero, t, 0, err
		}
		return c, arg, t, seq, nil
	}
	seq, err := g.journalDecision(ctx, c, action, t.Resource, dec, d, t.Hint)
	if err != nil {
		return c, zero, t, 0, err
	}
	return c, arg, t, seq, nil
}

// journalDecision journals dec, the decision on principal c doing action
// on res, with durability d, and returns its journal sequence number. A
// deny is also logged (rate-limited, with any policy evaluation errors as
// a warning) and returned as a PermissionDenied *DeniedError carrying hint.
func (g *Guard) journalDecision(ctx context.Context, c authn.Caller, action authz.Action, res authz.Resource, dec authz.Decision, d Durability, hint string) (int64, error) {
	e := decisionEntry(c, action, res, dec)
	if !dec.Allowed() {
		// A deny changes nothing, so it need not be fsynced before the
		// answer; it is committed all the same.
		d = Read
	}
	seq, err := g.journal(ctx, e, d)
	if err != nil {
		return 0, err
	}
	if !dec.Allowed() {
		if len(dec.Errors) > 0 {
			g.cfg.Log.Warn("authorization errors", "action", action, "resource", res.String(), "errors", dec.Errors)
		}
		if n, ok := g.denialLog.Allow(g.cfg.Now()); ok {
			g.cfg.Log.Info("denied", "principal", e.Principal, "action", action, "resource", e.Resource, "policies", dec.Policies, "suppressed_before", n)
		}
		return seq, connect.NewError(connect.CodePermissionDenied, &DeniedError{Principal: e.Principal, Action: string(action), Resource: e.Resource, Hint: hint})
	}
	return seq, nil
}

// Detailed is a response that reports facts of its run ("key=value", never
// secret or content: a tool's request hash, exit status, durations, output
// hash); the guard records them in the call's outcome (audit.Entry.Details).
type Detailed interface{ AuditDetails() []string }

// DeniedError is what a denied caller is told; Hint, if set, what to do
// next.
type DeniedError struct{ Principal, Action, Resource, Hint string }

func (e *DeniedError) Error() string {
	s := fmt.Sprintf("denied: %s may not %s on %s", e.Principal, e.Action, e.Resource)
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

// decisionEntry is the journal record of dec.
func decisionEntry(c authn.Caller, action authz.Action, res authz.Resource, dec authz.Decision) audit.Entry {
	e := audit.Entry{
		Kind:      audit.KindDecision,
		Principal: c.Principal.String(),
		Action:    string(action),
		Resource:  res.String(),
		Decision:  dec.Effect.String(),
		Policies:  dec.Policies,
		Transport: c.Transport,
		Reason:    "no_permit",
	}
	for _, o := range dec.Obligations {
		e.Obligations = append(e.Obligations, o.Name+"="+o.Value)
	}
	switch {
	case dec.Allowed():
		e.Reason = "permitted"
	case len(dec.Errors) > 0 && len(dec.Policies) == 0:
		e.Reason = "malformed"
	case len(dec.Policies) > 0:
		e.Reason = "forbidden"
	}
	return e
}

// journal appends e, durably for Write; a record the journal cannot take
// refuses the request: no unaudited action.
func (g *Guard) journal(ctx context.Context, e audit.Entry, d Durability) (int64, error) {
	append := g.cfg.Journal.Append
	if d == Write {
		append = g.cfg.Journal.AppendDurable
	}
	rec, err := append(context.WithoutCancel(ctx), e)
	if err != nil {
		g.cfg.Log.Error("audit append failed; refusing the request", "err", err)
		return 0, connect.NewError(connect.CodeUnavailable, errAuditUnavailable)
	}
	return rec.Seq, nil
}

// versioned is a response that reports the version it wrote.
type versioned interface{ GetVersion() int64 }

// finish journals the outcome of the decision at seq, without waiting for
// it, and returns the response or the mapped error.
func finish[Res any](g *Guard, c authn.Caller, seq int64, res *Res, err error) (*connect.Response[Res], error) {
	out := audit.Entry{Kind: audit.KindOutcome, DecisionSeq: seq, Outcome: audit.OutcomeOK}
	var ce *connect.Error
	if err != nil {
		ce = g.cfg.MapError(err, c)
		switch ce.Code() {
		case connect.CodeNotFound:
			out.Outcome = audit.OutcomeNotFound
		case connect.CodeDataLoss:
			out.Outcome = audit.OutcomeIntegrity
		default:
			out.Outcome = audit.OutcomeError
			out.Reason = ce.Code().String() // "failed_precondition", …
		}
	} else if v, ok := any(res).(versioned); ok {
		out.Version = v.GetVersion()
	}
	if d, ok := any(res).(Detailed); ok && err == nil {
		out.Details = d.AuditDetails()
	}
	if jerr := g.cfg.Journal.AppendAsync(out); jerr != nil && g.cfg.Log != nil {
		g.cfg.Log.Error("the outcome of a decision was not journaled", "decision_seq", seq, "err", jerr)
	}
	if ce != nil {
		return nil, ce
	}
	if res == nil {
		return nil, nil
	}
	return connect.NewResponse(res), nil
}

type recheckKey struct{}

// reasonRevoked is the journal reason of a stream's decision taken back.
const reasonRevoked = "revoked_by_policy"

// StillAllowed decides again, against the policies in force now, the
// request that opened the decided stream whose act function got ctx (see
// ServerStream). It returns nil while that request is still allowed;
// otherwise it journals the deny (reason revoked_by_policy) and returns
// PermissionDenied, which the stream should end with. A ctx of no decided
// stream is an internal error.
func StillAllowed(ctx context.Context) error {
	f, ok := ctx.Value(recheckKey{}).(func() error)
	if !ok {
		return connect.NewError(connect.CodeInternal, errors.New("guard: StillAllowed outside a decided stream"))
	}
	return f()
}

// recheck is StillAllowed for the stream of c, action and t.
func (g *Guard) recheck(ctx context.Context, c authn.Caller, action authz.Action, t Target) error {
	dec := g.decide(c, action, t.Resource, t.Context)
	if dec.Allowed() {
		return nil
	}
	e := decisionEntry(c, action, t.Resource, dec)
	e.Reason = reasonRevoked
	if _, err := g.journal(ctx, e, Read); err != nil {
		return err
	}
	return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%w; the policies changed since the stream opened", &DeniedError{Principal: e.Principal, Action: string(action), Resource: e.Resource}))
}
