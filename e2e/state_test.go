package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runDaemonToExit runs palyrad expecting it to exit by itself (a refused
// start), and returns its exit code and output.
func runDaemonToExit(t *testing.T, args ...string) (int, string) {
	t.Helper()
	r := run(t, "palyrad", nil, args...)
	return r.code, string(r.stderr)
}

// copyDir copies a stopped daemon's state directory (files only, modes
// kept), so each case starts from the same complete state.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.Mkdir(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMissingOrReplacedStateIsRefused: a start with any part of the state
// directory missing or replaced refuses, naming the file, and creates
// nothing; --recreate begins a missing database empty on purpose.
func TestMissingOrReplacedStateIsRefused(t *testing.T) {
	base := t.TempDir()
	good := filepath.Join(base, "good")
	d := startDaemon(t, good)
	must(t, []byte("v"), "--state-dir", good, "vault", "put", "global/k")
	must(t, nil, "--state-dir", good, "devices", "enroll", "--name", "laptop", "--out", filepath.Join(base, "bundle"))
	d.stop(t)
	if _, err := os.Stat(filepath.Join(good, "state.json")); err != nil {
		t.Fatalf("no manifest after the first start: %v", err)
	}
	other := filepath.Join(base, "other")
	startDaemon(t, other).stop(t)

	for _, name := range []string{"master.key", "identity.sealed", "ca.crt", "ca.key.sealed", "vault.db", "audit.db", "devices.db"} {
		for _, how := range []string{"missing", "replaced"} {
			t.Run(name+"/"+how, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "state")
				copyDir(t, good, dir)
				switch how {
				case "missing":
					os.Remove(filepath.Join(dir, name))
					os.Remove(filepath.Join(dir, name+"-wal"))
					os.Remove(filepath.Join(dir, name+"-shm"))
				case "replaced": // the same part of another installation
					b, err := os.ReadFile(filepath.Join(other, name))
					if err != nil {
						t.Fatal(err)
					}
					os.Remove(filepath.Join(dir, name+"-wal"))
					os.Remove(filepath.Join(dir, name+"-shm"))
					if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
						t.Fatal(err)
					}
				}
				before := listDir(t, dir)
				code, out := runDaemonToExit(t, "--state-dir", dir, "--listen", "127.0.0.1:0")
				if code != 1 || !strings.Contains(out, name+" "+how) {
					t.Fatalf("exit %d, output:\n%s\nwant exit 1 naming %q", code, out, name+" "+how)
				}
				if after := listDir(t, dir); after != before {
					t.Fatalf("the refused start changed the directory:\nbefore %s\nafter  %s", before, after)
				}
			})
		}
	}

	t.Run("recreate", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state")
		copyDir(t, good, dir)
		os.Remove(filepath.Join(dir, "audit.db"))
		code, out := runDaemonToExit(t, "--state-dir", dir, "--listen", "127.0.0.1:0", "--recreate", "master.key")
		if code != 1 || !strings.Contains(out, "only vault.db, audit.db, devices.db, approvals.db can be re-created") {
			t.Fatalf("--recreate master.key: exit %d\n%s", code, out)
		}
		d := startDaemon(t, dir, "--recreate", "audit.db")
		r := must(t, nil, "--state-dir", dir, "vault", "get", "global/k")
		if string(r.stdout) != "v" {
			t.Fatalf("vault after recreating audit.db: %q", r.stdout)
		}
		d.stop(t) // the log buffer is the daemon's until it has exited
		if !strings.Contains(d.logs.String(), "re-creating a missing part of the state directory") {
			t.Fatalf("re-creation not logged:\n%s", d.logs.String())
		}
		// Recorded: the next start needs no flag.
		startDaemon(t, dir).stop(t)
	})
}

func listDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		fi, _ := e.Info()
		names = append(names, e.Name()+":"+strconv.FormatInt(fi.Size(), 10))
	}
	return strings.Join(names, " ")
}

// TestDeletedJournalWhileRunningIsRefused: deleting audit.db (and its WAL)
// under a running daemon makes it refuse every request with a clear error,
// rather than answer into an unlinked file.
func TestDeletedJournalWhileRunningIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	startDaemon(t, dir)
	must(t, []byte("v"), "--state-dir", dir, "vault", "put", "global/k")
	for _, f := range []string{"audit.db", "audit.db-wal", "audit.db-shm"} {
		os.Remove(filepath.Join(dir, f))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := palyra(t, nil, "--state-dir", dir, "vault", "get", "global/k")
		if r.code != 0 {
			if r.code != 5 || !strings.Contains(string(r.stderr), "audit.db was deleted") || len(r.stdout) != 0 {
				t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still answering 10 s after its journal was deleted")
		}
		time.Sleep(50 * time.Millisecond) // the daemon checks every 250 ms
	}
	fails(t, 5, "audit.db was deleted", []byte("w"), "--state-dir", dir, "vault", "put", "global/k2")
}

// TestFailedFirstStartLeavesNothing: a first start whose port is taken
// exits with an error saying what to do and leaves no state directory
// behind, and says so.
func TestFailedFirstStartLeavesNothing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := filepath.Join(t.TempDir(), "state")
	code, out := runDaemonToExit(t, "--state-dir", dir, "--listen", l.Addr().String())
	if code != 1 || !strings.Contains(out, "palyrad: transport: listen tcp "+l.Addr().String()+": bind: address already in use; another process listens there: pass --listen 127.0.0.1:PORT (0 picks a free port)\n") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// The log says the directory it created is gone again.
	if !strings.Contains(out, "removed the state directory this start created: the start failed, nothing is left") {
		t.Fatalf("no removal logged:\n%s", out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("state directory left behind: %v", err)
	}
	parent, _ := os.ReadDir(filepath.Dir(dir))
	if len(parent) != 0 {
		t.Fatalf("left in the parent: %v", parent)
	}
}

// TestCoreDumpsAreOff: palyrad runs with a zero core file limit (and, on
// Linux, non-dumpable; internal/harden checks the flag itself).
func TestCoreDumpsAreOff(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	d := startDaemon(t, dir)
	limits, err := os.ReadFile("/proc/" + strconv.Itoa(d.cmd.Process.Pid) + "/limits")
	if err != nil {
		t.Skip("no /proc on this platform")
	}
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max core file size") {
			if f := strings.Fields(line); f[4] != "0" || f[5] != "0" {
				t.Fatalf("palyrad core limit: %q", line)
			}
			return
		}
	}
	t.Fatal("no core limit line")
}

// TestDeletedJournalLogWhileRunningIsRefused: deleting audit.db-wal (which
// holds the latest commits) under a running daemon is refused like deleting
// the journal itself.
func TestDeletedJournalLogWhileRunningIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	startDaemon(t, dir)
	must(t, []byte("v"), "--state-dir", dir, "vault", "put", "global/k")
	os.Remove(filepath.Join(dir, "audit.db-wal"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := palyra(t, []byte("w"), "--state-dir", dir, "vault", "put", "global/k2")
		if r.code != 0 {
			if r.code != 5 || !strings.Contains(string(r.stderr), "audit.db-wal was deleted") {
				t.Fatalf("exit %d stderr %q", r.code, r.stderr)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("still answering 10 s after its journal's log was deleted")
		}
		time.Sleep(50 * time.Millisecond) // the daemon checks every 250 ms
	}
}

// TestDeletedManifestIsRefused: deleting state.json does not switch the
// checks off: the start is refused until the operator records the state on
// purpose.
func TestDeletedManifestIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	startDaemon(t, dir).stop(t)
	os.Remove(filepath.Join(dir, "state.json"))
	code, out := runDaemonToExit(t, "--state-dir", dir, "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(out, "state.json missing") || !strings.Contains(out, "--record-state") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "state.json")); err == nil {
		t.Fatal("the refused start wrote state.json")
	}
	startDaemon(t, dir, "--record-state").stop(t)
	startDaemon(t, dir).stop(t)
}
