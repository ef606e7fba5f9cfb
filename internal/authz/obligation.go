package authz

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/cedar-policy/cedar-go"
)

// An Obligation is an annotation of a determining policy, other than @id,
// that the caller must honour: `@approval("required")` on the policy "x"
// becomes Obligation{Policy: "x", Name: "approval", Value: "required"}.
// Only the names in the allow-list below load; any other annotation is
// rejected with ErrAnnotation, so a misspelt obligation fails loudly
// instead of being ignored.
type Obligation struct {
	// Policy is the @id of the policy that carries the annotation.
	Policy string
	// Name is the annotation's name, e.g. ObligationApproval.
	Name string
	// Value is the annotation's value, e.g. ApprovalRequired.
	Value string
}

// Known obligations.
const (
	// ObligationApproval, on a forbid, marks its deny as one a human may
	// approve. Its only value is ApprovalRequired. Decide turns a deny
	// whose determining forbids all carry it, and that a permit would
	// otherwise allow, into Pending (docs/approvals.md).
	ObligationApproval = "approval"
	// ApprovalRequired is the value of @approval.
	ApprovalRequired = "required"
)

// obligationRule is what a known obligation annotation allows.
type obligationRule struct {
	values     []string
	forbidOnly bool
}

// obligationRules is the allow-list of annotations besides @id.
//
// @approval is allowed on forbids only: on a permit it would read as "allow
// after approval", but a permit simply allows, so the annotation would be
// silently ignored and the request allowed without anyone approving it.
var obligationRules = map[string]obligationRule{
	ObligationApproval: {values: []string{ApprovalRequired}, forbidOnly: true},
}

// policyObligations checks p's annotations other than @id against the
// allow-list and returns them as obligations, sorted by name. On error, bad
// is the index of the offending annotation.
func policyObligations(id string, p *cedar.Policy) (out []Obligation, bad int, err error) {
	anns := p.AST().Annotations
	for i, a := range anns {
		name, value := string(a.Key), string(a.Value)
		if name == idAnnotation {
			continue
		}
		rule, ok := obligationRules[name]
		if !ok {
			return nil, i, fmt.Errorf("unknown annotation @%s (known: %s)", truncate(name, 40), knownAnnotations())
		}
		if !slices.Contains(rule.values, value) {
			return nil, i, fmt.Errorf("@%s(%q): value must be one of %q", name, truncate(value, 40), rule.values)
		}
		if rule.forbidOnly && p.Effect() != cedar.Forbid {
			return nil, i, fmt.Errorf("@%s is only allowed on forbid policies", name)
		}
		out = append(out, Obligation{Policy: id, Name: name, Value: value})
	}
	slices.SortFunc(out, func(a, b Obligation) int { return strings.Compare(a.Name, b.Name) })
	return out, 0, nil
}

// knownAnnotations lists the annotations a policy may carry.
func knownAnnotations() string {
	names := []string{"@" + idAnnotation}
	for name := range obligationRules {
		names = append(names, "@"+name)
	}
	slices.Sort(names[1:])
	return strings.Join(names, ", ")
}

// annotationPosition returns the position of the index-th annotation of the
// policy that starts at start in text. cedar-go records only the policy's
// position, which is that of its first annotation, so this rescans the
// annotation prefix: `@name` or `@name("value")`, with white space and
// comments in between. If the text does not look as expected it reports
// false and the caller keeps the policy's position.
func annotationPosition(text []byte, start cedar.Position, index int) (cedar.Position, bool) {
	if start.Line <= 0 || start.Offset < 0 || start.Offset >= len(text) || text[start.Offset] != '@' {
		return cedar.Position{}, false
	}
	s := scan{text: text, i: start.Offset, line: start.Line, col: start.Column}
	for n := 0; ; n++ {
		s.skipSpace()
		if s.peek() != '@' {
			return cedar.Position{}, false
		}
		if n == index {
			return cedar.Position{Filename: start.Filename, Offset: s.i, Line: s.line, Column: s.col}, true
		}
		s.advance() // '@'
		s.skipSpace()
		for c := s.peek(); c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c >= utf8.RuneSelf; c = s.peek() {
			s.advance()
		}
		s.skipSpace()
		if s.peek() != '(' {
			continue
		}
		s.advance()
		s.skipSpace()
		if s.peek() != '"' {
			return cedar.Position{}, false
		}
		s.advance()
		for c := s.peek(); c != '"'; c = s.peek() {
			if c == 0 {
				return cedar.Position{}, false
			}
			if c == '\\' {
				s.advance()
			}
			s.advance()
		}
		s.advance() // '"'
		s.skipSpace()
		if s.peek() != ')' {
			return cedar.Position{}, false
		}
		s.advance()
	}
}

// scan walks policy text tracking Cedar's line and column (1-based,
// counting characters).
type scan struct {
	text      []byte
	i         int
	line, col int
}

// peek returns the byte at the cursor, 0 at the end.
func (s *scan) peek() byte {
	if s.i >= len(s.text) {
		return 0
	}
	return s.text[s.i]
}

// advance moves past one character.
func (s *scan) advance() {
	if s.i >= len(s.text) {
		return
	}
	if s.text[s.i] == '\n' {
		s.line, s.col = s.line+1, 1
		s.i++
		return
	}
	_, w := utf8.DecodeRune(s.text[s.i:])
	s.i += w
	s.col++
}

// skipSpace skips white space and // and /* */ comments.
func (s *scan) skipSpace() {
	for s.i < len(s.text) {
		switch c := s.text[s.i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			s.advance()
		case c == '/' && s.i+1 < len(s.text) && s.text[s.i+1] == '/':
			for s.i < len(s.text) && s.text[s.i] != '\n' {
				s.advance()
			}
		case c == '/' && s.i+1 < len(s.text) && s.text[s.i+1] == '*':
			s.advance()
			s.advance()
			for s.i < len(s.text) && !(s.text[s.i] == '*' && s.i+1 < len(s.text) && s.text[s.i+1] == '/') {
				s.advance()
			}
			s.advance()
			s.advance()
		default:
			return
		}
	}
}
