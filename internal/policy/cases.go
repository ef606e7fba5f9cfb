package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/palyra/palyra/internal/authz"
)

// CaseSuffix is the file name suffix of test case files.
const CaseSuffix = ".cedartest"

// MaxCasesPerFile bounds the cases of one file.
const MaxCasesPerFile = 10000

// Case is one policy test: a request and the decision expected for it.
type Case struct {
	// Name identifies the case in reports; unique within its file.
	Name string `json:"name"`
	// Query is the request.
	Query `json:",inline"`
	// Expect is "allow", "deny" or "pending".
	Expect string `json:"expect"`
	// Policies, when present, are the expected determining policy ids (in
	// any order); an empty list expects none (a default deny).
	Policies *[]string `json:"policies,omitzero"`
}

// caseFile is the top level of a case file.
type caseFile struct {
	Cases []Case `json:"cases"`
}

// ParseCases decodes a case file strictly: a JSON object {"cases": [...]}
// in which unknown members, duplicate keys (at any depth), case variants of
// a member name and invalid UTF-8 are errors; every case needs a unique,
// non-empty name, a principal, an action, a resource and an expect of
// allow, deny or pending. The requests themselves are checked when a case
// runs. name is used in errors.
func ParseCases(name string, data []byte) ([]Case, error) {
	var f caseFile
	if err := json.Unmarshal(data, &f, json.RejectUnknownMembers(true)); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if f.Cases == nil {
		return nil, fmt.Errorf("%s: no \"cases\" list", name)
	}
	// A null "policies" would decode as absent (not checked): refuse it,
	// the author meant [] or something else.
	var raw struct {
		Cases []map[string]jsontext.Value `json:"cases"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if len(f.Cases) > MaxCasesPerFile {
		return nil, fmt.Errorf("%s: more than %d cases", name, MaxCasesPerFile)
	}
	seen := map[string]bool{}
	for i, c := range f.Cases {
		where := fmt.Sprintf("%s: case %d", name, i+1)
		switch {
		case c.Name == "":
			return nil, fmt.Errorf("%s: no name", where)
		case seen[c.Name]:
			return nil, fmt.Errorf("%s: duplicate name %q", where, truncate(c.Name, 80))
		case c.Principal == "" || c.Action == "" || c.Resource == "":
			return nil, fmt.Errorf("%s (%q): principal, action and resource are required", where, truncate(c.Name, 80))
		}
		if _, err := authz.ParseEffect(c.Expect); err != nil {
			return nil, fmt.Errorf("%s (%q): expect %q: want allow, deny or pending", where, truncate(c.Name, 80), truncate(c.Expect, 40))
		}
		if v, ok := raw.Cases[i]["policies"]; ok && v.Kind() == 'n' {
			return nil, fmt.Errorf("%s (%q): \"policies\" is null: give a list of policy ids ([] expects a default deny) or leave it out", where, truncate(c.Name, 80))
		}
		if c.Policies != nil {
			for j, id := range *c.Policies {
				if slices.Contains((*c.Policies)[:j], id) {
					return nil, fmt.Errorf("%s (%q): policy %q listed twice in \"policies\"", where, truncate(c.Name, 80), truncate(id, 80))
				}
			}
		}
		seen[c.Name] = true
	}
	return f.Cases, nil
}

// Result is the outcome of one case.
type Result struct {
	// File is the case file's name; Case the case's name.
	File, Case string
	// Failure is why the case failed, "" if it passed.
	Failure string
}

// Passed reports whether the case passed.
func (r Result) Passed() bool { return r.Failure == "" }

// CaseError rejects a directory whose test case failed.
type CaseError struct {
	// Path is the case file; Case the first failing case.
	Path, Case string
	// Failure is why it failed.
	Failure string
	// More is how many other cases failed.
	More int
}

// Error implements error.
func (e *CaseError) Error() string {
	msg := fmt.Sprintf("%s: test case %q failed: %s", e.Path, e.Case, e.Failure)
	if e.More > 0 {
		msg += fmt.Sprintf(" (and %d more failing cases)", e.More)
	}
	return msg
}

// ErrCaseFailed is matched by every *CaseError (errors.Is).
var ErrCaseFailed = errors.New("policy test case failed")

// Is makes errors.Is(err, ErrCaseFailed) true.
func (e *CaseError) Is(target error) bool { return target == ErrCaseFailed }

// run evaluates c against s and says why it fails, "" if it passes.
func (s *Set) run(c Case) string {
	req, err := c.Request()
	if err != nil {
		return "bad request: " + err.Error()
	}
	x := s.Explain(req)
	got := x.Effect.String()
	var why []string
	if got != c.Expect {
		why = append(why, fmt.Sprintf("expected %s, got %s", c.Expect, got))
	}
	if c.Policies != nil {
		want := slices.Clone(*c.Policies)
		slices.Sort(want)
		if !slices.Equal(want, x.Policies) {
			why = append(why, fmt.Sprintf("expected determining policies [%s], got [%s]", strings.Join(want, ", "), strings.Join(x.Policies, ", ")))
		}
	}
	if len(why) > 0 && len(x.Policies) > 0 && c.Policies == nil {
		why = append(why, "determined by ["+strings.Join(x.Policies, ", ")+"]")
	}
	if len(why) > 0 && len(x.Errors) > 0 {
		why = append(why, "evaluation errors: "+strings.Join(x.Errors, "; "))
	}
	return strings.Join(why, "; ")
}
