// Package lifecycle starts a daemon's components in order and stops them in
// reverse, and runs its background loops in one place, so that nothing is
// started without a way to stop it and nothing is stopped while something
// started after it still runs. The model is tailscale's ipn/ipnext: the
// composition root registers components; the group owns their lifetimes.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Component is one part of the daemon with a start and a stop. Start is
// called once, in registration order; Stop is called once, in reverse
// order, for every component whose Start returned nil. Either may be nil.
type Component struct {
	Name  string
	Start func(ctx context.Context) error
	Stop  func() error
}

// Group is an ordered set of components and background loops. The zero
// value is ready to use; a Group is not reusable after Stop.
type Group struct {
	mu      sync.Mutex
	comps   []Component
	started int
	loops   sync.WaitGroup
	cancel  context.CancelFunc
	loopCtx context.Context
	stopped bool
}

// Add registers c to be started after every component added before it.
func (g *Group) Add(c Component) { g.comps = append(g.comps, c) }

// Start starts every component in order. If one fails, those already
// started are stopped in reverse order and the error names the component.
func (g *Group) Start(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.started < len(g.comps) {
		c := g.comps[g.started]
		if c.Start != nil {
			if err := c.Start(ctx); err != nil {
				g.stopLocked()
				return fmt.Errorf("start %s: %w", c.Name, err)
			}
		}
		g.started++
	}
	return nil
}

// Go runs loop in its own goroutine until Stop, which cancels its context
// and waits for it to return before stopping any component. Loops may be
// registered only between Start and Stop.
func (g *Group) Go(name string, loop func(ctx context.Context)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return
	}
	if g.loopCtx == nil {
		g.loopCtx, g.cancel = context.WithCancel(context.Background())
	}
	g.loops.Add(1)
	go func() {
		defer g.loops.Done()
		loop(g.loopCtx)
	}()
}

// Stop cancels and waits for every loop, then stops the started components
// in reverse order. It returns every Stop error joined; a second call does
// nothing.
func (g *Group) Stop() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stopLocked()
}

func (g *Group) stopLocked() error {
	if g.stopped {
		return nil
	}
	g.stopped = true
	if g.cancel != nil {
		g.cancel()
	}
	g.loops.Wait()
	var errs []error
	for i := g.started - 1; i >= 0; i-- {
		if c := g.comps[i]; c.Stop != nil {
			if err := c.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop %s: %w", c.Name, err))
			}
		}
	}
	g.started = 0
	return errors.Join(errs...)
}
