package guard

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"github.com/cedar-policy/cedar-go/types"
	"google.golang.org/protobuf/proto"

	"github.com/palyra/palyra/internal/approval"
	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/peer"
)

// Headers of the approval step (docs/approvals.md).
const (
	// HeaderApprovalWait is a request header: the most seconds the caller
	// will wait for a decision (a decimal integer). "0" asks the daemon
	// not to wait: the request is recorded (or joins an identical pending
	// one) and answered at once with FailedPrecondition and
	// HeaderApprovalID, so a client can say what it waits for and then
	// repeat the call to wait. Absent: wait up to Approvals.Wait.
	HeaderApprovalWait = "Palyra-Approval-Wait"
	// HeaderApprovalID is set on the error of a request that waits, waited
	// or was refused for approval: the approval's id. A client repeating
	// the call sends it back, so that the call waits for (or gets the
	// decision of) that approval, even if it was decided in between; an
	// id that is not for the same request and requester is ignored.
	HeaderApprovalID = "Palyra-Approval-Id"
	// HeaderApprovalExpires is set with HeaderApprovalID on a request not
	// waited for: when the approval expires, Unix seconds, so a client can
	// set its deadline to match.
	HeaderApprovalExpires = "Palyra-Approval-Expires"
)

// Approvals is how the guard holds requests for approval.
type Approvals struct {
	// Store keeps approval requests and grants. Nil turns every Pending
	// decision into a deny.
	Store *approval.Store
	// Wait is how long a request waits for a decision before it expires.
	Wait time.Duration
}

// Reasons of the approval step's journal records.
const (
	reasonPending     = "approval_pending"
	reasonApproved    = "approved"
	reasonGrant       = "approval_grant"
	reasonDenied      = "approval_denied"
	reasonExpired     = "approval_expired"
	reasonUnavailable = "approval_unavailable"
	reasonChanged     = "approval_policy_changed"
	reasonTooLong     = "approval_summary_too_long"
)

// sessionOf returns the session a request belongs to for session grants:
// "<transport>/<device id>/<remote address>". Over TCP and QUIC the remote
// address (the client's IP and port) names the device's live connection;
// on the unix socket every connection of the owner is one session.
func sessionOf(ctx context.Context, c authn.Caller) string {
	p, _ := peer.FromContext(ctx)
	remote := p.Remote
	if c.Transport == peer.Unix {
		remote = ""
	}
	return c.Transport.String() + "/" + c.DeviceID.String() + "/" + remote
}

// approve handles a Pending decision: a live grant lets the request
// through at once; otherwise it is recorded (or joins an identical
// pending record), journaled as pending, and waits for a decision, its
// expiry or the end of ctx. It returns the seq of the allow record, or the
// error the caller gets.
//
// A grant lets the request through only if it lifts every determining
// policy of dec (the current decision); an approval a caller waited for
// is checked again against the policies in force when it is used (see
// stillApprovable).
func (g *Guard) approve(ctx context.Context, c authn.Caller, action authz.Action, t Target, dec authz.Decision, d Durability, msg any) (int64, error) {
	ap := g.cfg.Approvals
	entry := func(effect authz.Effect, reason string, a *approval.Approval) audit.Entry {
		dd := dec
		dd.Effect = effect
		e := decisionEntry(c, action, t.Resource, dd)
		e.Reason = reason
		if a != nil {
			e.Obligations = append(e.Obligations, "approval_id="+a.ID)
			if a.State == approval.StateApproved {
				e.Obligations = append(e.Obligations, "approval_scope="+a.Scope.String())
			}
		}
		return e
	}
	deny := func(reason string, a *approval.Approval, msg string) (int64, error) {
		if _, err := g.journal(ctx, entry(authz.Deny, reason, a), Read); err != nil {
			return 0, err
		}
		ce := connect.NewError(connect.CodePermissionDenied, errors.New(msg))
		if a != nil {
			ce.Meta().Set(HeaderApprovalID, a.ID)
		}
		return 0, ce
	}
	requester := c.Principal.String()
	denied := &DeniedError{Principal: requester, Action: string(action), Resource: t.Resource.String()}
	if ap.Store == nil || ap.Wait <= 0 {
		return deny(reasonUnavailable, nil, denied.Error()+" (it needs approval, and approvals are not configured)")
	}
	full := make(map[string]types.Value, len(t.Context)+2)
	for k, v := range t.Context {
		full[k] = v
	}
	full["transport"] = types.String(c.Transport.String())
	full["device_id"] = types.String(c.DeviceID.String())
	digest, err := requestDigest(t, msg)
	if err != nil {
		g.cfg.Log.Error("approval: request has no digest", "err", err)
		return deny(reasonUnavailable, nil, denied.Error())
	}
	summary := t.Summary
	if summary == "" {
		summary = string(action) + " " + t.Resource.String()
	}
	summary = approval.Printable(summary)
	if len(summary) > approval.MaxSummary {
		// Shown cut, the approver could miss the part that matters.
		return deny(reasonTooLong, nil, fmt.Sprintf("%s (it needs approval, and its summary is %d bytes, too long to show an approver (at most %d); shorten the arguments)", denied.Error(), len(summary), approval.MaxSummary))
	}
	hash, err := approval.CanonicalRequest{Principal: requester, Action: string(action), Resource: t.Resource.String(), Context: full, Digest: digest, Summary: summary}.Hash()
	if err != nil {
		g.cfg.Log.Error("approval: request not hashable", "err", err)
		return deny(reasonUnavailable, nil, denied.Error())
	}
	session := sessionOf(ctx, c)
	wait, waitSet := approvalWait(ctx)
	// lost: a once grant this request waited for went to a twin; a
	// client that named its approval is then told the new one's id.
	lost := false
	for first := true; ; first = false {
		if a, ok, err := ap.Store.UseGrant(ctx, hash, requester, session, dec.Policies); err != nil {
			return 0, g.approvalFailure(err)
		} else if ok {
			return g.journal(ctx, entry(authz.Allow, reasonGrant, &a), d)
		}
		// A repeated call names the approval it was told about, so it
		// learns that approval's decision even if it came in between.
		var a approval.Approval
		named := false
		if first {
			a, named = g.namedApproval(ctx, hash, requester)
		}
		if !named || a.State == approval.StatePending {
			if !named {
				var err error
				a, _, err = ap.Store.Create(ctx, approval.Request{
					Requester: requester, DeviceID: c.DeviceID.String(), Session: session,
					Action: string(action), Resource: t.Resource.String(), Hash: hash, Reason: approvalReason(dec),
					Summary: summary, Policies: dec.Policies,
				}, ap.Wait)
				if err != nil {
					return 0, g.approvalFailure(err)
				}
			}
			if _, err := g.journal(ctx, entry(authz.Pending, reasonPending, &a), Read); err != nil {
				return 0, err
			}
			g.cfg.Log.Info("waiting for approval", "approval_id", a.ID, "principal", requester, "action", action, "resource", t.Resource.String())
		}
		if (waitSet && wait == 0 || lost && namesApproval(ctx)) && a.State == approval.StatePending {
			ce := connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("waiting for approval %s (palyra approvals approve %s)", a.ID, a.ID))
			ce.Meta().Set(HeaderApprovalID, a.ID)
			ce.Meta().Set(HeaderApprovalExpires, strconv.FormatInt(a.Expires.Unix(), 10))
			return 0, ce
		}
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if waitSet {
			wctx, cancel = context.WithTimeout(ctx, wait)
		}
		a, err := g.awaitDecision(wctx, a)
		cancel()
		if err != nil {
			ce := connect.NewError(connect.CodeOf(g.cfg.MapError(err, c)), fmt.Errorf("stopped waiting for approval %s; it stays pending until %s", a.ID, a.Expires.UTC().Format(time.RFC3339)))
			ce.Meta().Set(HeaderApprovalID, a.ID)
			return 0, ce
		}
		switch a.State {
		case approval.StateApproved:
			if !g.stillApprovable(c, action, t, a) {
				return deny(reasonChanged, &a, fmt.Sprintf("%s: approval %s no longer applies: the policies changed while it waited (palyra policy explain)", denied.Error(), a.ID))
			}
			ok, err := ap.Store.Use(ctx, a.ID, session)
			if err != nil {
				return 0, g.approvalFailure(err)
			}
			if !ok {
				lost = true
				continue // a once grant another waiter used first: ask again
			}
			return g.journal(ctx, entry(authz.Allow, reasonApproved, &a), d)
		case approval.StateDenied:
			msg := fmt.Sprintf("%s: approval %s denied by %s", denied.Error(), a.ID, a.Decider)
			if a.DecisionReason != "" {
				msg += ": " + a.DecisionReason
			}
			return deny(reasonDenied, &a, msg)
		default:
			return deny(reasonExpired, &a, fmt.Sprintf("%s: approval %s expired: nobody decided it within %v", denied.Error(), a.ID, a.Expires.Sub(a.Created)))
		}
	}
}

// stillApprovable decides the request again against the policies in
// force now: an approval granted under other policies applies only if the
// request is still Pending by forbids the approval lifts (the same ones or
// fewer), and every further decision (Target.Also) still allows it.
func (g *Guard) stillApprovable(c authn.Caller, action authz.Action, t Target, a approval.Approval) bool {
	for _, al := range t.Also {
		if !g.decide(c, al.Action, al.Resource, nil).Allowed() {
			return false
		}
	}
	now := g.decide(c, action, t.Resource, t.Context)
	return now.Effect == authz.Pending && a.Lifts(now.Policies)
}

// requestDigest is t.Digest, or the SHA-256 of msg's deterministic
// protobuf encoding.
func requestDigest(t Target, msg any) ([]byte, error) {
	if t.Digest != nil {
		return t.Digest, nil
	}
	m, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("guard: %T is not a protobuf message and the route names no digest", msg)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// namedApproval returns the approval the request names in
// HeaderApprovalID, if it is one for this exact request and requester; a
// name that is not (another request's, or unknown) is ignored.
func (g *Guard) namedApproval(ctx context.Context, hash [32]byte, requester string) (approval.Approval, bool) {
	info, ok := connect.CallInfoForHandlerContext(ctx)
	if !ok {
		return approval.Approval{}, false
	}
	id := info.RequestHeader().Get(HeaderApprovalID)
	if id == "" || !approval.ValidID(id) {
		return approval.Approval{}, false
	}
	a, err := g.cfg.Approvals.Store.Get(ctx, id)
	if err != nil || a.Hash != hash || a.Requester != requester {
		return approval.Approval{}, false
	}
	return a, true
}

// namesApproval reports whether the request names an approval in
// HeaderApprovalID (a client that repeats calls to wait).
func namesApproval(ctx context.Context) bool {
	info, ok := connect.CallInfoForHandlerContext(ctx)
	return ok && info.RequestHeader().Get(HeaderApprovalID) != ""
}

// awaitDecision waits until a is decided or expired, or ctx ends.
func (g *Guard) awaitDecision(ctx context.Context, a approval.Approval) (approval.Approval, error) {
	st := g.cfg.Approvals.Store
	for {
		changed := st.Changed()
		cur, err := st.Get(context.WithoutCancel(ctx), a.ID) // expires it when due
		if err != nil {
			return a, err
		}
		if cur.State != approval.StatePending {
			return cur, nil
		}
		timer := time.NewTimer(time.Until(cur.Expires) + 10*time.Millisecond)
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return cur, ctx.Err()
		}
		timer.Stop()
	}
}

// approvalFailure is the error for a store that failed.
func (g *Guard) approvalFailure(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return connect.NewError(connect.CodeCanceled, err)
	}
	if errors.Is(err, approval.ErrTooManyPending) {
		return connect.NewError(connect.CodeResourceExhausted, err)
	}
	g.cfg.Log.Error("approval store failed; refusing the request", "err", err)
	return connect.NewError(connect.CodeUnavailable, errors.New("approvals unavailable; request refused"))
}

// approvalReason is the reason recorded with a new approval: the policies
// that require it.
func approvalReason(dec authz.Decision) string {
	s := "required by"
	for i, p := range dec.Policies {
		if i > 0 {
			s += ","
		}
		s += " " + p
	}
	return s
}

// approvalWait reads HeaderApprovalWait: the most the caller waits.
func approvalWait(ctx context.Context) (time.Duration, bool) {
	info, ok := connect.CallInfoForHandlerContext(ctx)
	if !ok {
		return 0, false
	}
	v := info.RequestHeader().Get(HeaderApprovalWait)
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}
