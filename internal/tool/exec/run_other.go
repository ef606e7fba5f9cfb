//go:build !linux

package exec

import (
	"context"
	"errors"

	"github.com/palyra/palyra/internal/tool"
)

// ErrSandboxUnavailable is returned by Run when Config.RequireSandbox is
// set and the sandbox could not be applied.
var ErrSandboxUnavailable = errors.New("exec: the sandbox is required but unavailable")

// Run implements tool.Tool: the exec tool runs programs only on Linux.
func (t *Tool) Run(context.Context, *tool.Plan, map[string][]byte) (*tool.Result, error) {
	return nil, errors.New("exec: the exec tool runs programs only on Linux (rlimits through a launcher, Landlock)")
}
