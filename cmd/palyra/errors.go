package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"github.com/quic-go/quic-go"
	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/client"
)

// Errors are classified by type (errors.Is/As), never by their text: the
// text of a library's error is not a contract, and a wrapped error keeps its
// type through connect.Error, url.Error and quic.TransportError.

// usageError marks errors in how palyra was called (exit code 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// unknownCommandError is a word where a subcommand was expected (exit code
// 2). Cobra reports an unknown command under the root as a plain error and
// under a group not at all (it printed help and exited 0); groupArgs raises
// this instead, at every level.
type unknownCommandError struct {
	name, parent string
	suggestions  []string
}

func (e *unknownCommandError) Error() string {
	msg := fmt.Sprintf("unknown command %q for %q", e.name, e.parent)
	if len(e.suggestions) == 0 {
		return msg + " (see " + e.parent + " --help)"
	}
	q := make([]string, len(e.suggestions))
	for i, s := range e.suggestions {
		q[i] = fmt.Sprintf("%q", s)
	}
	return msg + " (did you mean " + strings.Join(q, " or ") + "?)"
}

// groupArgs is the Args of a command that only groups subcommands: any
// positional argument that reached it is not one of them.
func groupArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	var suggestions []string
	for _, s := range cmd.SuggestionsFor(args[0]) {
		if !slices.Contains(suggestions, s) {
			suggestions = append(suggestions, s)
		}
	}
	return &unknownCommandError{name: args[0], parent: cmd.CommandPath(), suggestions: suggestions}
}

// asGroup makes cmd refuse an unknown subcommand (groupArgs) and print its
// help when called alone. Cobra checks Args only on runnable commands, hence
// the RunE.
func asGroup(cmd *cobra.Command) *cobra.Command {
	cmd.Args = groupArgs
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	return cmd
}

// unreachableError means no daemon answered where one was expected.
type unreachableError struct{ detail string }

func (e unreachableError) Error() string { return "daemon unreachable: " + e.detail }

// refusedError means the daemon rejected the device's certificate.
type refusedError struct{}

func (refusedError) Error() string { return "refused: " + client.ErrHandshakeRefused.Error() }

// errIntegrity marks a tampered vault entry or audit journal (exit code 6).
var errIntegrity = errors.New("integrity failure")

// untrustedServer reports whether our side of the TLS handshake rejected
// the daemon's certificate: not issued by the CA pinned in the bundle, not
// for the address dialed, or expired. crypto/tls wraps the x509 error in a
// *tls.CertificateVerificationError; over QUIC, quic-go wraps that in its
// local CRYPTO_ERROR *quic.TransportError.
func untrustedServer(err error) bool {
	var cve *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cve) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

// refused reports whether the daemon rejected our certificate in the
// handshake (a TLS alert it sent, or a QUIC CRYPTO_ERROR it closed with).
func refused(err error) bool {
	var re refusedError
	return errors.As(err, &re) || client.IsHandshakeRefusal(err)
}

// unreachable reports whether nothing answered: no admin socket, a refused
// or failed connection, or a QUIC handshake that timed out.
func unreachable(err error) bool {
	var ur unreachableError
	if errors.As(err, &ur) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var ht *quic.HandshakeTimeoutError
	var it *quic.IdleTimeoutError
	return errors.As(err, &ht) || errors.As(err, &it)
}

// describe renders err as the one line palyra prints on stderr.
func describe(err error) string {
	var uc *unknownCommandError
	if errors.As(err, &uc) {
		return uc.Error()
	}
	var ue usageError
	if errors.As(err, &ue) {
		return "bad input: " + ue.Error()
	}
	var ce *connect.Error
	isConnect := errors.As(err, &ce)
	transportFailure := !isConnect || ce.Code() == connect.CodeUnavailable || ce.Code() == connect.CodeUnknown
	if transportFailure {
		switch {
		case untrustedServer(err):
			return "untrusted daemon: its certificate does not verify against the CA pinned in the bundle (wrong address, or not this daemon): " + verificationMessage(err)
		case refused(err):
			return "refused: " + client.ErrHandshakeRefused.Error()
		}
	}
	if !isConnect {
		return err.Error()
	}
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
		return "daemon unreachable: " + msg
	default:
		return ce.Code().String() + ": " + msg
	}
}

// verificationMessage is the text of crypto/tls's verification error in
// err, the same on TCP and QUIC (where quic-go prefixes its own).
func verificationMessage(err error) string {
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		return cve.Error()
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Message()
	}
	return err.Error()
}

// exitCode maps err to palyra's documented exit codes.
func exitCode(err error) int {
	var ue usageError
	var uc *unknownCommandError
	if errors.As(err, &ue) || errors.As(err, &uc) {
		return 2
	}
	if errors.Is(err, errIntegrity) {
		return 6
	}
	var ce *connect.Error
	isConnect := errors.As(err, &ce)
	if !isConnect || ce.Code() == connect.CodeUnavailable || ce.Code() == connect.CodeUnknown {
		switch {
		case refused(err), untrustedServer(err):
			return 3
		case unreachable(err):
			return 5
		}
	}
	if isConnect {
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
			return 5
		}
	}
	return 1
}
