//go:build linux

package fanotify

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestProcInfo reads a live child through both paths (pidfd ioctl and
// /proc) and checks they agree with what the test knows about it.
func TestProcInfo(t *testing.T) {
	p, err := openProcReader()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	dir := t.TempDir()
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		t.Fatal(err)
	}
	c := exec.Command("sleep", "30")
	c.Dir = dir
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { c.Process.Kill(); c.Wait() }()
	pid := c.Process.Pid
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	me, _ := user.Current()
	uid, _ := strconv.Atoi(me.Uid)

	for _, tt := range []struct {
		name   string
		pidfd  int
		pidfds bool
	}{
		{"pidfd", pidfd, true},
		{"proc (no pidfds in the group)", -1, false},
		{"proc (pidfd could not be made: FAN_EPIDFD)", -2, true},
	} {
		var got procInfo
		p.info(pid, tt.pidfd, tt.pidfds, &got)
		if !got.HasPPID || got.PPID != int64(os.Getpid()) || !got.HasUID || int(got.UID) != uid || got.Cwd != dir {
			t.Errorf("%s: info = %+v, want parent %d, uid %d, cwd %s", tt.name, got, os.Getpid(), uid, dir)
		}
	}
	// FAN_NOPIDFD: the process was reaped before the event was read, so
	// the pid may be someone else's by now; nothing is read.
	var got procInfo
	p.info(pid, int(noFD), true, &got)
	if got != (procInfo{}) {
		t.Errorf("after FAN_NOPIDFD: %+v, want nothing", got)
	}
}

// TestProcInfoReaped: a pidfd whose process is gone yields nothing, even
// though /proc/PID might name a new process.
func TestProcInfoReaped(t *testing.T) {
	p, err := openProcReader()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	c := exec.Command("true")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	pidfd, err := unix.PidfdOpen(c.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	c.Wait()
	var got procInfo
	p.info(c.Process.Pid, pidfd, true, &got)
	if got.HasPPID || got.HasUID || got.Cwd != "" {
		t.Errorf("reaped process: %+v, want nothing", got)
	}
}

func TestFDPath(t *testing.T) {
	p, err := openProcReader()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	dir, _ := filepath.EvalSymlinks(t.TempDir())
	f, err := os.Create(filepath.Join(dir, "with space"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, ok := p.fdPath(int(f.Fd())); !ok || got != f.Name() {
		t.Errorf("fdPath = %q, %v; want %q", got, ok, f.Name())
	}
	if got, ok := p.fdPath(1 << 20); ok {
		t.Errorf("fdPath of a closed descriptor = %q", got)
	}
}

// TestCloseAll closes a set of descriptors with gaps (held by others)
// between them and checks the others are untouched.
func TestCloseAll(t *testing.T) {
	var mine, others []int
	for i := 0; i < 12; i++ {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if i%5 == 2 {
			others = append(others, fd)
		} else {
			mine = append(mine, fd)
		}
	}
	defer func() {
		for _, fd := range others {
			unix.Close(fd)
		}
	}()
	// Records as a read would carry them: file descriptors and pidfds.
	var recs []record
	for i := 0; i+1 < len(mine); i += 2 {
		recs = append(recs, record{FD: int32(mine[i+1]), PIDFD: int32(mine[i])})
	}
	recs = append(recs, record{FD: noFD, PIDFD: noFD})
	closeAll(recs, nil)
	for _, fd := range mine {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
			t.Errorf("descriptor %d still open", fd)
		}
	}
	for _, fd := range others {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			t.Errorf("descriptor %d not ours was closed: %v", fd, err)
		}
	}
}
