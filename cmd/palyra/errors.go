package main

import (
	"errors"
	"strings"

	"connectrpc.com/connect"

	"github.com/palyra/palyra/internal/client"
)

// unreachableError means no daemon answered where one was expected.
type unreachableError struct{ detail string }

func (e unreachableError) Error() string { return "daemon unreachable: " + e.detail }

// refusedError means the daemon rejected the device's certificate.
type refusedError struct{}

func (refusedError) Error() string { return "refused: " + client.ErrHandshakeRefused.Error() }

// describe renders err as the one line palyra prints on stderr.
func describe(err error) string {
	var ue usageError
	if errors.As(err, &ue) {
		return "bad input: " + ue.Error()
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		msg := ce.Message()
		switch ce.Code() {
		case connect.CodeUnauthenticated:
			return "unauthenticated: " + strings.TrimPrefix(msg, "unauthenticated: ")
		case connect.CodePermissionDenied:
			return msg
		case connect.CodeNotFound:
			return "not found: " + msg
		case connect.CodeInvalidArgument:
			return "bad input: " + msg
		case connect.CodeDataLoss:
			return "integrity failure: " + msg
		case connect.CodeUnavailable, connect.CodeUnknown:
			if isUntrustedServer(msg) {
				return "untrusted daemon: its certificate does not verify against the CA pinned in the bundle (wrong address, or not this daemon): " + msg
			}
			if client.IsHandshakeRefusal(err) {
				return "refused: " + client.ErrHandshakeRefused.Error()
			}
			return "daemon unreachable: " + msg
		default:
			return ce.Code().String() + ": " + msg
		}
	}
	return err.Error()
}

// isUntrustedServer reports whether our side rejected the daemon's
// certificate (it is not the pinned CA's, or not for this address).
func isUntrustedServer(msg string) bool {
	return strings.Contains(msg, "tls: failed to verify certificate")
}

// exitCode maps err to palyra's documented exit codes.
func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command ") {
		return 2
	}
	if errors.Is(err, errIntegrity) {
		return 6
	}
	var re refusedError
	if errors.As(err, &re) {
		return 3
	}
	var ur unreachableError
	if errors.As(err, &ur) {
		return 5
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		switch ce.Code() {
		case connect.CodeUnauthenticated, connect.CodePermissionDenied:
			return 3
		case connect.CodeNotFound:
			return 4
		case connect.CodeInvalidArgument:
			return 2
		case connect.CodeDataLoss:
			return 6
		case connect.CodeUnavailable, connect.CodeUnknown:
			if client.IsHandshakeRefusal(err) || isUntrustedServer(ce.Message()) {
				return 3
			}
			return 5
		}
	}
	return 1
}
