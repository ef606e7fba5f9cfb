package daemon

import (
	"context"
	"strings"
	"time"
	"unicode"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/devices"
	"github.com/palyra/palyra/internal/guard"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/pki"
)

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

// errRenewSelfOnly is what a renewal that is not a device renewing itself
// with its enrolled key is told.
const errRenewSelfOnly = "a device renews only its own certificate, for its enrolled key, over mTLS"

// deviceResource is the Device resource of id.
func deviceResource(id identity.DeviceID) authz.Resource {
	return authz.Resource{Type: authz.ResourceDevice, ID: id.String()}
}

// enrollment is a validated DeviceService.Enroll request.
type enrollment struct {
	name string
	csr  *pki.DeviceCSR
}

// deviceRoutes are the DeviceService procedures.
func (d *Daemon) deviceRoutes(g *guard.Guard) []guard.Route {
	return []guard.Route{
		guard.Unary(g, palyrav1connect.DeviceServiceEnrollProcedure, authz.ActionDeviceEnroll, guard.Write,
			func(_ authn.Caller, m *palyrav1.EnrollDeviceRequest) (enrollment, guard.Target, error) {
				if !validDeviceName(m.GetName()) {
					return enrollment{}, guard.Target{}, errBadDeviceName
				}
				csr, err := pki.ParseDeviceCSR(m.GetCsr())
				if err != nil {
					return enrollment{}, guard.Target{}, err
				}
				if csr.DeviceID == d.id.DeviceID {
					return enrollment{}, guard.Target{}, errDaemonID
				}
				return enrollment{m.GetName(), csr}, guard.Target{Resource: deviceResource(csr.DeviceID)}, nil
			},
			d.enroll),
		guard.Unary(g, palyrav1connect.DeviceServiceListProcedure, authz.ActionDeviceList, guard.Read,
			func(authn.Caller, *palyrav1.ListDevicesRequest) (struct{}, guard.Target, error) {
				return struct{}{}, guard.Target{Resource: authz.Resource{Type: authz.ResourceDevice, ID: authz.AllDevices}}, nil
			},
			func(context.Context, authn.Caller, struct{}) (*palyrav1.ListDevicesResponse, error) {
				out := &palyrav1.ListDevicesResponse{}
				for _, dev := range d.devices.List() {
					pd := &palyrav1.Device{
						DeviceId: dev.ID.String(), Name: dev.Name, Owner: dev.Owner, Fingerprint: dev.Fingerprint(),
						EnrolledUnix: dev.EnrolledAt.Unix(), CertSerial: dev.CertSerial, CertNotAfterUnix: dev.CertNotAfter.Unix(),
					}
					if dev.Revoked() {
						pd.RevokedUnix = dev.RevokedAt.Unix()
					}
					out.Devices = append(out.Devices, pd)
				}
				return out, nil
			}),
		guard.Unary(g, palyrav1connect.DeviceServiceRenewProcedure, authz.ActionDeviceRenew, guard.Write, d.renewTarget, d.renew),
		guard.Unary(g, palyrav1connect.DeviceServiceRevokeProcedure, authz.ActionDeviceRevoke, guard.Write,
			func(_ authn.Caller, m *palyrav1.RevokeDeviceRequest) (identity.DeviceID, guard.Target, error) {
				id, err := identity.ParseDeviceID(m.GetDeviceId())
				return id, guard.Target{Resource: deviceResource(id)}, err
			},
			func(ctx context.Context, c authn.Caller, id identity.DeviceID) (*palyrav1.RevokeDeviceResponse, error) {
				if err := d.devices.Revoke(ctx, id); err != nil {
					return nil, err
				}
				n := d.srv.CloseDevice(id)
				d.log.Info("revoked device", "device_id", id, "closed_connections", n, "by", c.Principal.String())
				return &palyrav1.RevokeDeviceResponse{}, nil
			}),
	}
}

func (d *Daemon) enroll(ctx context.Context, c authn.Caller, e enrollment) (*palyrav1.EnrollDeviceResponse, error) {
	// The registry checks the key binding before the certificate is handed
	// out, so a refused re-key never yields a usable certificate.
	// (key continuity: a known id keeps its key, a key ever revoked is
	// barred under any id, ids must be random).
	if err := d.devices.Admissible(e.csr.DeviceID, e.csr.PublicKey); err != nil {
		return nil, err
	}
	cert, err := d.ca.IssueClient(e.csr, e.name, d.now(), time.Duration(d.cfg.ClientCertTTL))
	if err != nil {
		return nil, err
	}
	owner := c.Principal.ID
	if c.Principal.Kind == authz.KindDevice {
		owner = c.Principal.Owner
	}
	if _, err := d.devices.Record(ctx, devices.Device{ID: e.csr.DeviceID, Name: e.name, Owner: owner, PublicKey: e.csr.PublicKey}, cert); err != nil {
		return nil, err
	}
	d.log.Info("enrolled device", "device_id", e.csr.DeviceID, "name", e.name, "fingerprint", identity.Fingerprint(e.csr.PublicKey), "by", c.Principal.String())
	return &palyrav1.EnrollDeviceResponse{DeviceId: e.csr.DeviceID.String(), Certificate: cert.Raw, CaCertificate: d.ca.Cert.Raw}, nil
}

// renewal is a validated renewal: the caller's enrolled device and its CSR.
type renewal struct {
	dev devices.Device
	csr *pki.DeviceCSR
}

// renewTarget accepts only a device renewing itself with its enrolled key;
// anything else is refused and journaled before policy is consulted.
func (d *Daemon) renewTarget(c authn.Caller, m *palyrav1.RenewCertificateRequest) (renewal, guard.Target, error) {
	csr, err := pki.ParseDeviceCSR(m.GetCsr())
	if err != nil {
		return renewal{}, guard.Target{}, err
	}
	res := deviceResource(csr.DeviceID)
	if c.DeviceID.IsZero() || csr.DeviceID != c.DeviceID {
		return renewal{}, guard.Target{}, &guard.Refusal{Resource: res, Reason: "renewal_for_another_device", Message: errRenewSelfOnly}
	}
	dev, err := d.devices.Get(c.DeviceID)
	if err != nil {
		return renewal{}, guard.Target{}, err
	}
	if !dev.PublicKey.Equal(csr.PublicKey) {
		return renewal{}, guard.Target{}, &guard.Refusal{Resource: res, Reason: "renewal_with_another_key", Message: errRenewSelfOnly}
	}
	if !d.renewals.allow(c.DeviceID, d.now()) {
		return renewal{}, guard.Target{}, errRenewRateLimited
	}
	return renewal{dev, csr}, guard.Target{Resource: res}, nil
}

func (d *Daemon) renew(ctx context.Context, _ authn.Caller, r renewal) (*palyrav1.RenewCertificateResponse, error) {
	cert, err := d.ca.IssueClient(r.csr, r.dev.CommonName(), d.now(), time.Duration(d.cfg.ClientCertTTL))
	if err != nil {
		return nil, err
	}
	if _, err := d.devices.Record(ctx, r.dev, cert); err != nil {
		return nil, err
	}
	return &palyrav1.RenewCertificateResponse{Certificate: cert.Raw}, nil
}
