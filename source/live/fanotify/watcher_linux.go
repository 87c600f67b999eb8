//go:build linux

package fanotify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/mountinfo"
	"github.com/tsclientwatch/tsclientwatch/source"
)

const mountinfoPath = "/proc/self/mountinfo"

// Defaults for Options.
const (
	DefaultRescanInterval = 10 * time.Second
	DefaultStallAfter     = 5 * time.Second
)

// Options configure a Watcher.
type Options struct {
	// MountNames are mount point base names that mark an xrdp client-drive
	// mount (detector.Config.XrdpMountNames). Only FUSE mounts are
	// watched: xrdp's are always FUSE, and the rule ignores the xrdp form
	// on any other filesystem.
	MountNames []string
	// FSTypes are filesystem types that always mark one; DefaultFSTypes
	// when nil. Types that are not FUSE are ignored.
	FSTypes []string
	// WaitForMounts lets Open succeed with no matching mount yet: marks
	// are added as mounts appear (an xrdp session logs in later).
	WaitForMounts bool
	// Mountinfo is the file to scan; /proc/self/mountinfo when empty.
	Mountinfo string
	// RescanInterval is how often mountinfo is read even when the kernel
	// signalled no change; DefaultRescanInterval when 0.
	RescanInterval time.Duration
	// StallAfter is how long one call into a mount's filesystem may take
	// before the mount is reported stalled; DefaultStallAfter when 0.
	StallAfter time.Duration
}

// Watcher marks the client-drive mounts and reports the programs started
// from them.
//
// Each mount has its own fanotify group, read by its own goroutine: the
// kernel opens every exec'd file inside read(2) (an open and a flush round
// trip to the FUSE daemon), so a daemon that never answers holds its own
// reader and nothing else. A watchdog reports a reader stuck in its
// filesystem for longer than StallAfter. Nothing that can enter a mount
// runs while the watcher's lock is held, and Mode, Mounts and the counters
// read atomics, so the status never waits for a daemon either.
type Watcher struct {
	opts Options
	dirs procDirs

	// mi is mountinfo opened with unix.Open, polled for POLLPRI by
	// pollMountinfo only: on Go's netpoller (os.Open) the runtime's epoll
	// would take the kernel's one change notification per open file.
	mi   int
	stop int // eventfd: Close wakes pollMountinfo

	mu      sync.Mutex // guards mounts and rescans; never held across a call into a mount
	mounts  map[int]*mount
	snap    atomic.Pointer[[]*mount] // the mounts, for Mode and Mounts
	readers sync.WaitGroup

	changed chan struct{} // mountinfo changed
	batches chan *batch   // from the readers to Run
	done    chan struct{} // closed by Close
	closed  atomic.Bool
	running atomic.Bool

	events atomic.Uint64
	lost   atomic.Uint64
}

// ErrPermission is wrapped by Open when fanotify needs privileges the
// process does not have.
var ErrPermission = errors.New("fanotify: permission denied (need root or CAP_SYS_ADMIN for mount marks)")

// Open marks every client-drive mount found and starts reading them. It
// waits (at most StallAfter) for the marks of the mounts present, so a
// caller that execs right after Open is seen.
func Open(opts Options) (*Watcher, error) {
	if opts.FSTypes == nil {
		opts.FSTypes = DefaultFSTypes
	}
	if opts.Mountinfo == "" {
		opts.Mountinfo = mountinfoPath
	}
	if opts.RescanInterval <= 0 {
		opts.RescanInterval = DefaultRescanInterval
	}
	if opts.StallAfter <= 0 {
		opts.StallAfter = DefaultStallAfter
	}
	// Fail early and clearly without the privilege, before any mount.
	g, err := initGroup()
	if err != nil {
		return nil, err
	}
	unix.Close(g.fd)
	mi, err := unix.Open(opts.Mountinfo, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("fanotify: %w", err)
	}
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(mi)
		return nil, fmt.Errorf("fanotify: eventfd: %w", err)
	}
	dirs, err := openProcDirs()
	if err != nil {
		unix.Close(mi)
		unix.Close(stop)
		return nil, err
	}
	w := &Watcher{opts: opts, dirs: dirs, mi: mi, stop: stop, mounts: make(map[int]*mount),
		changed: make(chan struct{}, 1), batches: make(chan *batch, 64), done: make(chan struct{})}
	w.snap.Store(&[]*mount{})
	go w.pollMountinfo()
	started, err := w.rescan()
	if err != nil {
		w.Close()
		return nil, err
	}
	if len(started) == 0 && !opts.WaitForMounts {
		w.Close()
		return nil, fmt.Errorf("fanotify: no xrdp client-drive mount found in %s (looked for FUSE mounts of types %s or named %s)",
			opts.Mountinfo, strings.Join(opts.FSTypes, ", "), strings.Join(opts.MountNames, ", "))
	}
	var errs []error
	for _, m := range started {
		if err := m.waitMarked(opts.StallAfter); err != nil {
			errs = append(errs, err)
		}
	}
	if len(started) > 0 && len(errs) == len(started) && !opts.WaitForMounts {
		w.Close()
		return nil, errors.Join(errs...)
	}
	return w, nil
}

// group is one fanotify group.
type group struct {
	fd     int
	pidfds bool // reports a pidfd with each event
}

// initGroup creates a descriptor-reporting fanotify group. It asks for a
// pidfd with each event (Linux 5.15+), which gives the parent and uid
// without reading /proc/PID/stat; a kernel that refuses the flag with
// EINVAL gets a group without.
func initGroup() (group, error) {
	const flags = unix.FAN_CLASS_NOTIF | unix.FAN_CLOEXEC | unix.FAN_NONBLOCK
	const fileFlags = unix.O_RDONLY | unix.O_LARGEFILE | unix.O_CLOEXEC
	g := group{fd: -1, pidfds: true}
	fd, err := unix.FanotifyInit(flags|unix.FAN_REPORT_PIDFD, fileFlags)
	if errors.Is(err, unix.EINVAL) {
		g.pidfds = false
		fd, err = unix.FanotifyInit(flags, fileFlags)
	}
	if errors.Is(err, unix.EPERM) {
		return g, ErrPermission
	}
	if err != nil {
		return g, fmt.Errorf("fanotify: fanotify_init: %w", err)
	}
	g.fd = fd
	return g, nil
}

// pollMountinfo waits for the kernel's mount-change notification on the
// raw mountinfo descriptor and tells Run. It owns mi and stop and closes
// them when Close wakes it.
func (w *Watcher) pollMountinfo() {
	defer unix.Close(w.stop)
	defer unix.Close(w.mi)
	fds := []unix.PollFd{{Fd: int32(w.mi), Events: unix.POLLPRI}, {Fd: int32(w.stop), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if fds[1].Revents != 0 || w.closed.Load() {
			return
		}
		if fds[0].Revents&(unix.POLLPRI|unix.POLLERR) != 0 {
			select {
			case w.changed <- struct{}{}:
			default:
			}
		}
	}
}

// readMountinfo reads the whole mount table through a raw descriptor of
// its own (the polled one is only polled).
func (w *Watcher) readMountinfo() ([]Mount, error) {
	fd, err := unix.Open(w.opts.Mountinfo, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("fanotify: %w", err)
	}
	f := os.NewFile(uintptr(fd), w.opts.Mountinfo) // a regular file: os keeps it off the netpoller
	defer f.Close()
	all, err := mountinfo.Parse(io.LimitReader(f, 64<<20), w.opts.Mountinfo)
	if err != nil {
		return nil, fmt.Errorf("fanotify: %w", err)
	}
	return all, nil
}

// rescan starts a reader for each client-drive mount not watched yet (and
// restarts one whose mark failed), and stops those whose mount is gone. It
// returns the readers it started. It makes no call into any mount: the
// readers open and mark their own.
func (w *Watcher) rescan() ([]*mount, error) {
	all, err := w.readMountinfo()
	if err != nil {
		return nil, err
	}
	sel := Select(all, w.opts.MountNames, w.opts.FSTypes)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed.Load() {
		return nil, nil
	}
	present := make(map[int]Mount, len(sel))
	for _, m := range sel {
		present[m.ID] = m
	}
	var started []*mount
	for id, m := range w.mounts {
		if p, ok := present[id]; !ok || p.Point != m.info.Point || m.failed() {
			m.halt()
			delete(w.mounts, id)
		}
	}
	for _, p := range sel {
		if _, ok := w.mounts[p.ID]; ok {
			continue
		}
		m := newMount(w, p)
		w.mounts[p.ID] = m
		w.readers.Add(1)
		go m.run()
		started = append(started, m)
	}
	snap := make([]*mount, 0, len(w.mounts))
	for _, m := range w.mounts {
		snap = append(snap, m)
	}
	w.snap.Store(&snap)
	return started, nil
}

// Mode describes each watched mount for the status table: "fd+pidfd" (an
// open descriptor and a pidfd per event), "marking", "failed: ...", or
// "stalled 12s in read" when its reader has been waiting on the
// filesystem for longer than StallAfter.
func (w *Watcher) Mode() map[string]string {
	ms := *w.snap.Load()
	out := make(map[string]string, len(ms))
	for _, m := range ms {
		out[m.info.Point] = m.describe(time.Now())
	}
	return out
}

// Mounts returns the mount points watched (marked) now.
func (w *Watcher) Mounts() []string {
	var out []string
	for _, m := range *w.snap.Load() {
		if m.state.Load() == stateWatching {
			out = append(out, m.info.Point)
		}
	}
	sort.Strings(out)
	return out
}

// batchDelay is how long a mount's reader lets events gather once they
// come as a stream. At a steady 1000 execs/s each wake-up would otherwise
// carry one or two events, and the wake-ups cost more than the events:
// every one is a thread switch, and the FUSE open and flush inside read
// and close block long enough for the Go runtime to hand the thread's P
// over. Detection latency grows by at most this much; the kernel queue
// (16384 events) absorbs far more.
const batchDelay = 20 * time.Millisecond

// fewEvents is the read size below which a streaming reader waits
// batchDelay: a busier queue is read back to back.
const fewEvents = 64

// Run hands the execs the readers report to sink until ctx ends or Close
// is called (nil), or sink fails (its error). It rescans mountinfo when the
// kernel flags a mount change and every RescanInterval, and reports a
// mount whose reader is stalled in its filesystem. It never waits for a
// mount's filesystem itself.
func (w *Watcher) Run(ctx context.Context, sink source.Sink) error {
	if w.running.Swap(true) {
		return errors.New("fanotify: Run called twice")
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	next := time.Now().Add(w.opts.RescanInterval)
	rescan := func() {
		if _, err := w.rescan(); err != nil {
			sink.Report(&source.RecordError{File: w.opts.Mountinfo, Offset: -1, Err: err})
		}
		next = time.Now().Add(w.opts.RescanInterval)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.done:
			return nil
		case <-w.changed:
			rescan()
		case now := <-tick.C:
			w.watchdog(now, sink)
			if !now.Before(next) {
				rescan()
			}
		case b := <-w.batches:
			err := w.emit(b, sink)
			b.release()
			if err != nil {
				return err
			}
		}
	}
}

func (w *Watcher) emit(b *batch, sink source.Sink) error {
	for i := range b.evs {
		w.events.Add(1)
		if err := sink.Emit(&b.evs[i]); err != nil {
			return err
		}
	}
	return nil
}

// watchdog reports each mount whose reader entered its filesystem more
// than StallAfter ago, once per stall, and when it recovers.
func (w *Watcher) watchdog(now time.Time, sink source.Sink) {
	for _, m := range *w.snap.Load() {
		op, since := m.busyOp()
		stalled := op != "" && now.Sub(since) >= w.opts.StallAfter
		if stalled && !m.reported {
			m.reported = true
			sink.Report(&source.RecordError{File: m.info.Point, Offset: -1, Err: fmt.Errorf(
				"fanotify: the filesystem daemon of %s has not answered %s for %s; execs on this mount wait, other mounts are not affected",
				m.info.Point, op, now.Sub(since).Round(time.Second))})
		}
		if !stalled {
			m.reported = false
		}
	}
}

// Events returns the number of execs reported so far.
func (w *Watcher) Events() uint64 { return w.events.Load() }

// Lost returns the number of queue overflows the kernel signalled (each
// stands for one or more dropped events) plus the execs whose path could
// not be resolved.
func (w *Watcher) Lost() uint64 { return w.lost.Load() }

// closeWait bounds how long Close waits for the readers to let go of their
// descriptors: a reader held by a daemon that never answers lets go only
// when the daemon answers or dies.
const closeWait = 2 * time.Second

// Close stops every reader and the mountinfo poller; Run returns at once.
// It does not wait for a reader held in its filesystem beyond closeWait,
// and says which mounts those are.
func (w *Watcher) Close() error {
	if w.closed.Swap(true) {
		return nil
	}
	close(w.done)
	w.mu.Lock()
	var ms []*mount
	for _, m := range w.mounts {
		ms = append(ms, m)
		m.halt()
	}
	w.mu.Unlock()
	unix.Write(w.stop, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	all := make(chan struct{})
	go func() {
		w.readers.Wait()
		// Shared by every reader: closed after the last one.
		w.dirs.close()
		close(all)
	}()
	select {
	case <-all:
		return nil
	case <-time.After(closeWait):
	}
	var stuck []string
	for _, m := range ms {
		if op, _ := m.busyOp(); op != "" {
			stuck = append(stuck, fmt.Sprintf("%s (in %s)", m.info.Point, op))
		}
	}
	slices.Sort(stuck)
	return fmt.Errorf("fanotify: closed, but the readers of %s are still held by their filesystem daemons; their descriptors are released when the daemons answer", strings.Join(stuck, ", "))
}

// batch is one read's worth of events from one mount, handed to Run.
type batch struct {
	evs  []detector.Event
	pool *sync.Pool
}

func (b *batch) release() {
	b.evs = b.evs[:0]
	b.pool.Put(b)
}
