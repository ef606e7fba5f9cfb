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
// the daemon's certificate, and why. crypto/tls wraps the x509 error in a
// *tls.CertificateVerificationError (over QUIC, quic-go wraps that in its
// local CRYPTO_ERROR *quic.TransportError); connect.Error unwraps to both.
// Requiring the TLS wrapper keeps x509 errors from elsewhere (a renewed
// certificate checked after the call) out of this class.
func untrustedServer(err error) (why string, ok bool) {
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) {
		return "", false
	}
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		why = "is not issued by the CA pinned in the bundle (another daemon at this address?)"
	case errors.As(err, &he):
		why = "is not for the address in the bundle"
	case errors.As(err, &ci) && ci.Reason == x509.Expired:
		why = "has expired or is not yet valid (check the clocks)"
	default:
		why = "does not verify against the CA pinned in the bundle"
	}
	return "its certificate " + why + ": " + cve.Error(), true
}

// refused reports whether the daemon rejected our certificate in the
// handshake (a TLS alert it sent, or a QUIC CRYPTO_ERROR it closed with).
func refused(err error) bool {
	var re refusedError
	return errors.As(err, &re) || client.IsHandshakeRefusal(err)
}

// unreachable reports whether nothing answered: a refused or failed
// connection, or a QUIC handshake that timed out.
func unreachable(err error) bool {
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
	_, line := classify(err)
	return line
}

// exitCode maps err to palyra's documented exit codes.
func exitCode(err error) int {
	code, _ := classify(err)
	return code
}

// classify gives err's exit code and the line that explains it. The order
// matters: a transport failure (connect's Unavailable or Unknown, or no
// connect.Error at all) is looked into for its cause before it is taken as
// an unreachable daemon.
func classify(err error) (code int, line string) {
	var uc *unknownCommandError
	if errors.As(err, &uc) {
		return 2, uc.Error()
	}
	var ue usageError
	if errors.As(err, &ue) {
		return 2, "bad input: " + ue.Error()
	}
	if errors.Is(err, errIntegrity) {
		return 6, err.Error()
	}
	var rb *client.RollbackError
	if errors.As(err, &rb) {
		return 6, "integrity failure: " + rb.Error() + "; investigate before trusting this daemon"
	}
	var ce *connect.Error
	isConnect := errors.As(err, &ce)
	if !isConnect || ce.Code() == connect.CodeUnavailable || ce.Code() == connect.CodeUnknown {
		if why, ok := untrustedServer(err); ok {
			return 3, "untrusted daemon: " + why
		}
		if refused(err) {
			return 3, "refused: " + client.ErrHandshakeRefused.Error()
		}
		var ur unreachableError
		switch {
		case errors.As(err, &ur):
			return 5, ur.Error()
		case !isConnect && unreachable(err):
			return 5, "daemon unreachable: " + err.Error()
		}
	}
	if !isConnect {
		return 1, err.Error()
	}
	msg := ce.Message()
	switch ce.Code() {
	case connect.CodeUnauthenticated:
		return 3, "unauthenticated: " + strings.TrimPrefix(msg, "unauthenticated: ")
	case connect.CodePermissionDenied:
		return 3, msg
	case connect.CodeNotFound:
		return 4, "not found: " + msg
	case connect.CodeInvalidArgument:
		return 2, "bad input: " + msg
	case connect.CodeDataLoss:
		return 6, "integrity failure: " + msg
	case connect.CodeUnavailable, connect.CodeUnknown:
		return 5, "daemon unreachable: " + msg
	default:
		return 1, ce.Code().String() + ": " + msg
	}
}
