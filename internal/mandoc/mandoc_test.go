package mandoc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// __gen-man writes one page per available command of its root's tree, in
// the section asked, and none for itself or other hidden commands.
func TestCommand(t *testing.T) {
	root := &cobra.Command{Use: "tool", Short: "A tool", Run: func(*cobra.Command, []string) {}}
	root.CompletionOptions.DisableDefaultCmd = true
	sub := &cobra.Command{Use: "sub ARG", Short: "A subcommand", Run: func(*cobra.Command, []string) {}}
	root.AddCommand(sub, &cobra.Command{Use: "secret", Hidden: true, Run: func(*cobra.Command, []string) {}}, Command("8"))
	dir := filepath.Join(t.TempDir(), "man8")
	t.Setenv("SOURCE_DATE_EPOCH", "0")
	root.SetArgs([]string{CommandName, dir})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	if strings.Join(names, " ") != "tool-sub.8 tool.8" {
		t.Fatalf("pages %v, want tool-sub.8 tool.8", names)
	}
	b, err := os.ReadFile(filepath.Join(dir, "tool-sub.8"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`.TH "TOOL-SUB" "8" "Jan 1970" "Palyra `, "tool sub ARG", "A subcommand"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("tool-sub.8 lacks %q:\n%s", want, b)
		}
	}
}
