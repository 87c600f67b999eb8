//go:build linux

package fanotify

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/mountinfo"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/internal/testfuse"
	"github.com/tsclientwatch/tsclientwatch/source"
)

const nobody = 65534

func needRootAndBindfs(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "needs root for fanotify mount marks")
	}
	if _, err := exec.LookPath("bindfs"); err != nil {
		testdir.SkipOutsideCI(t, "needs bindfs (apt-get install bindfs)")
	}
}

// hostileRoot is a directory tree every uid can traverse, removed at the
// end of the test.
func hostileRoot(t *testing.T) string {
	t.Helper()
	needRootAndBindfs(t)
	root, err := os.MkdirTemp("", "tswhostile")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if root, err = filepath.EvalSymlinks(root); err != nil {
		t.Fatal(err)
	}
	os.Chmod(root, 0o755)
	return root
}

// driveSource makes <src>/C:/tool (a copy of /bin/true) owned by uid.
func driveSource(t *testing.T, src string, uid int) {
	t.Helper()
	testfuse.Mkdir(t, filepath.Join(src, "C:"), uid, uid)
	os.Chown(src, uid, uid)
	tool, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(src, "C:", "tool")
	if err := os.WriteFile(p, tool, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(p, uid, uid)
}

// execAs runs path as uid and returns its pid.
func execAs(t *testing.T, uid int, path string) int64 {
	t.Helper()
	cmd := exec.Command(path)
	cmd.Dir = "/"
	if uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run %s as %d: %v\n%s", path, uid, err, out)
	}
	return int64(cmd.ProcessState.Pid())
}

// within runs fn and fails the test when it has not returned after d: a
// liveness check (the watcher must not hang), not a timing budget.
func within(t *testing.T, d time.Duration, what string, fn func()) bool {
	t.Helper()
	done := make(chan struct{})
	go func() { fn(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		t.Errorf("%s did not return within %s", what, d)
		return false
	}
}

// pidSink collects events by pid, and the errors reported.
type pidSink struct {
	mu      sync.Mutex
	evs     map[int64]detector.Event
	reports []string
}

func (p *pidSink) sink() source.Sink {
	return source.Sink{Event: func(e *detector.Event) error {
		p.mu.Lock()
		if p.evs == nil {
			p.evs = map[int64]detector.Event{}
		}
		p.evs[e.PID] = *e
		p.mu.Unlock()
		return nil
	}, Bad: func(e *source.RecordError) {
		p.mu.Lock()
		p.reports = append(p.reports, e.Error())
		p.mu.Unlock()
	}}
}

func (p *pidSink) reported(sub string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.reports {
		if strings.Contains(r, sub) {
			return true
		}
	}
	return false
}

// wait returns the events of pids once all arrived or the generous
// deadline passed.
func (p *pidSink) wait(pids ...int64) map[int64]detector.Event {
	deadline := time.Now().Add(30 * time.Second)
	for {
		p.mu.Lock()
		out := map[int64]detector.Event{}
		for _, id := range pids {
			if e, ok := p.evs[id]; ok {
				out[id] = e
			}
		}
		p.mu.Unlock()
		if len(out) == len(pids) || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStalledDaemonStallsOnlyItsMount reproduces the review's E6 (a, b): a
// local user's FUSE mount named thinclient_drives (allow_other) whose
// daemon never answers root's OPEN and STATFS. Before, the watcher's one
// reading thread hung in the kernel's open of the user's file (or its mount
// rescan hung in statfs while holding the mount lock): later execs on the
// real client-drive mount went unreported, the status hung, and Close and
// SIGTERM hung with it. Now the stall costs only that mount: execs on the
// real mount are reported, Mode/Mounts answer at once, and Close returns
// while the daemon still stalls.
func TestStalledDaemonStallsOnlyItsMount(t *testing.T) {
	root := hostileRoot(t)
	realSrc, realMnt := filepath.Join(root, "src"), filepath.Join(root, "home", "alice", "thinclient_drives")
	evilSrc, evilMnt := filepath.Join(root, "evilsrc"), filepath.Join(root, "home", "evil", "thinclient_drives")
	driveSource(t, realSrc, 0)
	driveSource(t, evilSrc, nobody)
	testfuse.Mkdir(t, realMnt, 0, 0)
	testfuse.Mkdir(t, evilMnt, nobody, nobody)
	if out, err := exec.Command("bindfs", realSrc, realMnt).CombinedOutput(); err != nil {
		t.Fatalf("bindfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { testfuse.Unmount(realMnt) })
	evil := testfuse.New(t, evilSrc, evilMnt, testfuse.Options{Owner: nobody, Group: nobody, AllowOther: true, StallRoot: true, Subtype: "evil"})

	var w *Watcher
	var err error
	if !within(t, 10*time.Second, "Open with a stalling mount present", func() {
		w, err = Open(Options{MountNames: []string{"thinclient_drives"}, WaitForMounts: true, StallAfter: time.Second})
	}) {
		evil.Release()
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	p := &pidSink{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(ctx, p.sink()) }()
	defer func() {
		evil.Release()
		w.Close()
	}()

	// The user's exec: its own OPEN (uid 65534) is answered; the
	// watcher's (root) is held.
	evilPID := execAs(t, nobody, filepath.Join(evilMnt, "C:", "tool"))
	var realPIDs []int64
	for i := 0; i < 3; i++ {
		realPIDs = append(realPIDs, execAs(t, 0, filepath.Join(realMnt, "C:", "tool")))
	}
	got := p.wait(realPIDs...)
	for _, pid := range realPIDs {
		e, ok := got[pid]
		if !ok {
			t.Errorf("exec %d on the real mount not reported while the other mount's daemon stalls", pid)
			continue
		}
		if e.Executable != filepath.Join(realMnt, "C:", "tool") || !detector.IsFUSE(e.FSType) {
			t.Errorf("event %+v", e)
		}
	}
	within(t, 5*time.Second, "Mode while a daemon stalls", func() { w.Mode() })
	within(t, 5*time.Second, "Mounts while a daemon stalls", func() { w.Mounts() })
	if evil.Stalled() == 0 {
		t.Errorf("the daemon held no request: the test did not reproduce the stall")
	}
	// The watchdog names the stalled mount, in the status and as an error.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if strings.HasPrefix(w.Mode()[evilMnt], "stalled") && p.reported(evilMnt) {
			break
		}
	}
	if mode := w.Mode()[evilMnt]; !strings.HasPrefix(mode, "stalled") || !strings.Contains(mode, "in read") {
		t.Errorf("mode of the stalled mount = %q, want stalled ... in read", mode)
	}
	if !p.reported(evilMnt) || !p.reported("has not answered read") {
		t.Errorf("no stall reported for %s: %q", evilMnt, p.reports)
	}
	if mode := w.Mode()[realMnt]; mode != "fd+pidfd" {
		t.Errorf("mode of the real mount = %q", mode)
	}
	t.Logf("held %d root requests; modes %v", evil.Stalled(), w.Mode())
	cancel()
	within(t, 10*time.Second, "Run after cancel while a daemon stalls", func() {
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	within(t, 10*time.Second, "Close while a daemon stalls", func() { w.Close() })
	evil.Release()
	_ = evilPID
}

// TestUserMountWithoutAllowOther reproduces the review's E6c: xrdp mounts
// client drives as the session user without allow_other, which refuses
// root's mark, and the old fallback lstat'ed the mount point as root,
// which FUSE refuses too, so fanotify could not start at all. The owner's
// uid now comes from mountinfo (user_id=) and the mark is made by a
// short-lived helper process running as the owner.
func TestUserMountWithoutAllowOther(t *testing.T) {
	root := hostileRoot(t)
	src, mnt := filepath.Join(root, "src"), filepath.Join(root, "home", "bob", "thinclient_drives")
	driveSource(t, src, nobody)
	testfuse.Mkdir(t, mnt, nobody, nobody)
	testfuse.New(t, src, mnt, testfuse.Options{Owner: nobody, Group: nobody, Subtype: "xrdp-chansrv"})

	w, err := Open(Options{MountNames: []string{"thinclient_drives"}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer w.Close()
	p := &pidSink{}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(ctx, p.sink()) }()
	waitMarked(t, w, mnt)
	pid := execAs(t, nobody, filepath.Join(mnt, "C:", "tool"))
	e, ok := p.wait(pid)[pid]
	cancel()
	if err := <-runDone; err != nil {
		t.Errorf("Run: %v", err)
	}
	if !ok {
		t.Fatalf("exec on a user's mount without allow_other not reported (modes %v)", w.Mode())
	}
	if e.Executable != filepath.Join(mnt, "C:", "tool") || e.FSType != "fuse.xrdp-chansrv" {
		t.Errorf("event %+v", e)
	}
	if d, ok := detector.MustNew(detector.DefaultConfig()).Match(&e); !ok || d.ClientDrive != "C:" {
		t.Errorf("not detected: %+v", e)
	}
}

// waitMarked waits until point is watched (the mark is made off the
// caller's goroutine).
func waitMarked(t *testing.T, w *Watcher, point string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if w.Mode()[point] == "fd+pidfd" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not marked (modes %v)", point, w.Mode())
}

// TestMarkHelperSignalledByOwner: the owner of a mount may signal the
// short-lived helper that marks it (it runs with their uid). Killing it
// must cost only that mark, which the next rescan makes again; the watcher
// itself, root, is out of their reach. (A thread of the root process
// running with their uid, as before, let them stop or kill the whole
// watcher with one signal.)
func TestMarkHelperSignalledByOwner(t *testing.T) {
	root := hostileRoot(t)
	src, mnt := filepath.Join(root, "src"), filepath.Join(root, "home", "bob", "thinclient_drives")
	driveSource(t, src, nobody)
	testfuse.Mkdir(t, mnt, nobody, nobody)
	testfuse.New(t, src, mnt, testfuse.Options{Owner: nobody, Group: nobody, Subtype: "xrdp-chansrv"})
	// Helpers wait while hold exists, so one can be caught running.
	hold := filepath.Join(root, "hold")
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{markHelperEnv + "_TEST_HOLD=" + hold}
	markHelperTestEnv.Store(&env)
	defer markHelperTestEnv.Store(nil)

	w, err := Open(Options{MountNames: []string{"thinclient_drives"}, WaitForMounts: true, StallAfter: 100 * time.Millisecond,
		RescanInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer w.Close()
	p := &pidSink{}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(ctx, p.sink()) }()
	defer func() {
		cancel()
		<-runDone
	}()
	helper := 0
	for deadline := time.Now().Add(20 * time.Second); helper == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		helper = markHelperAs(t, nobody)
	}
	if helper == 0 {
		t.Fatal("no mark helper running as the owner")
	}
	kill := exec.Command("kill", "-KILL", strconv.Itoa(helper))
	kill.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	if out, err := kill.CombinedOutput(); err != nil {
		t.Fatalf("the owner could not signal the helper: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(w.Mode()[mnt], "killed") {
			break
		}
	}
	if mode := w.Mode()[mnt]; !strings.Contains(mode, "failed") || !strings.Contains(mode, "killed") {
		t.Errorf("mode after the helper was killed = %q", mode)
	}
	// The next rescan starts a new helper; let it (and any later one) mark.
	os.Remove(hold)
	waitMarked(t, w, mnt)
	pid := execAs(t, nobody, filepath.Join(mnt, "C:", "tool"))
	if _, ok := p.wait(pid)[pid]; !ok {
		t.Errorf("exec not reported after the mark was made again (modes %v)", w.Mode())
	}
}

// markHelperAs returns the pid of a mark helper started by this process
// and running as uid, 0 when there is none.
func markHelperAs(t *testing.T, uid int) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	me := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		var ppid, ruid string
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PPid:"); ok {
				ppid = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(l, "Uid:"); ok {
				ruid = strings.Fields(v)[0]
			}
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if ppid == me && ruid == strconv.Itoa(uid) && strings.HasPrefix(string(cmdline), "tsclientwatch-fanotify-mark\x00") {
			return pid
		}
	}
	return 0
}

// TestMarkChecksMountID: the mark goes through a descriptor opened on the
// mount point and checked against the mount id mountinfo gave, so a path
// that leads elsewhere by the time it is opened is refused, not marked.
func TestMarkChecksMountID(t *testing.T) {
	root := hostileRoot(t)
	src, mnt := filepath.Join(root, "src"), filepath.Join(root, "home", "alice", "thinclient_drives")
	driveSource(t, src, 0)
	testfuse.Mkdir(t, mnt, 0, 0)
	testfuse.New(t, src, mnt, testfuse.Options{})
	w := &Watcher{opts: Options{StallAfter: time.Second}}
	f, err := os.Open(mountinfoPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := mountinfo.Parse(f, mountinfoPath)
	if err != nil {
		t.Fatal(err)
	}
	id := -1
	for _, m := range all {
		if m.Point == mnt {
			id = m.ID
		}
	}
	for _, tt := range []struct {
		id   int
		want string
	}{{id, ""}, {id + 100000, "now leads to mount"}} {
		g, err := newMount(w, Mount{ID: tt.id, Point: mnt, FSType: "fuse.testfuse", UID: 0, GID: 0}).mark()
		if err == nil {
			unix.Close(g.fd)
		}
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("mount id %d: %v, want %q", tt.id, err, tt.want)
		}
	}
}
