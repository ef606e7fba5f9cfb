package guard

import (
	"sync"
	"time"
)

// logLimitPerSecond is how many lines a logLimiter lets through per second.
const logLimitPerSecond = 10

// logLimiter lets at most logLimitPerSecond events per one-second window
// through and counts the rest.
type logLimiter struct {
	mu         sync.Mutex
	window     time.Time
	n          int
	suppressed int
}

// allow reports whether an event at now may be logged and, if so, how many
// were suppressed since the last one that was.
func (l *logLimiter) allow(now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.window) >= time.Second {
		l.window, l.n = now, 0
	}
	if l.n >= logLimitPerSecond {
		l.suppressed++
		return 0, false
	}
	l.n++
	suppressed, l.suppressed = l.suppressed, 0
	return suppressed, true
}
