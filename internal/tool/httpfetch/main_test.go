package httpfetch

import (
	"testing"

	"go.uber.org/goleak"
)

// Every Fetch closes its connections: no goroutine survives the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
