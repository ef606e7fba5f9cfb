// Package authn turns what the transport knows about a caller into a
// principal (see package authz):
//
//   - on the local admin Unix socket, a peer whose uid (SO_PEERCRED) equals
//     the daemon's is the owner: User::"admin" in Role::"admin";
//   - on TCP or QUIC, a client certificate that chained to the device CA in
//     the handshake names a Device, which must still be enrolled, unrevoked,
//     bound to the certificate's key and within the certificate's validity at
//     the time of the request (a connection can outlive its certificate);
//     a device the registry records as a connector (paired with a
//     --connector code) is the principal Connector::"<name>" instead;
//   - anything else is unauthenticated.
//
// The check repeats the handshake's revocation check on every request, so a
// device revoked while its connection is open is refused from the next call.
package authn

import (
	"errors"
	"fmt"
	"time"

	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/devices"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/peer"
)

// OwnerUser is the user name of the daemon's owner: the admin principal of
// the local socket, and the owner of the devices the admin enrolls.
const OwnerUser = "admin"

// ErrUnauthenticated means the caller presented no usable credential. The
// wrapped detail is safe to show the caller (it names no secret).
var ErrUnauthenticated = errors.New("unauthenticated")

// Owner is the principal of the daemon's owner.
func Owner() authz.Principal {
	return authz.Principal{Kind: authz.KindUser, ID: OwnerUser, Roles: userRoles(OwnerUser)}
}

// userRoles returns the roles of a user. The daemon's owner is the only
// user so far, and is an admin.
func userRoles(user string) []string {
	if user == OwnerUser {
		return []string{"admin"}
	}
	return nil
}

// Caller is an authenticated caller.
type Caller struct {
	// Principal is who the caller is, for authorization.
	Principal authz.Principal
	// DeviceID is the calling device; zero for the local owner.
	DeviceID identity.DeviceID
	// Transport is how the call arrived.
	Transport peer.Transport
}

// Authenticate returns the caller behind peer at time now, or an error
// wrapping ErrUnauthenticated with a short reason.
func Authenticate(p peer.Peer, reg *devices.Registry, ownerUID int, now time.Time) (Caller, error) {
	switch p.Transport {
	case peer.Unix:
		if p.UID < 0 || p.UID != ownerUID {
			return Caller{}, fmt.Errorf("%w: socket peer is not the daemon owner", ErrUnauthenticated)
		}
		return Caller{Principal: Owner(), Transport: p.Transport}, nil
	case peer.TCP, peer.QUIC:
		if p.Cert == nil {
			return Caller{}, fmt.Errorf("%w: client certificate required", ErrUnauthenticated)
		}
		if now.Before(p.Cert.NotBefore) || now.After(p.Cert.NotAfter) {
			return Caller{}, fmt.Errorf("%w: client certificate is not valid now", ErrUnauthenticated)
		}
		d, err := reg.Check(p.Cert)
		if err != nil {
			return Caller{}, fmt.Errorf("%w: %s", ErrUnauthenticated, reason(err))
		}
		if d.Connector != "" {
			// A connector's certificate is a device certificate whose
			// registry record names the connector: the principal is the
			// connector, with no roles of its own (baseline: its own
			// vault scope only).
			return Caller{Principal: authz.Principal{Kind: authz.KindConnector, ID: d.Connector}, DeviceID: d.ID, Transport: p.Transport}, nil
		}
		return Caller{
			Principal: authz.Principal{Kind: authz.KindDevice, ID: d.ID.String(), Owner: d.Owner, Roles: userRoles(d.Owner)},
			DeviceID:  d.ID,
			Transport: p.Transport,
		}, nil
	default:
		return Caller{}, fmt.Errorf("%w: unknown transport", ErrUnauthenticated)
	}
}

func reason(err error) string {
	switch {
	case errors.Is(err, devices.ErrRevoked):
		return "device is revoked"
	case errors.Is(err, devices.ErrNotFound):
		return "device is not enrolled"
	case errors.Is(err, devices.ErrKeyMismatch):
		return "certificate key does not match the enrolled device"
	default:
		return "client certificate is not a device certificate"
	}
}
