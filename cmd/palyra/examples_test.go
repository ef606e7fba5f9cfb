package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/paircode"
)

// exampleArgs splits one Example line of a command's help into its words
// as a POSIX shell would, for the plain lines examples are: words split
// at blanks, 'single' and "double" quotes (no escapes inside), nothing
// else the shell would expand or redirect.
func exampleArgs(line string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case ' ', '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case '\'', '"':
			end := strings.IndexByte(line[i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("unterminated %c in %q", c, line)
			}
			w.WriteString(line[i+1 : i+1+end])
			i += 1 + end
			inWord = true
		case '$', '`', '\\', '|', '&', ';', '<', '>', '(', ')', '*', '?', '~', '#':
			return nil, fmt.Errorf("%q: %c outside quotes is not a plain example", line, c)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// examples returns the Example lines of the command at path (words after
// "palyra"), each split into words.
func examples(path []string) ([][]string, error) {
	cmd, rest, err := newRoot(&globals{}).Find(path)
	if err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("no command palyra %s", strings.Join(path, " "))
	}
	var out [][]string
	for _, line := range strings.Split(cmd.Example, "\n") {
		words, err := exampleArgs(strings.TrimSpace(line))
		if err != nil {
			return nil, err
		}
		if len(words) == 0 {
			continue
		}
		if words[0] != "palyra" {
			return nil, fmt.Errorf("example %q does not start with palyra", line)
		}
		out = append(out, words[1:])
	}
	return out, nil
}

// cmdExamples is the script command
//
//	examples STATE_DIR WORD...
//
// which runs every Example line of `palyra WORD...` with --state-dir
// STATE_DIR and requires each to succeed.
func cmdExamples(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: examples STATE_DIR WORD...")
	}
	ex, err := examples(args[1:])
	if err != nil {
		ts.Fatalf("examples: %v", err)
	}
	if len(ex) == 0 {
		ts.Fatalf("examples: palyra %s has no example", strings.Join(args[1:], " "))
	}
	for _, words := range ex {
		ts.Logf("> palyra --state-dir %s %s", args[0], strings.Join(words, " "))
		if err := ts.Exec("palyra", append([]string{"--state-dir", args[0]}, words...)...); err != nil {
			ts.Fatalf("example failed: %v\n%s", err, ts.ReadFile("stderr"))
		}
	}
}

// Every code or URI in an example of pair join, wherever it is shown, is
// one pair join accepts.
func TestPairJoinExamplesParse(t *testing.T) {
	n := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, line := range strings.Split(c.Example, "\n") {
			if !strings.Contains(line, "pair join") {
				continue
			}
			words, err := exampleArgs(strings.TrimSpace(line))
			if err != nil {
				t.Errorf("%s: %v", c.CommandPath(), err)
				continue
			}
			for i := 0; i+3 < len(words); i++ {
				if words[i+1] == "pair" && words[i+2] == "join" {
					n++
					if _, err := paircode.ParseInvite(words[i+3]); err != nil {
						t.Errorf("%s: example %q: %v", c.CommandPath(), line, err)
					}
				}
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot(&globals{}))
	if n < 3 {
		t.Fatalf("found %d pair join examples, want at least 3", n)
	}
}

// exampleArgs splits as the shell does and refuses what it cannot.
func TestExampleArgs(t *testing.T) {
	got, err := exampleArgs(`palyra x --p 'User::"a b"' --c '{"k": []}' "d"e`)
	want := []string{"palyra", "x", "--p", `User::"a b"`, "--c", `{"k": []}`, "de"}
	if err != nil || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{`a 'b`, `a $HOME`, `a | b`, `a > f`} {
		if _, err := exampleArgs(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// cmdStdoutVar is the script command `stdoutvar VAR REGEXP`.
func cmdStdoutVar(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: stdoutvar VAR REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	if err != nil {
		ts.Fatalf("stdoutvar: %v", err)
	}
	m := re.FindStringSubmatch(ts.ReadFile("stdout"))
	if len(m) < 2 {
		ts.Fatalf("stdoutvar: no match for %q in stdout", args[1])
	}
	ts.Setenv(args[0], m[1])
}
