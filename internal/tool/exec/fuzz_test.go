package exec

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/palyra/palyra/internal/tool"
	"github.com/palyra/palyra/internal/tool/args"
)

// FuzzExecPlan: whatever the arguments, Plan either refuses them with
// ErrInvalid (or args.ErrInvalid) or names a program inside a trusted
// directory that is not a refused wrapper, with a working directory inside
// the workspace.
func FuzzExecPlan(f *testing.F) {
	for _, s := range []string{
		`{"argv":["ls","-la"]}`, `{"argv":["nice","-n","5","timeout","-s","KILL","5","env","-i","rm","-rf","x"]}`,
		`{"argv":["env","-u","X","--","ls"]}`, `{"argv":["chrt","-b","0","ls"]}`, `{"argv":["taskset","-c","0","ls"]}`,
		`{"argv":["sh","-c","ls"]}`, `{"argv":["timeout"]}`, `{"argv":["stdbuf","-o"]}`, `{"argv":["ls"],"cwd":"../"}`,
		`{"argv":["/usr/bin/../bin/ls"]}`, `{"argv":["ls"],"env":{"A":"vault://global/k#2"}}`,
	} {
		f.Add([]byte(s))
	}
	tl, err := New(Config{Workspace: filepath.Join(f.TempDir(), "ws"), TrustedDirs: []string{"/usr/bin", "/bin"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := tl.Plan(data)
		if err != nil {
			if !errors.Is(err, tool.ErrInvalid) && !errors.Is(err, args.ErrInvalid) {
				t.Fatalf("error of another kind: %v", err)
			}
			return
		}
		if !tl.res.inTrusted(p.Context.Program) {
			t.Fatalf("program %q outside the trusted directories", p.Context.Program)
		}
		if _, bad := refused[filepath.Base(p.Context.Program)]; bad {
			t.Fatalf("refused program %q planned", p.Context.Program)
		}
		if !within(tl.ws, p.Context.Cwd) {
			t.Fatalf("cwd %q outside the workspace", p.Context.Cwd)
		}
	})
}
