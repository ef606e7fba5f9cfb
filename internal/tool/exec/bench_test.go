package exec

import (
	"context"
	osexec "os/exec"
	"testing"
)

// BenchmarkRunTrue is /bin/true through the exec tool alone (plan, the
// sandbox launcher re-executed with rlimits and Landlock, masking) beside
// a direct os/exec run in the same run: the cost of the sandbox without
// the RPC, the decision and the journal.
func BenchmarkRunTrue(b *testing.B) {
	b.Run("os-exec", func(b *testing.B) {
		for b.Loop() {
			if err := osexec.Command("/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tool-run", func(b *testing.B) {
		tl, err := New(Config{Workspace: b.TempDir(), TrustedDirs: []string{"/usr/bin", "/bin"}, SystemDirs: []string{"/usr", "/lib", "/lib64", "/etc"},
			Wall: 10e9, CPU: 10e9, MemoryBytes: 1 << 30, OpenFiles: 256, Processes: 4096, OutputBytes: 1 << 20, FileBytes: 64 << 20})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			p, err := tl.Plan([]byte(`{"argv":["/bin/true"]}`))
			if err != nil {
				b.Fatal(err)
			}
			res, err := tl.Run(context.Background(), p, nil)
			if err != nil || res.ExitCode != 0 {
				b.Fatal(err, res)
			}
		}
	})
}
