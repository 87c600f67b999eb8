package plugin

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGateExclusion: an exclusive holder never overlaps anyone, shared
// holders overlap each other, and everybody gets in.
func TestGateExclusion(t *testing.T) {
	var (
		g              gate
		shared, alone  atomic.Int32
		wg             sync.WaitGroup
		sawOverlap     atomic.Bool
		entered, total atomic.Int32
	)
	ctx := context.Background()
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			total.Add(1)
			if i%5 == 0 {
				if err := g.enterAlone(ctx); err != nil {
					t.Error(err)
					return
				}
				if alone.Add(1) != 1 || shared.Load() != 0 {
					t.Error("exclusive holder overlapped another holder")
				}
				time.Sleep(time.Millisecond)
				alone.Add(-1)
				g.leaveAlone()
			} else {
				if err := g.enterShared(ctx); err != nil {
					t.Error(err)
					return
				}
				if shared.Add(1) > 1 {
					sawOverlap.Store(true)
				}
				if alone.Load() != 0 {
					t.Error("shared holder overlapped an exclusive one")
				}
				time.Sleep(time.Millisecond)
				shared.Add(-1)
				g.leaveShared()
			}
			entered.Add(1)
		}()
	}
	wg.Wait()
	if entered.Load() != total.Load() {
		t.Fatalf("%d of %d got in", entered.Load(), total.Load())
	}
	t.Logf("shared holders overlapped: %v", sawOverlap.Load())
}

// TestGateContext: waits end with their context, and a writer that gives up
// lets the readers it was holding back in.
func TestGateContext(t *testing.T) {
	var g gate
	if err := g.enterShared(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.enterAlone(ctx) }()
	// Wait until the writer is queued, then check a new reader is held back.
	for {
		g.mu.Lock()
		n := g.waiting
		g.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	rdone := make(chan error, 1)
	go func() { rdone <- g.enterShared(rctx) }()
	select {
	case err := <-rdone:
		t.Fatalf("reader entered past a waiting writer: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled writer: %v", err)
	}
	if err := <-rdone; err != nil {
		t.Fatalf("reader after the writer gave up: %v", err)
	}
	g.leaveShared()
	g.leaveShared()
	rcancel()
	// Now free: a writer enters at once.
	if err := g.enterAlone(context.Background()); err != nil {
		t.Fatal(err)
	}
	g.leaveAlone()
}

// BenchmarkGateShared is the cost every batch pays to enter and leave.
func BenchmarkGateShared(b *testing.B) {
	var g gate
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := g.enterShared(ctx); err != nil {
			b.Fatal(err)
		}
		g.leaveShared()
	}
}
