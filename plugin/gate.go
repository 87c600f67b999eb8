package plugin

import (
	"context"
	"sync"
)

// gate is a readers-writer lock whose waits end with a context. Ordinary
// batches enter shared; a batch re-sent after a plugin death enters alone.
// A waiting writer holds new readers back, so a re-sent batch is not
// starved by a steady stream of new ones.
type gate struct {
	mu       sync.Mutex
	readers  int
	writer   bool
	waiting  int           // writers waiting to enter
	changed  chan struct{} // closed and replaced when a waiter may proceed
	initOnce sync.Once
}

func (g *gate) init() { g.initOnce.Do(func() { g.changed = make(chan struct{}) }) }

// broadcast wakes every waiter; g.mu is held.
func (g *gate) broadcast() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// wait releases g.mu until the state changes or ctx ends, then takes it
// again.
func (g *gate) wait(ctx context.Context) error {
	ch := g.changed
	g.mu.Unlock()
	var err error
	select {
	case <-ch:
	case <-ctx.Done():
		err = ctx.Err()
	}
	g.mu.Lock()
	return err
}

// enterShared waits until no writer holds or awaits the gate.
func (g *gate) enterShared(ctx context.Context) error {
	g.init()
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.writer || g.waiting > 0 {
		if err := g.wait(ctx); err != nil {
			return err
		}
	}
	g.readers++
	return nil
}

func (g *gate) leaveShared() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.readers--
	if g.readers == 0 && g.waiting > 0 {
		g.broadcast()
	}
}

// enterAlone waits until nobody else holds the gate.
func (g *gate) enterAlone(ctx context.Context) error {
	g.init()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waiting++
	for g.writer || g.readers > 0 {
		if err := g.wait(ctx); err != nil {
			g.waiting--
			g.broadcast() // readers held back by this writer may go
			return err
		}
	}
	g.waiting--
	g.writer = true
	return nil
}

func (g *gate) leaveAlone() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.writer = false
	g.broadcast()
}
