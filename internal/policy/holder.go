package policy

import (
	"sync"
	"sync/atomic"

	"github.com/palyra/palyra/internal/authz"
)

// Holder holds the active Set of one policy directory. Decide reads it
// atomically per request; Reload replaces it only with a set that loaded
// and passed its tests. It is safe for concurrent use.
type Holder struct {
	dir    string
	active atomic.Pointer[Set]
	// reload serializes reloads, so two reloads never interleave their
	// reads of the directory with each other's swaps.
	reload sync.Mutex
}

// Open loads dir (see Load) and returns a Holder with it active.
func Open(dir string) (*Holder, error) {
	s, err := Load(dir)
	if err != nil {
		return nil, err
	}
	h := &Holder{dir: dir}
	h.active.Store(s)
	return h, nil
}

// Dir is the policy directory.
func (h *Holder) Dir() string { return h.dir }

// Active returns the active set.
func (h *Holder) Active() *Set { return h.active.Load() }

// Decide decides req with the active set (authz.Engine.Decide).
func (h *Holder) Decide(req authz.Request) authz.Decision {
	return h.active.Load().engine.Decide(req)
}

// Reload loads the directory again. On success the new set becomes active
// and is returned with the one it replaced; on error the active set is
// unchanged.
func (h *Holder) Reload() (next, prev *Set, err error) {
	h.reload.Lock()
	defer h.reload.Unlock()
	s, err := Load(h.dir)
	if err != nil {
		return nil, h.active.Load(), err
	}
	return s, h.active.Swap(s), nil
}
