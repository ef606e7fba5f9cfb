package daemon

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/guard"
	"github.com/palyra/palyra/internal/policy"
)

// PolicyDirName is the policy directory inside the state directory, used
// when the configuration sets no policy_dir.
const PolicyDirName = "policies"

// allPolicies is the resource of every PolicyService decision.
var allPolicies = guard.Target{Resource: authz.Resource{Type: authz.ResourcePolicy, ID: authz.AllPolicies}}

// policySetTarget is the target of a request about the whole policy set:
// nothing to validate, resource Policy::"*".
func policySetTarget[M any](authn.Caller, *M) (struct{}, guard.Target, error) {
	return struct{}{}, allPolicies, nil
}

// policyDir is the configured policy directory, else STATE_DIR/policies.
func (d *Daemon) policyDir() string {
	if d.cfg.PolicyDir != "" {
		return d.cfg.PolicyDir
	}
	return filepath.Join(d.layout.Dir, PolicyDirName)
}

// loadPolicies loads the policy directory at start. A directory that does
// not load stops the start: running without the operator's forbids would
// allow what they meant to deny.
func (d *Daemon) loadPolicies(context.Context) error {
	// An explicitly configured directory must exist: a typo must not
	// start palyrad on the baseline alone.
	h, err := policy.Open(d.policyDir(), d.cfg.PolicyDir != "")
	if err != nil {
		return fmt.Errorf("operator policies: %w", err)
	}
	d.policies = h
	s := h.Active()
	d.log.Info("policies loaded", "dir", s.Dir, "files", len(s.Files), "policies", len(s.Policies), "cases", s.Cases, "digest", s.Digest)
	return nil
}

// policyRoutes are the PolicyService procedures.
func (d *Daemon) policyRoutes(g *guard.Guard) []guard.Route {
	return []guard.Route{
		guard.Unary(g, palyrav1connect.PolicyServiceListProcedure, authz.ActionPolicyRead, guard.Read,
			policySetTarget[palyrav1.PolicyListRequest],
			func(context.Context, authn.Caller, struct{}) (*palyrav1.PolicyListResponse, error) {
				s := d.policies.Active()
				out := &palyrav1.PolicyListResponse{Dir: s.Dir, Digest: s.Digest}
				for _, p := range s.Policies {
					pi := &palyrav1.PolicyInfo{Id: p.ID, Effect: p.Effect, Source: p.Source, Line: count32(p.Line), Column: count32(p.Column)}
					for _, a := range p.Annotations {
						pi.Annotations = append(pi.Annotations, &palyrav1.PolicyAnnotation{Name: a.Name, Value: a.Value})
					}
					out.Policies = append(out.Policies, pi)
				}
				return out, nil
			}),
		guard.Unary(g, palyrav1connect.PolicyServiceExplainProcedure, authz.ActionPolicyRead, guard.Read,
			func(_ authn.Caller, m *palyrav1.PolicyExplainRequest) (authz.Request, guard.Target, error) {
				req, err := policy.Query{
					Principal: m.GetPrincipal(), Owner: m.GetOwner(), Roles: m.GetRoles(), Action: m.GetAction(),
					Resource: m.GetResource(), Transport: m.GetTransport(), DeviceID: m.GetDeviceId(), Context: []byte(m.GetContextJson()),
				}.Request()
				if err != nil {
					return req, guard.Target{}, connect.NewError(connect.CodeInvalidArgument, err)
				}
				return req, allPolicies, nil
			},
			func(_ context.Context, _ authn.Caller, req authz.Request) (*palyrav1.PolicyExplainResponse, error) {
				x := d.policies.Active().Explain(req)
				out := &palyrav1.PolicyExplainResponse{Decision: x.Effect.String(), Policies: x.Policies, Errors: x.Errors}
				for _, o := range x.Obligations {
					out.Obligations = append(out.Obligations, &palyrav1.PolicyObligation{Policy: o.Policy, Name: o.Name, Value: o.Value})
				}
				return out, nil
			}),
		guard.Unary(g, palyrav1connect.PolicyServiceTestProcedure, authz.ActionPolicyRead, guard.Read,
			policySetTarget[palyrav1.PolicyTestRequest],
			func(context.Context, authn.Caller, struct{}) (*palyrav1.PolicyTestResponse, error) {
				// Serialized with reloads and answered from the last
				// load when the directory has not changed, so parallel
				// calls cannot each hold a parsed directory.
				rep, err := d.policies.Test()
				if err == nil {
					err = rep.Err
				}
				if err != nil {
					return nil, connect.NewError(connect.CodeFailedPrecondition, err)
				}
				out := &palyrav1.PolicyTestResponse{Dir: d.policies.Dir()}
				for _, r := range rep.Results {
					out.Results = append(out.Results, &palyrav1.PolicyCaseResult{File: r.File, Name: r.Case, Failure: r.Failure})
				}
				return out, nil
			}),
		guard.Unary(g, palyrav1connect.PolicyServiceReloadProcedure, authz.ActionPolicyWrite, guard.Write,
			policySetTarget[palyrav1.PolicyReloadRequest],
			d.reloadPolicies),
	}
}

// reloadPolicies is the act of a reload: the directory replaces the active
// set only if it loads and passes its cases. Accepted or rejected, the
// reload is logged; the guard journals its decision and outcome.
func (d *Daemon) reloadPolicies(_ context.Context, c authn.Caller, _ struct{}) (*palyrav1.PolicyReloadResponse, error) {
	next, prev, err := d.policies.Reload()
	if err != nil {
		d.log.Warn("policy reload rejected; the active policies are unchanged", "dir", d.policies.Dir(), "err", err, "active_digest", prev.Digest, "by", c.Principal.String())
		return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("policy reload rejected, the active policies are unchanged: %w", err))
	}
	d.log.Info("policies reloaded", "dir", next.Dir, "files", len(next.Files), "policies", len(next.Policies), "cases", next.Cases, "digest", next.Digest, "previous_digest", prev.Digest, "by", c.Principal.String())
	return &palyrav1.PolicyReloadResponse{
		Dir: next.Dir, Digest: next.Digest, PreviousDigest: prev.Digest,
		Files: count32(len(next.Files)), Policies: count32(len(next.Policies)), Cases: count32(next.Cases),
	}, nil
}

// ReloadPolicies reloads the policy directory on the operator's signal
// (SIGHUP). It is the owner's `palyra policy reload`: the same RPC over
// the daemon's own admin socket, so it is authorized, journaled and logged
// exactly as one. Only the daemon's uid (or root) can signal it, and only
// the daemon's uid is served on the socket. It waits until the daemon is
// ready or ctx ends.
func (d *Daemon) ReloadPolicies(ctx context.Context) (*palyrav1.PolicyReloadResponse, error) {
	select {
	case <-d.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	conn := client.DialUnix(d.layout.Socket)
	defer conn.Close()
	r, err := conn.Policy.Reload(ctx, connect.NewRequest(&palyrav1.PolicyReloadRequest{}))
	if err != nil {
		var ce *connect.Error
		if errors.As(err, &ce) && ce.Code() == connect.CodePermissionDenied {
			// The baseline permits the owner on the admin socket, so
			// only an operator policy can deny this.
			return nil, fmt.Errorf("%s; an operator policy forbids policy.write: edit the policy files and restart palyrad", ce.Message())
		}
		if errors.As(err, &ce) {
			return nil, errors.New(ce.Message())
		}
		return nil, err
	}
	return r.Msg, nil
}

// count32 is a count or position for the API's int32 fields. The loader
// bounds what it counts (at most 1,024 files of at most 1 MiB each), so the
// clamp never applies; it keeps a conversion from ever wrapping negative.
func count32(n int) int32 {
	return int32(min(max(n, 0), math.MaxInt32)) // #nosec G115 -- clamped to [0, MaxInt32] on this line
}
