package daemon

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"connectrpc.com/connect"
	"github.com/cedar-policy/cedar-go/types"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/approval"
	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/guard"
	"github.com/palyra/palyra/internal/lifecycle"
	"github.com/palyra/palyra/internal/statedir"
)

// ApprovalClock sets the clock of the approval store (creation, decision
// and expiry times); tests use it to expire grants without waiting.
func ApprovalClock(now func() time.Time) Option {
	return func(o *openOptions) { o.approvalNow = now }
}

// approvalsComponent opens approvals.db in l and prunes the records
// decided more than approval.Retention ago (the journal keeps them).
func (d *Daemon) approvalsComponent(l statedir.Layout, now func() time.Time) lifecycle.Component {
	return lifecycle.Component{Name: "approvals", Start: func(ctx context.Context) error {
		var err error
		if d.approvals, err = approval.Open(ctx, l.Approvals, approval.Options{Now: now}); err != nil {
			return err
		}
		if now == nil {
			now = time.Now
		}
		n, err := d.approvals.Prune(ctx, now().Add(-approval.Retention))
		if err != nil {
			d.approvals.Close()
			return err
		}
		if n > 0 {
			d.log.Info("pruned decided approvals", "records", n, "older_than", approval.Retention)
		}
		return nil
	}, Stop: func() error { return d.approvals.Close() }}
}

// watchExpiryInterval is how often a Watch stream looks for pending
// approvals whose time has passed, so watchers see them expire.
const watchExpiryInterval = time.Second

// approvalResource is Approval::"<id>".
func approvalResource(id string) authz.Resource {
	return authz.Resource{Type: authz.ResourceApproval, ID: id}
}

// allApprovals is Approval::"*".
var allApprovals = approvalResource(authz.AllApprovals)

// decideArg is a validated Decide request.
type decideArg struct {
	id string
	d  approval.Decision
}

// approvalRoutes are the ApprovalService procedures.
func (d *Daemon) approvalRoutes(g *guard.Guard) []guard.Route {
	return []guard.Route{
		guard.Unary(g, palyrav1connect.ApprovalServiceListProcedure, authz.ActionApprovalRead, guard.Read,
			func(_ authn.Caller, m *palyrav1.ApprovalListRequest) (approval.Filter, guard.Target, error) {
				f := approval.Filter{State: m.GetState(), AfterSeq: m.GetAfterSeq(), Limit: int(m.GetLimit())}
				if err := f.Validate(); err != nil {
					return f, guard.Target{}, connect.NewError(connect.CodeInvalidArgument, err)
				}
				return f, guard.Target{Resource: allApprovals}, nil
			},
			func(ctx context.Context, _ authn.Caller, f approval.Filter) (*palyrav1.ApprovalListResponse, error) {
				list, err := d.approvals.List(ctx, f)
				if err != nil {
					return nil, approvalError(err)
				}
				out := &palyrav1.ApprovalListResponse{}
				for _, a := range list {
					out.Approvals = append(out.Approvals, approvalProto(a))
				}
				return out, nil
			}),
		guard.Unary(g, palyrav1connect.ApprovalServiceGetProcedure, authz.ActionApprovalRead, guard.Read,
			func(_ authn.Caller, m *palyrav1.ApprovalGetRequest) (string, guard.Target, error) {
				if !approval.ValidID(m.GetId()) {
					return "", guard.Target{}, errBadApprovalID
				}
				return m.GetId(), guard.Target{Resource: approvalResource(m.GetId())}, nil
			},
			func(ctx context.Context, _ authn.Caller, id string) (*palyrav1.ApprovalGetResponse, error) {
				a, err := d.approvals.Get(ctx, id)
				if err != nil {
					return nil, approvalError(err)
				}
				return &palyrav1.ApprovalGetResponse{Approval: approvalProto(a)}, nil
			}),
		guard.Unary(g, palyrav1connect.ApprovalServiceDecideProcedure, authz.ActionApprovalDecide, guard.Write,
			d.decideTarget,
			func(ctx context.Context, _ authn.Caller, arg decideArg) (*palyrav1.ApprovalDecideResponse, error) {
				a, err := d.approvals.Resolve(ctx, arg.id, arg.d)
				if err != nil {
					return nil, approvalError(err)
				}
				d.log.Info("approval decided", "approval_id", a.ID, "state", a.State, "decider", a.Decider, "scope", a.Scope.String())
				return &palyrav1.ApprovalDecideResponse{Approval: approvalProto(a)}, nil
			}),
		guard.ServerStream(g, palyrav1connect.ApprovalServiceWatchProcedure, authz.ActionApprovalRead,
			func(_ authn.Caller, m *palyrav1.ApprovalWatchRequest) (int64, guard.Target, error) {
				if m.GetAfterSeq() < 0 {
					return 0, guard.Target{}, connect.NewError(connect.CodeInvalidArgument, errors.New("after_seq must not be negative"))
				}
				return m.GetAfterSeq(), guard.Target{Resource: allApprovals}, nil
			},
			d.watchApprovals),
	}
}

var errBadApprovalID = connect.NewError(connect.CodeInvalidArgument, errors.New("approval id must be a ULID, as `palyra approvals list` prints it"))

// decideTarget validates a Decide request and names its resource and
// context: who asked, for what, and whether the decider is the requester.
func (d *Daemon) decideTarget(c authn.Caller, m *palyrav1.ApprovalDecideRequest) (decideArg, guard.Target, error) {
	if !approval.ValidID(m.GetId()) {
		return decideArg{}, guard.Target{}, errBadApprovalID
	}
	arg := decideArg{id: m.GetId(), d: approval.Decision{Approve: m.GetApprove(), Decider: c.Principal.String(), Reason: m.GetReason()}}
	if !approval.ValidReason(arg.d.Reason) {
		return decideArg{}, guard.Target{}, connect.NewError(connect.CodeInvalidArgument, errors.New("reason must be one line of at most 512 bytes of printable UTF-8"))
	}
	switch {
	case m.GetApprove() && m.GetScope() == "":
		arg.d.Scope = approval.Scope{Kind: approval.ScopeOnce}
	case m.GetApprove():
		sc, err := approval.ParseScope(m.GetScope())
		if err != nil {
			return decideArg{}, guard.Target{}, connect.NewError(connect.CodeInvalidArgument, err)
		}
		arg.d.Scope = sc
	case m.GetScope() != "":
		return decideArg{}, guard.Target{}, connect.NewError(connect.CodeInvalidArgument, errors.New("a deny takes no scope"))
	}
	// An unknown id is decided on too (with an empty requester), so that
	// only a caller allowed to decide learns that it does not exist.
	a, err := d.approvals.Get(context.Background(), arg.id)
	if err != nil && !errors.Is(err, approval.ErrNotFound) {
		return decideArg{}, guard.Target{}, approvalError(err)
	}
	own := a.Requester != "" && a.Requester == c.Principal.String()
	t := guard.Target{Resource: approvalResource(arg.id), Context: map[string]types.Value{
		"requester":        types.String(a.Requester),
		"requested_action": types.String(a.Action),
		"own_request":      types.Boolean(own),
	}}
	if own {
		t.Hint = "approval " + arg.id + " is your own request; ask another principal (the owner on the unix socket, or a device a policy lets decide)"
	}
	return arg, t, nil
}

// watchApprovals streams every approval changed after after, then each
// change as it happens, until the caller ends the stream or the policies
// in force no longer allow it approval.read (checked before each event).
func (d *Daemon) watchApprovals(ctx context.Context, _ authn.Caller, after int64, s *connect.ServerStream[palyrav1.Approval]) error {
	tick := time.NewTicker(watchExpiryInterval)
	defer tick.Stop()
	for {
		changed := d.approvals.Changed()
		list, err := d.approvals.List(ctx, approval.Filter{AfterSeq: after, Limit: 1000})
		if err != nil {
			return approvalError(err)
		}
		for _, a := range list {
			// approval.read may have been withdrawn since the stream
			// opened: decided again, through the guard, per event.
			if err := guard.StillAllowed(ctx); err != nil {
				return err
			}
			if err := s.Send(approvalProto(a)); err != nil {
				return err
			}
			after = a.Seq
		}
		if len(list) == 1000 {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-tick.C:
		}
	}
}

// approvalError maps a store error to what the caller sees.
func approvalError(err error) error {
	var lost *approval.LostError
	switch {
	case errors.As(err, &lost):
		return connect.NewError(connect.CodeFailedPrecondition, lost)
	case errors.Is(err, approval.ErrNotFound):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, approval.ErrInvalid):
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	return err
}

// approvalProto is the API form of a.
func approvalProto(a approval.Approval) *palyrav1.Approval {
	p := &palyrav1.Approval{
		Id: a.ID, Requester: a.Requester, DeviceId: a.DeviceID, Action: a.Action, Resource: a.Resource,
		RequestHash: hex.EncodeToString(a.Hash[:]), Reason: a.Reason, CreatedUnix: a.Created.Unix(), ExpiresUnix: a.Expires.Unix(),
		State: a.State, Decider: a.Decider, DecisionReason: a.DecisionReason, Uses: a.Uses, Seq: a.Seq,
		Summary: a.Summary, Policies: a.Policies,
	}
	if !a.Decided.IsZero() {
		p.DecidedUnix = a.Decided.Unix()
	}
	if a.State == approval.StateApproved {
		p.Scope = a.Scope.String()
		p.GrantExpiresUnix = a.GrantExpires.Unix()
	}
	return p
}
