//go:build linux

package live

import (
	"context"
	"fmt"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testfuse"
	"github.com/tsclientwatch/tsclientwatch/source"
)

// fixture is a real FUSE mount laid out as xrdp's chansrv lays out client
// drives: <root>/home/<user>/thinclient_drives/C:/tools/tool, plus the same
// binary outside the mount.
type fixture struct {
	root    string // every path the test runs lives below it
	mnt     string // .../thinclient_drives
	toolDir string // <mnt>/C:/tools
	tool    string // <toolDir>/tool
	outside string // the same binary, not on the mount
	cred    *syscall.Credential
}

// needRoot skips, loudly, when the live tests cannot run. CI runs as root
// with bindfs installed, so there they always run.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "live test needs root for eBPF and fanotify")
	}
	if _, err := exec.LookPath("bindfs"); err != nil {
		testdir.SkipOutsideCI(t, "live test needs bindfs (apt-get install bindfs)")
	}
}

// newFixture mounts a bindfs of a temporary directory. With owner != nil the
// mount is made by that user without allow_other, as xrdp does: then only
// that user can enter it, root included.
func newFixture(t *testing.T, owner *syscall.Credential) *fixture {
	t.Helper()
	needRoot(t)
	// Not t.TempDir: it is 0700 root, which a non-root mount owner cannot
	// traverse.
	root, err := os.MkdirTemp("", "tswlive")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if root, err = filepath.EvalSymlinks(root); err != nil {
		t.Fatal(err)
	}
	os.Chmod(root, 0o755)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{root: root, cred: owner}
	name := u.Username
	if owner != nil {
		name = "owner"
	}
	src := filepath.Join(root, "src")
	f.mnt = filepath.Join(root, "home", name, "thinclient_drives")
	f.toolDir = filepath.Join(f.mnt, "C:", "tools")
	f.tool = filepath.Join(f.toolDir, "tool")
	f.outside = filepath.Join(root, "outside", "tool")
	for _, d := range []string{filepath.Join(src, "C:", "tools"), f.mnt, filepath.Dir(f.outside)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, "/bin/true", filepath.Join(src, "C:", "tools", "tool"))
	copyFile(t, "/bin/true", f.outside)
	mount := exec.Command("bindfs", src, f.mnt)
	if owner != nil {
		for _, d := range []string{src, filepath.Join(src, "C:"), filepath.Join(src, "C:", "tools"), filepath.Join(src, "C:", "tools", "tool"), f.mnt} {
			os.Lchown(d, int(owner.Uid), int(owner.Gid))
		}
		mount.SysProcAttr = &syscall.SysProcAttr{Credential: owner}
	}
	if out, err := mount.CombinedOutput(); err != nil {
		t.Fatalf("bindfs %s %s: %v\n%s", src, f.mnt, err, out)
	}
	t.Cleanup(func() {
		if err := testfuse.Unmount(f.mnt); err != nil {
			t.Error(err)
		}
	})
	return f
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// run starts path, waits for it and returns its pid.
func (f *fixture) run(t *testing.T, dir, path string, args ...string) int64 {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	if f.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: f.cred}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run %s in %s: %v\n%s", path, dir, err, out)
	}
	return int64(cmd.ProcessState.Pid())
}

// collector keeps the events below root: other processes run on this
// machine and must not count.
type collector struct {
	root  string
	mu    sync.Mutex
	evs   []detector.Event
	byPID map[int64]detector.Event // every event, below root or not
	// pidKeep, when set, picks the events byPID keeps (a pid that execs
	// twice has two).
	pidKeep func(*detector.Event) bool
	cond    chan struct{}
}

func (c *collector) sink() source.Sink {
	return source.Sink{Event: func(e *detector.Event) error {
		c.mu.Lock()
		if c.byPID == nil {
			c.byPID = make(map[int64]detector.Event)
		}
		if c.pidKeep == nil || c.pidKeep(e) {
			c.byPID[e.PID] = *e
		}
		mine := strings.HasPrefix(e.Executable, c.root+"/")
		if mine {
			c.evs = append(c.evs, *e)
		}
		c.mu.Unlock()
		if !mine {
			return nil
		}
		select {
		case c.cond <- struct{}{}:
		default:
		}
		return nil
	}}
}

// wait returns the events once n have arrived or the generous deadline
// passed (a stuck watcher fails the count check instead of hanging).
func (c *collector) wait(n int) []detector.Event {
	deadline := time.After(60 * time.Second)
	for {
		c.mu.Lock()
		got := len(c.evs)
		c.mu.Unlock()
		if got >= n {
			break
		}
		select {
		case <-c.cond:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			c.mu.Lock()
			defer c.mu.Unlock()
			return append([]detector.Event(nil), c.evs...)
		}
	}
	// Give stragglers (events that should not come) a moment to show.
	time.Sleep(200 * time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]detector.Event(nil), c.evs...)
}

// waitPIDs returns the events of pids, whatever their paths, once all have
// arrived or the generous deadline passed.
func (c *collector) waitPIDs(pids []int64) map[int64]detector.Event {
	deadline := time.Now().Add(60 * time.Second)
	for {
		c.mu.Lock()
		out := make(map[int64]detector.Event)
		for _, p := range pids {
			if e, ok := c.byPID[p]; ok {
				out[p] = e
			}
		}
		c.mu.Unlock()
		if len(out) == len(pids) || time.Now().After(deadline) {
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const storm = 1000

// exercise runs the must-show scenario against one mechanism: storm
// executions from the mount by absolute path, one by relative path, and the
// same binary from outside the mount.
func exercise(t *testing.T, mechanism string, f *fixture) {
	w, err := Open(context.Background(), Options{Mechanism: mechanism, MountNames: detector.DefaultConfig().XrdpMountNames})
	if err != nil {
		t.Fatalf("Open(%s): %v", mechanism, err)
	}
	c := &collector{root: f.root, cond: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, c.sink()) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()

	for i := 0; i < storm; i++ {
		f.run(t, f.root, f.tool, "storm")
	}
	relPID := f.run(t, f.toolDir, "./tool", "relative")
	f.run(t, f.root, f.outside, "outside")

	want := storm + 1
	if mechanism == EBPF {
		want++ // eBPF also sees the exec outside the mount
	}
	evs := c.wait(want)
	m := detector.MustNew(detector.DefaultConfig())
	var dets []detector.Detection
	dets, _ = m.Detect(context.Background(), evs, dets)
	byPath := map[string]int{}
	for _, e := range evs {
		byPath[e.Executable]++
		if e.Source != mechanism || e.Type != detector.TypeStart || e.HostOS != detector.OSLinux || e.PID <= 0 {
			t.Errorf("bad event %+v", e)
		}
	}
	if byPath[f.tool] != storm+1 {
		t.Errorf("%s reported %d executions of %s, want %d (all events by path: %v)", mechanism, byPath[f.tool], f.tool, storm+1, byPath)
	}
	if len(dets) != storm+1 {
		t.Errorf("%d detections, want %d", len(dets), storm+1)
	}
	for _, d := range dets {
		if d.Executable != f.tool || d.ClientDrive != "C:" || d.SharePath != "/tools/tool" || d.Form != detector.FormXrdp {
			t.Errorf("detection %+v", d)
			break
		}
	}
	if mechanism == EBPF && byPath[f.outside] != 1 {
		t.Errorf("eBPF saw %s %d times, want 1", f.outside, byPath[f.outside])
	}
	var relative *detector.Event
	for i := range evs {
		if evs[i].PID == relPID {
			relative = &evs[i]
		}
	}
	if relative == nil {
		t.Errorf("the relative ./tool start (pid %d) was not reported", relPID)
	} else if relative.Executable != f.tool {
		t.Errorf("the relative ./tool start was reported as %q, want %q", relative.Executable, f.tool)
	} else {
		t.Logf("relative start reported as %+v", *relative)
	}
	st := w.Stats()
	t.Logf("stats %+v", st)
	if st.Lost != 0 {
		t.Errorf("lost %d events", st.Lost)
	}
}

func TestEBPFOnFUSEMount(t *testing.T) {
	exercise(t, EBPF, newFixture(t, nil))
}

func TestFanotifyOnFUSEMount(t *testing.T) {
	exercise(t, Fanotify, newFixture(t, nil))
}

// TestEBPFScriptOnFUSEMount: a #!/bin/sh script on the mount runs under
// the interpreter, whose file is what the kernel holds at the exec
// tracepoint; eBPF must still report the script's own path (by absolute
// and by relative execve path) with the working directory, and the same
// script outside the mount must not be detected.
func TestEBPFScriptOnFUSEMount(t *testing.T) {
	f := newFixture(t, nil)
	script := filepath.Join(f.toolDir, "run.sh")
	outside := filepath.Join(filepath.Dir(f.outside), "run.sh")
	for _, p := range []string{script, outside} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w, err := Open(context.Background(), Options{Mechanism: EBPF})
	if err != nil {
		t.Fatalf("Open(ebpf): %v", err)
	}
	c := &collector{root: f.root, cond: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, c.sink()) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		w.Close()
	}()

	absPID := f.run(t, f.root, script, "abs")
	relPID := f.run(t, f.toolDir, "./run.sh", "rel")
	outPID := f.run(t, filepath.Dir(outside), "./run.sh", "out")
	evs := c.wait(3)
	byPID := map[int64]detector.Event{}
	for _, e := range evs {
		byPID[e.PID] = e
	}
	for _, tt := range []struct {
		name     string
		pid      int64
		exe, cwd string
		detected bool
	}{
		{"absolute", absPID, script, f.root, true},
		{"relative", relPID, script, f.toolDir, true},
		{"outside", outPID, outside, filepath.Dir(outside), false},
	} {
		e, ok := byPID[tt.pid]
		if !ok {
			t.Errorf("%s: pid %d not reported (events: %+v)", tt.name, tt.pid, evs)
			continue
		}
		if e.Executable != tt.exe || e.WorkingDirectory != tt.cwd || !strings.HasPrefix(e.CommandLine, "/bin/sh ") {
			t.Errorf("%s: got Executable %q WorkingDirectory %q CommandLine %q; want %q in %q, run by /bin/sh",
				tt.name, e.Executable, e.WorkingDirectory, e.CommandLine, tt.exe, tt.cwd)
		}
		dets, _ := detector.MustNew(detector.DefaultConfig()).Detect(context.Background(), []detector.Event{e}, nil)
		if got := len(dets) == 1; got != tt.detected {
			t.Errorf("%s: detected %v, want %v (%+v)", tt.name, got, tt.detected, dets)
		} else if got && (dets[0].Form != detector.FormXrdp || dets[0].ClientDrive != "C:" || dets[0].SharePath != "/tools/run.sh") {
			t.Errorf("%s: detection %+v", tt.name, dets[0])
		}
	}
	if st := w.Stats(); st.Lost != 0 {
		t.Errorf("lost %d events", st.Lost)
	}
}

// TestEBPFPlainDirectoryNotDetected reproduces the review's eviction flood
// (E2): any local user can make a plain directory named thinclient_drives
// and exec from it as fast as they like. Only a FUSE mount (which xrdp's
// chansrv always is) makes the xrdp form count; the same path on the local
// filesystem is reported but not detected. The bindfs mount still is.
func TestEBPFPlainDirectoryNotDetected(t *testing.T) {
	f := newFixture(t, nil)
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	plain := filepath.Join(f.root, "tmp", "u", "thinclient_drives", "C:", "tools", "tool")
	if err := os.MkdirAll(filepath.Dir(plain), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, "/bin/true", plain)
	for d := plain; d != f.root; d = filepath.Dir(d) {
		os.Lchown(d, 65534, 65534)
	}
	w, err := Open(context.Background(), Options{Mechanism: EBPF})
	if err != nil {
		t.Fatalf("Open(ebpf): %v", err)
	}
	c := &collector{root: f.root, cond: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, c.sink()) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		w.Close()
	}()

	attacker := &fixture{root: f.root, cred: nobody}
	plainPID := attacker.run(t, f.root, plain, "flood")
	mountPID := f.run(t, f.root, f.tool, "real")
	evs := c.wait(2)
	m := detector.MustNew(detector.DefaultConfig())
	byPID := map[int64]detector.Event{}
	for _, e := range evs {
		byPID[e.PID] = e
	}
	for _, tt := range []struct {
		name     string
		pid      int64
		exe      string
		fsFUSE   bool
		detected bool
	}{
		{"plain directory", plainPID, plain, false, false},
		{"bindfs mount", mountPID, f.tool, true, true},
	} {
		e, ok := byPID[tt.pid]
		if !ok {
			t.Errorf("%s: pid %d not reported (events: %+v)", tt.name, tt.pid, evs)
			continue
		}
		if e.Executable != tt.exe {
			t.Errorf("%s: Executable %q, want %q", tt.name, e.Executable, tt.exe)
		}
		if e.FSType == "" || detector.IsFUSE(e.FSType) != tt.fsFUSE {
			t.Errorf("%s: FSType %q, want FUSE %v", tt.name, e.FSType, tt.fsFUSE)
		}
		if _, got := m.Match(&e); got != tt.detected {
			t.Errorf("%s: detected %v, want %v (event %+v)", tt.name, got, tt.detected, e)
		}
	}
}

// deepTree makes dir/<names[0]>/<names[1]>/.../tool (a copy of /bin/true)
// below dir with *at calls, so the whole path may be longer than PATH_MAX.
func deepTree(t *testing.T, dir string, names []string) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := unix.Mkdirat(fd, n, 0o755); err != nil {
			t.Fatalf("mkdir %s: %v", n, err)
		}
		next, err := unix.Openat(fd, n, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	defer unix.Close(fd)
	tool, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	out, err := unix.Openat(fd, "tool", unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(out)
	if _, err := unix.Write(out, tool); err != nil {
		t.Fatal(err)
	}
}

// TestDeepRunHelper is TestEBPFDeepPathOnFUSEMount's exec'ing process: it
// walks down the "/"-separated names in TSW_DEEP_NAMES one chdir at a time
// (the whole path may be longer than PATH_MAX) and executes ./tool there.
func TestDeepRunHelper(t *testing.T) {
	names := os.Getenv("TSW_DEEP_NAMES")
	if names == "" {
		t.Skip("helper process for TestEBPFDeepPathOnFUSEMount")
	}
	for _, n := range strings.Split(names, "/") {
		if err := unix.Chdir(n); err != nil {
			fmt.Fprintf(os.Stderr, "chdir %.20s...: %v\n", n, err)
			os.Exit(2)
		}
	}
	err := unix.Exec("./tool", []string{"./tool", "deep"}, os.Environ())
	fmt.Fprintf(os.Stderr, "exec ./tool: %v\n", err)
	os.Exit(2)
}

// TestEBPFDeepPathOnFUSEMount reproduces the review's depth evasion (E4):
// the RDP client controls the directory tree on its drive, and the BPF walk
// from the leaf up used to stop after 128 steps or 4 KiB, cutting off the
// top of the path, where thinclient_drives is. A path deeper or longer than
// the walk can keep must still name the mount and the client drive, and say
// it was cut.
func TestEBPFDeepPathOnFUSEMount(t *testing.T) {
	f := newFixture(t, nil)
	// bindfs reaches the files below src by full path, so src and
	// everything below it must stay under PATH_MAX. A long user name
	// puts the mount's copy of the same tree past 4 KiB.
	mnt := filepath.Join(f.root, "home", "u"+strings.Repeat("x", 240), "thinclient_drives")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bindfs", filepath.Join(f.root, "src"), mnt).CombinedOutput(); err != nil {
		t.Fatalf("bindfs: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if err := testfuse.Unmount(mnt); err != nil {
			t.Error(err)
		}
	})
	src := filepath.Join(f.root, "src", "C:")
	rep := func(s string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	// 16 names of 250 bytes: about 4 KB below the drive, under PATH_MAX
	// on the source, past it on the mount.
	long := make([]string, 16)
	for i := range long {
		long[i] = fmt.Sprintf("%03d", i) + strings.Repeat("x", 247)
	}
	cases := []struct {
		name      string
		names     []string
		truncated bool
	}{
		{"130 levels", append([]string{"deep"}, rep("d", 129)...), false},
		{"16 names of 250 bytes", long, true},
		{"1800 levels", append([]string{"deeper"}, rep("d", 1799)...), true},
	}
	for _, c := range cases {
		deepTree(t, src, c.names)
	}
	w, err := Open(context.Background(), Options{Mechanism: EBPF})
	if err != nil {
		t.Fatalf("Open(ebpf): %v", err)
	}
	// Each helper process execs the test binary, then ./tool: keep the
	// second.
	col := &collector{root: f.root, cond: make(chan struct{}, 1),
		pidKeep: func(e *detector.Event) bool { return strings.HasSuffix(e.Executable, "/tool") }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, col.sink()) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		w.Close()
	}()
	m := detector.MustNew(detector.DefaultConfig())
	pids := make([]int64, len(cases))
	for i, c := range cases {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDeepRunHelper$")
		cmd.Env = append(os.Environ(), "TSW_DEEP_NAMES="+strings.Join(c.names, "/"))
		cmd.Dir = filepath.Join(mnt, "C:")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, out)
		}
		pids[i] = int64(cmd.ProcessState.Pid())
	}
	evs := col.waitPIDs(pids)
	for i, c := range cases {
		e, ok := evs[pids[i]]
		if !ok {
			t.Errorf("%s: pid %d not reported", c.name, pids[i])
			continue
		}
		full := filepath.Join(append([]string{mnt, "C:"}, append(c.names, "tool")...)...)
		if !c.truncated && e.Executable != full {
			t.Errorf("%s: Executable %q, want %q", c.name, e.Executable, full)
		}
		if c.truncated && (!strings.HasPrefix(e.Executable, mnt+"/C:/…/") || !strings.HasSuffix(e.Executable, "/"+c.names[len(c.names)-1]+"/tool")) {
			t.Errorf("%s: Executable %q, want %s/C:/…/.../%s/tool", c.name, e.Executable, mnt, c.names[len(c.names)-1])
		}
		if e.PathTruncated != c.truncated {
			t.Errorf("%s: PathTruncated %v, want %v", c.name, e.PathTruncated, c.truncated)
		}
		d, ok := m.Match(&e)
		if !ok || d.ClientDrive != "C:" || d.Form != detector.FormXrdp || !strings.HasSuffix(d.SharePath, "/tool") {
			t.Errorf("%s: detection %v %+v (Executable %.200q...)", c.name, ok, d, e.Executable)
		}
		t.Logf("%s: %d bytes reported, truncated %v, cwd %d bytes", c.name, len(e.Executable), e.PathTruncated, len(e.WorkingDirectory))
	}
}

// TestEBPFScriptThroughSymlink reproduces the review's D2 finding: a #!
// script reached through a symlink into the client drive
// (ln -s ~/thinclient_drives/C: ~/c; ~/c/x.sh) was named by joining the
// execve path lexically, /home/u/c/x.sh, and missed. It must be reported
// by the path the kernel opened, on the mount, with the mount's filesystem
// type; the same script in a plain directory named thinclient_drives must
// carry that directory's filesystem and not be detected.
func TestEBPFScriptThroughSymlink(t *testing.T) {
	f := newFixture(t, nil)
	script := filepath.Join(f.toolDir, "x.sh")
	plain := filepath.Join(f.root, "tmp", "u", "thinclient_drives", "C:", "x.sh")
	if err := os.MkdirAll(filepath.Dir(plain), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{script, plain} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	home := filepath.Join(f.root, "home", "u")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(home, "c")
	if err := os.Symlink(filepath.Join(f.mnt, "C:"), link); err != nil {
		t.Fatal(err)
	}
	w, err := Open(context.Background(), Options{Mechanism: EBPF})
	if err != nil {
		t.Fatalf("Open(ebpf): %v", err)
	}
	c := &collector{root: f.root, cond: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, c.sink()) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		w.Close()
	}()
	viaLink := f.run(t, home, filepath.Join(link, "tools", "x.sh"), "link")
	viaRel := f.run(t, home, "./c/tools/x.sh", "rel")
	plainPID := f.run(t, f.root, plain, "plain")
	evs := c.waitPIDs([]int64{viaLink, viaRel, plainPID})
	m := detector.MustNew(detector.DefaultConfig())
	for _, tt := range []struct {
		name     string
		pid      int64
		exe      string
		detected bool
	}{
		{"absolute through symlink", viaLink, script, true},
		{"relative through symlink", viaRel, script, true},
		{"plain directory", plainPID, plain, false},
	} {
		e, ok := evs[tt.pid]
		if !ok {
			t.Errorf("%s: pid %d not reported", tt.name, tt.pid)
			continue
		}
		if e.Executable != tt.exe || !strings.HasPrefix(e.CommandLine, "/bin/sh ") {
			t.Errorf("%s: Executable %q CommandLine %q, want %q run by /bin/sh", tt.name, e.Executable, e.CommandLine, tt.exe)
		}
		if e.FSType == "" || detector.IsFUSE(e.FSType) != tt.detected {
			t.Errorf("%s: FSType %q", tt.name, e.FSType)
		}
		if _, got := m.Match(&e); got != tt.detected {
			t.Errorf("%s: detected %v, want %v (%+v)", tt.name, got, tt.detected, e)
		}
	}
	if st := w.Stats(); !strings.Contains(st.Detail, "scripts by their own file") {
		t.Errorf("status detail %q does not say scripts are named by their own file", st.Detail)
	}
}
