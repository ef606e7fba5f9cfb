package daemon

import (
	"sync"
	"time"

	"github.com/palyra/palyra/internal/identity"
)

// Renewal limits: a device renews past two thirds of its certificate's
// lifetime, so a handful of renewals per window is generous; more is a
// device (or a stolen key) asking the CA to sign in a loop.
const (
	renewWindow   = 10 * time.Minute
	renewPerWin   = 3
	renewMaxTrack = 10000 // devices tracked before old windows are dropped
)

// renewLimiter allows renewPerWin renewals per device per renewWindow
// (fixed windows). It is safe for concurrent use.
type renewLimiter struct {
	mu   sync.Mutex
	seen map[identity.DeviceID]renewCount
}

type renewCount struct {
	start time.Time
	n     int
}

// allow reports whether device id may renew at now, counting the attempt.
func (l *renewLimiter) allow(id identity.DeviceID, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[identity.DeviceID]renewCount{}
	}
	c := l.seen[id]
	if now.Sub(c.start) >= renewWindow || now.Before(c.start) {
		c = renewCount{start: now}
	}
	if c.n >= renewPerWin {
		return false
	}
	c.n++
	if len(l.seen) >= renewMaxTrack {
		for k, v := range l.seen {
			if now.Sub(v.start) >= renewWindow {
				delete(l.seen, k)
			}
		}
	}
	l.seen[id] = c
	return true
}
