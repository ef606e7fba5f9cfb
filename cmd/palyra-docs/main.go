// Command palyra-docs writes the man pages of palyra and palyrad and the
// shell completion scripts of palyra, generated from the binaries' own
// command trees:
//
//	go run ./cmd/palyra-docs -out DIR
//
// writes DIR/man1/palyra.1, DIR/man1/palyra-vault.1, … (one page per
// command), DIR/man8/palyrad.8, … and DIR/completions/palyra.bash,
// palyra.zsh and palyra.fish. With -out ~/.local/share/man the pages are
// where man(1) looks (see the README for the completions).
//
// It builds palyra and palyrad from this module into a temporary directory
// (or uses the ones in -bin) and runs them: the man pages come from the
// hidden command "__gen-man DIR" each binary has (internal/mandoc, cobra's
// doc generator), the completions from cobra's "palyra completion SHELL".
// Set SOURCE_DATE_EPOCH for reproducible page dates.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/palyra/palyra/internal/mandoc"
)

// Shells whose completion scripts are written, with their file suffixes.
var shells = []struct{ name, file string }{
	{"bash", "palyra.bash"},
	{"zsh", "_palyra"},
	{"fish", "palyra.fish"},
}

func main() {
	out := flag.String("out", "", "output directory (man1/, man8/, completions/ are created in it)")
	bin := flag.String("bin", "", "directory holding built palyra and palyrad (default: build them from this module)")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: palyra-docs -out DIR [-bin DIR]")
		os.Exit(2)
	}
	if err := run(*out, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "palyra-docs: "+err.Error())
		os.Exit(1)
	}
}

func run(out, bin string) error {
	if bin == "" {
		tmp, err := os.MkdirTemp("", "palyra-docs-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		build := exec.Command("go", "build", // #nosec G204 -- fixed packages; the output is a fresh temporary directory
			"-o", tmp+string(filepath.Separator), "github.com/palyra/palyra/cmd/palyra", "github.com/palyra/palyra/cmd/palyrad")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build: %w", err)
		}
		bin = tmp
	}
	palyra, palyrad := filepath.Join(bin, "palyra"), filepath.Join(bin, "palyrad")
	if _, err := runBinary(palyra, mandoc.CommandName, filepath.Join(out, "man1")); err != nil {
		return err
	}
	if _, err := runBinary(palyrad, mandoc.CommandName, filepath.Join(out, "man8")); err != nil {
		return err
	}
	dir := filepath.Join(out, "completions")
	if err := os.MkdirAll(dir, 0o755); err != nil { // #nosec G301 -- completion scripts are public, installed for everyone
		return err
	}
	for _, sh := range shells {
		script, err := runBinary(palyra, "completion", sh.name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, sh.file), script, 0o644); err != nil { // #nosec G306 -- a public completion script
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "palyra-docs: wrote %s/man1, %s/man8 and %s\n", out, out, dir)
	return nil
}

// runBinary runs path with args and returns its stdout; a failure includes
// its stderr.
func runBinary(path string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(path, args...) // #nosec G204 -- palyra or palyrad just built (or in -bin), with fixed arguments
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %v: %w: %s", filepath.Base(path), args, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}
