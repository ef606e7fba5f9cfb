package exec

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/palyra/palyra/internal/tool"
)

// TestLongOptionAbbreviations: for a program with a table of long options
// an abbreviation is expanded to the full name (so a policy naming
// "--recursive" matches "--r", "--rec", "--recursiv", "--rec=x"), and an
// ambiguous or unknown one is refused; for a program without a table the
// written form is kept and UnverifiedLong is added.
func TestLongOptionAbbreviations(t *testing.T) {
	for _, c := range []struct {
		prog string
		args []string
		want []string
	}{
		{"rm", []string{"--r", "d"}, []string{"--recursive"}},
		{"rm", []string{"--rec", "-f", "d"}, []string{"--recursive", "-f"}},
		{"rm", []string{"--recursiv", "d"}, []string{"--recursive"}},
		{"rm", []string{"--rec=x", "d"}, []string{"--recursive"}},
		{"rm", []string{"--no", "--one", "--", "--bogus"}, []string{"--no-preserve-root", "--one-file-system"}},
		{"chmod", []string{"--rec", "700", "d"}, []string{"--recursive"}},
		{"tar", []string{"--to-c=sh", "-xf", "a.tar"}, []string{"--to-command", "-x", "-f"}},
		{"tar", []string{"--checkpoint-action=exec=x"}, []string{"--checkpoint-action"}},
		{"ls", []string{"--colo=auto", "-la"}, []string{"--colo", UnverifiedLong, "-l", "-a"}},
		{"ls", []string{"-l"}, []string{"-l"}},
	} {
		got, err := normalizeFlags(c.prog, c.args)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s %q: got %q %v, want %q", c.prog, c.args, got, err, c.want)
		}
	}
	for _, c := range [][]string{
		{"rm", "--ver"}, {"rm", "--bogus"}, {"rm", "--=x"}, {"cp", "--re"}, {"tar", "--exclude-"}, {"find", "--delete"}, {"shred", "--r"},
	} {
		if _, err := normalizeFlags(c[0], c[1:]); !errors.Is(err, tool.ErrInvalid) {
			t.Errorf("%q: got %v, want ErrInvalid", c, err)
		}
	}
	for prog, table := range longOptions {
		if !slices.IsSorted(table) || len(slices.Compact(slices.Clone(table))) != len(table) {
			t.Errorf("%s: the table is not sorted and unique", prog)
		}
		for _, o := range table {
			if !strings.HasPrefix(o, "--") || strings.Contains(o, "=") {
				t.Errorf("%s: entry %q", prog, o)
			}
		}
	}
}

// FuzzNormalizeFlags: for rm, whatever the arguments, the flags are
// either refused or only full option names (so no abbreviation reaches
// policy), and every "-r"/"--r..." before "--" shows as -r or --recursive.
func FuzzNormalizeFlags(f *testing.F) {
	for _, s := range []string{"--r d", "--rec -f d", "--recursiv", "--rec=x", "-rf", "--ver", "-- --r", "--", "--=", "-", "--no"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Fields(s)
		got, err := normalizeFlags("rm", args)
		if err != nil {
			if !errors.Is(err, tool.ErrInvalid) {
				t.Fatalf("error of another kind: %v", err)
			}
			return
		}
		for _, f := range got {
			if strings.HasPrefix(f, "--") && len(f) > 2 && !slices.Contains(longOptions["rm"], f) {
				t.Fatalf("%q: flag %q is not a full option name", args, f)
			}
		}
		for _, a := range args {
			if a == "--" {
				break
			}
			if strings.HasPrefix(a, "--r") && !slices.Contains(got, "--recursive") {
				t.Fatalf("%q: %q not reported as --recursive: %q", args, a, got)
			}
		}
	})
}
