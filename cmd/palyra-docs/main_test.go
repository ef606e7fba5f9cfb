package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The generator, run on freshly built binaries, writes a man page per
// command, each with its synopsis, and the completion scripts.
func TestGenerate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds palyra and palyrad")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "github.com/palyra/palyra/cmd/palyra", "github.com/palyra/palyra/cmd/palyrad")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", "1767225600") // 2026-01-01
	if err := run(out, bin); err != nil {
		t.Fatal(err)
	}
	pages := map[string]string{
		"man1/palyra.1":                        "palyra [flags]",
		"man1/palyra-vault.1":                  "palyra vault",
		"man1/palyra-vault-get.1":              "palyra vault get SCOPE/KEY[#N] [flags]",
		"man1/palyra-vault-put.1":              "palyra vault put",
		"man1/palyra-vault-provider-migrate.1": "palyra vault provider migrate",
		"man1/palyra-devices-enroll.1":         "palyra devices enroll",
		"man1/palyra-audit-verify.1":           "palyra audit verify",
		"man1/palyra-run.1":                    "palyra run",
		"man1/palyra-status.1":                 "palyra status",
		"man8/palyrad.8":                       "palyrad [flags]",
		"man8/palyrad-version.8":               "palyrad version",
	}
	for page, synopsis := range pages {
		b, err := os.ReadFile(filepath.Join(out, page))
		if err != nil {
			t.Errorf("%s: %v", page, err)
			continue
		}
		s := string(b)
		section := page[len(page)-1:]
		name := strings.ToUpper(strings.TrimSuffix(filepath.Base(page), "."+section))
		if !strings.Contains(s, `.TH "`+name+`" "`+section+`" "Jan 2026"`) {
			t.Errorf("%s: no .TH header for %s(%s) dated Jan 2026:\n%.200s", page, name, section, s)
		}
		_, syn, ok := strings.Cut(s, ".SH SYNOPSIS\n")
		if !ok || !strings.Contains(strings.SplitN(syn, ".SH", 2)[0], synopsis) {
			t.Errorf("%s: synopsis lacks %q:\n%.400s", page, synopsis, syn)
		}
	}
	// One page per available command, and none for hidden ones.
	man1, _ := filepath.Glob(filepath.Join(out, "man1", "*.1"))
	if len(man1) < 25 {
		t.Errorf("only %d pages in man1", len(man1))
	}
	for _, p := range append(man1, must(filepath.Glob(filepath.Join(out, "man8", "*.8")))...) {
		if strings.Contains(p, "gen-man") || strings.Contains(p, "__") {
			t.Errorf("a page for a hidden command: %s", p)
		}
	}
	for _, sh := range shells {
		b, err := os.ReadFile(filepath.Join(out, "completions", sh.file))
		if err != nil || !strings.Contains(string(b), "palyra") || len(b) < 500 {
			t.Errorf("completion %s: %d bytes, %v", sh.name, len(b), err)
		}
	}
	if bash, err := exec.LookPath("bash"); err == nil {
		if out, err := exec.Command(bash, "-n", filepath.Join(out, "completions", "palyra.bash")).CombinedOutput(); err != nil {
			t.Errorf("bash -n palyra.bash: %v\n%s", err, out)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
