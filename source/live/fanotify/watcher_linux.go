//go:build linux

package fanotify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
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

// Watcher holds the fanotify group and the marks on client-drive mounts.
type Watcher struct {
	fd     int
	mi     *os.File // mountinfo, polled for POLLPRI when mounts change
	opts   Options
	mmu    sync.Mutex     // guards marked: Mounts reads it from other goroutines
	marked map[int]string // mount id -> mount point
	users  map[uint32]string

	linkBuf []byte // readlink target, reused (Run's goroutine only)
	statBuf []byte // /proc/PID/stat, reused

	events atomic.Uint64
	lost   atomic.Uint64
	closed atomic.Bool
	// mu is held by Run for as long as it uses the descriptors, so Close
	// never closes one under a poll or read (the number could be reused).
	mu sync.Mutex
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
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_NOTIF|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK, unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, ErrPermission
		}
		return nil, fmt.Errorf("fanotify: fanotify_init: %w", err)
	}
	mi, err := os.Open(opts.Mountinfo)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fanotify: %w", err)
	}
	w := &Watcher{fd: fd, mi: mi, opts: opts, marked: make(map[int]string), users: make(map[uint32]string),
		linkBuf: make([]byte, unix.PathMax), statBuf: make([]byte, 1024)}
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

// Mounts returns the mount points currently marked.
func (w *Watcher) Mounts() []string {
	w.mmu.Lock()
	defer w.mmu.Unlock()
	var out []string
	for _, p := range w.marked {
		out = append(out, p)
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
		if err := w.mark(m.Point); err != nil {
			errs = append(errs, fmt.Errorf("fanotify: mark %s: %w", m.Point, err))
			continue
		}
		w.marked[m.ID] = m.Point
	}
	for id := range w.marked {
		if !present[id] {
			delete(w.marked, id)
		}
	}
	if len(w.marked) == 0 && len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	return len(w.marked), nil
}

// mark adds a mount mark for FAN_OPEN_EXEC. A FUSE mount without
// allow_other refuses everyone but its owner, root included; then the mark
// is retried from a thread that has taken the owner's ids.
func (w *Watcher) mark(point string) error {
	const flags = unix.FAN_MARK_ADD | unix.FAN_MARK_MOUNT
	err := unix.FanotifyMark(w.fd, flags, unix.FAN_OPEN_EXEC, unix.AT_FDCWD, point)
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
		return unix.FanotifyMark(w.fd, flags, unix.FAN_OPEN_EXEC, unix.AT_FDCWD, point)
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

// Run reads events until ctx ends or Close is called, handing each exec to
// sink. It re-scans mountinfo whenever the kernel flags a mount change.
func (w *Watcher) Run(ctx context.Context, sink source.Sink) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	buf := make([]byte, 64<<10)
	fds := []unix.PollFd{
		{Fd: int32(w.fd), Events: unix.POLLIN},
		{Fd: int32(w.mi.Fd()), Events: unix.POLLPRI},
	}
	var ev detector.Event
	for ctx.Err() == nil && !w.closed.Load() {
		// A short timeout bounds how late ctx is noticed.
		n, err := unix.Poll(fds, 200)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("fanotify: poll: %w", err)
		}
		if n == 0 {
			continue
		}
		if fds[1].Revents&(unix.POLLPRI|unix.POLLERR) != 0 {
			if _, err := w.rescan(); err != nil {
				sink.Report(&source.RecordError{File: w.opts.Mountinfo, Offset: -1, Err: err})
			}
		}
		if fds[0].Revents&unix.POLLIN == 0 {
			continue
		}
		for {
			n, err := unix.Read(w.fd, buf)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				break
			}
			if err != nil {
				return fmt.Errorf("fanotify: read: %w", err)
			}
			if err := w.decode(buf[:n], sink, &ev); err != nil {
				return err
			}
			// A short read emptied the queue; skip the EAGAIN read.
			if n < len(buf)/2 {
				break
			}
		}
	}
	return nil
}

const metaSize = int(unsafe.Sizeof(unix.FanotifyEventMetadata{}))

// decode walks the event records in b. Every event's fd is closed here.
func (w *Watcher) decode(b []byte, sink source.Sink, ev *detector.Event) error {
	for len(b) >= metaSize {
		m := (*unix.FanotifyEventMetadata)(unsafe.Pointer(&b[0]))
		if m.Event_len < uint32(metaSize) || int(m.Event_len) > len(b) {
			return fmt.Errorf("fanotify: malformed event length %d", m.Event_len)
		}
		b = b[m.Event_len:]
		if m.Mask&unix.FAN_Q_OVERFLOW != 0 {
			w.lost.Add(1)
			continue
		}
		if m.Fd < 0 {
			continue
		}
		n, err := unix.Readlink("/proc/self/fd/"+strconv.Itoa(int(m.Fd)), w.linkBuf)
		unix.Close(int(m.Fd))
		if err != nil || m.Mask&unix.FAN_OPEN_EXEC == 0 {
			continue
		}
		path := string(w.linkBuf[:n])
		w.events.Add(1)
		w.fill(ev, path, int(m.Pid))
		if err := sink.Emit(ev); err != nil {
			return err
		}
	}
	return nil
}

// fill builds the event from the path and what /proc still says about pid.
// The process is mid-execve: parent, uid and cwd are already final; argv is
// not, so the command line is left out. /proc/PID/status would give the
// same in one read, but the kernel formats some fifty lines for it; stat,
// the directory's owner and one readlink cost less.
func (w *Watcher) fill(ev *detector.Event, path string, pid int) {
	*ev = detector.Event{
		Time:       time.Now(),
		Type:       detector.TypeStart,
		PID:        int64(pid),
		Executable: path,
		HostOS:     detector.OSLinux,
		Source:     "fanotify",
	}
	dir := "/proc/" + strconv.Itoa(pid)
	if ppid, ok := w.parentPID(dir); ok {
		ev.ParentPID = ppid
	}
	var st unix.Stat_t
	if unix.Stat(dir, &st) == nil {
		ev.User = w.userName(st.Uid)
	}
	if n, err := unix.Readlink(dir+"/cwd", w.linkBuf); err == nil {
		ev.WorkingDirectory = string(w.linkBuf[:n])
	}
}

// parentPID reads the fourth field of /proc/PID/stat.
func (w *Watcher) parentPID(dir string) (int64, bool) {
	fd, err := unix.Open(dir+"/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, false
	}
	n, err := unix.Read(fd, w.statBuf)
	unix.Close(fd)
	if err != nil || n <= 0 {
		return 0, false
	}
	return parseStatPPID(w.statBuf[:n])
}

func (w *Watcher) userName(uid uint32) string {
	if n, ok := w.users[uid]; ok {
		return n
	}
	n := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(n); err == nil {
		n = u.Username
	}
	if len(w.users) < 4096 {
		w.users[uid] = n
	}
	return n
}

// Events returns the number of execs reported so far.
func (w *Watcher) Events() uint64 { return w.events.Load() }

// Lost returns the number of queue overflows the kernel signalled (each
// stands for one or more dropped events).
func (w *Watcher) Lost() uint64 { return w.lost.Load() }

// Close releases the fanotify group; Run returns within its poll timeout.
func (w *Watcher) Close() error {
	if w.closed.Swap(true) {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.mi.Close()
	return unix.Close(w.fd)
}
