package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

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
	b.WriteString(Printable(e.Path))
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

// Printable returns s, or s quoted Go-style (strconv.Quote) if it holds a
// character that is not printable by unicode.IsPrint (a control character
// in a file name must not be able to fake an output line).
func Printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }

// ErrNoDirectory is wrapped by the error for a policy directory that does
// not exist.
var ErrNoDirectory = errors.New("policy directory does not exist")

// Load reads the policy directory dir and returns its Set, or the first
// problem: the directory does not exist (ErrNoDirectory), it, a directory
// above it or a file can be written by another user
// (fileperm.ErrInsecure), a file is a symbolic link, not a regular file, or
// larger than MaxFileBytes, a file name looks like a policy file but does
// not end exactly in .cedar or .cedartest, a file changed while it was read,
// a policy does not parse or validate (*FileError naming file and line), a
// case file is malformed (*FileError), or a test case fails (*CaseError).
// Names starting with "." are ignored; other entries not ending in .cedar or
// .cedartest are ignored too.
func Load(dir string) (*Set, error) {
	s, results, err := Check(dir)
	if err != nil {
		return nil, err
	}
	if err := failure(dir, results); err != nil {
		return nil, err
	}
	return s, nil
}

// failure is the *CaseError for the first failed result, nil if all passed.
func failure(dir string, results []Result) error {
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
		return first
	}
	return nil
}

// Check is Load without rejecting the set for failed cases: it returns the
// set and every case's result (in file and case order), or an error for
// anything else Load rejects.
func Check(dir string) (*Set, []Result, error) {
	if dir == "" {
		return nil, nil, errors.New("policy: no policy directory given")
	}
	files, err := readStable(dir)
	if err != nil {
		return nil, nil, err
	}
	return build(dir, files, digestOf(files))
}

// digestOf is the hex SHA-256 over the length-prefixed names and contents
// of files.
func digestOf(files []file) string {
	h := sha256.New()
	for _, f := range files {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(f.name)))
		h.Write(n[:])
		h.Write([]byte(f.name))
		binary.BigEndian.PutUint64(n[:], uint64(len(f.text)))
		h.Write(n[:])
		h.Write(f.text)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// build parses, validates and tests the files read from dir; digest is
// digestOf(files).
func build(dir string, files []file, digest string) (*Set, []Result, error) {
	s := &Set{Dir: dir, Digest: digest}
	var srcs []authz.Source
	var caseFiles []file
	for _, f := range files {
		if err := checkText(f.text); err != nil {
			err.Path = filepath.Join(dir, f.name)
			return nil, nil, err
		}
		if strings.HasSuffix(f.name, CaseSuffix) {
			s.CaseFiles = append(s.CaseFiles, f.name)
			caseFiles = append(caseFiles, f)
			continue
		}
		s.Files = append(s.Files, f.name)
		srcs = append(srcs, authz.Source{Name: f.name, Text: f.text})
	}
	var err error
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

// utf8BOM is the UTF-8 encoding of U+FEFF, the byte-order mark.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// checkText refuses a file text that is not plain UTF-8: a byte-order
// mark, or an invalid byte sequence (located by line and byte column).
// The caller fills in Path.
func checkText(text []byte) *FileError {
	if bytes.HasPrefix(text, utf8BOM) {
		return &FileError{Line: 1, Column: 1, Err: errors.New("starts with a UTF-8 byte-order mark; save the file without BOM")}
	}
	if utf8.Valid(text) {
		return nil
	}
	line, col := 1, 1
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRune(text[i:])
		if r == utf8.RuneError && n <= 1 {
			return &FileError{Line: line, Column: col, Err: fmt.Errorf("invalid UTF-8 (byte 0x%02x); save the file as UTF-8", text[i])}
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col += n
		}
		i += n
	}
	return nil
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

// settle is how long after its last modification a file must have been
// left alone before one read of it is trusted: a file written in place
// (truncated, then written) may be read between the two.
const settle = time.Second

// readStable reads dir (readDir). If some file was modified less than
// settle ago it waits until settle has passed and reads the directory
// again: the two reads must agree (names, contents, modification times),
// else the directory is refused as changing.
func readStable(dir string) ([]file, error) {
	files, err := readDir(dir)
	if err != nil {
		return nil, err
	}
	var newest time.Time
	for _, f := range files {
		if f.mtime.After(newest) {
			newest = f.mtime
		}
	}
	wait := settle - time.Since(newest)
	if wait <= 0 {
		return files, nil
	}
	time.Sleep(min(wait, settle))
	again, err := readDir(dir)
	if err != nil {
		return nil, err
	}
	if changed := changedFile(files, again); changed != "" {
		return nil, &FileError{Path: filepath.Join(dir, changed), Err: errors.New("changed while it was read; " +
			"write policy files under a temporary name (starting with \".\") and rename them into place, then reload")}
	}
	return files, nil
}

// changedFile names a file that differs between two reads of a directory,
// "" if none does.
func changedFile(a, b []file) string {
	for i := 0; i < max(len(a), len(b)); i++ {
		switch {
		case i >= len(a):
			return b[i].name
		case i >= len(b) || a[i].name != b[i].name:
			return a[i].name
		case !bytes.Equal(a[i].text, b[i].text) || !a[i].mtime.Equal(b[i].mtime):
			return a[i].name
		}
	}
	return ""
}

// file is one policy or case file read from a directory.
type file struct {
	name  string
	text  []byte
	mtime time.Time
}

// readDir reads the policy and case files of dir, sorted by name, with
// the permissions of the directory, of every directory above it and of
// every file checked. A missing directory is ErrNoDirectory.
func readDir(dir string) ([]file, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoDirectory, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("policy directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("policy directory %s is not a directory", dir)
	}
	if err := checkAncestors(dir); err != nil {
		return nil, err
	}
	// Whoever can write the directory can add a policy: it must be
	// ours, and writable by nobody else.
	if err := fileperm.Check(fi, fileperm.Trusted); err != nil {
		return nil, fmt.Errorf("policy directory %s: %w; %s", dir, err, permFix(fi, dir))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("policy directory: %w", err)
	}
	var out []file
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		exact := strings.HasSuffix(name, PolicySuffix) || strings.HasSuffix(name, CaseSuffix)
		if !exact {
			if lower := strings.ToLower(strings.TrimSpace(name)); strings.HasSuffix(lower, PolicySuffix) || strings.HasSuffix(lower, CaseSuffix) {
				return nil, &FileError{Path: filepath.Join(dir, name), Err: errors.New("looks like a policy file but would not be loaded: " +
					"only names ending exactly in .cedar or .cedartest are; rename it (or start its name with \".\" to keep it aside)")}
			}
			continue
		}
		if len(out) == MaxFiles {
			return nil, fmt.Errorf("policy directory %s: more than %d policy and case files", dir, MaxFiles)
		}
		f, err := readFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		f.name = name
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b file) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// readFile reads one policy or case file: not through a symbolic link,
// a regular file, owned by this user and writable by nobody else, at most
// MaxFileBytes. Errors are *FileError.
func readFile(path string) (file, error) {
	fail := func(err error) (file, error) { return file{}, &FileError{Path: path, Err: err} }
	// O_NOFOLLOW: a symbolic link is refused rather than followed to a
	// file whose permissions say nothing about the link's target
	// directory. O_NONBLOCK: opening a FIFO must not hang.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0) // #nosec G304 -- a file of the policy directory, checked below
	if errors.Is(err, syscall.ELOOP) {
		return fail(errors.New("is a symbolic link; policy files must be regular files: copy the target into the directory instead"))
	}
	if err != nil {
		return fail(errors.Unwrap(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	if !fi.Mode().IsRegular() {
		return fail(fmt.Errorf("is not a regular file (%s); only regular files are loaded", fi.Mode().Type()))
	}
	if err := fileperm.Check(fi, fileperm.Trusted); err != nil {
		return fail(fmt.Errorf("%w; %s", err, permFix(fi, path)))
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return fail(err)
	}
	if len(b) > MaxFileBytes {
		return fail(fmt.Errorf("is larger than %d bytes (1 MiB); split it into several files", MaxFileBytes))
	}
	return file{text: b, mtime: fi.ModTime()}, nil
}

// permFix says how to fix a file or directory fileperm.Check refused:
// chown when another user owns it, chmod otherwise.
func permFix(fi fs.FileInfo, path string) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Sprintf("it must belong to the user palyrad runs as (uid %d); check who put it there, then fix with: chown %d %s", os.Getuid(), os.Getuid(), path)
	}
	return "fix with: chmod go-w " + path
}

// checkAncestors refuses a policy directory that someone else could
// replace: every directory above it, on the path as given and on the path
// with symbolic links resolved, must belong to root or this user and must
// not be writable by group or others unless it is sticky (like /tmp, where
// only an entry's owner may rename or remove it). This is sshd's
// StrictModes rule.
func checkAncestors(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("policy directory: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("policy directory: %w", err)
	}
	for _, p := range []string{abs, real} {
		for d := filepath.Dir(p); ; d = filepath.Dir(d) {
			fi, err := os.Lstat(d)
			if err != nil {
				return fmt.Errorf("policy directory: %w", err)
			}
			// A symbolic link cannot be changed in place, only replaced
			// in its directory, which is checked too.
			if fi.Mode()&fs.ModeSymlink == 0 {
				if err := checkAncestor(d, fi); err != nil {
					return fmt.Errorf("policy directory %s: %w", dir, err)
				}
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	return nil
}

// checkAncestor applies checkAncestors' rule to one directory.
func checkAncestor(d string, fi fs.FileInfo) error {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%w: %s above it belongs to uid %d, neither root nor this user, who could replace the policy directory; "+
			"move the policy directory (policy_dir) or fix with: chown root %s", fileperm.ErrInsecure, d, st.Uid, d)
	}
	if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return fmt.Errorf("%w: %s above it has mode %04o: group or others could replace the policy directory; fix with: chmod go-w %s",
			fileperm.ErrInsecure, d, fi.Mode().Perm(), d)
	}
	return nil
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
