//go:build linux

package fanotify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source"
)

// TestUseFD covers the choice between the handle group and the
// descriptor group for one mount.
func TestUseFD(t *testing.T) {
	wrapped := fmt.Errorf("as uid 1000: %w", unix.ENODEV)
	for _, tt := range []struct {
		name       string
		fidOK      bool
		fsidErr    error
		fsidShared bool
		fidErr     error
		want       bool
	}{
		{"handle group took the mark", true, nil, false, nil, false},
		{"no handle group (kernel < 5.9)", false, nil, false, nil, true},
		{"statfs refused (user-owned FUSE)", true, unix.EACCES, false, nil, true},
		{"zero fsid, not asked (FUSE)", true, errZeroFSID, false, nil, true},
		{"fsid shared with a handle-marked mount", true, nil, true, nil, true},
		{"zero fsid (FUSE)", true, nil, false, unix.ENODEV, true},
		{"zero fsid from the owner's thread", true, nil, false, wrapped, true},
		{"no export operations", true, nil, false, unix.EOPNOTSUPP, true},
		{"subvolume fsid", true, nil, false, unix.EXDEV, true},
		{"FAN_OPEN_EXEC not in handle groups", true, nil, false, unix.EINVAL, true},
		{"permission: fd group would fail too", true, nil, false, unix.EACCES, false},
		{"gone: fd group would fail too", true, nil, false, unix.ENOENT, false},
	} {
		if got := useFD(tt.fidOK, tt.fsidErr, tt.fsidShared, tt.fidErr); got != tt.want {
			t.Errorf("%s: useFD = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func needRootAndBindfs(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "needs root for fanotify mount marks")
	}
	if _, err := exec.LookPath("bindfs"); err != nil {
		testdir.SkipOutsideCI(t, "needs bindfs (apt-get install bindfs)")
	}
}

// TestModePerMount marks two client-drive mounts in one watcher: a bind
// mount of a local directory, whose filesystem reports file handles, goes
// to the handle group; a FUSE mount (bindfs), whose zero fsid the kernel
// refuses there, falls back to the descriptor group. Execs from both, by
// absolute and relative path, are reported with their absolute paths; the
// same binary outside both mounts is not.
func TestModePerMount(t *testing.T) {
	needRootAndBindfs(t)
	root, err := os.MkdirTemp("", "tswfan")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if root, err = filepath.EvalSymlinks(root); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "src")
	bindMnt := filepath.Join(root, "home", "alice", "thinclient_drives")
	fuseMnt := filepath.Join(root, "home", "bob", "thinclient_drives")
	outside := filepath.Join(src, "C:", "tools", "tool")
	for _, d := range []string{filepath.Dir(outside), bindMnt, fuseMnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tool, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(outside, tool, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(src, bindMnt, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount %s: %v", bindMnt, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(bindMnt, 0); err != nil {
			t.Errorf("umount %s: %v", bindMnt, err)
		}
	})
	if out, err := exec.Command("bindfs", src, fuseMnt).CombinedOutput(); err != nil {
		t.Fatalf("bindfs: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", fuseMnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", fuseMnt, err, out)
		}
	})

	w, err := Open(Options{MountNames: []string{"thinclient_drives"}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	modes := w.Mode()
	if !strings.HasPrefix(modes[bindMnt], "handle") || !strings.HasPrefix(modes[fuseMnt], "fd") {
		t.Fatalf("modes = %v, want handle for %s and fd for %s", modes, bindMnt, fuseMnt)
	}

	var mu sync.Mutex
	got := map[string]int{}
	byPID := map[int64]detector.Event{}
	sink := source.Sink{Event: func(e *detector.Event) error {
		if strings.HasPrefix(e.Executable, root+"/") {
			mu.Lock()
			got[e.Executable]++
			byPID[e.PID] = *e
			mu.Unlock()
		}
		return nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, sink) }()

	const n = 200
	want := map[string]int{}
	var relPIDs []int64
	for _, mnt := range []string{bindMnt, fuseMnt} {
		p := filepath.Join(mnt, "C:", "tools", "tool")
		for i := 0; i < n; i++ {
			if err := exec.Command(p).Run(); err != nil {
				t.Fatal(err)
			}
		}
		c := exec.Command("./tool")
		c.Dir = filepath.Dir(p)
		if err := c.Run(); err != nil {
			t.Fatal(err)
		}
		relPIDs = append(relPIDs, int64(c.ProcessState.Pid()))
		want[p] = n + 1
	}
	if err := exec.Command(outside).Run(); err != nil {
		t.Fatal(err)
	}
	// Wait for the counts (a stuck watcher fails below, not here).
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		ok := got[filepath.Join(bindMnt, "C:", "tools", "tool")] >= n+1 && got[filepath.Join(fuseMnt, "C:", "tools", "tool")] >= n+1
		mu.Unlock()
		if ok {
			break
		}
	}
	time.Sleep(100 * time.Millisecond) // let anything unwanted show up
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for p, c := range want {
		if got[p] != c {
			t.Errorf("%s reported %d times, want %d (all: %v)", p, got[p], c, got)
		}
	}
	if got[outside] != 0 {
		t.Errorf("%s outside the mounts reported %d times", outside, got[outside])
	}
	for i, pid := range relPIDs {
		e, ok := byPID[pid]
		wantPath := filepath.Join([]string{bindMnt, fuseMnt}[i], "C:", "tools", "tool")
		if !ok || e.Executable != wantPath {
			t.Errorf("relative ./tool (pid %d) reported as %+v, want %s", pid, e, wantPath)
		}
	}
	if w.Lost() != 0 {
		t.Errorf("lost %d", w.Lost())
	}
}

// TestHandleGroupRefusesFUSE pins the kernel behaviour the fallback exists
// for, so a kernel that starts accepting FUSE in handle groups is noticed.
func TestHandleGroupRefusesFUSE(t *testing.T) {
	needRootAndBindfs(t)
	root := t.TempDir()
	mnt := filepath.Join(root, "mnt")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("bindfs", root, mnt).CombinedOutput(); err != nil {
		t.Fatalf("bindfs: %v\n%s", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	g, err := initGroup(unix.FAN_REPORT_DFID_NAME)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(g.fd)
	err = markAs(g.fd, mnt)
	if !errors.Is(err, unix.ENODEV) {
		t.Errorf("handle-group mark on FUSE: %v, want ENODEV", err)
	}
	if !useFD(true, nil, false, err) {
		t.Errorf("useFD refuses the fallback for %v", err)
	}
}
