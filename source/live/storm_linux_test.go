//go:build linux

package live

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The exec-storm budget run is opt-in: it takes ~15 s and measures the
// machine as much as the code.
//
//	go test -run TestExecStorm -v ./source/live/ -storm [-storm.rate 1000] [-storm.seconds 10]
var (
	stormFlag    = flag.Bool("storm", false, "run the exec-storm budget measurement")
	stormRate    = flag.Int("storm.rate", 1000, "processes started per second")
	stormSeconds = flag.Int("storm.seconds", 10, "storm duration")
)

// TestStormHelper is the load generator, run as a separate process so its
// fork/exec work is not counted as the watcher's CPU.
func TestStormHelper(t *testing.T) {
	tool := os.Getenv("TSW_STORM_TOOL")
	if tool == "" {
		t.Skip("helper process for TestExecStorm")
	}
	rate, _ := strconv.Atoi(os.Getenv("TSW_STORM_RATE"))
	secs, _ := strconv.Atoi(os.Getenv("TSW_STORM_SECONDS"))
	tokens := make(chan struct{}, rate)
	var started, failed atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range tokens {
				if err := exec.Command(tool).Run(); err != nil {
					failed.Add(1)
					continue
				}
				started.Add(1)
			}
		}()
	}
	// Release the tokens in 10 ms slices, catching up on the schedule
	// rather than drifting behind it.
	start := time.Now()
	total := rate * secs
	sent := 0
	for sent < total {
		due := int(time.Since(start).Seconds() * float64(rate))
		for ; sent < due && sent < total; sent++ {
			tokens <- struct{}{}
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(tokens)
	wg.Wait()
	fmt.Printf("STORM started=%d failed=%d elapsed=%s\n", started.Load(), failed.Load(), time.Since(start).Round(time.Millisecond))
}

// cpuTime returns this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func vmHWM() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "?"
}

func TestExecStorm(t *testing.T) {
	if !*stormFlag {
		t.Skip("budget measurement; run with -storm")
	}
	for _, mech := range stormMechs() {
		t.Run(mech, func(t *testing.T) {
			f := newFixture(t, nil)
			w, err := Open(context.Background(), Options{Mechanism: mech, MountNames: []string{"thinclient_drives"}})
			if err != nil {
				t.Fatal(err)
			}
			c := &collector{root: f.root, cond: make(chan struct{}, 1)}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx, c.sink()) }()

			helper := exec.Command(os.Args[0], "-test.run=^TestStormHelper$", "-test.v")
			helper.Env = append(os.Environ(), "TSW_STORM_TOOL="+f.tool,
				"TSW_STORM_RATE="+strconv.Itoa(*stormRate), "TSW_STORM_SECONDS="+strconv.Itoa(*stormSeconds))
			var out bytes.Buffer
			helper.Stdout = &out
			helper.Stderr = &out
			cpu0, wall0 := cpuTime(), time.Now()
			if err := helper.Run(); err != nil {
				t.Fatalf("storm helper: %v\n%s", err, out.String())
			}
			var started, failed int
			var elapsed string
			for _, l := range strings.Split(out.String(), "\n") {
				if strings.HasPrefix(l, "STORM ") {
					fmt.Sscanf(l, "STORM started=%d failed=%d elapsed=%s", &started, &failed, &elapsed)
				}
			}
			evs := c.wait(started)
			cpu, wall := cpuTime()-cpu0, time.Since(wall0)
			cancel()
			<-done
			st := w.Stats()
			w.Close()
			n, withPPID, withUser, withCwd := 0, 0, 0, 0
			for _, e := range evs {
				if e.Executable == f.tool {
					n++
					withPPID += btoi(e.ParentPID > 0)
					withUser += btoi(e.User != "")
					withCwd += btoi(e.WorkingDirectory != "")
				}
			}
			t.Logf("%s: storm %d started (%d failed) in %s; reported %d; lost %d; watcher CPU %s over %s = %.2f%% of one core; VmHWM %s",
				mech, started, failed, elapsed, n, st.Lost, cpu.Round(time.Millisecond), wall.Round(time.Millisecond),
				100*cpu.Seconds()/wall.Seconds(), vmHWM())
			// Parent, user and cwd are best-effort for fanotify (read
			// after the event, from a process that may be gone).
			t.Logf("%s: with parent pid %d, user %d, cwd %d of %d", mech, withPPID, withUser, withCwd, n)
			if n < started || n > started+failed || st.Lost != 0 {
				t.Errorf("reported %d of %d, lost %d", n, started, st.Lost)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// stormMechs is EBPF and Fanotify, or the one named by TSW_STORM_ONLY.
func stormMechs() []string {
	if m := os.Getenv("TSW_STORM_ONLY"); m != "" {
		return []string{m}
	}
	return []string{EBPF, Fanotify}
}
