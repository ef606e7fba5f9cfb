package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/client"
)

// mountTmpfs mounts a tmpfs of size at dir, or skips the test saying why
// it cannot. It is unmounted in cleanup (after the daemon has stopped:
// cleanups run last-registered first).
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("disk-full scenario needs root to mount a small tmpfs for the state directory")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("disk-full scenario: cannot mount a tmpfs (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// fill writes a file in dir until the filesystem is full.
func fill(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		m, err := f.Write(buf)
		n += int64(m)
		if errors.Is(err, syscall.ENOSPC) {
			return n
		}
		if err != nil {
			t.Fatalf("fill: %v", err)
		}
	}
}

// TestReliabilityDiskFull runs palyrad with its state directory on an 8 MiB
// filesystem, fills it while writers put values, and checks that puts fail
// with an error (no panic, no acknowledged put lost), and that after space
// is freed the daemon (restarted if it had exited) serves and the journal
// verifies.
func TestReliabilityDiskFull(t *testing.T) {
	mnt := t.TempDir()
	mountTmpfs(t, mnt, "8m")
	state := filepath.Join(mnt, "state")
	d := startDaemon(t, state)
	acks := newAckLog()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	load := startPuts(ctx, d.addrs.Socket, 4, "disk", acks)
	time.Sleep(300 * time.Millisecond)
	filler := filepath.Join(mnt, "filler")
	filled := fill(t, filler)
	okAtFull := load.ok.Load()
	failsAtFull := load.fails.Load()
	time.Sleep(pick(1500*time.Millisecond, 10*time.Second))
	okAfter := load.ok.Load() - okAtFull
	failedAfter := load.fails.Load() - failsAtFull
	cancel()
	load.wg.Wait()

	exited := false
	select {
	case err := <-d.exited:
		d.exited <- err
		exited = true
		t.Logf("palyrad exited on the full disk: %v", err)
	default:
	}
	logs := d.logs.String()
	if strings.Contains(logs, "panic:") || strings.Contains(logs, "goroutine ") {
		t.Fatalf("palyrad panicked on the full disk:\n%s", logs)
	}
	t.Logf("filled %d KiB; puts while full: %d acknowledged (space freed by the daemon's own files, e.g. a WAL checkpoint), %d failed%s",
		filled>>10, okAfter, failedAfter, load.errSummary())
	if failedAfter == 0 {
		t.Fatalf("no put failed on a full disk")
	}
	for msg := range load.errs {
		if strings.TrimSpace(msg) == "" || strings.HasPrefix(msg, "unknown") {
			t.Errorf("unclear put failure on a full disk: %q", msg)
		}
	}

	// A CLI put on the full disk fails with one clear line.
	full := palyra(t, []byte("x"), "--state-dir", state, "vault", "put", "global/while_full")
	t.Logf("CLI put while full: exit %d: %s", full.code, strings.TrimSpace(string(full.stderr)))
	if full.code == 0 {
		acks.record("global/while_full", 1, []byte("x"))
	} else if !strings.HasPrefix(string(full.stderr), "palyra: ") || strings.Count(string(full.stderr), "\n") != 1 {
		t.Errorf("CLI put on a full disk: stderr %q, want one line", full.stderr)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if !exited {
		// Still running: after the space comes back it must serve writes
		// without a restart.
		c := client.DialUnix(d.addrs.Socket)
		var err error
		for range 50 {
			var r *connect.Response[palyrav1.VaultPutResponse]
			r, err = c.Vault.Put(context.Background(), connect.NewRequest(&palyrav1.VaultPutRequest{Ref: "global/after_full", Value: []byte("back")}))
			if err == nil {
				acks.record("global/after_full", r.Msg.GetVersion(), []byte("back"))
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		c.Close()
		if err != nil {
			t.Logf("palyrad still runs but does not take writes after space is freed (%v); restarting it", err)
			d.stop(t)
			exited = true
		} else {
			t.Logf("palyrad kept running and took writes again once space was freed")
		}
	}
	if exited {
		os.Remove(filepath.Join(state, "palyrad.addr"))
		d = startDaemon(t, state)
	}
	verifyAcks(t, d.addrs.Socket, acks)
	d.stop(t)
	auditVerify(t, state)
	t.Logf("%d acknowledged puts over %d references all read back; journal intact", acks.n(), len(acks.latest))
}
