//go:build linux

package fanotify

import (
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAsOwner checks the credential switch used for user-owned FUSE
// mounts: the function runs with the owner's ids yet can still place a
// mount mark, and the rest of the process keeps its own ids. (A real
// user-owned FUSE mount cannot be made here: /dev/fuse is 0600 and
// fusermount opens it as the calling user.)
func TestAsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "needs root")
	}
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_NOTIF|unix.FAN_CLOEXEC, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var ruid, euid, suid int
	err = asOwner(65534, 65534, func() error {
		var r, e, s uintptr
		unix.RawSyscall(unix.SYS_GETRESUID, uintptr(unsafePtr(&r)), uintptr(unsafePtr(&e)), uintptr(unsafePtr(&s)))
		ruid, euid, suid = int(uint32(r)), int(uint32(e)), int(uint32(s))
		return unix.FanotifyMark(fd, unix.FAN_MARK_ADD|unix.FAN_MARK_MOUNT, unix.FAN_OPEN_EXEC, unix.AT_FDCWD, "/")
	})
	if err != nil {
		t.Fatalf("asOwner: %v", err)
	}
	if ruid != 65534 || euid != 65534 || suid != 65534 {
		t.Errorf("ids inside = %d/%d/%d, want 65534", ruid, euid, suid)
	}
	if os.Geteuid() != 0 || os.Getuid() != 0 {
		t.Errorf("process ids changed: uid %d euid %d", os.Getuid(), os.Geteuid())
	}
}

func TestOpenNoMount(t *testing.T) {
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "needs root")
	}
	mi := t.TempDir() + "/mountinfo"
	os.WriteFile(mi, []byte("22 1 0:21 / / rw - ext4 /dev/sda1 rw\n"), 0o644)
	_, err := Open(Options{MountNames: []string{"thinclient_drives"}, Mountinfo: mi})
	if err == nil || !strings.Contains(err.Error(), "no xrdp client-drive mount found") || !strings.Contains(err.Error(), "fuse.xrdp-chansrv") {
		t.Fatalf("err = %v", err)
	}
	w, err := Open(Options{MountNames: []string{"thinclient_drives"}, Mountinfo: mi, WaitForMounts: true})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
}
