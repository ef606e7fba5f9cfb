// Package loglimit keeps log lines about what outsiders do (refused calls,
// refused handshakes, denials) from growing without bound: a flood must not
// fill the disk through the logs either.
package loglimit

import (
	"sync"
	"time"
)

// PerSecond is how many lines a Limiter lets through per second.
const PerSecond = 10

// Limiter lets at most Max events per fixed Window through and counts the
// rest. The zero value (PerSecond per second) is ready; it is safe for
// concurrent use.
type Limiter struct {
	// Window is the length of a window; 0 means one second.
	Window time.Duration
	// Max is how many events a window lets through; 0 means PerSecond.
	Max int

	mu         sync.Mutex
	window     time.Time
	n          int
	suppressed int
}

// Allow reports whether an event at now may be logged and, if so, how many
// were suppressed since the last one that was.
func (l *Limiter) Allow(now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	window, max := l.Window, l.Max
	if window == 0 {
		window = time.Second
	}
	if max == 0 {
		max = PerSecond
	}
	if now.Sub(l.window) >= window || now.Before(l.window) {
		l.window, l.n = now, 0
	}
	if l.n >= max {
		l.suppressed++
		return 0, false
	}
	l.n++
	suppressed, l.suppressed = l.suppressed, 0
	return suppressed, true
}
