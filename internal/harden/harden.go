// Package harden applies process-level protections that keep secrets out of
// places the operating system would otherwise write them.
//
// Both palyrad and palyra hold secret material in memory (the master key,
// vault values, device private keys). A core dump would write all of it to
// disk, readable by whoever can read the dump. On Linux, Process marks the
// process non-dumpable (prctl PR_SET_DUMPABLE 0: no core file, and other
// processes of the same user may not ptrace it or read its memory through
// /proc) and sets the core file size limit to zero, which children inherit.
//
// The switch PALYRA_ALLOW_CORE_DUMPS=1 leaves both alone, for debugging a
// crash on a machine whose dumps hold nothing of value.
package harden

import "os"

// EnvAllowCoreDumps names the environment variable that, set to "1", keeps
// core dumps enabled.
const EnvAllowCoreDumps = "PALYRA_ALLOW_CORE_DUMPS"

// Status says what Process did.
type Status struct {
	// NonDumpable is true when the process was marked non-dumpable and its
	// core file limit set to zero.
	NonDumpable bool
	// Allowed is true when EnvAllowCoreDumps asked to keep core dumps.
	Allowed bool
}

// Process applies the protections unless EnvAllowCoreDumps is "1". An
// error means a protection could not be applied; callers should refuse to
// run with secrets rather than continue silently.
func Process() (Status, error) {
	if os.Getenv(EnvAllowCoreDumps) == "1" {
		return Status{Allowed: true}, nil
	}
	if err := disableCoreDumps(); err != nil {
		return Status{}, err
	}
	return Status{NonDumpable: supported}, nil
}
