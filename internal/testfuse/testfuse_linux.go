//go:build linux

// Package testfuse mounts small FUSE filesystems for the live watchers'
// tests: a loopback of a directory, owned by any uid (as a session user's
// xrdp mount is), optionally served by a daemon that never answers root's
// OPEN and STATFS requests, as a hostile local user's daemon would. It is
// test support: only tests import it.
//
// It uses github.com/hanwen/go-fuse/v2 (BSD-3-Clause, pinned in go.mod)
// for the protocol: the INIT negotiation, attribute caching and the
// lookup/forget bookkeeping a loopback needs are easy to get subtly wrong,
// and a second hand-written implementation in test code would be one more
// thing to keep right. The mount itself is made here with mount(2), so the
// owner (user_id=) can be any uid, which fusermount does not allow.
package testfuse

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Options describe one mount.
type Options struct {
	// Owner and Group are the mount's user_id= and group_id=: without
	// AllowOther only they may enter it (root included).
	Owner, Group uint32
	// AllowOther lets everyone in (allow_other).
	AllowOther bool
	// StallRoot makes the daemon hold every OPEN and STATFS request from
	// uid 0 until Release (or the end of the test): the watcher's own
	// requests, never the exec'ing user's.
	StallRoot bool
	// StallRead makes the daemon hold every READ, whoever asks, until
	// Release (or the end of the test): a client drive whose reads never
	// return.
	StallRead bool
	// Subtype names the filesystem in mountinfo: "fuse.<Subtype>";
	// "testfuse" when empty.
	Subtype string
}

// Mount is a mounted test filesystem.
type Mount struct {
	Dir     string
	conn    string // the FUSE connection number
	release chan struct{}
	once    sync.Once
	stalled atomic.Int64
}

// New mounts a loopback of src at dir (both must exist) and unmounts it
// when the test ends. It fails the test when the mount cannot be made.
func New(t testing.TB, src, dir string, o Options) *Mount {
	t.Helper()
	if o.Subtype == "" {
		o.Subtype = "testfuse"
	}
	root, err := fs.NewLoopbackRoot(src)
	if err != nil {
		t.Fatalf("testfuse: %v", err)
	}
	m := &Mount{Dir: dir, release: make(chan struct{})}
	one := time.Second
	raw := fs.NewNodeFS(root, &fs.Options{EntryTimeout: &one, AttrTimeout: &one})
	if o.StallRoot || o.StallRead {
		raw = &staller{RawFileSystem: raw, m: m, root: o.StallRoot, read: o.StallRead}
	}
	dev, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("testfuse: open /dev/fuse: %v", err)
	}
	data := fmt.Sprintf("fd=%d,rootmode=40000,user_id=%d,group_id=%d", dev, o.Owner, o.Group)
	if o.AllowOther {
		data += ",allow_other"
	}
	if err := unix.Mount("testfuse", dir, "fuse."+o.Subtype, unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
		unix.Close(dev)
		t.Fatalf("testfuse: mount %s: %v", dir, err)
	}
	mo := &fuse.MountOptions{Name: o.Subtype, MaxBackground: 64, DisableXAttrs: true}
	if o.StallRead {
		// As root, the loopback hands the kernel the backing file
		// (passthrough), and reads would never reach the daemon.
		mo.DisabledCapabilities = fuse.CAP_PASSTHROUGH
	}
	srv, err := fuse.NewServer(raw, "/dev/fd/"+strconv.Itoa(dev), mo)
	if err != nil {
		unix.Unmount(dir, unix.MNT_DETACH)
		unix.Close(dev)
		t.Fatalf("testfuse: serve %s: %v", dir, err)
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		t.Fatalf("testfuse: %s: %v", dir, err)
	}
	conn := connection(dir)
	m.conn = conn
	t.Cleanup(func() {
		m.Release()
		if err := unmount(dir); err != nil {
			t.Errorf("testfuse: %v", err)
		}
		done := make(chan struct{})
		go func() { srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			// Something still waits on the connection (a request
			// nobody answers): abort it, so nothing is left hanging.
			if err := abort(conn); err != nil {
				t.Errorf("testfuse: server for %s still running 10 s after unmount; abort: %v", dir, err)
			}
		}
	})
	return m
}

// Abort aborts the mount's FUSE connection, as a client that disconnects:
// every request waiting on it, held ones included, fails with ENOTCONN.
func (m *Mount) Abort() error { return abort(m.conn) }

// Release answers the held requests and stops holding new ones.
func (m *Mount) Release() { m.once.Do(func() { close(m.release) }) }

// Stalled returns how many requests have been held so far.
func (m *Mount) Stalled() int64 { return m.stalled.Load() }

// Unmount unmounts any mount at dir (bindfs's too), retrying for a few
// seconds while it is busy and detaching it as a last resort. A mount is
// busy for a moment whenever a watcher opens its root or an event's file,
// and every watcher on the host watches every client-drive mount, also
// those of another test run.
func Unmount(dir string) error { return unmount(dir) }

// unmount retries while the mount is busy (a request just released may
// still hold it) and detaches it as a last resort.
func unmount(dir string) error {
	var err error
	for i := 0; i < 100; i++ {
		if err = unix.Unmount(dir, 0); err == nil || errors.Is(err, unix.EINVAL) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if derr := unix.Unmount(dir, unix.MNT_DETACH); derr == nil {
		return nil
	}
	return fmt.Errorf("unmount %s: %w", dir, err)
}

// connection returns the FUSE connection number of the mount at dir (the
// minor device number mountinfo shows), "" when not found.
func connection(dir string) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == dir {
			if _, minor, ok := strings.Cut(f[2], ":"); ok {
				return minor
			}
		}
	}
	return ""
}

// abort aborts FUSE connection conn through a private fusectl mount: every
// request waiting on it fails, and the daemon's reads end.
func abort(conn string) error {
	if conn == "" {
		return errors.New("connection number unknown")
	}
	ctl, err := os.MkdirTemp("", "testfusectl")
	if err != nil {
		return err
	}
	defer os.Remove(ctl)
	if err := unix.Mount("fusectl", ctl, "fusectl", 0, ""); err != nil {
		return fmt.Errorf("mount fusectl: %w", err)
	}
	defer unix.Unmount(ctl, unix.MNT_DETACH)
	return os.WriteFile(filepath.Join(ctl, conn, "abort"), []byte("1"), 0o200)
}

// staller holds root's OPEN and STATFS (root), or every READ (read).
type staller struct {
	fuse.RawFileSystem
	m          *Mount
	root, read bool
}

func (s *staller) hold(h *fuse.InHeader) {
	if h.Uid != 0 {
		return
	}
	s.wait()
}

func (s *staller) wait() {
	s.m.stalled.Add(1)
	<-s.m.release
}

func (s *staller) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if s.root {
		s.hold(&in.InHeader)
	}
	return s.RawFileSystem.Open(cancel, in, out)
}

func (s *staller) StatFs(cancel <-chan struct{}, in *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	if s.root {
		s.hold(in)
	}
	return s.RawFileSystem.StatFs(cancel, in, out)
}

func (s *staller) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	if s.read {
		s.wait()
	}
	return s.RawFileSystem.Read(cancel, in, buf)
}

// Mkdir makes a directory usable as a mount point or source below a
// t.TempDir-style root, world-traversable so a non-root owner can reach it.
func Mkdir(t testing.TB, dir string, uid, gid int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
}
