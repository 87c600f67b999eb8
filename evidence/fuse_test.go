//go:build linux

package evidence

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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
	// Traversable by the mount's owner, who may not be root.
	root, err := os.MkdirTemp("", "evidfuse")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	os.Chmod(root, 0o755)
	uid := int(o.Owner)
	src, dir := filepath.Join(root, "src"), filepath.Join(root, "home", "bob", "thinclient_drives")
	testfuse.Mkdir(t, src, uid, uid)
	testfuse.Mkdir(t, dir, uid, uid)
	for name, b := range files {
		p := filepath.Join(src, name)
		testfuse.Mkdir(t, filepath.Dir(p), uid, uid)
		if b == nil {
			if err := unix.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chown(p, uid, uid)
	}
	return testfuse.New(t, src, dir, o)
}

// nobody owns the client-drive mounts of the owner-only tests.
const nobody = 65534

// TestOwnerOnlyMount: a FUSE mount without allow_other (xrdp's) refuses
// root; the program is read by a helper running as the mount's owner,
// through its path or its /proc/<pid>/exe, and a FIFO there is still
// never read.
func TestOwnerOnlyMount(t *testing.T) {
	t.Parallel()
	prog, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	m := fuseMount(t, testfuse.Options{Owner: nobody, Group: nobody, Subtype: "xrdp-chansrv"},
		map[string][]byte{"C:/tool": prog, "C:/fifo": nil})
	tool := filepath.Join(m.Dir, "C:", "tool")
	if _, err := os.Stat(tool); !errors.Is(err, os.ErrPermission) {
		t.Fatalf("root may enter the owner-only mount (%v): the test shows nothing", err)
	}
	// Started by a shell, not straight from this process: between fork and
	// exec the child holds this process's thread (vfork), and an exec
	// whose path this very process's FUSE server must answer can then
	// deadlock the test. (The real daemon, xrdp-chansrv, is another
	// process.)
	cmd := exec.Command("/bin/sh", "-c", `exec "$0" 600`, tool)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for _, tt := range []struct {
		name string
		req  Request
		from string
	}{
		{"path", Request{Path: tool}, tool + " (read as uid 65534)"},
		{"pid", Request{PID: int64(cmd.Process.Pid), Path: tool}, "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/exe -> " + tool + " (read as uid 65534)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := hashOnly()
			cfg.MaxFileBytes = 64 << 20
			cfg.Dir = filepath.Join(t.TempDir(), "evidence")
			c := newCollector(t, cfg)
			r := get(t, c, tt.req)
			if r.Outcome != Hashed || r.SHA256 != sum(prog) || r.Changed {
				t.Fatalf("%+v, want %s", r, sum(prog))
			}
			if s := readSidecar(t, r.EvidencePath); s.ReadFrom != tt.from {
				t.Errorf("read_from %q, want %q", s.ReadFrom, tt.from)
			}
		})
	}
	c := newCollector(t, hashOnly())
	r := get(t, c, Request{Path: filepath.Join(m.Dir, "C:", "fifo")})
	if r.Outcome != NotRegular || !strings.Contains(r.Err.Error(), "is a FIFO, not a regular file: not read (as uid 65534 sees it)") {
		t.Errorf("FIFO: %+v", r)
	}
	r = get(t, c, Request{Path: filepath.Join(m.Dir, "C:", "missing")})
	if r.Outcome != Failed || !strings.Contains(r.Err.Error(), "no such file or directory") {
		t.Errorf("missing: %+v", r)
	}
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
		{"read as the owner", testfuse.Options{StallRead: true, Owner: nobody, Group: nobody}},
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
			if tt.o.Owner == 0 {
				m.Release()
			} // else the owner's reader is killed when its request is settled: nothing stays stuck
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

// TestDisconnect: a client that disconnects mid-read (the FUSE connection
// aborted while the read is held) ends the request Failed at once, naming
// the error, and nothing stays hung.
func TestDisconnect(t *testing.T) {
	t.Parallel()
	m := fuseMount(t, testfuse.Options{StallRead: true}, map[string][]byte{"a.exe": random(t, 4096)})
	cfg := hashOnly()
	cfg.Timeout = 10 * time.Minute // only the disconnect ends it
	c := newCollector(t, cfg)
	p := filepath.Join(m.Dir, "a.exe")
	q := submit(t, c, Request{Path: p})
	waitFor(t, "the daemon to hold the read", func() bool { return m.Stalled() > 0 })
	if err := m.Abort(); err != nil {
		t.Fatal(err)
	}
	r := q.wait(t)
	if r.Outcome != Failed || !strings.Contains(r.Err.Error(), "read "+p+": ") || !strings.Contains(r.Err.Error(), "not connected") {
		t.Fatalf("%+v, want Failed: not connected", r)
	}
	if k := c.Counters(); k.Hung != 0 || k.Failed != 1 || k.Waiting != 0 {
		t.Errorf("counters %+v", k)
	}
}
