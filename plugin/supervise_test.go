package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// launchEvil starts testdata/evilplugin.
func launchEvil(t *testing.T, opts Options) *Client {
	t.Helper()
	opts.Path, opts.SHA256, opts.Config = evilPath, evilSum, detector.DefaultConfig()
	c, err := Launch(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// goodBatch is events() with pids that tell the copies apart.
func goodBatch(tag int) []detector.Event {
	evs := events()
	for i := range evs {
		evs[i].PID = int64(tag*1000 + i)
	}
	return evs
}

// TestPoisonedBatch sends, among a stream of ordinary batches from several
// goroutines, one batch that kills (or hangs) the plugin every time it is
// judged. That batch must end with a clear error after MaxBatchAttempts
// tries, every other batch must get its correct verdicts exactly once, and
// the client must stay usable: a poisoned batch is not a reason to give up.
func TestPoisonedBatch(t *testing.T) {
	for _, tc := range []struct {
		name, marker string
		opts         Options
	}{
		{"exit", "EVIL-EXIT", Options{}},
		{"goroutine panic", "EVIL-PANIC", Options{}},
		// The plugin answers batches in order, so a hung batch holds up
		// every batch behind it until the batch timeout kills the plugin.
		// The timeout leaves room for ordinary batches on a loaded machine:
		// one of them taking longer would be retried, and could be
		// abandoned, like the hung one.
		{"hang", "EVIL-HANG", Options{BatchTimeout: 4 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := launchEvil(t, tc.opts)
			m := detector.MustNew(detector.DefaultConfig())
			const workers, rounds = 3, 5
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				answered int
				errs     []error
			)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for r := range rounds {
						b := goodBatch(w*100 + r)
						// A slow event keeps batches in flight while the
						// poisoned one arrives.
						b[len(b)-1].Executable = `C:\EVIL-SLOW\x.exe`
						want, _ := m.Detect(context.Background(), b, nil)
						got, err := c.Detect(context.Background(), b, nil)
						if err != nil {
							mu.Lock()
							errs = append(errs, fmt.Errorf("worker %d round %d: %w", w, r, err))
							mu.Unlock()
							return
						}
						sameDetections(t, got, want)
						mu.Lock()
						answered++
						mu.Unlock()
					}
				}()
			}
			poison := goodBatch(999)
			poison[4].Executable = `\\tsclient\c\` + tc.marker + `.exe`
			time.Sleep(100 * time.Millisecond) // let the ordinary batches start
			got, err := c.Detect(context.Background(), poison, []detector.Detection{{RuleID: "before"}})
			wg.Wait()
			var pe *detector.PartialError
			if !errors.Is(err, ErrBatchAbandoned) || !errors.As(err, &pe) || !strings.Contains(err.Error(), "died or hung each of the 3 times") {
				t.Fatalf("poisoned batch: err = %v, want a PartialError wrapping ErrBatchAbandoned naming the attempts", err)
			}
			if tc.marker == "EVIL-HANG" {
				// Not split: each try would cost the batch timeout.
				if len(pe.Unjudged) != len(poison) || !strings.Contains(err.Error(), "events 0-") || len(got) != 1 {
					t.Fatalf("hung batch: err = %v, %d detections", err, len(got)-1)
				}
			} else {
				// Split until the poisoned event is alone: every other
				// event of the batch keeps its verdict.
				if !equalInts(pe.Unjudged, []int{4}) || !strings.Contains(err.Error(), "events 4-4") {
					t.Fatalf("poisoned batch: err = %v, want event 4 alone without a verdict", err)
				}
				rest := append(append([]detector.Event{}, poison[:4]...), poison[5:]...)
				want, _ := m.Detect(context.Background(), rest, []detector.Detection{{RuleID: "before"}})
				sameDetections(t, got, want)
			}
			if len(errs) > 0 {
				t.Fatal(errors.Join(errs...))
			}
			if answered != workers*rounds {
				t.Fatalf("%d ordinary batches answered, want %d", answered, workers*rounds)
			}
			c.mu.Lock()
			abandoned, resent, broken := c.abandoned, c.resent, c.broken
			c.mu.Unlock()
			if abandoned < 1 || broken != nil {
				t.Fatalf("abandoned %d batches (want at least 1), broken = %v", abandoned, broken)
			}
			if c.Restarts() < 3 {
				t.Fatalf("%d relaunches, want at least 3 (one per attempt at the poisoned batch)", c.Restarts())
			}
			// Still usable afterwards, and more poisoned batches in a row
			// (more deaths than MaxRestarts) are handled the same way
			// rather than breaking the client.
			if _, err := c.Detect(context.Background(), goodBatch(1), nil); err != nil {
				t.Fatalf("after the poisoned batch: %v", err)
			}
			again := 2
			if tc.marker == "EVIL-HANG" {
				again = 0 // each attempt costs a batch timeout
			}
			for i := range again {
				if _, err := c.Detect(context.Background(), poison, nil); !errors.Is(err, ErrBatchAbandoned) {
					t.Fatalf("poisoned batch again (%d): %v", i+1, err)
				}
			}
			want, _ := m.Detect(context.Background(), goodBatch(2), nil)
			got, err = c.Detect(context.Background(), goodBatch(2), nil)
			if err != nil {
				t.Fatalf("after three poisoned batches: %v", err)
			}
			sameDetections(t, got, want)
			t.Logf("%d relaunches, %d batch(es) sent again", c.Restarts(), resent)
		})
	}
}

// TestPanickingDetectorCostsOneEvent: a panic inside Detect itself is
// recovered in the plugin, so the batch is refused with a message saying so
// and nothing is relaunched; the host splits the batch and only the event
// at fault goes without a verdict.
func TestPanickingDetectorCostsOneEvent(t *testing.T) {
	c := launchEvil(t, Options{})
	b := goodBatch(1)
	b[2].Executable = `C:\EVIL-THROW.exe`
	var pe *detector.PartialError
	if _, err := c.Detect(context.Background(), b, nil); !errors.As(err, &pe) || !equalInts(pe.Unjudged, []int{2}) ||
		!strings.Contains(err.Error(), "refused the batch (events 2-2)") ||
		!strings.Contains(err.Error(), "detector panicked: evilplugin: detector bug") {
		t.Fatalf("err = %v", err)
	}
	if _, err := c.Detect(context.Background(), goodBatch(2), nil); err != nil {
		t.Fatal(err)
	}
	if c.Restarts() != 0 {
		t.Fatalf("%d relaunches", c.Restarts())
	}
}

// TestOversizedAnswer: a batch whose answer would exceed the message limit
// is refused by the plugin with an error saying so, rather than breaking
// the stream (which would look like a crash and be retried).
func TestOversizedAnswer(t *testing.T) {
	c := launchEvil(t, Options{})
	b := goodBatch(1)
	b[0].Executable = `\\tsclient\c\EVIL-HUGE.exe`
	_, err := c.Detect(context.Background(), b, nil)
	if err == nil || !strings.Contains(err.Error(), "over the 16777216-byte message limit") || !strings.Contains(err.Error(), "refused the batch") {
		t.Fatalf("err = %v", err)
	}
	if c.Restarts() != 0 {
		t.Fatalf("%d relaunches for an oversized answer", c.Restarts())
	}
	if _, err := c.Detect(context.Background(), goodBatch(2), nil); err != nil {
		t.Fatal(err)
	}
}
