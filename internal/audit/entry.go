package audit

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/palyra/palyra/internal/peer"
)

// Kind says which of the two kinds of record an Entry is.
type Kind uint8

const (
	// KindDecision is an authorization decision: who asked for which
	// action on which resource, and what was decided. It is the zero
	// value, so an Entry that does not name its kind is a decision.
	KindDecision Kind = 0
	// KindOutcome is what became of an allowed request: it names the
	// decision record it follows (DecisionSeq) and an outcome code.
	KindOutcome Kind = 1
)

// String returns "decision" or "outcome".
func (k Kind) String() string {
	switch k {
	case KindDecision:
		return "decision"
	case KindOutcome:
		return "outcome"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// MarshalText implements encoding.TextMarshaler ("decision", "outcome").
func (k Kind) MarshalText() ([]byte, error) {
	if k > KindOutcome {
		return nil, fmt.Errorf("audit: invalid kind %d", uint8(k))
	}
	return []byte(k.String()), nil
}

// Entry is one record as the caller supplies it to [Journal.Append] and
// its variants. Which fields apply depends on Kind; the others must be
// left zero.
//
// A decision record (Kind == KindDecision) has Principal, Action, Resource
// and Reason (text, may be empty), Decision (DecisionAllow, DecisionDeny or
// DecisionPending), Policies and Obligations (lists of non-empty text) and
// Transport (peer.None, Unix, TCP or QUIC). DecisionSeq, Outcome and
// Version must be zero.
//
// An outcome record (Kind == KindOutcome) has DecisionSeq, the Seq of an
// earlier decision record in format 2 whose Decision is DecisionAllow (the
// writer checks this and refuses the entry otherwise), Outcome (one of the
// Outcome* codes) and Version (>= 0: the new version of what a write
// changed, 0 for anything else). Every decision field must be zero: the
// linked decision record already says who did what to which resource.
//
// Text is valid UTF-8 without NUL bytes and at most MaxFieldBytes long.
// Time, if set, must lie in the range of Unix nanoseconds in an int64
// (years 1678 to 2262); a zero Time is replaced by the commit time.
//
// Secrets never belong in an Entry: there is no payload field, and
// Reason is a short, fixed, non-secret code such as "permitted".
type Entry struct {
	// Time is when the decision was made or the outcome known. Records
	// store it as Unix nanoseconds and return it in UTC without a
	// monotonic clock reading.
	Time time.Time
	// Kind is KindDecision (the zero value) or KindOutcome.
	Kind Kind

	// Principal is who asked, e.g. `Device::"01J..."`, `User::"admin"`,
	// or "anonymous".
	Principal string
	// Action is what was asked, e.g. "vault.read".
	Action string
	// Resource is what it was asked on, e.g. `Secret::"global/openai_api_key"`.
	Resource string
	// Decision is DecisionAllow, DecisionDeny or DecisionPending.
	Decision string
	// Policies are the ids of the determining policies, in the caller's
	// order; at most MaxPolicies. Nil and empty are the same.
	Policies []string
	// Obligations are what the decision requires of the caller, from the
	// determining policies' annotations, e.g. "approval=required"; at most
	// MaxObligations. Nil and empty are the same.
	Obligations []string
	// Transport is how the request arrived; peer.None when it did not
	// come from a network or socket request.
	Transport peer.Transport
	// Reason is a short, non-secret code for the basis of the decision,
	// e.g. "permitted", "forbidden", "no permit". Never a secret, token,
	// or request or response content: records are kept forever and are
	// exported in plain text.
	Reason string

	// DecisionSeq is, for an outcome record, the Seq of the decision
	// record it follows.
	DecisionSeq int64
	// Outcome is, for an outcome record, OutcomeOK, OutcomeNotFound,
	// OutcomeIntegrity or OutcomeError.
	Outcome string
	// Version is, for an outcome record, the new version of the resource
	// a write changed, and 0 otherwise.
	Version int64
	// Details are, for an outcome record, facts of the run as "key=value"
	// text (a governed tool's request hash, exit status, durations and
	// output hash), at most MaxDetails; never a secret or content. An
	// outcome with details is stored in format 3, one without in format
	// 2. Nil and empty are the same.
	Details []string
}

// Record is an Entry as stored in the journal: its position Seq (1, 2, 3, …
// without gaps), the format version its hash follows (1 for records written
// before format 2, which are all decision records, and 2 since), and its
// hash as specified in docs/audit-format.md. Each record's hash covers the
// hash of the record before it.
type Record struct {
	Seq    int64
	Format uint32
	Entry
	Hash [32]byte
}

// Decisions accepted in a decision record.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
	// DecisionPending is reserved for requests that wait for an approval.
	DecisionPending = "pending"
)

// Outcome codes accepted in an outcome record.
const (
	// OutcomeOK: the allowed action ran and succeeded.
	OutcomeOK = "ok"
	// OutcomeNotFound: what it acted on did not exist.
	OutcomeNotFound = "not_found"
	// OutcomeIntegrity: stored data failed an integrity check.
	OutcomeIntegrity = "integrity"
	// OutcomeError: it failed for another reason.
	OutcomeError = "error"
)

// decisions and outcomes are the accepted codes. Adding a code here (and to
// the constants above and docs/audit-format.md) is all a new one needs: the
// hash covers the text, so old records are unaffected.
var (
	decisions = []string{DecisionAllow, DecisionDeny, DecisionPending}
	outcomes  = []string{OutcomeOK, OutcomeNotFound, OutcomeIntegrity, OutcomeError}
)

// Limits on an Entry. They keep one record small (the journal is never
// pruned) and bound what Verify has to read.
const (
	// MaxFieldBytes is the longest Principal, Action, Resource, Reason,
	// policy id or obligation, in bytes.
	MaxFieldBytes = 4096
	// MaxPolicies is the largest number of determining policy ids.
	MaxPolicies = 256
	// MaxObligations is the largest number of obligations.
	MaxObligations = 64
	// MaxDetails is the largest number of outcome details.
	MaxDetails = 16
)

// ErrInvalidEntry is wrapped by the error Append returns for an Entry that
// breaks the rules documented on Entry; nothing is written.
var ErrInvalidEntry = errors.New("audit: invalid entry")

// minTime and maxTime bound the times an int64 of Unix nanoseconds holds.
var (
	minTime = time.Unix(0, -1<<63)
	maxTime = time.Unix(0, 1<<63-1)
)

// validate checks e against the rules documented on Entry.
func (e *Entry) validate() error {
	if !e.Time.IsZero() && (e.Time.Before(minTime) || e.Time.After(maxTime)) {
		return fmt.Errorf("%w: time %v is outside the range of int64 Unix nanoseconds", ErrInvalidEntry, e.Time)
	}
	switch e.Kind {
	case KindDecision:
		return e.validateDecision()
	case KindOutcome:
		return e.validateOutcome()
	}
	return fmt.Errorf("%w: kind %d is neither decision nor outcome", ErrInvalidEntry, uint8(e.Kind))
}

func (e *Entry) validateDecision() error {
	if !slices.Contains(decisions, e.Decision) {
		return fmt.Errorf("%w: decision %q is not one of %q", ErrInvalidEntry, e.Decision, decisions)
	}
	if e.Transport > peer.QUIC {
		return fmt.Errorf("%w: transport %d is not None, Unix, TCP or QUIC", ErrInvalidEntry, uint8(e.Transport))
	}
	if e.DecisionSeq != 0 || e.Outcome != "" || e.Version != 0 || len(e.Details) != 0 {
		return fmt.Errorf("%w: a decision record has no decision seq, outcome, version or details", ErrInvalidEntry)
	}
	for _, f := range [...]struct{ name, v string }{
		{"principal", e.Principal},
		{"action", e.Action},
		{"resource", e.Resource},
		{"reason", e.Reason},
	} {
		if err := checkText(f.name, f.v); err != nil {
			return err
		}
	}
	if err := checkList("policy", e.Policies, MaxPolicies); err != nil {
		return err
	}
	return checkList("obligation", e.Obligations, MaxObligations)
}

func (e *Entry) validateOutcome() error {
	switch {
	case e.DecisionSeq < 1:
		return fmt.Errorf("%w: an outcome record needs the seq of its decision record", ErrInvalidEntry)
	case !slices.Contains(outcomes, e.Outcome):
		return fmt.Errorf("%w: outcome %q is not one of %q", ErrInvalidEntry, e.Outcome, outcomes)
	case e.Version < 0:
		return fmt.Errorf("%w: version %d is negative", ErrInvalidEntry, e.Version)
	case e.Principal != "" || e.Action != "" || e.Resource != "" || e.Decision != "" ||
		len(e.Policies) != 0 || len(e.Obligations) != 0 || e.Transport != peer.None:
		return fmt.Errorf("%w: an outcome record carries only its decision seq, outcome, version, details and, for an error, its reason", ErrInvalidEntry)
	case e.Reason != "" && e.Outcome != OutcomeError:
		return fmt.Errorf("%w: only an %q outcome carries a reason", ErrInvalidEntry, OutcomeError)
	}
	return checkList("detail", e.Details, MaxDetails)
}

func checkList(name string, l []string, limit int) error {
	if len(l) > limit {
		return fmt.Errorf("%w: %d %s entries, at most %d", ErrInvalidEntry, len(l), name, limit)
	}
	for i, p := range l {
		if p == "" {
			return fmt.Errorf("%w: %s %d is empty", ErrInvalidEntry, name, i)
		}
		if err := checkText(fmt.Sprintf("%s %d", name, i), p); err != nil {
			return err
		}
	}
	return nil
}

// checkText enforces the string rules. Values are not quoted into the error:
// a caller that broke the rules may have put something it should not have
// into the field.
func checkText(name, v string) error {
	switch {
	case len(v) > MaxFieldBytes:
		return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrInvalidEntry, name, len(v), MaxFieldBytes)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidEntry, name)
	case strings.IndexByte(v, 0) >= 0:
		return fmt.Errorf("%w: %s contains a NUL byte", ErrInvalidEntry, name)
	}
	return nil
}

// normalize makes e what the journal stores: its own copies of the lists
// (so a caller reusing a slice cannot change a record between hashing and
// insertion), nil for empty lists, and the time in UTC without a monotonic
// reading.
func (e *Entry) normalize() {
	e.Policies = cloneList(e.Policies)
	e.Obligations = cloneList(e.Obligations)
	e.Details = cloneList(e.Details)
	if !e.Time.IsZero() {
		e.Time = time.Unix(0, e.Time.UnixNano()).UTC()
	}
}

func cloneList(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return slices.Clone(l)
}
