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

// Limiter lets at most PerSecond events per one-second window through and
// counts the rest. The zero value is ready; it is safe for concurrent use.
type Limiter struct {
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
	if now.Sub(l.window) >= time.Second {
		l.window, l.n = now, 0
	}
	if l.n >= PerSecond {
		l.suppressed++
		return 0, false
	}
	l.n++
	suppressed, l.suppressed = l.suppressed, 0
	return suppressed, true
}
