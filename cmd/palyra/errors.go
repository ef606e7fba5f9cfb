package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

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

// certExpiredError means the daemon refused the device's certificate and
// this machine's clock puts it outside its validity.
type certExpiredError struct {
	bundle   string
	notAfter time.Time
	notYet   bool // before its NotBefore: a clock problem, not an expiry
	when     time.Time
}

func (e certExpiredError) Error() string {
	if e.notYet {
		return fmt.Sprintf("refused: this device's certificate (bundle %s) is not valid before %s; check this machine's clock",
			e.bundle, e.when.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("refused: this device's certificate (bundle %s) expired at %s; enroll the device again: on the daemon's machine, palyra --state-dir DIR devices enroll --name NAME --out NEW_BUNDLE_DIR",
		e.bundle, e.notAfter.UTC().Format(time.RFC3339))
}

// revokedError means a daemon that proved itself with the CA pinned in the
// bundle refused the device's unexpired certificate: it is revoked.
type revokedError struct {
	bundle string
	device string
}

func (e revokedError) Error() string {
	return fmt.Sprintf("refused: this device (%s, bundle %s) is revoked: the daemon, verified by the bundle's pinned CA, refused its valid certificate; only a new enrollment on the daemon's machine gives it access again",
		e.device, e.bundle)
}

// busyError means the daemon is limiting this client for now (exit code
// 5, like an unreachable daemon: try again later); its text says when.
type busyError struct{ msg string }

func (e busyError) Error() string { return e.msg }

// failureError is a refusal the CLI words itself (exit code 1), in place
// of the daemon's message with its gRPC code word.
type failureError struct{ msg string }

func (e failureError) Error() string { return e.msg }

// deniedError is a denial the CLI words itself, in place of the daemon's
// message (which may name a resource the user never chose).
type deniedError struct{ msg string }

func (e deniedError) Error() string { return "denied: " + e.msg }

// guardDenial is the daemon's plain policy denial (guard.DeniedError):
// principal, action and resource, nothing said about what to do.
var guardDenial = regexp.MustCompile(`^denied: ([A-Za-z]+)::("(?:[^"\\]|\\.)*") may not ([a-z.]+) on ([A-Za-z]+::"(?:[^"\\]|\\.)*")$`)

// denialNextStep is the next step appended to a plain policy denial: the
// baseline denies what no policy permits, and an operator policy can
// permit it; policy explain shows which policies decide. A denial that
// already says what to do gets nothing.
func denialNextStep(msg string) string {
	m := guardDenial.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	if strings.Contains(msg, "'") { // not safely quoted for a shell
		return "; if it should be allowed, an operator policy can permit it (docs/policies.md; palyra policy explain shows what decides)"
	}
	explain := "palyra policy explain --principal '" + m[1] + "::" + m[2] + "'"
	if m[1] == "Device" {
		explain += " --owner USER"
	}
	explain += " --action " + m[3] + " --resource '" + m[4] + "'"
	return "; if it should be allowed, an operator policy can permit it (docs/policies.md); " + explain + " shows what decides"
}

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
	return client.IsHandshakeRefusal(err)
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
func describe(err error) string { return classify(err).line }

// exitCode maps err to palyra's documented exit codes.
func exitCode(err error) int { return classify(err).exit }

// outcome is how palyra reports a failure: its exit code, a short stable
// word for scripts (--json), and the line that explains it.
type outcome struct {
	exit int
	code string
	line string
}

// classify gives err's outcome. The order matters: a transport failure
// (connect's Unavailable or Unknown, or no connect.Error at all) is looked
// into for its cause before it is taken as an unreachable daemon.
func classify(err error) outcome {
	var uc *unknownCommandError
	if errors.As(err, &uc) {
		return outcome{2, "usage", uc.Error()}
	}
	var ue usageError
	if errors.As(err, &ue) {
		return outcome{2, "usage", "bad input: " + ue.Error()}
	}
	if errors.Is(err, errIntegrity) {
		return outcome{6, "integrity", err.Error()}
	}
	var rb *client.RollbackError
	if errors.As(err, &rb) {
		return outcome{6, "integrity", "integrity failure: " + rb.Error() + "; investigate before trusting this daemon"}
	}
	var sp *client.SocketPeerError
	if errors.As(err, &sp) {
		return outcome{3, "untrusted", "untrusted daemon: " + sp.Error()}
	}
	var ee certExpiredError
	if errors.As(err, &ee) {
		return outcome{3, "expired", ee.Error()}
	}
	var re revokedError
	if errors.As(err, &re) {
		return outcome{3, "revoked", re.Error()}
	}
	var de deniedError
	if errors.As(err, &de) {
		return outcome{3, "denied", de.Error()}
	}
	var be busyError
	if errors.As(err, &be) {
		return outcome{5, "busy", be.Error()}
	}
	var fe failureError
	if errors.As(err, &fe) {
		return outcome{1, "failure", fe.Error()}
	}
	var ce *connect.Error
	isConnect := errors.As(err, &ce)
	if !isConnect || ce.Code() == connect.CodeUnavailable || ce.Code() == connect.CodeUnknown {
		if why, ok := untrustedServer(err); ok {
			return outcome{3, "untrusted", "untrusted daemon: " + why}
		}
		if refused(err) {
			return outcome{3, "refused", "refused: " + client.ErrHandshakeRefused.Error()}
		}
		var ur unreachableError
		switch {
		case errors.As(err, &ur):
			return outcome{5, "unreachable", ur.Error()}
		case !isConnect && unreachable(err):
			return outcome{5, "unreachable", "daemon unreachable: " + err.Error()}
		}
	}
	if !isConnect {
		return outcome{1, "failure", err.Error()}
	}
	msg := ce.Message()
	switch ce.Code() {
	case connect.CodeUnauthenticated:
		return outcome{3, "unauthenticated", "unauthenticated: " + strings.TrimPrefix(msg, "unauthenticated: ")}
	case connect.CodePermissionDenied:
		return outcome{3, "denied", msg + denialNextStep(msg)}
	case connect.CodeNotFound:
		return outcome{4, "not_found", "not found: " + msg}
	case connect.CodeInvalidArgument:
		return outcome{2, "usage", "bad input: " + msg}
	case connect.CodeDataLoss:
		return outcome{6, "integrity", "integrity failure: " + msg}
	case connect.CodeUnavailable, connect.CodeUnknown:
		return outcome{5, "unreachable", "daemon unreachable: " + msg}
	default:
		return outcome{1, "failure", ce.Code().String() + ": " + msg}
	}
}

// errorJSON is a failure as palyra --json reports it on stderr: one line,
// {"error": LINE, "code": WORD, "exit": N}.
func errorJSON(o outcome) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(struct {
		Error string `json:"error"`
		Code  string `json:"code"`
		Exit  int    `json:"exit"`
	}{o.line, o.code, o.exit})
	return b.Bytes()
}
