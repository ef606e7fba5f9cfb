package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/google/licensecheck"
	"golang.org/x/mod/modfile"
)

// Module is one module of the build graph.
type Module struct {
	Path    string
	Version string
	Dir     string // where its files are (module cache, or a local replacement)
	// ReplacePath/ReplaceVersion are set when go.mod replaces the module;
	// ReplaceVersion is empty for a replacement by a local directory.
	ReplacePath    string
	ReplaceVersion string
}

func (m Module) String() string {
	if m.Version == "" {
		return m.Path
	}
	return m.Path + "@" + m.Version
}

// Violation is one broken rule.
type Violation struct {
	Module string
	Rule   string // allow, deny, no-licence, go.sum, replace, go-mod-verify
	Detail string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: [%s] %s", v.Module, v.Rule, v.Detail)
}

// licenceFile matches the top-level files that carry a module's licence.
var licenceFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying|unlicense)([-._].*)?$`)

// DetectLicences returns the licence IDs found in dir's licence files (sorted,
// unique) and the files read.
func DetectLicences(dir string) (ids, files []string, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	for _, e := range ents {
		if e.IsDir() || !licenceFile.MatchString(e.Name()) || strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name())) // #nosec G304 -- a file of a module directory go list reported
		if err != nil {
			return nil, nil, err
		}
		files = append(files, e.Name())
		for _, m := range licensecheck.Scan(b).Match {
			if !m.IsURL && !seen[m.ID] {
				seen[m.ID] = true
				ids = append(ids, m.ID)
			}
		}
	}
	sort.Strings(ids)
	return ids, files, nil
}

// GoSum holds the module@version pairs that have an h1: hash of their content.
type GoSum map[string]bool

// ParseGoSum reads go.sum text.
func ParseGoSum(b []byte) GoSum {
	s := GoSum{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// "mod ver h1:..." (content) vs "mod ver/go.mod h1:..." (go.mod only)
		if len(f) == 3 && strings.HasPrefix(f[2], "h1:") && !strings.HasSuffix(f[1], "/go.mod") {
			s[f[0]+"@"+f[1]] = true
		}
	}
	return s
}

// CheckReplaces flags every replace directive in go.mod text that points at a
// local directory.
func CheckReplaces(gomod []byte) ([]Violation, error) {
	f, err := modfile.Parse("go.mod", gomod, nil)
	if err != nil {
		return nil, err
	}
	var vs []Violation
	for _, r := range f.Replace {
		if r.New.Version == "" {
			vs = append(vs, Violation{Module: r.Old.Path, Rule: "replace",
				Detail: fmt.Sprintf("go.mod replaces it with local path %q: every module must come from the module proxy", r.New.Path)})
		}
	}
	return vs, nil
}

// Check applies the policy to the modules. sum is the project's go.sum.
func Check(p *Policy, mods []Module, sum GoSum) []Violation {
	var vs []Violation
	for _, m := range mods {
		name := m.String()
		if d, ok := p.denied(m.Path); ok {
			vs = append(vs, Violation{name, "deny", fmt.Sprintf("module is on the deny-list (%s): %s", d.Module, d.Reason)})
		}
		switch {
		case m.ReplacePath != "" && m.ReplaceVersion == "":
			vs = append(vs, Violation{name, "replace", fmt.Sprintf("replaced by local path %q, not fetched from the module proxy", m.ReplacePath)})
		case m.ReplacePath != "":
			if d, ok := p.denied(m.ReplacePath); ok {
				vs = append(vs, Violation{name, "deny", fmt.Sprintf("replacement %s is on the deny-list: %s", m.ReplacePath, d.Reason)})
			}
			if !sum[m.ReplacePath+"@"+m.ReplaceVersion] {
				vs = append(vs, Violation{name, "go.sum", fmt.Sprintf("no h1: checksum for replacement %s@%s in go.sum", m.ReplacePath, m.ReplaceVersion)})
			}
		default:
			if !sum[m.Path+"@"+m.Version] {
				vs = append(vs, Violation{name, "go.sum", "no h1: checksum for " + name + " in go.sum"})
			}
		}
		var ids []string
		if o, ok := p.override(m.Path); ok {
			ids = o.Licenses
		} else {
			found, files, err := DetectLicences(m.Dir)
			switch {
			case err != nil:
				vs = append(vs, Violation{name, "no-licence", fmt.Sprintf("cannot read module dir %s: %v", m.Dir, err)})
				continue
			case len(files) == 0:
				vs = append(vs, Violation{name, "no-licence", "no LICENSE/COPYING file in " + m.Dir + " (add an override with a reason if the licence is known)"})
				continue
			case len(found) == 0:
				vs = append(vs, Violation{name, "no-licence", fmt.Sprintf("no known licence recognised in %s (add an override with a reason if the licence is known)", strings.Join(files, ", "))})
				continue
			}
			ids = found
		}
		for _, id := range ids {
			if !p.allowed(id) {
				vs = append(vs, Violation{name, "allow", fmt.Sprintf("licence %s is not on the allow-list", id)})
			}
		}
	}
	slices.SortFunc(vs, func(a, b Violation) int { return strings.Compare(a.String(), b.String()) })
	return vs
}
