package guard

import (
	"testing"
	"time"
)

func TestLogLimiter(t *testing.T) {
	var l logLimiter
	t0 := time.Unix(100, 0)
	allowed := 0
	for range 3 * logLimitPerSecond {
		if _, ok := l.allow(t0); ok {
			allowed++
		}
	}
	if allowed != logLimitPerSecond {
		t.Fatalf("allowed %d in one second", allowed)
	}
	n, ok := l.allow(t0.Add(time.Second))
	if !ok || n != 2*logLimitPerSecond {
		t.Fatalf("next window: ok=%v suppressed=%d", ok, n)
	}
}
