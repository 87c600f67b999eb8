//go:build linux

package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/internal/testfuse"
)

// fuseMount mounts a loopback of a new directory holding the given files,
// served as o says, or skips (fails under CI) without root and /dev/fuse.
func fuseMount(t *testing.T, o testfuse.Options, files map[string][]byte) *testfuse.Mount {
	t.Helper()
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "a FUSE mount needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		testdir.SkipOutsideCI(t, "a FUSE mount needs /dev/fuse: %v", err)
	}
	root := t.TempDir()
	src, dir := filepath.Join(root, "src"), filepath.Join(root, "thinclient_drives")
	testfuse.Mkdir(t, src, 0, 0)
	testfuse.Mkdir(t, dir, 0, 0)
	for name, b := range files {
		writeFile(t, filepath.Join(src, name), b)
	}
	return testfuse.New(t, src, dir, o)
}

// TestFUSE: a file on a FUSE mount is hashed as read through the mount.
func TestFUSE(t *testing.T) {
	t.Parallel()
	b := random(t, 700<<10)
	m := fuseMount(t, testfuse.Options{}, map[string][]byte{"a.exe": b})
	c := newCollector(t, hashOnly())
	if r := get(t, c, Request{Path: filepath.Join(m.Dir, "a.exe")}); r.Outcome != Hashed || r.SHA256 != sum(b) {
		t.Fatalf("%+v, want %s", r, sum(b))
	}
}

// TestHungRead: a read the FUSE daemon never answers ends TimedOut at the
// deadline, is counted as hung until the kernel lets it go, and does not
// delay a detection on another file meanwhile. The same holds for an open
// that never returns.
func TestHungRead(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		o    testfuse.Options
	}{
		{"read", testfuse.Options{StallRead: true}},
		{"open", testfuse.Options{StallRoot: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := fuseMount(t, tt.o, map[string][]byte{"slow.exe": random(t, 4096)})
			cfg := hashOnly()
			cfg.Timeout = 3 * time.Second
			c := newCollector(t, cfg)
			normal := filepath.Join(t.TempDir(), "normal.exe")
			b := []byte("a program on a drive that answers")
			writeFile(t, normal, b)

			hung := submit(t, c, Request{Path: filepath.Join(m.Dir, "slow.exe")})
			waitFor(t, "the daemon to hold the request", func() bool { return m.Stalled() > 0 })
			// The second detection is settled while the first is still
			// held, well before its deadline.
			r := get(t, c, Request{Path: normal})
			if r.Outcome != Hashed || r.SHA256 != sum(b) {
				t.Fatalf("the detection behind a hung read: %+v", r)
			}
			select {
			case r := <-hung.ch:
				t.Fatalf("the hung request was settled before the normal one: %+v", r)
			default:
			}
			r = hung.wait(t)
			if r.Outcome != TimedOut || !strings.Contains(r.Err.Error(), "no answer within 3s (the read is abandoned") {
				t.Fatalf("%+v, want TimedOut", r)
			}
			if k := c.Counters(); k.Hung != 1 || k.TimedOut != 1 || k.Read != 1 || k.Released != 1 || k.Waiting != 0 {
				t.Errorf("counters %+v", k)
			}
			m.Release()
			waitFor(t, "the abandoned read to return", func() bool { return c.Counters().Hung == 0 })
		})
	}
}

// TestHungCap: past HungPerWorker*Concurrency stuck reads, requests fail
// at once with an error that says why, and work again once the kernel
// lets the stuck reads go.
func TestHungCap(t *testing.T) {
	t.Parallel()
	m := fuseMount(t, testfuse.Options{StallRead: true}, map[string][]byte{"slow.exe": random(t, 4096)})
	cfg := hashOnly()
	cfg.Concurrency = 1
	cfg.Timeout = time.Second
	c := newCollector(t, cfg)
	slow := filepath.Join(m.Dir, "slow.exe")
	for i := range HungPerWorker {
		// One at a time: a request queued behind a hung one would reach
		// its own deadline in the queue, unread.
		if r := get(t, c, Request{Path: slow}); r.Outcome != TimedOut {
			t.Fatalf("read %d: %+v", i, r)
		}
	}
	if k := c.Counters(); k.Hung != HungPerWorker {
		t.Fatalf("counters %+v, want %d hung", k, HungPerWorker)
	}
	normal := filepath.Join(t.TempDir(), "normal.exe")
	writeFile(t, normal, []byte("x"))
	r := get(t, c, Request{Path: normal})
	if r.Outcome != Failed || !strings.Contains(r.Err.Error(), "not read: 4 earlier reads are still stuck in the kernel (at most 4") {
		t.Fatalf("past the cap: %+v", r)
	}
	if k := c.Counters(); k.Failed != 1 || k.TimedOut != HungPerWorker || k.Released != HungPerWorker+1 {
		t.Errorf("counters %+v", k)
	}
	m.Release()
	waitFor(t, "the stuck reads to return", func() bool { return c.Counters().Hung == 0 })
	if r := get(t, c, Request{Path: normal}); r.Outcome != Hashed {
		t.Errorf("after the stuck reads returned: %+v", r)
	}
}
