package authz

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cedar-policy/cedar-go"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
	"github.com/cedar-policy/cedar-go/x/exp/schema/validate"
)

// baselineText is the embedded baseline policy set; see baseline.cedar.
//
//go:embed baseline.cedar
var baselineText []byte

// BaselineSourceName is the Source name of the embedded baseline policies in
// errors and positions.
const BaselineSourceName = "baseline.cedar"

// Baseline returns a copy of the embedded baseline policy text.
func Baseline() []byte { return slices.Clone(baselineText) }

// idAnnotation is the annotation whose value is a policy's id.
const idAnnotation = "id"

// maxPolicyIDLen bounds @id values; ids appear in logs, audit records and
// CLI output, so they are short printable tokens.
const maxPolicyIDLen = 128

// Errors NewEngine returns, wrapped in a *PolicyError; test with errors.Is.
var (
	// ErrSyntax means a policy text does not parse as Cedar.
	ErrSyntax = errors.New("policy syntax error")
	// ErrMissingID means a policy has no @id annotation.
	ErrMissingID = errors.New("policy has no @id annotation")
	// ErrInvalidID means an @id value is empty, too long or contains
	// characters other than letters, digits and ". _ : -".
	ErrInvalidID = errors.New("invalid policy @id")
	// ErrDuplicateID means two policies share an @id.
	ErrDuplicateID = errors.New("duplicate policy @id")
	// ErrSchema means a policy does not validate against the authorization
	// schema (unknown action, entity type or attribute, type error, ...).
	ErrSchema = errors.New("policy does not match the authorization schema")
	// ErrAnnotation means a policy carries an annotation other than @id
	// that is not a known obligation, or a known obligation with a value
	// or on an effect it does not allow.
	ErrAnnotation = errors.New("invalid policy annotation")
)

// A Source is one named policy text, e.g. a policy file. The name appears in
// errors and in policy positions.
type Source struct {
	// Name identifies the text in errors, e.g. a file path.
	Name string
	// Text is Cedar policy text; every policy in it needs an @id.
	Text []byte
}

// PolicyError reports a policy that NewEngine rejected. It names the source,
// the policy's @id when known, and its position.
type PolicyError struct {
	// Source is the Source name ("baseline.cedar", "extra[0]", a file name).
	Source string
	// PolicyID is the policy's @id, "" if it has none or did not parse.
	PolicyID string
	// Line and Column locate the start of the policy (for ErrAnnotation,
	// of the offending annotation), 0 when unknown.
	Line, Column int
	// Err is one of the sentinel errors, possibly wrapping cedar-go's
	// message.
	Err error
}

// Error implements error.
func (e *PolicyError) Error() string {
	var b strings.Builder
	b.WriteString("authz: ")
	b.WriteString(e.Source)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	if e.PolicyID != "" {
		fmt.Fprintf(&b, ": policy %q", e.PolicyID)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying error.
func (e *PolicyError) Unwrap() error { return e.Err }

// parsedPolicy is one policy that passed parsing, id, annotation and schema
// checks.
type parsedPolicy struct {
	id          cedar.PolicyID
	policy      *cedar.Policy
	obligations []Obligation
}

// loadPolicies parses srcs, checks that every policy has a valid, unique @id
// and validates each against the schema. It returns the first problem found,
// in source order.
func loadPolicies(v *validate.Validator, srcs []Source) ([]parsedPolicy, error) {
	var out []parsedPolicy
	seen := map[cedar.PolicyID]cedar.Position{}
	for _, src := range srcs {
		list, err := parseSource(src)
		if err != nil {
			return nil, &PolicyError{Source: src.Name, Err: fmt.Errorf("%w: %w", ErrSyntax, err)}
		}
		for _, p := range list {
			pos := p.Position()
			perr := func(id string, err error) *PolicyError {
				return &PolicyError{Source: src.Name, PolicyID: id, Line: pos.Line, Column: pos.Column, Err: err}
			}
			raw, ok := p.Annotations()[idAnnotation]
			if !ok {
				return nil, perr("", ErrMissingID)
			}
			id := string(raw)
			if !validPolicyID(id) {
				return nil, perr("", fmt.Errorf("%w %q", ErrInvalidID, id))
			}
			pid := cedar.PolicyID(id)
			if prev, dup := seen[pid]; dup {
				return nil, perr(id, fmt.Errorf("%w, first defined at %s:%d:%d", ErrDuplicateID, prev.Filename, prev.Line, prev.Column))
			}
			seen[pid] = pos
			obligations, bad, err := policyObligations(id, p)
			if err != nil {
				pe := perr(id, fmt.Errorf("%w: %w", ErrAnnotation, err))
				if at, ok := annotationPosition(src.Text, pos, bad); ok {
					pe.Line, pe.Column = at.Line, at.Column
				}
				return nil, pe
			}
			if err := validatePolicy(v, id, p); err != nil {
				return nil, perr(id, fmt.Errorf("%w: %w", ErrSchema, err))
			}
			out = append(out, parsedPolicy{id: pid, policy: p, obligations: obligations})
		}
	}
	return out, nil
}

// parseSource parses one policy text. cedar-go's parser is not expected to
// panic, but policy texts come from operators and fuzzers, so a panic is
// turned into an error rather than taking the daemon down.
func parseSource(src Source) (list cedar.PolicyList, err error) {
	defer func() {
		if r := recover(); r != nil {
			list, err = nil, fmt.Errorf("parser panic: %v", r)
		}
	}()
	return cedar.NewPolicyListFromBytes(src.Name, src.Text)
}

// validatePolicy runs cedar-go's (experimental) strict validator on p. The
// validator lives in x/exp, so a panic in it is reported as a validation
// failure: the policy is rejected, never loaded unchecked.
func validatePolicy(v *validate.Validator, id string, p *cedar.Policy) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("validator panic: %v", r)
		}
	}()
	if err := v.Policy(id, (*xast.Policy)(p.AST())); err != nil {
		// The validator reports one problem per line, in map order; sort
		// them so the same policy always yields the same message.
		lines := strings.Split(err.Error(), "\n")
		slices.Sort(lines)
		return errors.New(strings.Join(lines, "; "))
	}
	return nil
}

// validPolicyID reports whether id is a short printable token: it starts
// with a letter or digit and continues with letters, digits or ". _ : -".
func validPolicyID(id string) bool {
	if id == "" || len(id) > maxPolicyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == ':' || c == '-'):
		default:
			return false
		}
	}
	return true
}
