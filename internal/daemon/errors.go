package daemon

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/devices"
	"github.com/palyra/palyra/internal/vault"
)

var (
	errAuditUnavailable    = errors.New("audit journal unavailable; request refused")
	errBadDeviceName       = fmt.Errorf("device name must be 1..%d printable characters, without surrounding spaces", maxDeviceNameLen)
	errInternal            = errors.New("internal error")
	errDaemonID            = errors.New("that device id is the daemon's own")
	errCertificateRequired = errors.New("client certificate required")
)

type deniedError struct{ principal, action, resource string }

func (e *deniedError) Error() string {
	return fmt.Sprintf("denied: %s may not %s on %s", e.principal, e.action, e.resource)
}

// apiError maps a store error to its API code: the one place where package
// errors become what a client sees. Messages name the object, never a value;
// unexpected errors are logged and reported as internal.
func (s *service) apiError(err error, c authn.Caller) error {
	switch {
	case errors.Is(err, vault.ErrNotFound), errors.Is(err, devices.ErrNotFound):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, vault.ErrInvalidRef), errors.Is(err, vault.ErrValueTooLarge):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, vault.ErrIntegrity):
		s.d.log.Error("vault integrity failure", "err", err, "principal", c.Principal.String())
		return connect.NewError(connect.CodeDataLoss, err)
	case errors.Is(err, devices.ErrRevoked), errors.Is(err, devices.ErrKeyMismatch):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	case errors.Is(err, vault.ErrClosed):
		return connect.NewError(connect.CodeUnavailable, errors.New("shutting down"))
	default:
		var ce *connect.Error
		if errors.As(err, &ce) {
			return ce
		}
		s.d.log.Error("request failed", "err", err, "principal", c.Principal.String())
		return connect.NewError(connect.CodeInternal, errInternal)
	}
}
