package exec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
)

// LauncherArg is the first argument that turns a binary linking this
// package (palyrad, and the test binaries) into the sandbox launcher:
//
//	palyrad __palyra-sandbox-exec   (the spec, JSON, on file descriptor 4)
//
// Go's os/exec cannot set a child's rlimits or Landlock domain, so Run
// re-executes the daemon's own binary this way. The launcher's first
// stage (supervise) is a child subreaper that runs the second stage and
// kills every descendant left when the program ends; the second stage
// (launch) applies the Landlock ruleset (which also sets no_new_privs),
// the rlimits, the capability drop and the seccomp filter to itself,
// reports on file descriptor 3 what it applied, and execve's the program,
// which inherits all of it. The launcher grants nothing: it only takes
// privileges away before running what its caller could run anyway.
const LauncherArg = "__palyra-sandbox-exec"

// specFD is the file descriptor the launcher reads its spec from (a
// pipe: an argv string would be bounded by the kernel's MAX_ARG_STRLEN);
// statusFD is the one it reports on.
const (
	statusFD = 3
	specFD   = 4
	// maxSpec bounds the spec read from specFD.
	maxSpec = 64 << 20
)

func init() {
	if len(os.Args) == 2 {
		switch os.Args[1] {
		case LauncherArg:
			os.Exit(supervise(readSpec()))
		case supervisorStep:
			os.Exit(launch(readSpec()))
		}
	}
}

// readSpec reads the spec from specFD and closes it; nil when it cannot.
func readSpec() []byte {
	f := os.NewFile(specFD, "spec")
	if f == nil {
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSpec))
	if err != nil {
		return nil
	}
	return b
}

// encodeSpec is the spec as JSON, without HTML escaping (which would turn
// each "<" of an argument into six bytes).
func encodeSpec(sp launchSpec) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(sp); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// launchSpec is what the launcher applies and runs.
type launchSpec struct {
	Path    string   `json:"path"`
	Argv    []string `json:"argv"`
	RW      []string `json:"rw"`
	RO      []string `json:"ro"`
	Require bool     `json:"require"`
	Connect []uint16 `json:"connect"`
	Limits  []rlimit `json:"limits"`
}

type rlimit struct {
	Name     string `json:"name"`
	Resource int    `json:"resource"`
	Value    int64  `json:"value"`
}

// launchStatus is one line the launcher writes on fd 3.
type launchStatus struct {
	Sandbox string `json:"sandbox,omitempty"`
	Err     string `json:"err,omitempty"`
	// Errno is set when a setrlimit or the execve failed after the limits
	// were applied (no formatted message can be made then).
	Errno int `json:"errno,omitempty"`
	// Step is "setrlimit NAME" or "execve", with Errno.
	Step string `json:"step,omitempty"`
	// Exit is the program's end, reported last by the supervisor.
	Exit *launchExit `json:"exit,omitempty"`
}

// launchExit is how the program ended, and its CPU time (with its
// children's that it waited for).
type launchExit struct {
	Code     int   `json:"code"`
	Signal   int   `json:"signal,omitempty"`
	UserUS   int64 `json:"user_us"`
	SystemUS int64 `json:"system_us"`
}

// launch is the launcher's main: it returns an exit status only when the
// program could not be executed (126: refused or setup failed, 127: exec
// failed).
func launch(specJSON []byte) int {
	// Capabilities, securebits and seccomp filters are per thread: the
	// thread that sets them is the one that execve's.
	runtime.LockOSThread()
	status := os.NewFile(statusFD, "status")
	report := func(s launchStatus) {
		if status != nil {
			b, _ := json.Marshal(s)
			status.Write(append(b, '\n'))
		}
	}
	var sp launchSpec
	if err := json.Unmarshal(specJSON, &sp); err != nil || len(sp.Argv) == 0 {
		report(launchStatus{Err: "launcher: malformed spec"})
		return 126
	}
	desc, err := sandbox(sp)
	if err != nil {
		report(launchStatus{Err: err.Error()})
		return 126
	}
	report(launchStatus{Sandbox: desc + " " + hardening()})
	// From here nothing may allocate: with RLIMIT_AS in force the Go
	// runtime could fail to grow its heap. limitExec prepares everything
	// first, then makes only raw system calls, and on failure writes a
	// prepared line and exits.
	err = limitExec(sp.Limits, sp.Path, sp.Argv, os.Environ(), status)
	report(launchStatus{Err: fmt.Sprintf("launcher: %v", err)})
	return 126
}
