package daemon

import (
	"context"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/guard"
	"github.com/palyra/palyra/internal/peer"
	"github.com/palyra/palyra/internal/version"
)

// daemonRoutes are the DaemonService procedures.
func (d *Daemon) daemonRoutes(g *guard.Guard) []guard.Route {
	return []guard.Route{
		guard.Unary(g, palyrav1connect.DaemonServiceStatusProcedure, authz.ActionDaemonStatus, guard.Read,
			func(authn.Caller, *palyrav1.StatusRequest) (struct{}, guard.Target, error) {
				return struct{}{}, guard.Target{Resource: authz.Resource{Type: authz.ResourceDaemon, ID: authz.DaemonLocal}}, nil
			},
			func(_ context.Context, c authn.Caller, _ struct{}) (*palyrav1.StatusResponse, error) {
				a := d.srv.Addrs()
				listeners := &palyrav1.Listeners{Tcp: a.TCP, Quic: a.QUIC}
				if c.Transport == peer.Unix {
					// The socket path is only of use to, and only shown to, the owner.
					listeners.Socket = a.Socket
				}
				return &palyrav1.StatusResponse{
					Version:                version.Version,
					DeviceId:               d.id.DeviceID.String(),
					Fingerprint:            d.id.Fingerprint(),
					CaFingerprint:          d.ca.Fingerprint(),
					Listeners:              listeners,
					Principal:              c.Principal.String(),
					ServerCertNotAfterUnix: d.server.Leaf().NotAfter.Unix(),
					CaNotAfterUnix:         d.ca.Cert.NotAfter.Unix(),
					StartedUnix:            d.started.Unix(),
				}, nil
			}),
	}
}
