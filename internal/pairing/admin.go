package pairing

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/devices"
	"github.com/palyra/palyra/internal/guard"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/paircode"
	"github.com/palyra/palyra/internal/sealed"
)

// Routes returns the PairingService procedure table: the three protocol
// procedures, anonymous and journaled, and the admin procedures, decided
// (device.pair, device.remove, device.list).
func (s *Server) Routes(g *guard.Guard) []guard.Route {
	all := guard.Target{Resource: anyDevice}
	none := func(authn.Caller, *palyrav1.ListPairingCodesRequest) (struct{}, guard.Target, error) {
		return struct{}{}, all, nil
	}
	return []guard.Route{
		guard.Protocol(g, palyrav1connect.PairingServiceStartProcedure, authz.ActionDevicePair, MaxStartBytes, s.Start),
		guard.Protocol(g, palyrav1connect.PairingServiceFinishProcedure, authz.ActionDevicePair, MaxFinishBytes, s.Finish),
		guard.Protocol(g, palyrav1connect.PairingServicePollProcedure, authz.ActionDevicePair, MaxPollBytes, s.Poll),

		guard.Unary(g, palyrav1connect.PairingServiceCreateCodeProcedure, authz.ActionDevicePair, guard.Write, s.codeTarget, s.createCode),
		guard.Unary(g, palyrav1connect.PairingServiceListCodesProcedure, authz.ActionDevicePair, guard.Read, none, s.listCodes),
		guard.Unary(g, palyrav1connect.PairingServiceCancelCodeProcedure, authz.ActionDevicePair, guard.Write,
			func(_ authn.Caller, m *palyrav1.CancelPairingCodeRequest) (uint32, guard.Target, error) {
				if m.GetCodeId() == 0 {
					return 0, all, connect.NewError(connect.CodeInvalidArgument, errors.New("code id required"))
				}
				return m.GetCodeId(), all, nil
			},
			func(ctx context.Context, _ authn.Caller, id uint32) (*palyrav1.CancelPairingCodeResponse, error) {
				if err := s.cfg.Devices.CancelCode(ctx, id, s.cfg.Now()); err != nil {
					if errors.Is(err, devices.ErrNotFound) {
						return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no active pairing code %d", id))
					}
					return nil, err
				}
				return &palyrav1.CancelPairingCodeResponse{}, nil
			}),
		guard.Unary(g, palyrav1connect.PairingServiceListRequestsProcedure, authz.ActionDevicePair, guard.Read,
			func(_ authn.Caller, m *palyrav1.ListPairingRequestsRequest) (bool, guard.Target, error) {
				return m.GetAll(), all, nil
			},
			s.listRequests),
		guard.Unary(g, palyrav1connect.PairingServiceApproveProcedure, authz.ActionDevicePair, guard.Write, s.decideTarget, s.decide(true)),
		guard.Unary(g, palyrav1connect.PairingServiceRejectProcedure, authz.ActionDevicePair, guard.Write, s.decideTarget, s.decide(false)),
		guard.Unary(g, palyrav1connect.PairingServiceRemoveDeviceProcedure, authz.ActionDeviceRemove, guard.Write,
			func(_ authn.Caller, m *palyrav1.RemoveDeviceRequest) (identity.DeviceID, guard.Target, error) {
				id, err := identity.ParseDeviceID(m.GetDeviceId())
				return id, guard.Target{Resource: deviceResource(id)}, err
			},
			func(ctx context.Context, c authn.Caller, id identity.DeviceID) (*palyrav1.RemoveDeviceResponse, error) {
				if err := s.cfg.Devices.Remove(ctx, id); err != nil {
					if errors.Is(err, devices.ErrNotRevoked) {
						return nil, connect.NewError(connect.CodeFailedPrecondition, err)
					}
					return nil, err
				}
				s.cfg.Log.Info("removed device", "device_id", id, "by", c.Principal.String())
				return &palyrav1.RemoveDeviceResponse{}, nil
			}),
		guard.Unary(g, palyrav1connect.PairingServiceListConnectorsProcedure, authz.ActionDeviceList, guard.Read,
			func(authn.Caller, *palyrav1.ListConnectorsRequest) (struct{}, guard.Target, error) {
				return struct{}{}, all, nil
			},
			func(context.Context, authn.Caller, struct{}) (*palyrav1.ListConnectorsResponse, error) {
				out := &palyrav1.ListConnectorsResponse{}
				for _, d := range s.cfg.Devices.List() {
					if d.Connector == "" {
						continue
					}
					pc := &palyrav1.Connector{Name: d.Connector, DeviceId: d.ID.String(), Fingerprint: d.Fingerprint(),
						EnrolledUnix: d.EnrolledAt.Unix(), CertNotAfterUnix: d.CertNotAfter.Unix()}
					if d.Revoked() {
						pc.RevokedUnix = d.RevokedAt.Unix()
					}
					out.Connectors = append(out.Connectors, pc)
				}
				return out, nil
			}),
	}
}

// connectorName is a connector's name: what Connector::"NAME" and the vault
// scope connector:NAME carry.
var connectorName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// codeSpec is a validated CreateCode request.
type codeSpec struct {
	name, connector string
	ttl             time.Duration
	approve         bool
}

func (s *Server) codeTarget(_ authn.Caller, m *palyrav1.CreatePairingCodeRequest) (codeSpec, guard.Target, error) {
	bad := func(err error) (codeSpec, guard.Target, error) {
		return codeSpec{}, guard.Target{}, connect.NewError(connect.CodeInvalidArgument, err)
	}
	ttl := time.Duration(m.GetTtlSeconds()) * time.Second
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < MinTTL || ttl > MaxTTL {
		return bad(fmt.Errorf("ttl must be between %v and %v", MinTTL, MaxTTL))
	}
	if m.GetName() != "" && !ValidName(m.GetName()) {
		return bad(fmt.Errorf("name must be 1..%d printable characters, no tabs, no runs of spaces, without surrounding spaces", maxNameLen))
	}
	if m.GetConnector() != "" && !connectorName.MatchString(m.GetConnector()) {
		return bad(errors.New("connector name must be 1..63 of [a-z0-9._-], starting with a letter or digit"))
	}
	if m.GetConnector() != "" && m.GetName() != "" {
		return bad(errors.New("a connector is named by --connector; drop --name"))
	}
	return codeSpec{m.GetName(), m.GetConnector(), ttl, m.GetApprove()}, guard.Target{Resource: anyDevice}, nil
}

func (s *Server) createCode(ctx context.Context, _ authn.Caller, spec codeSpec) (*palyrav1.CreatePairingCodeResponse, error) {
	now := s.cfg.Now()
	// A name taken now would make the pairing fail after the code is
	// used up: refuse it here, where choosing another costs nothing.
	for _, n := range []string{spec.name, spec.connector} {
		if n == "" {
			continue
		}
		if s.cfg.Devices.NameInUse(n, "") {
			return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("an active device is named %s; choose another name, or revoke that device first", strconv.QuoteToASCII(n)))
		}
		if other, ok := s.cfg.Devices.NameLookalike(n, ""); ok {
			return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("the name %s looks like active device %s; choose another name", strconv.QuoteToASCII(n), strconv.QuoteToASCII(other)))
		}
	}
	for range 8 {
		id, err := newCodeID(s.cfg.Rand)
		if err != nil {
			return nil, err
		}
		code, err := paircode.Generate(id, s.cfg.Rand)
		if err != nil {
			return nil, err
		}
		sp, err := sealed.Seal(s.cfg.CodeKey, codeName(id), code.Password())
		if err != nil {
			return nil, err
		}
		pc := devices.PairingCode{ID: id, SealedPassword: sp, Name: spec.name, Connector: spec.connector, Approve: spec.approve,
			CreatedAt: now, ExpiresAt: now.Add(spec.ttl)}
		err = s.cfg.Devices.CreateCode(ctx, pc, now, MaxActiveCodes)
		switch {
		case errors.Is(err, devices.ErrCodeIDTaken):
			continue
		case errors.Is(err, devices.ErrTooManyCodes):
			return nil, connect.NewError(connect.CodeResourceExhausted, err)
		case err != nil:
			return nil, err
		}
		return &palyrav1.CreatePairingCodeResponse{Code: code.String(), CodeId: id, ExpiresUnix: pc.ExpiresAt.Unix()}, nil
	}
	return nil, connect.NewError(connect.CodeResourceExhausted, errors.New("no free code id; cancel unused codes"))
}

func (s *Server) listCodes(ctx context.Context, _ authn.Caller, _ struct{}) (*palyrav1.ListPairingCodesResponse, error) {
	codes, err := s.cfg.Devices.Codes(ctx, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	out := &palyrav1.ListPairingCodesResponse{}
	for _, c := range codes {
		out.Codes = append(out.Codes, &palyrav1.PairingCode{CodeId: c.ID, Name: c.Name, Connector: c.Connector, Approve: c.Approve,
			CreatedUnix: c.CreatedAt.Unix(), ExpiresUnix: c.ExpiresAt.Unix()})
	}
	return out, nil
}

func (s *Server) listRequests(ctx context.Context, _ authn.Caller, all bool) (*palyrav1.ListPairingRequestsResponse, error) {
	qs, err := s.cfg.Devices.Requests(ctx, all, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	out := &palyrav1.ListPairingRequestsResponse{}
	for _, q := range qs {
		fp := identity.Fingerprint(q.PublicKey)
		like, _ := s.cfg.Devices.NameLookalike(q.Name, q.DeviceID)
		out.Requests = append(out.Requests, &palyrav1.PairingRequest{
			RequestId: q.ID, DeviceId: q.DeviceID.String(), Name: q.Name, Platform: q.Platform, ShortFingerprint: ShortFingerprint(fp),
			Fingerprint: fp, State: StateProto(q.State), Connector: q.Connector,
			NameConflict: s.cfg.Devices.NameInUse(q.Name, q.DeviceID), CreatedUnix: q.CreatedAt.Unix(), ExpiresUnix: q.ExpiresAt.Unix(), CodeId: q.CodeID,
			LookalikeOf: like,
		})
	}
	return out, nil
}

// decideTarget names the requested device as the resource of an approval
// or rejection.
func (s *Server) decideTarget(_ authn.Caller, m *palyrav1.DecidePairingRequest) (devices.PairingRequest, guard.Target, error) {
	q, err := s.cfg.Devices.Request(context.Background(), m.GetRequestId(), s.cfg.Now())
	if errors.Is(err, devices.ErrRequestNotFound) {
		return q, guard.Target{}, connect.NewError(connect.CodeNotFound, fmt.Errorf("no pairing request %q", truncate(m.GetRequestId(), 40)))
	}
	if err != nil {
		return q, guard.Target{}, err
	}
	return q, guard.Target{Resource: deviceResource(q.DeviceID)}, nil
}

func (s *Server) decide(approve bool) func(context.Context, authn.Caller, devices.PairingRequest) (*palyrav1.DecidePairingResponse, error) {
	return func(ctx context.Context, c authn.Caller, q devices.PairingRequest) (*palyrav1.DecidePairingResponse, error) {
		verb := "reject"
		if approve {
			verb = "approve"
		}
		if q.State != devices.PairingPending {
			return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("pairing request %s is already %s; nothing to %s", q.ID, q.State, verb))
		}
		if approve {
			if err := s.cfg.Devices.Admissible(q.DeviceID, q.PublicKey); err != nil {
				return nil, connect.NewError(connect.CodeFailedPrecondition, continuityError(err))
			}
			if s.cfg.Devices.NameInUse(q.Name, q.DeviceID) {
				return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("an active device is named %s; revoke it first, or reject this request", strconv.QuoteToASCII(q.Name)))
			}
		}
		id := q.ID
		q, err := s.cfg.Devices.DecideRequest(ctx, id, approve, s.cfg.Now())
		if err != nil {
			if errors.Is(err, devices.ErrRequestNotActive) {
				return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("pairing request %s is no longer pending; nothing to %s", id, verb))
			}
			return nil, err
		}
		s.cfg.Log.Info("pairing request decided", "request_id", q.ID, "state", q.State, "by", c.Principal.String())
		return &palyrav1.DecidePairingResponse{State: StateProto(q.State)}, nil
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
