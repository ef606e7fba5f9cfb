package exec

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/palyra/palyra/internal/tool"
)

// TestSpawningOptionsRefused reproduces the attacks in which a trusted
// program runs another program of the caller's choice, out of reach of
// any flag policy on the first (tar --checkpoint-action=exec ran rm):
// each is refused before authorization, in every spelling, including
// tar's traditional form; plain uses of tar and install still plan.
func TestSpawningOptionsRefused(t *testing.T) {
	realPath(t, "tar")
	realPath(t, "install")
	tl := testTool(t, nil)
	for _, argv := range []string{
		`["tar","-cf","x.tar","--checkpoint=1","--checkpoint-action=exec=rm -rf d","a.py"]`,
		`["tar","-cf","x.tar","--checkpoint-a=exec=rm -rf d","a.py"]`,
		`["tar","-xf","x.tar","--to-c=rm -rf d"]`,
		`["tar","-xf","x.tar","--to-command","rm -rf d"]`,
		`["tar","-cI","./hop","-f","x.tar","a.py"]`,
		`["tar","-c","--use-compress-program=./hop","-f","x.tar","a.py"]`,
		`["tar","cIf","./hop","x.tar","a.py"]`,
		`["tar","-cf","x.tar","--rsh-command=./hop","a.py"]`,
		`["tar","-cf","x.tar","--rmt-command=./hop","a.py"]`,
		`["tar","-cMf","x.tar","--info-script=./hop","a.py"]`,
		`["tar","-cMf","x.tar","--new-volume-script=./hop","a.py"]`,
		`["tar","-cMF","./hop","-f","x.tar","a.py"]`,
		`["env","tar","-xf","x.tar","--to-command=sh"]`,
		`["install","-s","--strip-program=./hop","a","b"]`,
		`["install","-s","--strip-p=./hop","a","b"]`,
	} {
		_, err := tl.Plan([]byte(`{"argv":` + argv + `}`))
		if !errors.Is(err, tool.ErrInvalid) || !strings.Contains(err.Error(), "runs another program") {
			t.Errorf("%s: got %v, want it refused", argv, err)
		}
	}
	for _, argv := range []string{`["tar","-cf","x.tar","--checkpoint=1","a.py"]`, `["tar","xf","x.tar"]`, `["install","-s","a","b"]`} {
		if _, err := tl.Plan([]byte(`{"argv":` + argv + `}`)); err != nil {
			t.Errorf("%s: %v", argv, err)
		}
	}
}

// TestTarTraditionalForm reproduces the policy bypass: "tar xf x.tar"
// (options without a dash) extracted under a policy forbidding -x. For
// tar, a first argument without a dash is read as a cluster of short
// options, as tar reads it.
func TestTarTraditionalForm(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"xf", "x.tar"}, []string{"-x", "-f"}},
		{[]string{"vxf", "x.tar", "a"}, []string{"-v", "-x", "-f"}},
		{[]string{"cf", "x.tar", "--verbose", "a"}, []string{"-c", "-f", "--verbose"}},
		{[]string{"-tf", "x.tar", "xf"}, []string{"-t", "-f"}}, // only the first argument
	} {
		got, err := normalizeFlags("tar", c.args)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("tar %q: got %q %v, want %q", c.args, got, err, c.want)
		}
	}
	if got, _ := normalizeFlags("ls", []string{"xf"}); len(got) != 0 {
		t.Errorf("ls xf: %q (only tar has the traditional form)", got)
	}
	realPath(t, "tar")
	p := plan(t, testTool(t, nil), `{"argv":["tar","xf","x.tar"]}`)
	if !slices.Contains(p.Context.Flags, "-x") {
		t.Fatalf("policy sees %q for tar xf", p.Context.Flags)
	}
}

// TestFindPrimariesAreWords: find's primaries are single-dash words, so a
// policy naming "-delete" must see "-delete", not its letters (which once
// gave "-d", "-e", "-l", "-t": a forbid on -delete never matched).
func TestFindPrimariesAreWords(t *testing.T) {
	got, err := normalizeFlags("find", []string{"-L", ".", "-name", "*.tmp", "-delete"})
	if want := []string{"-L", "-name", "-delete"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("find: got %q %v, want %q", got, err, want)
	}
	if got, _ := normalizeFlags("rm", []string{"-rf", "d"}); !slices.Equal(got, []string{"-r", "-f"}) {
		t.Fatalf("rm -rf: %q (clusters still split for other programs)", got)
	}
	realPath(t, "find")
	p := plan(t, testTool(t, nil), `{"argv":["find",".","-delete"]}`)
	if !slices.Contains(p.Context.Flags, "-delete") {
		t.Fatalf("policy sees %q for find . -delete", p.Context.Flags)
	}
}

// TestWorkspaceNotExecutable reproduces the copied-binary attack: a
// program copied into the workspace and made executable was run. Landlock
// grants the workspace read and write without execute: execve fails with
// EACCES, for a binary and a #! script alike, while reading them works.
func TestWorkspaceNotExecutable(t *testing.T) {
	tl := testTool(t, nil)
	bin, err := os.ReadFile(realPath(t, "true"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tl.ws, "hop"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tl.ws, "hop.sh"), []byte("#!/bin/sh\necho ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := python(t, tl, `
import os, subprocess
for f in ("./hop", "./hop.sh"):
    try:
        subprocess.run([f]); print(f, "ran")
    except OSError as e:
        print(f, e.errno)
print("read", len(open("hop", "rb").read()) > 0)
`)
	if out != "./hop 13\n./hop.sh 13\nread True" {
		t.Fatalf("the workspace is executable: %q (13 = EACCES)", out)
	}
}
