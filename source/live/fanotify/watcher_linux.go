//go:build linux

package fanotify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/live/internal/users"
)

const mountinfoPath = "/proc/self/mountinfo"

// Options configure a Watcher.
type Options struct {
	// MountNames are mount point base names that mark an xrdp client-drive
	// mount whatever its type (detector.Config.XrdpMountNames).
	MountNames []string
	// FSTypes are filesystem types that always mark one; DefaultFSTypes
	// when nil.
	FSTypes []string
	// WaitForMounts lets Open succeed with no matching mount yet: marks
	// are added as mounts appear (an xrdp session logs in later).
	WaitForMounts bool
	// Mountinfo is the file to scan; /proc/self/mountinfo when empty.
	Mountinfo string
}

// Watcher holds the fanotify groups and the marks on client-drive mounts.
//
// Events come from one of two groups, chosen per mount. The handle group
// (FAN_REPORT_DFID_NAME) reports the directory's file handle and the name,
// so the kernel opens nothing; directory paths are resolved once and
// cached. Filesystems that cannot report handles, FUSE among them (its
// zero fsid is refused for mount marks with ENODEV), are marked in the
// descriptor group, where every event carries a descriptor the kernel
// opened on the file: on FUSE that is an open and a flush round trip to
// the filesystem daemon per event.
type Watcher struct {
	fd    group // descriptor group, always there
	fid   group // handle group, fd -1 until a mount takes it
	fidOK bool  // false once the kernel refused to create the handle group
	mi    *os.File
	opts  Options
	mmu   sync.Mutex // guards marked and the handle group's creation: Mounts reads from other goroutines
	// marked maps mount ids to their marks.
	marked map[int]markedMount
	users  users.Cache

	// Used by Run's goroutine only, reused across events.
	proc *procReader
	dirs dirCache
	recs []record
	pi   procInfo
	fds  []int // descriptors of one read, closed together

	events atomic.Uint64
	lost   atomic.Uint64
	closed atomic.Bool
	// mu is held by Run for as long as it uses the descriptors, so Close
	// never closes one under a poll or read (the number could be reused).
	mu sync.Mutex
}

// group is one fanotify group.
type group struct {
	fd     int
	pidfds bool // reports a pidfd with each event
}

// markedMount is a mount with a mark in one of the groups.
type markedMount struct {
	point  string
	handle bool    // marked in the handle group
	fsid   [8]byte // handle group: the filesystem id its events carry
}

// ErrPermission is wrapped by Open when fanotify needs privileges the
// process does not have.
var ErrPermission = errors.New("fanotify: permission denied (need root or CAP_SYS_ADMIN for mount marks)")

// Open creates the fanotify group and marks every client-drive mount found.
func Open(opts Options) (*Watcher, error) {
	if opts.FSTypes == nil {
		opts.FSTypes = DefaultFSTypes
	}
	if opts.Mountinfo == "" {
		opts.Mountinfo = mountinfoPath
	}
	g, err := initGroup(0)
	if err != nil {
		return nil, err
	}
	mi, err := os.Open(opts.Mountinfo)
	if err != nil {
		unix.Close(g.fd)
		return nil, fmt.Errorf("fanotify: %w", err)
	}
	proc, err := openProcReader()
	if err != nil {
		mi.Close()
		unix.Close(g.fd)
		return nil, err
	}
	w := &Watcher{fd: g, fid: group{fd: -1}, fidOK: true, mi: mi, opts: opts,
		marked: make(map[int]markedMount), proc: proc}
	n, err := w.rescan()
	if err != nil {
		w.Close()
		return nil, err
	}
	if n == 0 && !opts.WaitForMounts {
		w.Close()
		return nil, fmt.Errorf("fanotify: no xrdp client-drive mount found in %s (looked for types %s and mount names %s)",
			opts.Mountinfo, strings.Join(opts.FSTypes, ", "), strings.Join(opts.MountNames, ", "))
	}
	return w, nil
}

// initGroup creates a fanotify group reporting report (0 or
// FAN_REPORT_DFID_NAME). It asks for a pidfd with each event (Linux
// 5.15+), which gives the parent and uid without reading /proc/PID/stat;
// a kernel that refuses the flag with EINVAL gets a group without.
func initGroup(report uint) (group, error) {
	const flags = unix.FAN_CLASS_NOTIF | unix.FAN_CLOEXEC | unix.FAN_NONBLOCK
	const fileFlags = unix.O_RDONLY | unix.O_LARGEFILE | unix.O_CLOEXEC
	g := group{fd: -1, pidfds: true}
	fd, err := unix.FanotifyInit(flags|report|unix.FAN_REPORT_PIDFD, fileFlags)
	if errors.Is(err, unix.EINVAL) {
		g.pidfds = false
		fd, err = unix.FanotifyInit(flags|report, fileFlags)
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

// Mode describes how events are read, for the status table: per mount
// point, "handle" (directory handle and name) or "fd" (an open descriptor
// per event), each with "+pidfd" when the group reports pidfds.
func (w *Watcher) Mode() map[string]string {
	w.mmu.Lock()
	defer w.mmu.Unlock()
	out := make(map[string]string, len(w.marked))
	for _, m := range w.marked {
		mode, g := "fd", w.fd
		if m.handle {
			mode, g = "handle", w.fid
		}
		if g.pidfds {
			mode += "+pidfd"
		}
		out[m.point] = mode
	}
	return out
}

// Mounts returns the mount points currently marked.
func (w *Watcher) Mounts() []string {
	w.mmu.Lock()
	defer w.mmu.Unlock()
	var out []string
	for _, m := range w.marked {
		out = append(out, m.point)
	}
	return out
}

// rescan marks the client-drive mounts not marked yet and forgets those
// gone (the kernel drops a mark when its mount goes away). It returns how
// many are marked.
func (w *Watcher) rescan() (int, error) {
	w.mmu.Lock()
	defer w.mmu.Unlock()
	if _, err := w.mi.Seek(0, 0); err != nil {
		return len(w.marked), fmt.Errorf("fanotify: %s: %w", w.opts.Mountinfo, err)
	}
	all, err := ParseMountinfo(w.mi, w.opts.Mountinfo)
	if err != nil {
		return len(w.marked), fmt.Errorf("fanotify: %w", err)
	}
	present := make(map[int]bool)
	var errs []error
	for _, m := range Select(all, w.opts.MountNames, w.opts.FSTypes) {
		present[m.ID] = true
		if _, ok := w.marked[m.ID]; ok {
			continue
		}
		mm, err := w.mark(m.Point)
		if err != nil {
			errs = append(errs, fmt.Errorf("fanotify: mark %s: %w", m.Point, err))
			continue
		}
		w.marked[m.ID] = mm
	}
	for id := range w.marked {
		if !present[id] {
			delete(w.marked, id)
		}
	}
	// A directory's cached path may have been reached through a mount
	// that changed.
	w.dirs.reset()
	if len(w.marked) == 0 && len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	return len(w.marked), nil
}

// mark marks point in the handle group when its filesystem can report
// handles unambiguously, else in the descriptor group.
func (w *Watcher) mark(point string) (markedMount, error) {
	mm := markedMount{point: point}
	fsid, fsidErr := statFSID(point)
	if fsidErr == nil && fsid == ([8]byte{}) {
		// FUSE reports no fsid, and the kernel refuses such
		// filesystems in handle groups for mount marks (ENODEV): no
		// need to ask, nor to create the group for it.
		fsidErr = errZeroFSID
	}
	shared := fsidErr == nil && w.fsidMarked(fsid)
	var fidErr error
	if fsidErr == nil && !shared && w.handleGroup() {
		if fidErr = markAs(w.fid.fd, point); fidErr == nil {
			mm.handle, mm.fsid = true, fsid
			return mm, nil
		}
	}
	if !useFD(w.fidOK, fsidErr, shared, fidErr) {
		return mm, fidErr
	}
	return mm, markAs(w.fd.fd, point)
}

// errZeroFSID stands for a filesystem without an fsid.
var errZeroFSID = errors.New("filesystem reports a zero fsid")

// handleGroup creates the handle group on first use and reports whether
// there is one. A kernel before 5.9 refuses it, and is not asked again.
func (w *Watcher) handleGroup() bool {
	if w.fidOK && w.fid.fd < 0 {
		g, err := initGroup(unix.FAN_REPORT_DFID_NAME)
		if err != nil {
			w.fidOK = false
		} else {
			w.fid = g
		}
	}
	return w.fidOK
}

// useFD decides, from how the handle group fared for a mount, whether to
// mark it in the descriptor group instead. fidErr is the handle group's
// mark error (nil when it was not tried). The descriptor group is used
// when there is no handle group (kernel before 5.9); when the filesystem
// id cannot be read, is zero (errZeroFSID) or is shared with a mount
// already in the handle group (its events would not say which mount they
// came through); and when the filesystem cannot report handles: ENODEV
// for a zero fsid (FUSE), EOPNOTSUPP without export operations, EXDEV for
// a subvolume whose fsid differs from its root's, EINVAL for a kernel
// without FAN_OPEN_EXEC in handle groups. Other errors (EACCES, ENOENT)
// would fail the same way in the descriptor group and are returned as
// they are.
func useFD(fidOK bool, fsidErr error, fsidShared bool, fidErr error) bool {
	if !fidOK || fsidErr != nil || fsidShared {
		return true
	}
	for _, e := range []error{unix.ENODEV, unix.EOPNOTSUPP, unix.EXDEV, unix.EINVAL} {
		if errors.Is(fidErr, e) {
			return true
		}
	}
	return false
}

func (w *Watcher) fsidMarked(fsid [8]byte) bool {
	for _, m := range w.marked {
		if m.handle && m.fsid == fsid {
			return true
		}
	}
	return false
}

// statFSID returns the filesystem id statfs reports for path, which is
// what handle events carry.
func statFSID(path string) ([8]byte, error) {
	var st unix.Statfs_t
	var id [8]byte
	if err := unix.Statfs(path, &st); err != nil {
		return id, err
	}
	*(*[2]int32)(unsafe.Pointer(&id)) = st.Fsid.Val
	return id, nil
}

// markAs adds a mount mark for FAN_OPEN_EXEC. A FUSE mount without
// allow_other refuses everyone but its owner, root included; then the mark
// is retried from a thread that has taken the owner's ids.
func markAs(fd int, point string) error {
	const flags = unix.FAN_MARK_ADD | unix.FAN_MARK_MOUNT
	err := unix.FanotifyMark(fd, flags, unix.FAN_OPEN_EXEC, unix.AT_FDCWD, point)
	if !errors.Is(err, unix.EACCES) {
		return err
	}
	var st unix.Stat_t
	// lstat does not enter the mount, so it reads the mount point
	// directory below it, which xrdp creates in the owner's home.
	if lerr := unix.Lstat(point, &st); lerr != nil {
		return err
	}
	if st.Uid == 0 {
		return err
	}
	return asOwner(int(st.Uid), int(st.Gid), func() error {
		return unix.FanotifyMark(fd, flags, unix.FAN_OPEN_EXEC, unix.AT_FDCWD, point)
	})
}

// asOwner runs fn on a fresh OS thread whose real, effective and saved ids
// are uid and gid while it keeps CAP_SYS_ADMIN (which mount marks need).
// The raw syscalls change only the calling thread (Go's syscall.Setresuid
// would change every thread). The thread is never handed back to the Go
// scheduler: the goroutine exits locked, so the runtime ends the thread.
func asOwner(uid, gid int, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Deliberately no UnlockOSThread: this thread's credentials are
		// changed for good.
		done <- func() error {
			if _, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0); e != 0 {
				return fmt.Errorf("prctl(PR_SET_KEEPCAPS): %w", e)
			}
			if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
				return fmt.Errorf("setresgid(%d): %w", gid, e)
			}
			if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
				return fmt.Errorf("setresuid(%d): %w", uid, e)
			}
			// The uid change cleared the effective set; KEEPCAPS kept the
			// permitted one. Raise CAP_SYS_ADMIN again.
			hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
			var data [2]unix.CapUserData
			if _, _, e := unix.RawSyscall(unix.SYS_CAPGET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
				return fmt.Errorf("capget: %w", e)
			}
			data[0].Effective = data[0].Permitted
			data[1].Effective = data[1].Permitted
			if _, _, e := unix.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
				return fmt.Errorf("capset: %w", e)
			}
			if err := fn(); err != nil {
				return fmt.Errorf("as uid %d: %w", uid, err)
			}
			return nil
		}()
	}()
	return <-done
}

// batchDelay is how long Run lets events gather once they come as a
// stream. At a steady 1000 execs/s each wake-up would otherwise carry one
// or two events, and the wake-ups cost more than the events: every one is
// a thread switch, and the FUSE open and flush inside read and close block
// long enough for the Go runtime to hand the thread's P over and keep its
// monitor thread polling every 20 µs. Detection latency grows by at most
// this much; the kernel queue (16384 events) absorbs far more.
const batchDelay = 20 * time.Millisecond

// fewEvents is the read size below which a streaming Run waits batchDelay:
// a busier queue is read back to back.
const fewEvents = 64

// Run reads events until ctx ends or Close is called, handing each exec to
// sink. It re-scans mountinfo whenever the kernel flags a mount change.
func (w *Watcher) Run(ctx context.Context, sink source.Sink) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Room for ~1300 descriptor-group events per read (24 bytes and an
	// 8-byte pidfd record each); each holds up to two descriptors until
	// the batch is handled, well inside the 20000+ descriptor limit Go
	// sets up at start.
	buf := make([]byte, 64<<10)
	fds := make([]unix.PollFd, 0, 3)
	var ev detector.Event
	pause := time.NewTimer(time.Hour)
	defer pause.Stop()
	var ready time.Time // when Run last went back to poll
	for ctx.Err() == nil && !w.closed.Load() {
		// Rebuilt each time: a rescan may have created the handle group.
		fds = append(fds[:0], unix.PollFd{Fd: int32(w.mi.Fd()), Events: unix.POLLPRI},
			unix.PollFd{Fd: int32(w.fd.fd), Events: unix.POLLIN})
		if fid := w.fidFD(); fid >= 0 {
			fds = append(fds, unix.PollFd{Fd: int32(fid), Events: unix.POLLIN})
		}
		// A short timeout bounds how late ctx is noticed.
		n, err := unix.Poll(fds, 200)
		// Events that arrive within batchDelay of the last batch are a
		// stream: batch them. An isolated exec is handled at once, while
		// its process most likely still exists to tell its parent, user
		// and working directory (a batched one may have exited by then).
		streaming := time.Since(ready) < batchDelay
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("fanotify: poll: %w", err)
		}
		if n == 0 {
			continue
		}
		if fds[0].Revents&(unix.POLLPRI|unix.POLLERR) != 0 {
			if _, err := w.rescan(); err != nil {
				sink.Report(&source.RecordError{File: w.opts.Mountinfo, Offset: -1, Err: err})
			}
		}
		got := 0
		for _, pf := range fds[1:] {
			if pf.Revents&unix.POLLIN == 0 {
				continue
			}
			g := w.fd
			if int(pf.Fd) != w.fd.fd {
				g = w.fid
			}
			k, err := w.drain(g, buf, sink, &ev)
			got += k
			if err != nil {
				return err
			}
		}
		if streaming && got < fewEvents {
			pause.Reset(batchDelay)
			select {
			case <-ctx.Done():
			case <-pause.C:
			}
		}
		ready = time.Now()
	}
	return nil
}

func (w *Watcher) fidFD() int {
	w.mmu.Lock()
	defer w.mmu.Unlock()
	return w.fid.fd
}

// drain reads g until its queue is empty and returns how many records it
// handled.
func (w *Watcher) drain(g group, buf []byte, sink source.Sink, ev *detector.Event) (int, error) {
	got := 0
	for {
		n, err := unix.Read(g.fd, buf)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			return got, nil
		}
		if err != nil {
			return got, fmt.Errorf("fanotify: read: %w", err)
		}
		k, err := w.handle(g, buf[:n], sink, ev)
		got += k
		if err != nil {
			return got, err
		}
		// A short read emptied the queue; skip the EAGAIN read.
		if n < len(buf)/2 {
			return got, nil
		}
	}
}

// handle reports the execs in one read's worth of records and closes every
// descriptor they carry, also when sink fails or a record is malformed. It
// returns how many records it saw.
func (w *Watcher) handle(g group, b []byte, sink source.Sink, ev *detector.Event) (int, error) {
	recs, perr := parseRecords(b, w.recs[:0])
	w.recs = recs
	var err error
	for i := range recs {
		r := &recs[i]
		if r.Mask&maskOverflow != 0 {
			w.lost.Add(1)
			continue
		}
		if err != nil || r.Mask&maskOpenExec == 0 {
			continue
		}
		var path string
		var ok bool
		if r.FD >= 0 {
			path, ok = w.proc.fdPath(int(r.FD))
		} else if r.Handle != nil {
			path, ok = w.handlePath(r)
		}
		if !ok {
			// An exec happened and cannot be reported: as good as
			// lost, and counted so.
			w.lost.Add(1)
			continue
		}
		w.fill(ev, path, r, g.pidfds)
		w.events.Add(1)
		err = sink.Emit(ev)
	}
	w.closeAll(recs)
	if perr != nil {
		return len(recs), perr
	}
	return len(recs), err
}

// handlePath joins the event's directory, resolved through the cache, and
// its name.
func (w *Watcher) handlePath(r *record) (string, bool) {
	now := time.Now()
	dir, ok := w.dirs.get(r.FSID, r.Handle, now)
	if !ok {
		point, found := w.pointOf(r.FSID)
		if !found {
			return "", false
		}
		if dir, ok = w.proc.handleDir(point, r.Handle); !ok {
			return "", false
		}
		w.dirs.put(r.FSID, r.Handle, dir, now)
	}
	if len(r.Name) == 0 {
		return "", false
	}
	if dir == "/" {
		dir = ""
	}
	return dir + "/" + string(r.Name), true
}

// pointOf returns the mount point marked in the handle group for fsid.
func (w *Watcher) pointOf(fsid [8]byte) (string, bool) {
	w.mmu.Lock()
	defer w.mmu.Unlock()
	for _, m := range w.marked {
		if m.handle && m.fsid == fsid {
			return m.point, true
		}
	}
	return "", false
}

// closeAll closes the records' descriptors. The kernel hands out the
// lowest free numbers, so one read's descriptors are mostly runs of
// consecutive numbers (broken where the process had others open); each run
// goes in one close_range instead of a close per descriptor.
func (w *Watcher) closeAll(recs []record) {
	fds := w.fds[:0]
	for i := range recs {
		if recs[i].FD >= 0 {
			fds = append(fds, int(recs[i].FD))
		}
		if recs[i].PIDFD >= 0 {
			fds = append(fds, int(recs[i].PIDFD))
		}
	}
	w.fds = fds
	slices.Sort(fds)
	for len(fds) > 0 {
		// All distinct (open at once), so a run of consecutive numbers
		// holds nothing but ours.
		n := 1
		for n < len(fds) && fds[n] == fds[0]+n {
			n++
		}
		if n == 1 || unix.CloseRange(uint(fds[0]), uint(fds[n-1]), 0) != nil {
			for _, fd := range fds[:n] {
				unix.Close(fd)
			}
		}
		fds = fds[n:]
	}
}

// fill builds the event from the path and what is still known about the
// process. The command line is left out: the event fires inside execve,
// before the new argv exists.
func (w *Watcher) fill(ev *detector.Event, path string, r *record, pidfds bool) {
	w.proc.info(int(r.PID), int(r.PIDFD), pidfds, &w.pi)
	*ev = detector.Event{
		Time:             time.Now(),
		Type:             detector.TypeStart,
		PID:              int64(r.PID),
		Executable:       path,
		WorkingDirectory: w.pi.Cwd,
		HostOS:           detector.OSLinux,
		Source:           "fanotify",
	}
	if w.pi.HasPPID {
		ev.ParentPID = w.pi.PPID
	}
	if w.pi.HasUID {
		ev.User = w.users.Name(w.pi.UID)
	}
}

// Events returns the number of execs reported so far.
func (w *Watcher) Events() uint64 { return w.events.Load() }

// Lost returns the number of queue overflows the kernel signalled (each
// stands for one or more dropped events) plus the execs whose path could
// not be resolved.
func (w *Watcher) Lost() uint64 { return w.lost.Load() }

// Close releases the fanotify group; Run returns within its poll timeout.
func (w *Watcher) Close() error {
	if w.closed.Swap(true) {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.mi.Close()
	w.proc.close()
	w.mmu.Lock()
	if w.fid.fd >= 0 {
		unix.Close(w.fid.fd)
	}
	w.mmu.Unlock()
	return unix.Close(w.fd.fd)
}
