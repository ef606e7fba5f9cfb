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

// A Limiter with its own window and bound (the pairing journal's one a
// minute) counts what it drops and reports it with the next event let
// through.
func TestLimiterWindowAndMax(t *testing.T) {
	l := Limiter{Window: time.Minute, Max: 2}
	t0 := time.Unix(100, 0)
	allowed := 0
	for i := range 5 {
		if _, ok := l.Allow(t0.Add(time.Duration(i) * time.Second)); ok {
			allowed++
		}
	}
	if allowed != 2 {
		t.Fatalf("allowed %d in a minute, want 2", allowed)
	}
	if _, ok := l.Allow(t0.Add(59 * time.Second)); ok {
		t.Fatal("allowed a third event inside the minute")
	}
	if n, ok := l.Allow(t0.Add(time.Minute)); !ok || n != 4 {
		t.Fatalf("next minute: ok=%v suppressed=%d, want true 4", ok, n)
	}
}
