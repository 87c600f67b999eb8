//go:build linux

package fanotify

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// markHelperEnv, set to "1", makes a process started from this binary
// (any binary that links this package) the mark helper instead of itself:
// it adds the mount mark on descriptor 3 (the fanotify group) for the
// mount whose root is descriptor 4, and exits. The helper runs as the
// mount's owner with CAP_SYS_ADMIN as its only ambient capability.
const markHelperEnv = "TSCLIENTWATCH_FANOTIFY_MARK_HELPER"

// markTimeout bounds the helper: its owner may stop it (it runs as their
// uid, so they may signal it) or their daemon may hold it; either only
// keeps that owner's own mount unwatched until the next rescan.
const markTimeout = 10 * time.Second

// markHelperTestEnv is added to the helper's environment (tests only).
var markHelperTestEnv atomic.Pointer[[]string]

func init() {
	if os.Getenv(markHelperEnv) != "1" {
		return
	}
	// Tests hold the helper while this file exists (at most a minute).
	if hold := os.Getenv(markHelperEnv + "_TEST_HOLD"); hold != "" {
		for i := 0; i < 6000; i++ {
			if _, err := os.Stat(hold); err != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	err := unix.FanotifyMark(3, unix.FAN_MARK_ADD|unix.FAN_MARK_MOUNT, unix.FAN_OPEN_EXEC, unix.AT_FDCWD, "/proc/self/fd/4")
	if err != nil {
		fmt.Fprintf(os.Stderr, "fanotify_mark as uid %d: %v\n", os.Getuid(), err)
		os.Exit(1)
	}
	os.Exit(0)
}

// markAsOwner adds the mount mark for the mount whose root is the O_PATH
// descriptor root to the group, as uid and gid. A FUSE mount without
// allow_other refuses everyone but its owner, root included.
//
// The mark is made by a short-lived copy of this binary (/proc/self/exe,
// which names it even after an upgrade replaced the file), started with the
// owner's ids and CAP_SYS_ADMIN (mount marks need it) and handed the two
// descriptors. Not by a thread of this process: a thread running with the
// owner's ids can be signalled by the owner, and SIGSTOP or SIGKILL sent to
// one thread stops or kills the whole root process. The owner may signal
// the helper; that costs only the mark of their own mount (retried at the
// next rescan). The owner can neither trace the helper nor reach its
// descriptors through /proc: both need ptrace access, which the kernel
// refuses to a tracer lacking a capability the tracee holds.
func markAsOwner(group, root, uid, gid int) error {
	ctx, cancel := context.WithTimeout(context.Background(), markTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Args = []string{"tsclientwatch-fanotify-mark"}
	cmd.Env = []string{markHelperEnv + "=1"}
	if extra := markHelperTestEnv.Load(); extra != nil {
		cmd.Env = append(cmd.Env, *extra...)
	}
	cmd.Dir = "/"
	// Copies, owned by *os.File wrappers closed here: the caller keeps
	// its own descriptors.
	for _, fd := range []int{group, root} {
		c, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			for _, f := range cmd.ExtraFiles {
				f.Close()
			}
			return fmt.Errorf("mark helper: dup: %w", err)
		}
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(c), "fanotify"))
	}
	defer func() {
		for _, f := range cmd.ExtraFiles {
			f.Close()
		}
	}()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}},
		AmbientCaps: []uintptr{unix.CAP_SYS_ADMIN},
		Pdeathsig:   syscall.SIGKILL,
	}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 200 {
			msg = msg[:200]
		}
		if ctx.Err() != nil {
			return fmt.Errorf("mark helper as uid %d: no answer within %s", uid, markTimeout)
		}
		if msg != "" {
			return fmt.Errorf("mark helper: %s", msg)
		}
		return fmt.Errorf("mark helper as uid %d: %w", uid, err)
	}
	return nil
}
