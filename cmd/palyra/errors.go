package main

import (
	"errors"
	"strings"

	"connectrpc.com/connect"
)

// unreachableError means no daemon answered where one was expected.
type unreachableError struct{ detail string }

func (e unreachableError) Error() string { return "daemon unreachable: " + e.detail }

// describe renders err as the one line palyra prints on stderr.
func describe(err error) string {
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
			if isTLSRefusal(msg) {
				return "refused by the daemon (certificate rejected in the TLS handshake: revoked, expired or not issued by its CA): " + msg
			}
			return "daemon unreachable: " + msg
		default:
			return ce.Code().String() + ": " + msg
		}
	}
	return err.Error()
}

func isTLSRefusal(msg string) bool {
	for _, s := range []string{"bad certificate", "certificate required", "certificate revoked", "unknown certificate", "certificate expired", "tls: ", "CRYPTO_ERROR", "device revoked"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// exitCode maps err to palyra's documented exit codes.
func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	if errors.Is(err, errIntegrity) {
		return 6
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
			if isTLSRefusal(ce.Message()) {
				return 3
			}
			return 5
		}
	}
	return 1
}
