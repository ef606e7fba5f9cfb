package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cedar-policy/cedar-go"

	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/fileperm"
)

// PolicySuffix is the file name suffix of policy files.
const PolicySuffix = ".cedar"

// Limits on a policy directory.
const (
	// MaxFileBytes bounds one policy or case file: 1 MiB.
	MaxFileBytes = 1 << 20
	// MaxFiles bounds the policy and case files of a directory.
	MaxFiles = 1024
)

// Set is a loaded, validated and tested policy set: the baseline plus the
// operator policies of one directory. It is immutable.
type Set struct {
	// Dir is the directory it was loaded from.
	Dir string
	// Files are the policy files loaded, by name, sorted; CaseFiles the
	// case files.
	Files, CaseFiles []string
	// Policies describe every policy, the baseline's first, then by file
	// and position.
	Policies []Info
	// Cases is the number of test cases that passed.
	Cases int
	// Digest is the hex SHA-256 over the names and contents of every file
	// loaded, to tell which directory content is active.
	Digest string

	engine *authz.Engine
}

// Info describes one policy.
type Info struct {
	// ID is the @id annotation.
	ID string
	// Effect is "permit" or "forbid".
	Effect string
	// Source is authz.BaselineSourceName or the policy file's name; Line
	// and Column locate the policy in it.
	Source       string
	Line, Column int
	// Annotations are the policy's annotations other than @id, in source
	// order.
	Annotations []Annotation
}

// Annotation is one policy annotation, @Name("Value").
type Annotation struct{ Name, Value string }

// FileError is a problem with one file of a policy directory: it cannot be
// read safely, does not parse, does not validate, or its cases are
// malformed.
type FileError struct {
	// Path is the file's path; Line and Column locate the problem, 0 when
	// unknown.
	Path         string
	Line, Column int
	// PolicyID is the policy concerned, "" when unknown.
	PolicyID string
	// Err is the problem; for policies, wraps one of authz's sentinel
	// errors (authz.ErrSyntax, authz.ErrSchema, ...).
	Err error
}

// Error implements error: "PATH[:LINE:COL]: [policy "ID": ]MESSAGE".
func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	if e.PolicyID != "" {
		fmt.Fprintf(&b, "policy %q: ", e.PolicyID)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }

// Load reads the policy directory dir and returns its Set, or the first
// problem: the directory or a file belongs to another user or is writable
// by group or others (fileperm.ErrInsecure), a file is not a regular file
// or is larger than MaxFileBytes, a policy does not parse or validate
// (*FileError naming file and line), a case file is malformed
// (*FileError), or a test case fails (*CaseError). A missing directory is
// the baseline alone. Names starting with "." are ignored; other entries
// not ending in .cedar or .cedartest are ignored too.
func Load(dir string) (*Set, error) {
	s, results, err := Check(dir)
	if err != nil {
		return nil, err
	}
	var first *CaseError
	for _, r := range results {
		if r.Passed() {
			continue
		}
		if first == nil {
			first = &CaseError{Path: filepath.Join(dir, r.File), Case: r.Case, Failure: r.Failure}
			continue
		}
		first.More++
	}
	if first != nil {
		return nil, first
	}
	return s, nil
}

// Check is Load without rejecting the set for failed cases: it returns the
// set and every case's result (in file and case order), or an error for
// anything else Load rejects.
func Check(dir string) (*Set, []Result, error) {
	if dir == "" {
		return nil, nil, errors.New("policy: no policy directory given")
	}
	files, err := readDir(dir)
	if err != nil {
		return nil, nil, err
	}
	s := &Set{Dir: dir}
	var srcs []authz.Source
	var caseFiles []file
	h := sha256.New()
	for _, f := range files {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(f.name)))
		h.Write(n[:])
		h.Write([]byte(f.name))
		binary.BigEndian.PutUint64(n[:], uint64(len(f.text)))
		h.Write(n[:])
		h.Write(f.text)
		if strings.HasSuffix(f.name, CaseSuffix) {
			s.CaseFiles = append(s.CaseFiles, f.name)
			caseFiles = append(caseFiles, f)
			continue
		}
		s.Files = append(s.Files, f.name)
		srcs = append(srcs, authz.Source{Name: f.name, Text: f.text})
	}
	s.Digest = hex.EncodeToString(h.Sum(nil))
	if s.engine, err = authz.NewEngineFromSources(srcs...); err != nil {
		var pe *authz.PolicyError
		if errors.As(err, &pe) {
			path := filepath.Join(dir, pe.Source)
			if pe.Source == authz.BaselineSourceName {
				path = pe.Source
			}
			fe := &FileError{Path: path, Line: pe.Line, Column: pe.Column, PolicyID: pe.PolicyID, Err: pe.Err}
			if fe.Line == 0 && errors.Is(pe.Err, authz.ErrSyntax) {
				fe.Line, fe.Column, fe.Err = syntaxPosition(pe.Err)
			}
			return nil, nil, fe
		}
		return nil, nil, fmt.Errorf("policy: %w", err)
	}
	all := append([]authz.Source{{Name: authz.BaselineSourceName, Text: authz.Baseline()}}, srcs...)
	for _, src := range all {
		infos, err := describe(src)
		if err != nil {
			return nil, nil, &FileError{Path: filepath.Join(dir, src.Name), Err: err}
		}
		s.Policies = append(s.Policies, infos...)
	}
	var results []Result
	for _, f := range caseFiles {
		cases, err := ParseCases(f.name, f.text)
		if err != nil {
			return nil, nil, &FileError{Path: filepath.Join(dir, f.name), Err: errors.New(strings.TrimPrefix(err.Error(), f.name+": "))}
		}
		for _, c := range cases {
			r := Result{File: f.name, Case: c.Name, Failure: s.run(c)}
			if r.Passed() {
				s.Cases++
			}
			results = append(results, r)
		}
	}
	return s, results, nil
}

// describe lists the policies of a source NewEngineFromSources accepted.
func describe(src authz.Source) ([]Info, error) {
	list, err := cedar.NewPolicyListFromBytes(src.Name, src.Text)
	if err != nil {
		return nil, err
	}
	out := make([]Info, 0, len(list))
	for _, p := range list {
		pos := p.Position()
		info := Info{Source: src.Name, Line: pos.Line, Column: pos.Column, Effect: "permit"}
		if p.Effect() == cedar.Forbid {
			info.Effect = "forbid"
		}
		for _, a := range p.AST().Annotations {
			if string(a.Key) == "id" {
				info.ID = string(a.Value)
				continue
			}
			info.Annotations = append(info.Annotations, Annotation{Name: string(a.Key), Value: string(a.Value)})
		}
		out = append(out, info)
	}
	return out, nil
}

// file is one policy or case file read from a directory.
type file struct {
	name string
	text []byte
}

// readDir reads the policy and case files of dir, sorted by name, with
// their permissions checked. A missing directory has none.
func readDir(dir string) ([]file, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("policy directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("policy directory %s is not a directory", dir)
	}
	// Whoever can write the directory can add a policy: it must be
	// ours, and writable by nobody else.
	if err := fileperm.Check(fi, fileperm.Trusted); err != nil {
		return nil, fmt.Errorf("policy directory %s: %w; fix with: chmod go-w %s", dir, err, dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("policy directory: %w", err)
	}
	var out []file
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !(strings.HasSuffix(name, PolicySuffix) || strings.HasSuffix(name, CaseSuffix)) {
			continue
		}
		if len(out) == MaxFiles {
			return nil, fmt.Errorf("policy directory %s: more than %d policy and case files", dir, MaxFiles)
		}
		path := filepath.Join(dir, name)
		text, err := fileperm.ReadFile(path, fileperm.Trusted, MaxFileBytes)
		if err != nil {
			if errors.Is(err, fileperm.ErrInsecure) {
				return nil, &FileError{Path: path, Err: fmt.Errorf("%w; fix with: chmod go-w %s", err, path)}
			}
			return nil, &FileError{Path: path, Err: err}
		}
		out = append(out, file{name: name, text: text})
	}
	slices.SortFunc(out, func(a, b file) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// parsePosition finds the position in cedar-go's syntax error text, which
// carries it only as "at <input>:LINE:COLUMN".
var parsePosition = regexp.MustCompile(`at <input>:(\d+):(\d+) ?`)

// syntaxPosition returns the line and column a syntax error names, and the
// error without the position text; 0, 0 and err itself when it names none.
func syntaxPosition(err error) (line, col int, out error) {
	msg := err.Error()
	m := parsePosition.FindStringSubmatchIndex(msg)
	if m == nil {
		return 0, 0, err
	}
	line, _ = strconv.Atoi(msg[m[2]:m[3]])
	col, _ = strconv.Atoi(msg[m[4]:m[5]])
	return line, col, fmt.Errorf("%w%s", authz.ErrSyntax, strings.TrimPrefix(msg[:m[0]]+msg[m[1]:], authz.ErrSyntax.Error()))
}
