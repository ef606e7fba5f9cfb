package exec

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestFileSizeLimit reproduces the disk-filling call: without
// RLIMIT_FSIZE one program could write until the disk holding the audit
// and vault databases was full. With a 1 MiB limit dd writing 4 MiB is
// stopped by SIGXFSZ at 1 MiB, the result says so, and the limits name
// it; a program ignoring the signal gets EFBIG.
func TestFileSizeLimit(t *testing.T) {
	tl := testTool(t, func(c *Config) { c.FileBytes = 1 << 20 })
	res := run(t, tl, `{"argv":["dd","if=/dev/zero","of=big","bs=65536","count=64"]}`, nil)
	if res.Killed != "file_size_limit" || res.Signal == "" {
		t.Fatalf("dd past the limit: killed %q signal %q exit %d stderr %q", res.Killed, res.Signal, res.ExitCode, res.Stderr)
	}
	fi, err := os.Stat(filepath.Join(tl.ws, "big"))
	if err != nil || fi.Size() > 1<<20 {
		t.Fatalf("big: %v, %d bytes", err, fi.Size())
	}
	if !slices.Contains(tl.limitNames(), "fsize=1048576") {
		t.Fatalf("limits %q do not name fsize", tl.limitNames())
	}
	out := python(t, tl, `
import signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
try:
    open("big2", "wb").write(b"x" * (2 << 20)); print("wrote")
except OSError as e:
    print(e.errno)
`)
	if out != "27" {
		t.Fatalf("a program ignoring SIGXFSZ: %q, want EFBIG (27)", out)
	}
}
