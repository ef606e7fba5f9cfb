package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	policyPath := flag.String("policy", ".ci/dependency-policy.toml", "policy file")
	dir := flag.String("C", ".", "module root to check (holds go.mod and go.sum)")
	verbose := flag.Bool("v", false, "print every module with its licences")
	flag.Parse()
	patterns := flag.Args()
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	n, vs, err := run(*policyPath, *dir, patterns, *verbose)
	if err != nil {
		fmt.Fprintln(os.Stderr, "deppolicy:", err)
		os.Exit(2)
	}
	for _, v := range vs {
		fmt.Println("VIOLATION", v)
	}
	if len(vs) > 0 {
		fmt.Printf("deppolicy: %d violation(s) in %d modules\n", len(vs), n)
		os.Exit(1)
	}
	fmt.Printf("deppolicy: %d modules comply with %s\n", n, *policyPath)
}

func run(policyPath, dir string, patterns []string, verbose bool) (int, []Violation, error) {
	p, err := LoadPolicy(policyPath)
	if err != nil {
		return 0, nil, err
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod")) // #nosec G304 -- the module root is a flag given by .ci/run
	if err != nil {
		return 0, nil, err
	}
	vs, err := CheckReplaces(gomod)
	if err != nil {
		return 0, nil, err
	}
	gosum, err := os.ReadFile(filepath.Join(dir, "go.sum")) // #nosec G304 -- as above
	if err != nil && !os.IsNotExist(err) {
		return 0, nil, err
	}
	mods, err := listModules(dir, p.GOOS, patterns)
	if err != nil {
		return 0, nil, err
	}
	if verbose {
		for _, m := range mods {
			ids, files, _ := DetectLicences(m.Dir)
			if o, ok := p.override(m.Path); ok {
				ids = append([]string{"override:"}, o.Licenses...)
			}
			fmt.Printf("  %-55s %s (%s)\n", m, strings.Join(ids, " "), strings.Join(files, " "))
		}
	}
	vs = append(vs, Check(p, mods, ParseGoSum(gosum))...)
	// go mod verify: the module cache still matches go.sum's hashes.
	cmd := exec.Command("go", "mod", "verify")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		vs = append(vs, Violation{"(module cache)", "go-mod-verify", fmt.Sprintf("go mod verify failed: %v: %s", err, bytes.TrimSpace(out))})
	}
	return len(mods), vs, nil
}

// listModules returns the non-main modules providing a package of
// `go list -deps -test patterns`, merged over the given GOOS values.
func listModules(dir string, goos, patterns []string) ([]Module, error) {
	const tmpl = `{{with .Module}}{{if not .Main}}{{.Path}}` + "\t" + `{{.Version}}` + "\t" +
		`{{.Dir}}` + "\t" + `{{with .Replace}}{{.Path}}` + "\t" + `{{.Version}}{{end}}{{end}}{{end}}`
	seen := map[string]Module{}
	for _, osName := range goos {
		args := append([]string{"list", "-deps", "-test", "-f", tmpl}, patterns...)
		cmd := exec.Command("go", args...) // #nosec G204 -- fixed go subcommand; patterns come from .ci/run
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOOS="+osName, "CGO_ENABLED=0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("go list (GOOS=%s): %v: %s", osName, err, stderr.String())
		}
		for _, line := range strings.Split(string(out), "\n") {
			if line == "" {
				continue
			}
			f := strings.Split(line, "\t")
			m := Module{Path: f[0], Version: f[1], Dir: f[2]}
			if len(f) >= 5 {
				m.ReplacePath, m.ReplaceVersion = f[3], f[4]
			}
			seen[m.String()] = m
		}
	}
	mods := make([]Module, 0, len(seen))
	for _, m := range seen {
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].String() < mods[j].String() })
	return mods, nil
}
