package policy

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/palyra/palyra/internal/authz"
)

// Holder holds the active Set of one policy directory. Decide reads it
// atomically per request; Reload replaces it only with a set that loaded
// and passed its tests. It is safe for concurrent use.
//
// A missing directory is the baseline alone only while it is optional and
// has never been seen: Open with required (an explicitly configured
// policy_dir) refuses a missing directory, and once a directory has been
// loaded, its disappearance is an error on reload (the active set keeps
// answering), never a silent fall back to the baseline.
type Holder struct {
	dir      string
	required bool
	active   atomic.Pointer[Set]
	// reload serializes loads (Reload and Test), so two never interleave
	// their reads of the directory, and one at a time holds a parsed
	// directory in memory. It guards the fields below.
	reload sync.Mutex
	// existed is whether the directory existed at some load.
	existed bool
	// tested is the report of the last directory content loaded.
	tested *Report
}

// Report is the outcome of testing one content of the policy directory.
type Report struct {
	// Digest identifies the content (Set.Digest).
	Digest string
	// Results are every case's result, in file and case order.
	Results []Result
	// Err is why the content does not load, nil if it does (failed cases
	// are in Results, not here).
	Err error
}

// Open loads dir (see Load) and returns a Holder with it active. A
// missing dir is the baseline alone, unless required.
func Open(dir string, required bool) (*Holder, error) {
	h := &Holder{dir: dir, required: required}
	h.reload.Lock()
	defer h.reload.Unlock()
	s, err := h.load()
	if err != nil {
		return nil, err
	}
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
	s, err := h.load()
	if err != nil {
		return nil, h.active.Load(), err
	}
	return s, h.active.Swap(s), nil
}

// Test loads the directory and runs its cases without changing the active
// set. It waits for any other load to finish, and a directory whose
// content has not changed since the last load (same digest) is answered
// from that load's report without parsing it again. The error is for a
// directory that cannot be read; a content that does not load has
// Report.Err.
func (h *Holder) Test() (*Report, error) {
	h.reload.Lock()
	defer h.reload.Unlock()
	files, err := h.read()
	if err != nil {
		return nil, err
	}
	d := digestOf(files)
	if h.tested != nil && h.tested.Digest == d {
		return h.tested, nil
	}
	_, results, err := build(h.dir, files, d)
	h.tested = &Report{Digest: d, Results: results, Err: err}
	return h.tested, nil
}

// load reads, builds and tests the directory; h.reload must be held.
func (h *Holder) load() (*Set, error) {
	files, err := h.read()
	if err != nil {
		return nil, err
	}
	d := digestOf(files)
	s, results, err := build(h.dir, files, d)
	h.tested = &Report{Digest: d, Results: results, Err: err}
	if err == nil {
		err = failure(h.dir, results)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// read reads the directory (readStable), applying the missing-directory
// rule: no files if it is optional and was never seen, an error otherwise.
// h.reload must be held.
func (h *Holder) read() ([]file, error) {
	files, err := readStable(h.dir)
	switch {
	case err == nil:
		h.existed = true
		return files, nil
	case !errors.Is(err, ErrNoDirectory):
		return nil, err
	case h.required:
		return nil, noDirError(fmt.Sprintf("policy directory %s (policy_dir) does not exist: create it (mkdir -m 700 %s) or correct policy_dir in the configuration", h.dir, h.dir))
	case h.existed:
		return nil, noDirError(fmt.Sprintf("policy directory %s is gone (it was loaded before): restore it, or create it empty to run on the baseline alone", h.dir))
	}
	return nil, nil
}

// noDirError is a missing policy directory that is an error; it matches
// ErrNoDirectory.
type noDirError string

func (e noDirError) Error() string        { return string(e) }
func (e noDirError) Is(target error) bool { return target == ErrNoDirectory }
