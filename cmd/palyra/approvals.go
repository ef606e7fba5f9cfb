package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/approval"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/guard"
)

// approvalsPage is the page size approvals list asks for: the most the
// daemon returns in one List.
const approvalsPage = 1000

func approvalsSvc(c *client.Conn) palyrav1connect.ApprovalServiceClient { return c.Approvals }

func approvalsCmd(g *globals) *cobra.Command {
	cmd := asGroup(&cobra.Command{Use: "approvals", Short: "List, show, approve, deny and watch requests waiting for approval",
		Example: "  palyra approvals list\n  palyra approvals approve 01JCXYZ8R6Q0D0E6V4V5N7Z2KA --scope for=10m\n  palyra approvals deny 01JCXYZ8R6Q0D0E6V4V5N7Z2KA --reason 'not now'"})
	var state string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List approvals (all, or --state pending|approved|denied|expired)",
		Example: "  palyra approvals list --state pending\n  palyra approvals list --json",
		Args:    exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			switch state {
			case "", approval.StatePending, approval.StateApproved, approval.StateDenied, approval.StateExpired:
			default:
				return usagef("--state %q: want pending, approved, denied or expired", state)
			}
			// The daemon returns at most one page, oldest change first:
			// page on after the last one until a page comes back short, so
			// the newest approvals are never left out.
			var all []*palyrav1.Approval
			for after := int64(0); ; {
				r, err := call(c.Context(), g, approvalsSvc, palyrav1connect.ApprovalServiceClient.List,
					&palyrav1.ApprovalListRequest{State: state, AfterSeq: after, Limit: approvalsPage})
				if err != nil {
					return err
				}
				all = append(all, r.Approvals...)
				if len(r.Approvals) < approvalsPage {
					break
				}
				next := r.Approvals[len(r.Approvals)-1].GetSeq()
				if next <= after {
					return fmt.Errorf("the daemon's approval list did not advance past seq %d; retry, or list with --state", after)
				}
				after = next
			}
			if g.json {
				out := []map[string]any{}
				for _, a := range all {
					out = append(out, approvalJSON(a))
				}
				return printJSON(out)
			}
			if len(all) > 0 {
				fmt.Println("ID\tSTATE\tREQUESTER\tACTION\tRESOURCE\tCREATED\tSUMMARY")
			}
			for _, a := range all {
				fmt.Println(approvalLine(a))
			}
			return nil
		},
	}
	list.Flags().StringVar(&state, "state", "", "only approvals in this state: pending, approved, denied or expired")

	show := &cobra.Command{
		Use:     "show ID",
		Short:   "Show one approval",
		Example: "  palyra approvals show 01JCXYZ8R6Q0D0E6V4V5N7Z2KA",
		Args:    exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if !approval.ValidID(args[0]) {
				return usagef("%q is not an approval id (palyra approvals list)", args[0])
			}
			r, err := call(c.Context(), g, approvalsSvc, palyrav1connect.ApprovalServiceClient.Get, &palyrav1.ApprovalGetRequest{Id: args[0]})
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(approvalJSON(r.Approval))
			}
			a := approvalJSON(r.Approval)
			for _, k := range []string{"requester", "resource", "summary", "reason", "decision_reason"} {
				a[k] = approval.Printable(a[k].(string)) // what a daemon sent is shown, never obeyed by the terminal
			}
			for _, k := range []string{"id", "state", "requester", "device_id", "action", "resource", "summary", "policies", "request_hash", "reason", "created", "expires",
				"decider", "decision_reason", "decided", "scope", "grant_expires", "uses"} {
				if v, ok := a[k]; ok && v != "" {
					fmt.Printf("%-16s %v\n", k+":", v)
				}
			}
			return nil
		},
	}

	var scope, reason string
	approve := &cobra.Command{
		Use:   "approve ID [--scope once|session|for=DURATION] [--reason R]",
		Short: "Approve a waiting request; the first decision wins",
		Long: "Approve a waiting request. --scope once (default) lets it through once; session lets the same\n" +
			"request through again on the same connection; for=DURATION (1s to 24h) lets it through until\n" +
			"then. Nobody approves their own request. If someone decided first, this fails and says who.",
		Example: "  palyra approvals approve 01JCXYZ8R6Q0D0E6V4V5N7Z2KA\n  palyra approvals approve 01JCXYZ8R6Q0D0E6V4V5N7Z2KA --scope for=10m --reason 'deploy window'",
		Args:    exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := approval.ParseScope(scope); err != nil {
				return usagef("--scope %q: want once, session or for=DURATION (%v to %v, e.g. for=10m)", scope, approval.MinGrant, approval.MaxGrant)
			}
			return decideApproval(c.Context(), g, args[0], true, scope, reason)
		},
	}
	approve.Flags().StringVar(&scope, "scope", "once", "once, session or for=DURATION (e.g. for=10m, 1s to 24h)")
	approve.Flags().StringVar(&reason, "reason", "", "why (shown to the requester; at most 512 bytes)")
	var denyReason string
	deny := &cobra.Command{
		Use:     "deny ID [--reason R]",
		Short:   "Deny a waiting request; the requester is told the reason",
		Example: "  palyra approvals deny 01JCXYZ8R6Q0D0E6V4V5N7Z2KA --reason 'not during the freeze'",
		Args:    exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return decideApproval(c.Context(), g, args[0], false, "", denyReason)
		},
	}
	deny.Flags().StringVar(&denyReason, "reason", "", "why (shown to the requester; at most 512 bytes)")

	watch := &cobra.Command{
		Use:     "watch",
		Short:   "Print approvals as they are created or change, until interrupted",
		Example: "  palyra approvals watch\n  palyra approvals watch --json",
		Args:    exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			conn, err := g.dial(c.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			stream, err := conn.Approvals.Watch(c.Context(), connect.NewRequest(&palyrav1.ApprovalWatchRequest{}))
			if err != nil {
				return err
			}
			defer stream.Close()
			for stream.Receive() {
				if g.json {
					err = printJSONLine(approvalJSON(stream.Msg()))
				} else {
					_, err = fmt.Println(approvalLine(stream.Msg()))
				}
				if err != nil {
					return err
				}
			}
			if err := stream.Err(); err != nil && c.Context().Err() == nil {
				return err
			}
			return nil
		},
	}
	cmd.AddCommand(list, show, approve, deny, watch)
	return cmd
}

// decideApproval approves or denies id and reports the result.
func decideApproval(ctx context.Context, g *globals, id string, approve bool, scope, reason string) error {
	if !approval.ValidID(id) {
		return usagef("%q is not an approval id (palyra approvals list)", id)
	}
	if !approval.ValidReason(reason) {
		return usagef("--reason must be one line of at most 512 bytes of printable UTF-8")
	}
	r, err := call(ctx, g, approvalsSvc, palyrav1connect.ApprovalServiceClient.Decide, &palyrav1.ApprovalDecideRequest{Id: id, Approve: approve, Scope: scope, Reason: reason})
	if connect.CodeOf(err) == connect.CodeFailedPrecondition {
		var ce *connect.Error
		errors.As(err, &ce)
		return lostError{id, ce.Message()}
	}
	if err != nil {
		return err
	}
	a := r.Approval
	if approve {
		return g.report(approvalJSON(a), "approved %s (%s, until %s)", a.Id, a.Scope, unixTime(a.GrantExpiresUnix))
	}
	return g.report(approvalJSON(a), "denied %s", a.Id)
}

// lostError: another decision came first (or the request expired).
type lostError struct{ id, msg string }

func (e lostError) Error() string {
	return e.msg + "; nothing changed (palyra approvals show " + e.id + ")"
}

func unixTime(u int64) string {
	if u == 0 {
		return ""
	}
	return time.Unix(u, 0).UTC().Format(time.RFC3339)
}

func approvalLine(a *palyrav1.Approval) string {
	return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", a.Id, a.State, approval.Printable(a.Requester), a.Action,
		approval.Printable(a.Resource), unixTime(a.CreatedUnix), approval.Printable(a.Summary))
}

func approvalJSON(a *palyrav1.Approval) map[string]any {
	return map[string]any{
		"id": a.Id, "state": a.State, "requester": a.Requester, "device_id": a.DeviceId, "action": a.Action, "resource": a.Resource,
		"request_hash": a.RequestHash, "reason": a.Reason, "created": unixTime(a.CreatedUnix), "expires": unixTime(a.ExpiresUnix),
		"decider": a.Decider, "decision_reason": a.DecisionReason, "decided": unixTime(a.DecidedUnix), "scope": a.Scope,
		"grant_expires": unixTime(a.GrantExpiresUnix), "uses": a.Uses, "seq": a.Seq,
		"summary": a.Summary, "policies": strings.Join(a.Policies, ","),
	}
}

// approvalWaiter makes a unary call that a policy sends for approval say
// what it waits for: the call is made first without waiting
// (Palyra-Approval-Wait: 0); if the daemon answers that it needs approval
// ID, palyra prints "waiting for approval ID (palyra approvals approve
// ID)" on stderr (not with --json, whose stderr is only the failure
// object; the id is in palyra approvals list) and repeats the call, which
// joins that approval and waits, with a deadline a little past the
// approval's expiry.
type approvalWaiter struct{ quiet bool }

// approvalMargin is how long past the approval's expiry the client waits
// for the daemon's answer.
const approvalMargin = 30 * time.Second

func (w approvalWaiter) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().Procedure == palyrav1connect.ApprovalServiceDecideProcedure {
			return next(ctx, req)
		}
		req.Header().Set(guard.HeaderApprovalWait, "0")
		res, err := next(ctx, req)
		var ce *connect.Error
		if err == nil || !errors.As(err, &ce) || ce.Code() != connect.CodeFailedPrecondition || ce.Meta().Get(guard.HeaderApprovalID) == "" {
			return res, err
		}
		req.Header().Del(guard.HeaderApprovalWait)
		// A once grant that another waiter used first sends this call to
		// a new approval: the daemon answers with its id, and the call
		// waits again, a bounded number of times.
		for range maxApprovalRounds {
			id := ce.Meta().Get(guard.HeaderApprovalID)
			expires, perr := strconv.ParseInt(ce.Meta().Get(guard.HeaderApprovalExpires), 10, 64)
			if perr != nil {
				return res, err
			}
			if !w.quiet {
				fmt.Fprintf(os.Stderr, "palyra: waiting for approval %s (palyra approvals approve %s)\n", id, id)
			}
			req.Header().Set(guard.HeaderApprovalID, id) // its decision, even if it comes first
			wctx, cancel := context.WithDeadline(ctx, time.Unix(expires, 0).Add(approvalMargin))
			res, err = next(wctx, req)
			cancel()
			if err == nil || !errors.As(err, &ce) || ce.Code() != connect.CodeFailedPrecondition || ce.Meta().Get(guard.HeaderApprovalID) == "" {
				if err != nil && ctx.Err() == nil && cutOff(err) {
					return res, unreachableError{fmt.Sprintf("%v; approval %s stays pending; re-run the same command after the daemon restarts", err, id)}
				}
				return res, err
			}
		}
		return res, err
	}
}

// maxApprovalRounds bounds how many approvals one call waits for in turn.
const maxApprovalRounds = 8

// cutOff reports whether err ended a wait without an answer from the
// daemon: the connection failed or the daemon went away (killed,
// restarted).
func cutOff(err error) bool {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return true
	}
	return ce.Code() == connect.CodeUnavailable || ce.Code() == connect.CodeUnknown
}

func (approvalWaiter) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (approvalWaiter) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// printJSONLine prints v as one line of JSON, for streams.
func printJSONLine(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
