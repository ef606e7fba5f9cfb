//go:build linux

package harden

import (
	"fmt"

	"golang.org/x/sys/unix"
)

const supported = true

func disableCoreDumps() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("harden: prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("harden: setrlimit(RLIMIT_CORE, 0): %w", err)
	}
	return nil
}

// Dumpable reports the calling process's PR_GET_DUMPABLE flag.
func Dumpable() (bool, error) {
	v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	return v != 0, err
}
