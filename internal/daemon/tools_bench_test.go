package daemon

import (
	"context"
	"os/exec"
	"testing"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
)

// BenchmarkToolExecTrue is exec of /bin/true through the whole path — the
// admin socket RPC, strict decoding, resolution, the tool.execute decision
// and its journal record, the sandbox launcher (rlimits, Landlock, execve),
// masking and the outcome record — beside a direct os/exec run of
// /bin/true in the same run, the baseline.
func BenchmarkToolExecTrue(b *testing.B) {
	b.Run("os-exec", func(b *testing.B) {
		for b.Loop() {
			if err := exec.Command("/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("daemon-rpc", func(b *testing.B) {
		td := startToolDaemon(b, nil)
		ctx := context.Background()
		req := &palyrav1.ToolExecuteRequest{Tool: "exec", Arguments: []byte(`{"argv":["/bin/true"]}`)}
		for b.Loop() {
			res, err := td.admin.Tools.Execute(ctx, connect.NewRequest(req))
			if err != nil || res.Msg.ExitCode != 0 {
				b.Fatal(err, res)
			}
		}
	})
}
