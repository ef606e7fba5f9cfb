package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/guard"
)

// Audit listing bounds.
const (
	auditDefaultLimit = 100
	auditMaxLimit     = 1000
)

// journalResource is the one Audit resource.
var journalTarget = guard.Target{Resource: authz.Resource{Type: authz.ResourceAudit, ID: authz.AuditJournal}}

var errBadLimit = fmt.Errorf("limit must be 0..%d", auditMaxLimit)

// auditRoutes are the AuditService procedures (audit.read).
func (d *Daemon) auditRoutes(g *guard.Guard) []guard.Route {
	return []guard.Route{
		guard.Unary(g, palyrav1connect.AuditServiceListProcedure, authz.ActionAuditRead, guard.Read,
			func(_ authn.Caller, m *palyrav1.AuditListRequest) (auditQuery, guard.Target, error) {
				q, err := parseAuditList(m)
				return q, journalTarget, err
			},
			func(ctx context.Context, _ authn.Caller, q auditQuery) (*palyrav1.AuditListResponse, error) {
				f := q.Filter
				if q.newest {
					f.AfterSeq = max(f.AfterSeq, d.audit.Head()-int64(f.Limit))
				}
				recs, err := d.audit.List(ctx, f)
				if err != nil {
					return nil, err
				}
				out := &palyrav1.AuditListResponse{Records: make([]*palyrav1.AuditRecord, len(recs))}
				for i, r := range recs {
					out.Records[i] = auditRecord(r)
				}
				return out, nil
			}),
		guard.Unary(g, palyrav1connect.AuditServiceGetProcedure, authz.ActionAuditRead, guard.Read,
			func(_ authn.Caller, m *palyrav1.AuditGetRequest) (int64, guard.Target, error) {
				if m.GetSeq() < 1 {
					return 0, journalTarget, connect.NewError(connect.CodeInvalidArgument, errors.New("seq must be at least 1"))
				}
				return m.GetSeq(), journalTarget, nil
			},
			func(ctx context.Context, _ authn.Caller, seq int64) (*palyrav1.AuditGetResponse, error) {
				r, err := d.audit.Get(ctx, seq)
				if err != nil {
					return nil, err
				}
				out := &palyrav1.AuditGetResponse{Record: auditRecord(r)}
				if r.Kind == audit.KindDecision {
					if o, err := d.audit.OutcomeOf(ctx, seq); err == nil {
						out.Outcome = auditRecord(o)
					} else if !errors.Is(err, audit.ErrNotFound) {
						return nil, err
					}
				}
				return out, nil
			}),
		guard.ServerStream(g, palyrav1connect.AuditServiceTailProcedure, authz.ActionAuditRead,
			func(_ authn.Caller, m *palyrav1.AuditTailRequest) (int64, guard.Target, error) {
				if m.GetAfterSeq() < 0 {
					return 0, journalTarget, connect.NewError(connect.CodeInvalidArgument, errors.New("after_seq must not be negative"))
				}
				return m.GetAfterSeq(), journalTarget, nil
			},
			d.tail),
	}
}

// auditQuery is a validated AuditService.List request.
type auditQuery struct {
	audit.Filter
	newest bool
}

func parseAuditList(m *palyrav1.AuditListRequest) (auditQuery, error) {
	q := auditQuery{Filter: audit.Filter{AfterSeq: m.GetAfterSeq(), Principal: m.GetPrincipal(), Action: m.GetAction(), Limit: int(m.GetLimit())}, newest: m.GetNewest()}
	if m.GetAfterSeq() < 0 || m.GetSinceUnix() < 0 {
		return q, connect.NewError(connect.CodeInvalidArgument, errors.New("after_seq and since must not be negative"))
	}
	if q.Limit < 0 || q.Limit > auditMaxLimit {
		return q, connect.NewError(connect.CodeInvalidArgument, errBadLimit)
	}
	if q.Limit == 0 {
		q.Limit = auditDefaultLimit
	}
	if s := m.GetSinceUnix(); s > 0 {
		q.Since = time.Unix(s, 0)
	}
	return q, nil
}

// tail streams records after after (0: after the head when the tail
// started) until the caller cancels, or until the policies in force no
// longer allow the caller audit.read (checked before each record).
func (d *Daemon) tail(ctx context.Context, _ authn.Caller, after int64, s *connect.ServerStream[palyrav1.AuditRecord]) error {
	if after == 0 {
		after = d.audit.Head()
	}
	for {
		recs, err := d.audit.List(ctx, audit.Filter{AfterSeq: after, Limit: auditMaxLimit})
		if err != nil {
			return err
		}
		for _, r := range recs {
			// audit.read may have been withdrawn since the tail opened.
			if err := guard.StillAllowed(ctx); err != nil {
				return err
			}
			if err := s.Send(auditRecord(r)); err != nil {
				return err
			}
			after = r.Seq
		}
		if len(recs) == auditMaxLimit {
			continue
		}
		if err := d.audit.Wait(ctx, after); err != nil {
			return err
		}
	}
}

// auditRecord is the API form of r.
func auditRecord(r audit.Record) *palyrav1.AuditRecord {
	return &palyrav1.AuditRecord{
		Seq:          r.Seq,
		TimeUnixNano: r.Time.UnixNano(),
		Kind:         r.Kind.String(),
		Principal:    r.Principal,
		Action:       r.Action,
		Resource:     r.Resource,
		Decision:     r.Decision,
		Policies:     r.Policies,
		Obligations:  r.Obligations,
		Transport:    r.Transport.String(),
		Reason:       r.Reason,
		DecisionSeq:  r.DecisionSeq,
		Outcome:      r.Outcome,
		Version:      r.Version,
		Details:      r.Details,
	}
}
