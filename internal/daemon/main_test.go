package daemon

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine running: every
// listener, renewal loop and connection watcher must stop with the daemon.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
