package collect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/state"
	"github.com/tsclientwatch/tsclientwatch/store"
	"github.com/tsclientwatch/tsclientwatch/tables"
)

// evidenceOn is the default evidence configuration with copies in dir
// ("" none) and timeout.
func evidenceOn(dir string, timeout time.Duration) config.Evidence {
	e := config.Default().Evidence
	e.Dir, e.Timeout = dir, timeout
	return e
}

// clientDrive makes root/home/u/thinclient_drives/C: (a plain directory:
// the detector matches the xrdp form on the path when the watcher gives
// no filesystem type) and returns it.
func clientDrive(t *testing.T, root string) string {
	t.Helper()
	d := filepath.Join(root, "home", "u", "thinclient_drives", "C:")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// linuxLine is one ECS process start on a Linux host, as NDJSON.
func linuxLine(pid int, exe string) string {
	return strings.Replace(ecsLine(pid, exe), `"type":"windows"`, `"type":"linux"`, 1)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func liveStart(pid int64, exe string) detector.Event {
	return detector.Event{Type: detector.TypeStart, Executable: exe, PID: pid, HostOS: detector.OSLinux, Source: "ebpf",
		Time: time.Unix(1700000000+pid, 0)}
}

func evidenceStatus(t *testing.T, c *Collector) tables.SourceStatus {
	t.Helper()
	for _, st := range c.Status() {
		if st.Type == "evidence" {
			return st
		}
	}
	t.Fatal("no evidence row in the status")
	return tables.SourceStatus{}
}

// TestEvidenceOffStoresAtOnce: with hashing off and no directory nothing
// is read, nothing held, and the status has no evidence row; replays
// alone never start the reader nor create its directory.
func TestEvidenceOffStoresAtOnce(t *testing.T) {
	root := t.TempDir()
	tool := filepath.Join(clientDrive(t, root), "tool")
	os.WriteFile(tool, []byte("x"), 0o755)
	w := &fakeWatcher{closed: make(chan struct{}), events: []detector.Event{liveStart(1, tool)}}
	off := evidenceOn("", time.Second)
	off.Hash = false
	h := start(t, Options{
		Sources:  []config.SourceConfig{{Type: config.SourceLive}},
		OpenLive: func(context.Context, string, string) (LiveWatcher, error) { return w, nil },
		Evidence: off,
	})
	waitFor(t, "1 row", func() bool { return h.count() == 1 })
	if r := h.rows(t)[0]; r.SHA256 != "" || r.Event.Size != 0 {
		t.Errorf("row %+v read with hashing off", r.Detection)
	}
	for _, st := range h.c.Status() {
		if st.Type == "evidence" {
			t.Errorf("evidence row with evidence off: %+v", st)
		}
	}

	logPath := filepath.Join(root, "log.ndjson")
	os.WriteFile(logPath, []byte(linuxLine(4, tool)), 0o600)
	evDir := filepath.Join(root, "evidence")
	h = start(t, Options{Sources: []config.SourceConfig{fileSource(logPath, false)}, Evidence: evidenceOn(evDir, time.Second)})
	<-h.c.Ready()
	waitFor(t, "replayed row", func() bool { return h.count() == 1 })
	if _, err := os.Stat(evDir); !os.IsNotExist(err) {
		t.Errorf("a replay created evidence.dir: %v", err)
	}
}

// TestEvidenceRetriedAfterRestart: a detection a previous run held (it
// stopped while the program was read) is read once more at the next
// start and released with its evidence; one whose program is gone is
// released without. Neither is shown before.
func TestEvidenceRetriedAfterRestart(t *testing.T) {
	root := t.TempDir()
	drive := clientDrive(t, root)
	prog := []byte("still on the client drive")
	tool := filepath.Join(drive, "tool")
	os.WriteFile(tool, prog, 0o755)
	stateDir := filepath.Join(root, "state")
	open := func() *store.Store {
		db, snap, err := state.Open(context.Background(), stateDir)
		if err != nil {
			t.Fatal(err)
		}
		return store.Open(store.Options{}, db, snap)
	}
	det := detector.MustNew(detector.DefaultConfig())
	var held []detector.Detection
	held, _ = det.Detect(context.Background(), []detector.Event{liveStart(1, tool), liveStart(2, filepath.Join(drive, "gone"))}, held)
	if len(held) != 2 {
		t.Fatalf("%d detections, want 2", len(held))
	}
	st := open()
	for _, d := range held {
		if _, ok := st.Hold(d); !ok {
			t.Fatal("Hold refused")
		}
	}
	if err := st.Close(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	st = open()
	t.Cleanup(func() { st.Close(10 * time.Second) })
	if n := len(st.HeldRows()); n != 2 {
		t.Fatalf("%d held rows after reopen, want 2", n)
	}
	w := &fakeWatcher{closed: make(chan struct{})}
	h := start(t, Options{
		Sources:  []config.SourceConfig{{Type: config.SourceLive}},
		OpenLive: func(context.Context, string, string) (LiveWatcher, error) { return w, nil },
		Store:    st,
		Evidence: evidenceOn("", 10*time.Second),
	})
	waitFor(t, "both released", func() bool { return h.count() == 2 })
	rs := h.rows(t)
	if rs[0].PID != 1 && rs[1].PID == 1 {
		rs[0], rs[1] = rs[1], rs[0]
	}
	if rs[0].SHA256 != sha256Hex(prog) || rs[0].Event.Size != int64(len(prog)) {
		t.Errorf("retried detection: sha256 %q size %d", rs[0].SHA256, rs[0].Event.Size)
	}
	if rs[1].SHA256 != "" {
		t.Errorf("detection of a program gone: sha256 %q", rs[1].SHA256)
	}
	if n := len(st.HeldRows()); n != 0 {
		t.Errorf("%d rows still held", n)
	}
	if es := evidenceStatus(t, h.c); es.EvidenceRead != 1 || es.EvidenceFailed != 1 || !strings.Contains(es.LastError, "gone") {
		t.Errorf("evidence status %+v; want 1 read, 1 failed naming the path", es)
	}
}

// TestEvidenceDirUnusable: an evidence.dir that cannot be used (a file is
// in the way) leaves hashing on, without copies, and the status says why.
func TestEvidenceDirUnusable(t *testing.T) {
	root := t.TempDir()
	tool := filepath.Join(clientDrive(t, root), "tool")
	os.WriteFile(tool, []byte("x"), 0o755)
	blocker := filepath.Join(root, "file")
	os.WriteFile(blocker, nil, 0o600)
	w := &fakeWatcher{closed: make(chan struct{}), events: []detector.Event{liveStart(1, tool)}}
	h := start(t, Options{
		Sources:  []config.SourceConfig{{Type: config.SourceLive}},
		OpenLive: func(context.Context, string, string) (LiveWatcher, error) { return w, nil },
		Evidence: evidenceOn(filepath.Join(blocker, "evidence"), 10*time.Second),
	})
	waitFor(t, "1 row", func() bool { return h.count() == 1 })
	if r := h.rows(t)[0]; r.SHA256 != sha256Hex([]byte("x")) || r.EvidencePath != "" {
		t.Errorf("row: sha256 %q evidence_path %q; want hashed, not copied", r.SHA256, r.EvidencePath)
	}
	if st := evidenceStatus(t, h.c); st.State != StateRunning || st.Target != "hash only" || !strings.Contains(st.Warning, blocker) {
		t.Errorf("evidence status %+v; want running, hash only, a warning naming the directory", st)
	}
}
