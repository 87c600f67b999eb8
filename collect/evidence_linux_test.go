//go:build linux

package collect

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/osquery/osquery-go/plugin/table"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/internal/testfuse"
	"github.com/tsclientwatch/tsclientwatch/source/live"
	"github.com/tsclientwatch/tsclientwatch/state"
	"github.com/tsclientwatch/tsclientwatch/store"
	"github.com/tsclientwatch/tsclientwatch/tables"
)

// TestEvidenceLiveTable is the extension's path, as root with eBPF: a
// program started from a bindfs thinclient_drives mount appears in
// tsclient_executions with the file's SHA-256, its size and a 0600 copy;
// a program whose read never ends (a FUSE daemon that never answers the
// reader's open) stays held, invisible, while the detection after it is
// shown, and is shown without evidence, after it, once evidence.timeout
// passes. The status counters say so.
func TestEvidenceLiveTable(t *testing.T) {
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "live evidence test needs root for eBPF and FUSE")
	}
	if _, err := exec.LookPath("bindfs"); err != nil {
		testdir.SkipOutsideCI(t, "live evidence test needs bindfs (apt-get install bindfs)")
	}
	const nobody = 65534
	root, err := os.MkdirTemp("", "tswevcollect")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if root, err = filepath.EvalSymlinks(root); err != nil {
		t.Fatal(err)
	}
	os.Chmod(root, 0o755)
	bin, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	src, mnt := filepath.Join(root, "src"), filepath.Join(root, "home", "alice", "thinclient_drives")
	testfuse.Mkdir(t, filepath.Join(src, "D:"), 0, 0)
	testfuse.Mkdir(t, mnt, 0, 0)
	second := append(append([]byte(nil), bin...), 1)
	os.WriteFile(filepath.Join(src, "D:", "payload"), bin, 0o755)
	os.WriteFile(filepath.Join(src, "D:", "second"), second, 0o755)
	if out, err := exec.Command("bindfs", src, mnt).CombinedOutput(); err != nil {
		t.Fatalf("bindfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { testfuse.Unmount(mnt) })
	slowSrc, slowMnt := filepath.Join(root, "slowsrc"), filepath.Join(root, "home", "bob", "thinclient_drives")
	testfuse.Mkdir(t, filepath.Join(slowSrc, "E:"), nobody, nobody)
	testfuse.Mkdir(t, slowMnt, nobody, nobody)
	os.WriteFile(filepath.Join(slowSrc, "E:", "slow"), bin, 0o755)
	stall := testfuse.New(t, slowSrc, slowMnt, testfuse.Options{Owner: nobody, Group: nobody, AllowOther: true, StallRoot: true})
	t.Cleanup(stall.Release)

	payload, secondPath, slow := filepath.Join(mnt, "D:", "payload"), filepath.Join(mnt, "D:", "second"), filepath.Join(slowMnt, "E:", "slow")
	stateDir, evDir := filepath.Join(root, "state"), filepath.Join(root, "evidence")
	st := openState(t, stateDir)
	h := start(t, Options{
		Sources:  []config.SourceConfig{{Type: config.SourceEBPF}},
		OpenLive: LiveOpener(live.Options{MountNames: []string{"thinclient_drives"}}),
		Store:    st,
		// eBPF sees every exec on the host, other tests' floods included:
		// enough workers and queue that theirs do not starve ours.
		Evidence: func() config.Evidence {
			e := evidenceOn(evDir, 5*time.Second)
			e.Concurrency, e.Queue = 8, 65536
			return e
		}(),
	})
	<-h.c.Ready()
	if s := h.status(0); s.State != StateRunning {
		t.Fatalf("ebpf source: %+v", s)
	}
	tbl := tables.Executions(st)
	rowOf := func(path string) map[string]string {
		rows, err := tbl.Generate(context.Background(), table.QueryContext{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r["path"] == path {
				return r
			}
		}
		return nil
	}
	runAs := func(uid int, path string) {
		t.Helper()
		cmd := exec.Command(path)
		cmd.Dir = "/"
		if uid != 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("run %s: %v\n%s", path, err, out)
		}
	}

	runAs(0, payload)
	waitFor(t, "the payload's row", func() bool { return rowOf(payload) != nil })
	r := rowOf(payload)
	if r["sha256"] != sha256Hex(bin) || r["size"] != strconv.Itoa(len(bin)) || r["evidence_path"] != filepath.Join(evDir, sha256Hex(bin)) {
		t.Errorf("payload row: sha256 %q size %q evidence_path %q; want %s", r["sha256"], r["size"], r["evidence_path"], sha256Hex(bin))
	}
	if fi, err := os.Stat(r["evidence_path"]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("copy: %v, want mode 0600", err)
	}

	runAs(nobody, slow)
	runAs(0, secondPath)
	waitFor(t, "the second program's row", func() bool { return rowOf(secondPath) != nil })
	if rowOf(slow) != nil {
		t.Fatal("the hung read's detection is shown before its evidence settled")
	}
	if !heldPath(st, slow) {
		t.Errorf("held rows %+v, want the hung read's detection among them", st.HeldRows())
	}
	if es := evidenceStatus(t, h.c); es.EvidenceWaiting < 1 {
		t.Errorf("evidence status %+v, want the hung read waiting", es)
	}
	if r := rowOf(secondPath); r["sha256"] != sha256Hex(second) {
		t.Errorf("second row: sha256 %q, want %s", r["sha256"], sha256Hex(second))
	}
	waitFor(t, "the hung read's row", func() bool { return rowOf(slow) != nil })
	if r := rowOf(slow); r["sha256"] != "" || r["evidence_path"] != "" {
		t.Errorf("hung read's row: sha256 %q evidence_path %q; want none", r["sha256"], r["evidence_path"])
	}
	if a, b := eidOf(t, rowOf(slow)), eidOf(t, rowOf(secondPath)); a <= b {
		t.Errorf("the hung read's row has eid %d, not after the second program's %d", a, b)
	}
	// The counters cover every exec on the host: at least ours.
	es := evidenceStatus(t, h.c)
	if es.EvidenceRead < 2 || es.EvidenceKept < 2 || es.EvidenceTimedOut < 1 || es.EvidenceReleased < 1 || es.EvidenceHung < 1 {
		t.Errorf("evidence status %+v; want at least 2 read, 2 kept, 1 timed out and released, 1 hung", es)
	}
	if heldPath(st, slow) {
		t.Error("the hung read's detection is still held after it was shown")
	}
}

func heldPath(st *store.Store, path string) bool {
	for _, h := range st.HeldRows() {
		if h.Detection.Executable == path {
			return true
		}
	}
	return false
}

func eidOf(t *testing.T, row map[string]string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(row["eid"], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// openState opens a durable store in dir, closed when the test ends.
func openState(t *testing.T, dir string) *store.Store {
	t.Helper()
	db, snap, err := state.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	st := store.Open(store.Options{}, db, snap)
	t.Cleanup(func() { st.Close(10 * time.Second) })
	return st
}

// TestEvidenceQueueFull: with one worker stuck on a read that never ends
// and a queue of one, further detections are not held: they are shown at
// once, without evidence, before any read has timed out, and counted as
// released. The watcher is never made to wait.
func TestEvidenceQueueFull(t *testing.T) {
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "the queue test needs root for a FUSE mount")
	}
	root := t.TempDir()
	src, mnt := filepath.Join(root, "src"), filepath.Join(root, "home", "u", "thinclient_drives")
	testfuse.Mkdir(t, filepath.Join(src, "C:"), 0, 0)
	testfuse.Mkdir(t, mnt, 0, 0)
	var events []detector.Event
	for i := range 4 {
		name := filepath.Join(src, "C:", "tool"+strconv.Itoa(i))
		if err := os.WriteFile(name, []byte("program "+strconv.Itoa(i)), 0o755); err != nil {
			t.Fatal(err)
		}
		events = append(events, liveStart(int64(100+i), filepath.Join(mnt, "C:", "tool"+strconv.Itoa(i))))
	}
	stall := testfuse.New(t, src, mnt, testfuse.Options{StallRoot: true})
	t.Cleanup(stall.Release)
	ev := evidenceOn("", time.Minute)
	ev.Concurrency, ev.Queue = 1, 1
	w := &fakeWatcher{closed: make(chan struct{}), events: events}
	h := start(t, Options{
		Sources:  []config.SourceConfig{{Type: config.SourceLive}},
		OpenLive: func(context.Context, string, string) (LiveWatcher, error) { return w, nil },
		Evidence: ev,
	})
	waitFor(t, "a detection released at once", func() bool { return h.count() > 0 })
	es := evidenceStatus(t, h.c)
	if es.EvidenceTimedOut != 0 || es.EvidenceReleased < 1 || es.EvidenceWaiting < 1 {
		t.Errorf("evidence status %+v; want released ones while others wait, none timed out yet", es)
	}
	for _, r := range h.rows(t) {
		if r.SHA256 != "" || r.Event.Size != 0 {
			t.Errorf("row %s released from a full queue carries evidence", r.Executable)
		}
	}
	if n, held := h.count(), len(h.store.HeldRows()); n+held != 4 || held < 1 {
		t.Errorf("%d shown and %d held, want the 4 detections with the stuck ones held", n, held)
	}
}
