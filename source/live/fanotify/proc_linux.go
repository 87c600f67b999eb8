//go:build linux

package fanotify

import (
	"fmt"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pidfdGetInfo is PIDFD_GET_INFO sized for the first version of struct
// pidfd_info (64 bytes, Linux 6.13). Newer kernels accept any size from
// that one up; asking with the oldest keeps 6.13 and 6.14 working.
const pidfdGetInfo = 0xC0000000 | unix.PIDFD_INFO_SIZE_VER0<<16 | 0xFF<<8 | 11

// procReader reads what an event needs about its process and file. Per
// event it costs a handful of cheap system calls: names are written into a
// reused NUL-terminated buffer and resolved relative to /proc and
// /proc/self/fd, opened once, so the kernel walks one or two components
// instead of four, and nothing is allocated but the strings kept.
type procReader struct {
	procDirs
	own  bool // close closes procDirs
	name [40]byte
	link []byte // readlink target
	stat []byte // /proc/PID/stat contents (no pidfd)
	// noInfo is set once PIDFD_GET_INFO fails for a reason other than a
	// gone process (kernel before 6.13): /proc is used from then on.
	noInfo bool
}

// procDirs are /proc and /proc/self/fd, opened once (O_PATH) and shared
// by every mount's reader: the *at calls on them are safe from any thread.
type procDirs struct {
	proc   int // /proc
	selfFD int // /proc/self/fd
}

func openProcDirs() (procDirs, error) {
	proc, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return procDirs{}, fmt.Errorf("fanotify: /proc: %w", err)
	}
	self, err := unix.Open("/proc/self/fd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(proc)
		return procDirs{}, fmt.Errorf("fanotify: /proc/self/fd: %w", err)
	}
	return procDirs{proc: proc, selfFD: self}, nil
}

func (d procDirs) close() {
	unix.Close(d.proc)
	unix.Close(d.selfFD)
}

// reader returns a procReader over d with its own buffers, for one
// goroutine.
func (d procDirs) reader() *procReader {
	return &procReader{procDirs: d, link: make([]byte, unix.PathMax), stat: make([]byte, 512)}
}

// openProcReader opens its own directories; close closes them.
func openProcReader() (*procReader, error) {
	d, err := openProcDirs()
	if err != nil {
		return nil, err
	}
	p := d.reader()
	p.own = true
	return p, nil
}

func (p *procReader) close() {
	if p.own {
		p.procDirs.close()
	}
}

// setName writes "<n><suffix>\0" into p.name and returns a pointer to it.
func (p *procReader) setName(n int, suffix string) *byte {
	b := strconv.AppendInt(p.name[:0], int64(n), 10)
	b = append(b, suffix...)
	b = append(b, 0)
	return &b[0]
}

// readlinkAt returns the target of name below dir, in p.link.
func (p *procReader) readlinkAt(dir int, name *byte) ([]byte, bool) {
	n, _, e := unix.Syscall6(unix.SYS_READLINKAT, uintptr(dir), uintptr(unsafe.Pointer(name)),
		uintptr(unsafe.Pointer(&p.link[0])), uintptr(len(p.link)), 0, 0)
	if e != 0 || int(n) <= 0 || int(n) >= len(p.link) {
		return nil, false
	}
	return p.link[:n], true
}

// fdPath is the path the kernel opened for our descriptor fd: absolute,
// whatever string the exec'ing process passed.
func (p *procReader) fdPath(fd int) (string, bool) {
	b, ok := p.readlinkAt(p.selfFD, p.setName(fd, ""))
	return string(b), ok
}

// procInfo is what /proc or the pidfd says about the exec'ing process.
type procInfo struct {
	PPID    int64
	UID     uint32
	HasPPID bool
	HasUID  bool
	Cwd     string
}

// info fills what is still known about pid. With a pidfd (FAN_REPORT_PIDFD)
// the parent and real uid come from one PIDFD_GET_INFO ioctl, which costs
// a fraction of formatting /proc/PID/stat; asked after cwd is read, it also
// proves pid was not reused in between (the pidfd pins the process). The
// process is mid-execve, so parent, uid and cwd are final already.
//
// pidfds says the group reports pidfds: then pidfd FAN_NOPIDFD means the
// process was gone (reaped) when the event was read, and pid may already
// name another process, so /proc is not asked at all.
func (p *procReader) info(pid, pidfd int, pidfds bool, out *procInfo) {
	*out = procInfo{}
	if pidfds && pidfd == int(noFD) {
		return
	}
	cwd, cwdOK := p.readlinkAt(p.proc, p.setName(pid, "/cwd"))
	if pidfd >= 0 && !p.noInfo {
		var pi unix.PidfdInfo
		pi.Mask = unix.PIDFD_INFO_PID | unix.PIDFD_INFO_CREDS
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(pidfd), pidfdGetInfo, uintptr(unsafe.Pointer(&pi)))
		switch {
		case e == 0:
			if pi.Mask&unix.PIDFD_INFO_PID != 0 {
				out.PPID, out.HasPPID = int64(pi.Ppid), true
			}
			if pi.Mask&unix.PIDFD_INFO_CREDS != 0 {
				out.UID, out.HasUID = pi.Ruid, true
			}
			if cwdOK {
				out.Cwd = string(cwd)
			}
			return
		case e == unix.ESRCH:
			// Gone already: pid may name another process by now, so
			// nothing read through it is trusted.
			return
		default:
			p.noInfo = true
		}
	}
	if cwdOK {
		out.Cwd = string(cwd)
	}
	out.PPID, out.HasPPID = p.parentPID(pid)
	var st unix.Statx_t
	if _, _, e := unix.Syscall6(unix.SYS_STATX, uintptr(p.proc), uintptr(unsafe.Pointer(p.setName(pid, ""))),
		0, unix.STATX_UID, uintptr(unsafe.Pointer(&st)), 0); e == 0 {
		// The owner of /proc/PID: the effective uid of a dumpable
		// process, root for a set-uid one.
		out.UID, out.HasUID = st.Uid, true
	}
}

// parentPID reads the fourth field of /proc/PID/stat.
func (p *procReader) parentPID(pid int) (int64, bool) {
	fd, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(p.proc), uintptr(unsafe.Pointer(p.setName(pid, "/stat"))),
		unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return 0, false
	}
	n, err := unix.Read(int(fd), p.stat)
	unix.Close(int(fd))
	if err != nil || n <= 0 {
		return 0, false
	}
	return parseStatPPID(p.stat[:n])
}
