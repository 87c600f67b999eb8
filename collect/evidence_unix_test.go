//go:build unix

package collect

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/store"
)

// TestEvidenceFillsLiveDetections: a live detection's program is read
// (the pid is gone: the path is read), its row shows the file's SHA-256,
// size and a 0600 copy with the same content; a FIFO is never read and
// its detection is shown without evidence; a hash the source gave is
// kept and, with copies on, the program is still copied. A replayed log
// naming the same program is not read.
func TestEvidenceFillsLiveDetections(t *testing.T) {
	root := t.TempDir()
	drive := clientDrive(t, root)
	prog := []byte("#!/bin/sh\necho evidence\n")
	tool := filepath.Join(drive, "tool")
	if err := os.WriteFile(tool, prog, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(drive, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(drive, "other")
	if err := os.WriteFile(other, []byte("other program"), 0o755); err != nil {
		t.Fatal(err)
	}
	logged := strings.Repeat("ab", 32)
	withHash := liveStart(3, other)
	withHash.SHA256 = logged
	w := &fakeWatcher{closed: make(chan struct{}), events: []detector.Event{liveStart(1, tool), liveStart(2, fifo), withHash}}
	logPath := filepath.Join(root, "log.ndjson")
	os.WriteFile(logPath, []byte(linuxLine(4, tool)), 0o600)
	evDir := filepath.Join(root, "evidence")
	h := start(t, Options{
		Sources:  []config.SourceConfig{{Type: config.SourceLive}, fileSource(logPath, false)},
		OpenLive: func(context.Context, string, string) (LiveWatcher, error) { return w, nil },
		Evidence: evidenceOn(evDir, 10*time.Second),
	})
	waitFor(t, "4 rows", func() bool { return h.count() == 4 })
	byPID := map[int64]*store.Row{}
	for _, r := range h.rows(t) {
		byPID[r.PID] = r
	}
	r := byPID[1]
	if r.SHA256 != sha256Hex(prog) || r.Event.Size != int64(len(prog)) || r.EvidencePath != filepath.Join(evDir, sha256Hex(prog)) {
		t.Errorf("live detection: sha256 %q size %d evidence_path %q", r.SHA256, r.Event.Size, r.EvidencePath)
	}
	if fi, err := os.Stat(r.EvidencePath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("copy %s: %v, mode %v; want 0600", r.EvidencePath, err, fi.Mode())
	} else if b, _ := os.ReadFile(r.EvidencePath); string(b) != string(prog) {
		t.Errorf("copy holds %q, want the program", b)
	}
	if fi, err := os.Stat(evDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("evidence.dir: %v, mode %v; want 0700", err, fi.Mode())
	}
	if r := byPID[2]; r.SHA256 != "" || r.EvidencePath != "" {
		t.Errorf("FIFO: sha256 %q evidence_path %q; want it never read", r.SHA256, r.EvidencePath)
	}
	if r := byPID[3]; r.SHA256 != logged || r.EvidencePath != filepath.Join(evDir, sha256Hex([]byte("other program"))) {
		t.Errorf("hash from the source: sha256 %q evidence_path %q; want the source's hash kept and a copy", r.SHA256, r.EvidencePath)
	}
	if r := byPID[4]; r.SHA256 != "" || r.Event.Size != 0 || r.EvidencePath != "" {
		t.Errorf("replayed log: sha256 %q size %d evidence_path %q; want nothing read", r.SHA256, r.Event.Size, r.EvidencePath)
	}
	st := evidenceStatus(t, h.c)
	if st.Target != evDir || st.EvidenceRead != 2 || st.EvidenceKept != 2 || st.EvidenceReleased != 1 || st.EvidenceWaiting != 0 {
		t.Errorf("evidence status %+v; want 2 read, 2 kept, 1 released (the FIFO)", st)
	}
	if st := h.status(0); st.Detections != 3 {
		t.Errorf("live source counted %d detections, want 3 (held ones included)", st.Detections)
	}
}
