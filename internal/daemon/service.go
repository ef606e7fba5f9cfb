package daemon

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/devices"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/pki"
	"github.com/palyra/palyra/internal/transport"
	"github.com/palyra/palyra/internal/vault"
)

// maxRequestBytes bounds a request message: a vault value (64 KiB) plus
// framing and the largest other field.
const maxRequestBytes = 128 << 10

// handler returns the API as one http.Handler, served on every transport.
func (d *Daemon) handler() http.Handler {
	opts := append([]connect.HandlerOption{
		connect.WithReadMaxBytes(maxRequestBytes),
		connect.WithCompressMinBytes(1024),
	}, codecOptions()...)
	mux := http.NewServeMux()
	path, h := palyrav1connect.NewPalyraServiceHandler(&service{d: d}, opts...)
	mux.Handle(path, h)
	return d.requireCertificate(mux, connect.NewErrorWriter(opts...))
}

// requireCertificate refuses a TLS request that presented no client
// certificate, except Health, before its body is read or decompressed: an
// anonymous peer gets no work done on its behalf. The error is written in
// the caller's own protocol (gRPC, gRPC-Web or Connect) as Unauthenticated.
// Authentication proper (registry, validity) still happens per RPC.
func (d *Daemon) requireCertificate(next http.Handler, ew *connect.ErrorWriter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, _ := transport.PeerFrom(r.Context())
		if peer.Transport != transport.Unix && peer.Cert == nil && r.URL.Path != palyrav1connect.PalyraServiceHealthProcedure {
			if n, ok := d.refusalLog.allow(d.now()); ok {
				d.log.Warn("call without a client certificate refused", "path", r.URL.Path, "transport", peer.Transport, "remote", peer.Remote, "suppressed_before", n)
			}
			ew.Write(w, r, connect.NewError(connect.CodeUnauthenticated, errCertificateRequired))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// service implements the API. Every method except Health follows the same
// order: authenticate the peer, validate the request, make exactly one
// authorization decision, write it to the audit journal (failing closed if
// the journal cannot be written), and only then act.
type service struct {
	d *Daemon
}

var _ palyrav1connect.PalyraServiceHandler = (*service)(nil)

// authenticate returns the caller or an Unauthenticated error. Refusals
// are logged, not journaled: the journal records authorization decisions
// about authenticated principals, and an anonymous network peer must not be
// able to make the daemon write (and fsync) durable records at will. TLS
// handshake refusals never reach this point at all.
func (s *service) authenticate(ctx context.Context, action string) (authn.Caller, error) {
	peer, _ := transport.PeerFrom(ctx)
	caller, err := authn.Authenticate(peer, s.d.devices, os.Getuid(), s.d.now())
	if err != nil {
		if n, ok := s.d.refusalLog.allow(s.d.now()); ok {
			s.d.log.Warn("unauthenticated call refused", "action", action, "transport", peer.Transport, "remote", peer.Remote, "reason", err.Error(), "suppressed_before", n)
		}
		return caller, connect.NewError(connect.CodeUnauthenticated, err)
	}
	return caller, nil
}

// decide makes the request's one authorization decision and records it.
func (s *service) decide(ctx context.Context, c authn.Caller, action string, res authz.Resource) error {
	dec := s.d.authz.Decide(authz.Request{Principal: c.Principal, Action: action, Resource: res, Transport: c.Transport, DeviceID: c.DeviceID})
	e := audit.Entry{Principal: c.Principal.String(), Action: action, Resource: res.String(), Policies: dec.Policies, Transport: c.Transport}
	if dec.Allowed {
		e.Decision, e.Reason = "allow", "permitted"
	} else {
		e.Decision, e.Reason = "deny", "no permit"
		if len(dec.Policies) > 0 {
			e.Reason = "forbidden"
		}
		if len(dec.Errors) > 0 {
			s.d.log.Warn("authorization errors", "action", action, "resource", res.String(), "errors", dec.Errors)
		}
	}
	if err := s.record(ctx, e); err != nil {
		return err
	}
	if !dec.Allowed {
		return connect.NewError(connect.CodePermissionDenied, &deniedError{c.Principal.String(), action, res.String()})
	}
	return nil
}

// record appends to the audit journal. A request the journal cannot record
// is refused: no unaudited action.
func (s *service) record(ctx context.Context, e audit.Entry) error {
	if _, err := s.d.audit.Append(context.WithoutCancel(ctx), e); err != nil {
		s.d.log.Error("audit append failed; refusing the request", "err", err)
		return connect.NewError(connect.CodeUnavailable, errAuditUnavailable)
	}
	return nil
}

func (s *service) Health(context.Context, *connect.Request[palyrav1.HealthRequest]) (*connect.Response[palyrav1.HealthResponse], error) {
	return connect.NewResponse(&palyrav1.HealthResponse{Status: "serving", Version: Version}), nil
}

func (s *service) Status(ctx context.Context, _ *connect.Request[palyrav1.StatusRequest]) (*connect.Response[palyrav1.StatusResponse], error) {
	c, err := s.authenticate(ctx, authz.ActionDaemonStatus)
	if err != nil {
		return nil, err
	}
	if err := s.decide(ctx, c, authz.ActionDaemonStatus, authz.Resource{Type: authz.ResourceDaemon, ID: authz.DaemonLocal}); err != nil {
		return nil, err
	}
	a := s.d.srv.Addrs()
	listeners := &palyrav1.Listeners{Tcp: a.TCP, Quic: a.QUIC}
	if c.Transport == transport.Unix {
		// The socket path is only of use to, and only shown to, the owner.
		listeners.Socket = a.Socket
	}
	return connect.NewResponse(&palyrav1.StatusResponse{
		Version:                Version,
		DeviceId:               s.d.id.DeviceID,
		Fingerprint:            s.d.id.Fingerprint(),
		CaFingerprint:          s.d.ca.Fingerprint(),
		Listeners:              listeners,
		Principal:              c.Principal.String(),
		ServerCertNotAfterUnix: s.d.server.Leaf().NotAfter.Unix(),
	}), nil
}

func (s *service) VaultPut(ctx context.Context, r *connect.Request[palyrav1.VaultPutRequest]) (*connect.Response[palyrav1.VaultPutResponse], error) {
	c, ref, err := s.secretCall(ctx, authz.ActionVaultWrite, r.Msg.GetRef())
	if err != nil {
		return nil, err
	}
	v, err := s.d.vault.Put(ctx, ref, r.Msg.GetValue())
	if err != nil {
		return nil, s.apiError(err, c)
	}
	return connect.NewResponse(&palyrav1.VaultPutResponse{Version: v}), nil
}

func (s *service) VaultGet(ctx context.Context, r *connect.Request[palyrav1.VaultGetRequest]) (*connect.Response[palyrav1.VaultGetResponse], error) {
	c, ref, err := s.secretCall(ctx, authz.ActionVaultRead, r.Msg.GetRef())
	if err != nil {
		return nil, err
	}
	val, err := s.d.vault.Get(ctx, ref)
	if err != nil {
		return nil, s.apiError(err, c)
	}
	return connect.NewResponse(&palyrav1.VaultGetResponse{Value: val}), nil
}

func (s *service) VaultDelete(ctx context.Context, r *connect.Request[palyrav1.VaultDeleteRequest]) (*connect.Response[palyrav1.VaultDeleteResponse], error) {
	c, ref, err := s.secretCall(ctx, authz.ActionVaultDelete, r.Msg.GetRef())
	if err != nil {
		return nil, err
	}
	if err := s.d.vault.Delete(ctx, ref); err != nil {
		return nil, s.apiError(err, c)
	}
	return connect.NewResponse(&palyrav1.VaultDeleteResponse{}), nil
}

// secretCall authenticates, parses the secret reference and decides action
// on it.
func (s *service) secretCall(ctx context.Context, action, rawRef string) (authn.Caller, vault.Ref, error) {
	c, err := s.authenticate(ctx, action)
	if err != nil {
		return c, vault.Ref{}, err
	}
	ref, err := vault.ParseRef(rawRef)
	if err != nil {
		return c, vault.Ref{}, s.apiError(err, c)
	}
	return c, ref, s.decide(ctx, c, action, authz.SecretResource(ref.Scope, ref.Key))
}

func (s *service) VaultList(ctx context.Context, r *connect.Request[palyrav1.VaultListRequest]) (*connect.Response[palyrav1.VaultListResponse], error) {
	c, err := s.authenticate(ctx, authz.ActionVaultList)
	if err != nil {
		return nil, err
	}
	scope := r.Msg.GetScope()
	resID := authz.AllScopes
	if scope != "" {
		if err := vault.ValidScope(scope); err != nil {
			return nil, s.apiError(err, c)
		}
		resID = scope
	}
	if err := s.decide(ctx, c, authz.ActionVaultList, authz.Resource{Type: authz.ResourceVault, ID: resID}); err != nil {
		return nil, err
	}
	entries, err := s.d.vault.List(ctx, scope)
	if err != nil {
		return nil, s.apiError(err, c)
	}
	out := &palyrav1.VaultListResponse{}
	for _, e := range entries {
		out.Secrets = append(out.Secrets, &palyrav1.SecretEntry{Ref: e.Ref.String(), Version: e.Version, CreatedUnix: e.CreatedAt.Unix(), UpdatedUnix: e.UpdatedAt.Unix()})
	}
	return connect.NewResponse(out), nil
}

// maxDeviceNameLen bounds a device's display name, in runes.
const maxDeviceNameLen = 64

func validDeviceName(n string) bool {
	if n == "" || len([]rune(n)) > maxDeviceNameLen || strings.TrimSpace(n) != n {
		return false
	}
	for _, r := range n {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func (s *service) EnrollDevice(ctx context.Context, r *connect.Request[palyrav1.EnrollDeviceRequest]) (*connect.Response[palyrav1.EnrollDeviceResponse], error) {
	c, err := s.authenticate(ctx, authz.ActionDeviceEnroll)
	if err != nil {
		return nil, err
	}
	if !validDeviceName(r.Msg.GetName()) {
		return nil, connect.NewError(connect.CodeInvalidArgument, errBadDeviceName)
	}
	csr, err := pki.ParseDeviceCSR(r.Msg.GetCsr())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	if csr.DeviceID == s.d.id.DeviceID {
		return nil, connect.NewError(connect.CodeInvalidArgument, errDaemonID)
	}
	if err := s.decide(ctx, c, authz.ActionDeviceEnroll, authz.Resource{Type: authz.ResourceDevice, ID: csr.DeviceID}); err != nil {
		return nil, err
	}
	// The registry checks the key binding before the certificate is handed
	// out, so a refused re-key never yields a usable certificate.
	if d, err := s.d.devices.Get(csr.DeviceID); err == nil {
		if d.Revoked() {
			return nil, s.apiError(devices.ErrRevoked, c)
		}
		if !d.PublicKey.Equal(csr.PublicKey) {
			return nil, s.apiError(devices.ErrKeyMismatch, c)
		}
	}
	cert, err := s.d.ca.IssueClient(csr, r.Msg.GetName(), s.d.now(), time.Duration(s.d.cfg.ClientCertTTL))
	if err != nil {
		return nil, s.apiError(err, c)
	}
	owner := c.Principal.ID
	if c.Principal.Kind == authz.KindDevice {
		owner = c.Principal.Owner
	}
	if _, err := s.d.devices.Record(ctx, devices.Device{ID: csr.DeviceID, Name: r.Msg.GetName(), Owner: owner, PublicKey: csr.PublicKey}, cert); err != nil {
		return nil, s.apiError(err, c)
	}
	s.d.log.Info("enrolled device", "device_id", csr.DeviceID, "name", r.Msg.GetName(), "fingerprint", identity.Fingerprint(csr.PublicKey), "by", c.Principal.String())
	return connect.NewResponse(&palyrav1.EnrollDeviceResponse{DeviceId: csr.DeviceID, Certificate: cert.Raw, CaCertificate: s.d.ca.Cert.Raw}), nil
}

func (s *service) ListDevices(ctx context.Context, _ *connect.Request[palyrav1.ListDevicesRequest]) (*connect.Response[palyrav1.ListDevicesResponse], error) {
	c, err := s.authenticate(ctx, authz.ActionDeviceList)
	if err != nil {
		return nil, err
	}
	if err := s.decide(ctx, c, authz.ActionDeviceList, authz.Resource{Type: authz.ResourceDevice, ID: authz.AllDevices}); err != nil {
		return nil, err
	}
	out := &palyrav1.ListDevicesResponse{}
	for _, d := range s.d.devices.List() {
		pd := &palyrav1.Device{
			DeviceId: d.ID, Name: d.Name, Owner: d.Owner, Fingerprint: d.Fingerprint(),
			EnrolledUnix: d.EnrolledAt.Unix(), CertSerial: d.CertSerial, CertNotAfterUnix: d.CertNotAfter.Unix(),
		}
		if d.Revoked() {
			pd.RevokedUnix = d.RevokedAt.Unix()
		}
		out.Devices = append(out.Devices, pd)
	}
	return connect.NewResponse(out), nil
}

// errRenewSelfOnly is returned when a renewal is not a device renewing
// itself with its enrolled key.
var errRenewSelfOnly = errors.New("a device renews only its own certificate, for its enrolled key, over mTLS")

// refuseRenewal journals and refuses a renewal that is not a device
// renewing itself with its enrolled key: the strongest sign of a
// compromised device this API can see. It is refused by the daemon before
// any policy is consulted, so the record lists no policies.
func (s *service) refuseRenewal(ctx context.Context, c authn.Caller, csrDeviceID, reason string) error {
	res := authz.Resource{Type: authz.ResourceDevice, ID: csrDeviceID}
	if err := s.record(ctx, audit.Entry{Principal: c.Principal.String(), Action: authz.ActionDeviceRenew, Resource: res.String(), Decision: "deny", Transport: c.Transport, Reason: reason}); err != nil {
		return err
	}
	return connect.NewError(connect.CodePermissionDenied, errRenewSelfOnly)
}

func (s *service) RenewCertificate(ctx context.Context, r *connect.Request[palyrav1.RenewCertificateRequest]) (*connect.Response[palyrav1.RenewCertificateResponse], error) {
	c, err := s.authenticate(ctx, authz.ActionDeviceRenew)
	if err != nil {
		return nil, err
	}
	csr, err := pki.ParseDeviceCSR(r.Msg.GetCsr())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	if c.DeviceID == "" || csr.DeviceID != c.DeviceID {
		return nil, s.refuseRenewal(ctx, c, csr.DeviceID, "renewal for another device")
	}
	dev, err := s.d.devices.Get(c.DeviceID)
	if err != nil {
		return nil, s.apiError(err, c)
	}
	if !dev.PublicKey.Equal(csr.PublicKey) {
		return nil, s.refuseRenewal(ctx, c, csr.DeviceID, "renewal with another key")
	}
	if err := s.decide(ctx, c, authz.ActionDeviceRenew, authz.Resource{Type: authz.ResourceDevice, ID: c.DeviceID}); err != nil {
		return nil, err
	}
	cert, err := s.d.ca.IssueClient(csr, dev.Name, s.d.now(), time.Duration(s.d.cfg.ClientCertTTL))
	if err != nil {
		return nil, s.apiError(err, c)
	}
	if _, err := s.d.devices.Record(ctx, dev, cert); err != nil {
		return nil, s.apiError(err, c)
	}
	return connect.NewResponse(&palyrav1.RenewCertificateResponse{Certificate: cert.Raw}), nil
}

func (s *service) RevokeDevice(ctx context.Context, r *connect.Request[palyrav1.RevokeDeviceRequest]) (*connect.Response[palyrav1.RevokeDeviceResponse], error) {
	c, err := s.authenticate(ctx, authz.ActionDeviceRevoke)
	if err != nil {
		return nil, err
	}
	id := r.Msg.GetDeviceId()
	if err := identity.ValidDeviceID(id); err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	if err := s.decide(ctx, c, authz.ActionDeviceRevoke, authz.Resource{Type: authz.ResourceDevice, ID: id}); err != nil {
		return nil, err
	}
	if err := s.d.devices.Revoke(ctx, id); err != nil {
		return nil, s.apiError(err, c)
	}
	n := s.d.srv.CloseDevice(id)
	s.d.log.Info("revoked device", "device_id", id, "closed_connections", n, "by", c.Principal.String())
	return connect.NewResponse(&palyrav1.RevokeDeviceResponse{}), nil
}
