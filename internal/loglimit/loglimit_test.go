package loglimit

import (
	"testing"
	"time"
)

func TestLogLimiter(t *testing.T) {
	var l Limiter
	t0 := time.Unix(100, 0)
	allowed := 0
	for range 3 * PerSecond {
		if _, ok := l.Allow(t0); ok {
			allowed++
		}
	}
	if allowed != PerSecond {
		t.Fatalf("allowed %d in one second", allowed)
	}
	n, ok := l.Allow(t0.Add(time.Second))
	if !ok || n != 2*PerSecond {
		t.Fatalf("next window: ok=%v suppressed=%d", ok, n)
	}
}
