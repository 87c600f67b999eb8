//go:build linux

package fanotify

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source/live/internal/users"
)

// Reader states.
const (
	stateMarking int32 = iota
	stateWatching
	stateFailed
)

// mount is one watched client-drive mount and its reader goroutine, which
// owns the mount's descriptors: the O_PATH descriptor on its root, its
// fanotify group and its stop eventfd. Everything that can enter the
// mount's filesystem happens on that goroutine, announced in busy so the
// watchdog and Close can tell.
type mount struct {
	w    *Watcher
	info Mount

	state  atomic.Int32
	err    atomic.Pointer[error]
	marked chan struct{} // closed when the mark is made or failed

	busy     atomic.Pointer[busyCall] // the call into the filesystem in progress, nil when none
	reported bool                     // watchdog (Run's goroutine): this stall was reported

	stopOnce sync.Once
	stopped  chan struct{}
	evMu     sync.Mutex // guards evfd against the reader closing it under halt
	evfd     int        // eventfd that wakes the reader's poll; -1 once closed

	pool sync.Pool
}

type busyCall struct {
	op    string
	since time.Time
}

func newMount(w *Watcher, info Mount) *mount {
	m := &mount{w: w, info: info, marked: make(chan struct{}), stopped: make(chan struct{}), evfd: -1}
	m.pool.New = func() any { return &batch{pool: &m.pool} }
	return m
}

// enter and leave bracket a call that may wait on the filesystem's daemon.
func (m *mount) enter(op string) { m.busy.Store(&busyCall{op: op, since: time.Now()}) }
func (m *mount) leave()          { m.busy.Store(nil) }

func (m *mount) busyOp() (string, time.Time) {
	if b := m.busy.Load(); b != nil {
		return b.op, b.since
	}
	return "", time.Time{}
}

func (m *mount) failed() bool { return m.state.Load() == stateFailed }

func (m *mount) describe(now time.Time) string {
	if op, since := m.busyOp(); op != "" && now.Sub(since) >= m.w.opts.StallAfter {
		return fmt.Sprintf("stalled %s in %s", now.Sub(since).Round(time.Second), op)
	}
	switch m.state.Load() {
	case stateMarking:
		return "marking"
	case stateFailed:
		if e := m.err.Load(); e != nil {
			return "failed: " + (*e).Error()
		}
		return "failed"
	}
	return "fd+pidfd"
}

// waitMarked waits up to d for the mark and returns its error.
func (m *mount) waitMarked(d time.Duration) error {
	select {
	case <-m.marked:
	case <-time.After(d):
		return fmt.Errorf("fanotify: mark %s: still waiting on its filesystem after %s", m.info.Point, d)
	}
	if e := m.err.Load(); e != nil {
		return *e
	}
	return nil
}

// halt asks the reader to stop. It never blocks.
func (m *mount) halt() {
	m.stopOnce.Do(func() {
		close(m.stopped)
		m.evMu.Lock()
		if m.evfd >= 0 {
			unix.Write(m.evfd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		}
		m.evMu.Unlock()
	})
}

func (m *mount) fail(err error) {
	m.err.Store(&err)
	m.state.Store(stateFailed)
}

// run is the reader goroutine.
func (m *mount) run() {
	defer m.w.readers.Done()
	ev, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		m.fail(fmt.Errorf("fanotify: %s: eventfd: %w", m.info.Point, err))
		close(m.marked)
		return
	}
	m.evMu.Lock()
	m.evfd = ev
	m.evMu.Unlock()
	defer func() {
		m.evMu.Lock()
		unix.Close(m.evfd)
		m.evfd = -1
		m.evMu.Unlock()
	}()
	g, err := m.mark()
	if err != nil {
		m.fail(err)
		close(m.marked)
		return
	}
	defer unix.Close(g.fd)
	m.state.Store(stateWatching)
	close(m.marked)
	m.read(g, ev)
}

// mark opens the mount's root, checks it is the mount mountinfo listed,
// creates the group and adds the mount mark: as root, or, on a FUSE mount
// that lets only its owner in (no allow_other, xrdp's default), from a
// helper process running as the owner.
func (m *mount) mark() (group, error) {
	point := m.info.Point
	// O_PATH enters nothing: no permission check on the root, no request
	// to the daemon. The mark and the mount id check go through it, so a
	// path swapped after mountinfo was read cannot redirect them.
	m.enter("open")
	root, err := unix.Open(point, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	m.leave()
	if err != nil {
		return group{}, fmt.Errorf("fanotify: open %s: %w", point, err)
	}
	defer unix.Close(root)
	var st unix.Statx_t
	// An empty request mask and AT_STATX_DONT_SYNC: FUSE asks its daemon
	// nothing and lets even a non-owner through; the kernel fills in the
	// mount id whatever the mask.
	if err := unix.Statx(root, "", unix.AT_EMPTY_PATH|unix.AT_STATX_DONT_SYNC, 0, &st); err != nil {
		return group{}, fmt.Errorf("fanotify: statx %s: %w", point, err)
	}
	if st.Mask&unix.STATX_MNT_ID != 0 && int(st.Mnt_id) != m.info.ID {
		return group{}, fmt.Errorf("fanotify: %s now leads to mount %d, not %d (remounted or covered)", point, st.Mnt_id, m.info.ID)
	}
	g, err := initGroup()
	if err != nil {
		return group{}, err
	}
	via := "/proc/self/fd/" + strconv.Itoa(root)
	m.enter("mark")
	err = unix.FanotifyMark(g.fd, unix.FAN_MARK_ADD|unix.FAN_MARK_MOUNT, unix.FAN_OPEN_EXEC, unix.AT_FDCWD, via)
	m.leave()
	if errors.Is(err, unix.EACCES) && m.info.UID > 0 {
		gid := m.info.GID
		if gid < 0 {
			gid = m.info.UID
		}
		m.enter("mark as owner")
		err = markAsOwner(g.fd, root, m.info.UID, gid)
		m.leave()
	}
	if err != nil {
		unix.Close(g.fd)
		return group{}, fmt.Errorf("fanotify: mark %s: %w", point, err)
	}
	return g, nil
}

// read reports the mount's execs until halted.
func (m *mount) read(g group, ev int) {
	w := m.w
	proc := w.dirs.reader()
	var uc users.Cache
	// Room for ~1300 events per read (24 bytes and an 8-byte pidfd
	// record each); each holds up to two descriptors until the batch is
	// handled, well inside the 20000+ descriptor limit Go sets up at start.
	buf := make([]byte, 64<<10)
	var recs []record
	var fds []int
	var pi procInfo
	pfd := []unix.PollFd{{Fd: int32(g.fd), Events: unix.POLLIN}, {Fd: int32(ev), Events: unix.POLLIN}}
	pause := time.NewTimer(time.Hour)
	defer pause.Stop()
	var ready time.Time
	for {
		_, err := unix.Poll(pfd, -1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			m.fail(fmt.Errorf("fanotify: poll %s: %w", m.info.Point, err))
			return
		}
		if pfd[1].Revents != 0 || m.halted() {
			return
		}
		if pfd[0].Revents&unix.POLLIN == 0 {
			continue
		}
		// Events that arrive within batchDelay of the last batch are a
		// stream: batch them. An isolated exec is handled at once, while
		// its process most likely still exists to tell its parent, user
		// and working directory.
		streaming := time.Since(ready) < batchDelay
		got := 0
		for {
			// The kernel opens each event's file inside read: a
			// FUSE_OPEN the daemon must answer.
			m.enter("read")
			n, err := unix.Read(g.fd, buf)
			m.leave()
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				break
			}
			if err != nil {
				m.fail(fmt.Errorf("fanotify: read %s: %w", m.info.Point, err))
				return
			}
			b := m.pool.Get().(*batch)
			var perr error
			recs, perr = parseRecords(buf[:n], recs[:0])
			for i := range recs {
				r := &recs[i]
				if r.Mask&maskOverflow != 0 {
					w.lost.Add(1)
					continue
				}
				if r.Mask&maskOpenExec == 0 || r.FD < 0 {
					continue
				}
				path, ok := proc.fdPath(int(r.FD))
				if !ok {
					// An exec happened and cannot be reported: as good
					// as lost, and counted so.
					w.lost.Add(1)
					continue
				}
				b.evs = append(b.evs, m.event(path, r, g.pidfds, proc, &pi, &uc))
			}
			// Closing costs a FUSE_FLUSH.
			m.enter("close")
			fds = closeAll(recs, fds)
			m.leave()
			got += len(recs)
			if perr != nil {
				w.lost.Add(1)
			}
			if len(b.evs) == 0 {
				b.release()
			} else {
				select {
				case w.batches <- b:
				case <-m.stopped:
					return
				}
			}
			// A short read emptied the queue; skip the EAGAIN read.
			if n < len(buf)/2 {
				break
			}
		}
		if streaming && got < fewEvents {
			pause.Reset(batchDelay)
			select {
			case <-m.stopped:
				return
			case <-pause.C:
			}
		}
		ready = time.Now()
	}
}

func (m *mount) halted() bool {
	select {
	case <-m.stopped:
		return true
	default:
		return false
	}
}

// event builds the exec's event from its path and what is still known
// about the process. The command line is left out: the event fires inside
// execve, before the new argv exists.
func (m *mount) event(path string, r *record, pidfds bool, proc *procReader, pi *procInfo, uc *users.Cache) detector.Event {
	proc.info(int(r.PID), int(r.PIDFD), pidfds, pi)
	ev := detector.Event{
		Time:             time.Now(),
		Type:             detector.TypeStart,
		PID:              int64(r.PID),
		Executable:       path,
		WorkingDirectory: pi.Cwd,
		HostOS:           detector.OSLinux,
		Source:           "fanotify",
		FSType:           m.info.FSType,
	}
	if pi.HasPPID {
		ev.ParentPID = pi.PPID
	}
	if pi.HasUID {
		ev.User = uc.Name(pi.UID)
	}
	return ev
}

// closeAll closes the records' descriptors, using fds as scratch space. The
// kernel hands out the lowest free numbers, so one read's descriptors are
// mostly runs of consecutive numbers (broken where the process had others
// open); each run goes in one close_range instead of a close per
// descriptor.
func closeAll(recs []record, fds []int) []int {
	fds = fds[:0]
	for i := range recs {
		if recs[i].FD >= 0 {
			fds = append(fds, int(recs[i].FD))
		}
		if recs[i].PIDFD >= 0 {
			fds = append(fds, int(recs[i].PIDFD))
		}
	}
	slices.Sort(fds)
	rest := fds
	for len(rest) > 0 {
		// All distinct (open at once), so a run of consecutive numbers
		// holds nothing but ours.
		n := 1
		for n < len(rest) && rest[n] == rest[0]+n {
			n++
		}
		if n == 1 || unix.CloseRange(uint(rest[0]), uint(rest[n-1]), 0) != nil {
			for _, fd := range rest[:n] {
				unix.Close(fd)
			}
		}
		rest = rest[n:]
	}
	return fds
}
