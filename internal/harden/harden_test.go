package harden

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// The checks run in a child process (this test binary again), since
// PR_SET_DUMPABLE cannot be undone for the test process itself.
func TestMain(m *testing.M) {
	if os.Getenv("PALYRA_HARDEN_CHILD") == "1" {
		st, err := Process()
		if err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(1)
		}
		d, _ := Dumpable()
		limits, _ := os.ReadFile("/proc/self/limits")
		var core string
		for _, l := range strings.Split(string(limits), "\n") {
			if strings.HasPrefix(l, "Max core file size") {
				core = strings.Join(strings.Fields(l)[4:6], " ")
			}
		}
		os.Stdout.WriteString(strings.Join([]string{boolStr(st.NonDumpable), boolStr(st.Allowed), boolStr(d), core}, ","))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func child(t *testing.T, env ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, "PALYRA_HARDEN_CHILD=1")...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v %s", err, out)
	}
	return string(out)
}

func TestProcessDisablesCoreDumps(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the dumpable flag and /proc/self/limits are Linux's")
	}
	if got, want := child(t, EnvAllowCoreDumps+"="), "true,false,false,0 0"; got != want {
		t.Fatalf("hardened child: %q, want %q (non-dumpable, allowed, dumpable, core soft hard)", got, want)
	}
}

func TestSwitchKeepsCoreDumps(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the dumpable flag is Linux's")
	}
	got := child(t, EnvAllowCoreDumps+"=1")
	if !strings.HasPrefix(got, "false,true,true,") {
		t.Fatalf("child with %s=1: %q, want dumpable", EnvAllowCoreDumps, got)
	}
}
