//go:build !linux

package exec

import (
	"errors"
	"os"
)

func sandbox(sp launchSpec) (string, error) {
	if sp.Require {
		return "", errors.New("sandbox: landlock exists only on Linux")
	}
	return "none: landlock exists only on Linux", nil
}

func limitExec([]rlimit, string, []string, []string, *os.File) error {
	return errors.New("the exec tool runs only on Linux")
}

// LandlockABI is the kernel's Landlock ABI version: none outside Linux.
func LandlockABI() (int, error) { return 0, errors.New("landlock exists only on Linux") }

func hardening() string { return "" }

const supervisorStep = "__palyra-sandbox-stage2"

func supervise(specJSON []byte) int { return launch(specJSON) }
