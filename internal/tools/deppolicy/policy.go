// Command deppolicy checks the modules built into Palyra against the
// dependency policy (.ci/dependency-policy.toml): every module must carry a
// licence on the allow-list, none may be on the deny-list, and every module
// must come from the module proxy with an h1: checksum in go.sum (no replace
// directive to a local path, `go mod verify` clean).
//
// It is a CI tool (run by .ci/run), not part of palyrad or palyra.
//
// Which modules: those providing a package that `go list -deps -test` reports
// for the given patterns (default ./...) on each GOOS the policy names, i.e.
// what is compiled into palyrad, palyra, this repo's other commands and their
// tests, on every shipped platform. Modules that only appear in go.mod's graph
// (go list -m all) but never compile into anything are not checked: their code
// is not in any binary.
package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Policy is the parsed policy file.
type Policy struct {
	// Allow lists the SPDX identifiers (licensecheck IDs) accepted.
	Allow []string `toml:"allow"`
	// GOOS lists the target systems whose build graphs are checked.
	GOOS []string `toml:"goos"`
	// Deny lists modules that must not be used at all.
	Deny []Deny `toml:"deny"`
	// Override sets a module's licences where detection cannot.
	Override []Override `toml:"override"`
}

// Deny is one forbidden module (exact path, or a prefix when it ends in "/...").
type Deny struct {
	Module string `toml:"module"`
	Reason string `toml:"reason"`
}

// Override replaces detection for one module path (all versions).
type Override struct {
	Module   string   `toml:"module"`
	Licenses []string `toml:"licenses"`
	Reason   string   `toml:"reason"`
}

// LoadPolicy reads and validates a policy file.
func LoadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- the policy path is a flag given by .ci/run
	if err != nil {
		return nil, err
	}
	return ParsePolicy(b)
}

// ParsePolicy parses and validates policy text.
func ParsePolicy(b []byte) (*Policy, error) {
	var p Policy
	dec := toml.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if len(p.Allow) == 0 {
		return nil, fmt.Errorf("policy: allow is empty")
	}
	if len(p.GOOS) == 0 {
		p.GOOS = []string{"linux"}
	}
	for i, d := range p.Deny {
		if d.Module == "" || strings.TrimSpace(d.Reason) == "" {
			return nil, fmt.Errorf("policy: deny[%d] needs module and reason", i)
		}
	}
	for i, o := range p.Override {
		if o.Module == "" || strings.TrimSpace(o.Reason) == "" || len(o.Licenses) == 0 {
			return nil, fmt.Errorf("policy: override[%d] needs module, licenses and reason", i)
		}
	}
	return &p, nil
}

func (p *Policy) allowed(id string) bool { return slices.Contains(p.Allow, id) }

func (p *Policy) denied(mod string) (Deny, bool) {
	for _, d := range p.Deny {
		if prefix, ok := strings.CutSuffix(d.Module, "/..."); ok {
			if mod == prefix || strings.HasPrefix(mod, prefix+"/") {
				return d, true
			}
		} else if mod == d.Module {
			return d, true
		}
	}
	return Deny{}, false
}

func (p *Policy) override(mod string) (Override, bool) {
	for _, o := range p.Override {
		if o.Module == mod {
			return o, true
		}
	}
	return Override{}, false
}
