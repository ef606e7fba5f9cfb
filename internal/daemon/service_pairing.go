package daemon

import (
	"time"

	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/pairing"
)

// pairingServer returns the daemon's pairing server (PairingService),
// made on first use.
func (d *Daemon) pairingServer() *pairing.Server {
	if d.pairing == nil {
		d.pairing = pairing.NewServer(pairing.Config{
			Devices:  d.devices,
			CA:       d.ca,
			CertTTL:  time.Duration(d.cfg.ClientCertTTL),
			Owner:    authn.OwnerUser,
			DaemonID: d.id.DeviceID,
			CodeKey:  d.pairingKey,
			Addrs: func() (string, string) {
				if d.srv == nil {
					return "", ""
				}
				a := d.srv.Addrs()
				return a.TCP, a.QUIC
			},
			StartsPerMinute: d.pairingStarts,
			Now:             d.now,
			Log:             d.log,
		})
	}
	return d.pairing
}
