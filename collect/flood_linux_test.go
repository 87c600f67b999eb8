package collect

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source/live"
	"github.com/tsclientwatch/tsclientwatch/store"
)

// TestLiveFloodKeepsOthersDetection reproduces the review's E2 live, as
// root: the live watcher sees a real detection by one user (uid 1000), then
// a flood of execs by another (uid 65534, nobody) from the same
// thinclient_drives FUSE mount, 1.5 times the store's cap, before any query
// reads the store. The flooder's own rows give way; the other user's stays.
// (The review used 60,000 execs against the default cap of 50,000; the cap
// here is 2,000 to keep the test short: the policy does not depend on it.)
func TestLiveFloodKeepsOthersDetection(t *testing.T) {
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "the live flood needs root for eBPF and bindfs")
	}
	if _, err := exec.LookPath("bindfs"); err != nil {
		testdir.SkipOutsideCI(t, "the live flood needs bindfs (apt-get install bindfs)")
	}
	root, err := os.MkdirTemp("", "tswflood")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	os.Chmod(root, 0o755)
	src := filepath.Join(root, "src")
	mnt := filepath.Join(root, "home", "u", "thinclient_drives")
	for _, d := range []string{filepath.Join(src, "C:"), mnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tool, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "C:", "tool"), tool, 0o755); err != nil {
		t.Fatal(err)
	}
	// allow_other: the flooder is not root; the mount is a real FUSE
	// filesystem, as xrdp's is.
	if out, err := exec.Command("bindfs", "-o", "allow_other", src, mnt).CombinedOutput(); err != nil {
		t.Fatalf("bindfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	prog := filepath.Join(mnt, "C:", "tool")

	const maxEvents = 2000
	st := store.New(store.Options{MaxEvents: maxEvents})
	h := start(t, Options{Sources: []config.SourceConfig{{Type: config.SourceLive}}, Store: st,
		OpenLive: LiveOpener(live.Options{MountNames: detector.DefaultConfig().XrdpMountNames})})
	waitFor(t, "the live watcher", func() bool { return h.status(0).State == StateRunning })

	runAs := func(uid uint32) int {
		cmd := exec.Command(prog)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		if err := cmd.Run(); err != nil {
			t.Fatalf("run %s as uid %d: %v", prog, uid, err)
		}
		return cmd.Process.Pid
	}
	real := runAs(1000)
	waitFor(t, "the real detection", func() bool { return h.count() >= 1 })
	for i := 0; i < maxEvents*3/2; i++ {
		runAs(65534)
	}
	waitFor(t, "the flood", func() bool { return st.Stats().Added >= maxEvents*3/2+1 })
	found := false
	for _, r := range h.rows(t) {
		if r.PID == int64(real) {
			found = true
		}
	}
	s := st.Stats()
	t.Logf("live flood: %d added, %d held, %d dropped for the cap (%d unread), %d owners; the other user's detection kept: %v",
		s.Added, s.Rows, s.DroppedCap, s.DroppedUnread, s.Owners, found)
	if !found || s.DroppedCap == 0 {
		t.Errorf("uid 1000's detection (pid %d) was pushed out by uid 65534's flood: %+v", real, s)
	}
}
