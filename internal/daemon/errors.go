package daemon

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/devices"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/pki"
	"github.com/palyra/palyra/internal/vault"
)

var (
	errBadDeviceName = fmt.Errorf("device name must be 1..%d printable characters, without surrounding spaces", maxDeviceNameLen)
	errInternal      = errors.New("internal error")
	errDaemonID      = errors.New("that device id is the daemon's own")
	// errRenewRateLimited: a device renewed too often.
	errRenewRateLimited = fmt.Errorf("certificate renewed %d times in the last %v; try again later", renewPerWin, renewWindow)
)

// mapError maps a package error to its API code: the one place where
// package errors become what a client sees. Messages name the object, never
// a value; unexpected errors are logged and reported as internal.
func (d *Daemon) mapError(err error, c authn.Caller) *connect.Error {
	var ce *connect.Error
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.Is(err, vault.ErrNotFound), errors.Is(err, devices.ErrNotFound), errors.Is(err, audit.ErrNotFound):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, vault.ErrInvalidRef), errors.Is(err, vault.ErrValueTooLarge), errors.Is(err, vault.ErrInvalidLimit), errors.Is(err, errBadDeviceName),
		errors.Is(err, errDaemonID), errors.Is(err, pki.ErrInvalidCSR), errors.Is(err, identity.ErrInvalidDeviceID),
		errors.Is(err, devices.ErrNameTaken), errors.Is(err, devices.ErrWeakID):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, vault.ErrIntegrity):
		d.log.Error("vault integrity failure", "err", err, "principal", c.Principal.String())
		return connect.NewError(connect.CodeDataLoss, err)
	case errors.Is(err, vault.ErrNoKEK):
		d.log.Error("vault KEK not available", "err", err, "principal", c.Principal.String())
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, devices.ErrRevoked), errors.Is(err, devices.ErrKeyMismatch), errors.Is(err, devices.ErrAlreadyRevoked), errors.Is(err, devices.ErrKeyBarred):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, errRenewRateLimited):
		return connect.NewError(connect.CodeResourceExhausted, err)
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	case errors.Is(err, vault.ErrClosed), errors.Is(err, audit.ErrClosed):
		return connect.NewError(connect.CodeUnavailable, errors.New("shutting down"))
	default:
		d.log.Error("request failed", "err", err, "principal", c.Principal.String())
		return connect.NewError(connect.CodeInternal, errInternal)
	}
}
