//go:build !linux

package harden

import (
	"golang.org/x/sys/unix"
)

const supported = false

// disableCoreDumps sets the core file size limit to zero where the
// platform has no dumpable flag.
func disableCoreDumps() error {
	return unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0})
}

// Dumpable is not known on this platform; it reports true.
func Dumpable() (bool, error) { return true, nil }
