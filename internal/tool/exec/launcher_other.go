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

func limit([]rlimit) error { return errors.New("rlimits are applied only on Linux") }

func execve(string, []string, []string, *os.File) error {
	return errors.New("the exec tool runs only on Linux")
}
