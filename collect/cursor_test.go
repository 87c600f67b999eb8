package collect

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/evtxwrite"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/state"
	"github.com/tsclientwatch/tsclientwatch/store"
)

// run is one process's life in these tests: a durable store in dir and a
// collector over it, stopped by stop as the extension stops.
type run struct {
	c    *Collector
	st   *store.Store
	done chan error
}

func startRun(t *testing.T, dir string, opts Options) *run {
	t.Helper()
	db, snap, err := state.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	opts.Store = store.Open(store.Options{}, db, snap)
	if opts.Detector == nil {
		opts.Detector = detector.MustNew(detector.DefaultConfig())
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = poll
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := &run{c: c, st: opts.Store, done: make(chan error, 1)}
	go func() { r.done <- c.Run(context.Background()) }()
	return r
}

func (r *run) stop(t *testing.T) {
	t.Helper()
	r.c.Close()
	<-r.done
	if err := r.st.Close(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// pids returns the pids of the stored rows in eid order, and their eids.
func (r *run) pids(t *testing.T) (pids []int64, eids []uint64) {
	t.Helper()
	err := r.st.Scan(context.Background(), store.Filter{}, func(row *store.Row) bool {
		pids = append(pids, row.PID)
		eids = append(eids, row.EID)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return pids, eids
}

func (r *run) waitRows(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d rows", n), func() bool { return r.st.Stats().Rows >= n })
	// A few more polls: nothing beyond n may come.
	time.Sleep(4 * poll)
	if got := r.st.Stats().Rows; got != n {
		t.Fatalf("%d rows, want %d", got, n)
	}
}

func writeLines(t *testing.T, p string, flag int, pids ...int) {
	t.Helper()
	f, err := os.OpenFile(p, flag|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if _, err := f.WriteString(ecsLine(pid, fmt.Sprintf(`\\tsclient\c\p%d.exe`, pid))); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
}

func wantPIDs(t *testing.T, got []int64, want ...int64) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("detections for pids %v, want %v (each once)", got, want)
	}
}

func TestFollowResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "log.ndjson")
	writeLines(t, p, os.O_TRUNC, 1, 2, 3)
	opts := Options{Sources: []config.SourceConfig{fileSource(p, true)}}

	r := startRun(t, filepath.Join(dir, "state"), opts)
	r.waitRows(t, 3)
	r.stop(t)

	writeLines(t, p, os.O_APPEND, 4, 5) // written while nothing ran
	r = startRun(t, filepath.Join(dir, "state"), opts)
	r.waitRows(t, 5)
	pids, eids := r.pids(t)
	wantPIDs(t, pids, 1, 2, 3, 4, 5)
	if !slices.Equal(eids, []uint64{1, 2, 3, 4, 5}) {
		t.Errorf("eids %v", eids)
	}
	st := r.c.Status()[0]
	if st.EventsRead != 2 || !strings.Contains(st.Cursor, "offset") {
		t.Errorf("status after resuming: %+v; want only the 2 new lines read", st)
	}
	r.stop(t)

	// Nothing new: nothing is read again.
	r = startRun(t, filepath.Join(dir, "state"), opts)
	defer r.stop(t)
	r.waitRows(t, 5)
	if st := r.c.Status()[0]; st.EventsRead != 0 || r.st.Stats().Duplicates != 0 {
		t.Errorf("third start read %d events (%d duplicates); want none", st.EventsRead, r.st.Stats().Duplicates)
	}
}

func TestFollowRotationAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "log.ndjson")
	writeLines(t, p, os.O_TRUNC, 1, 2)
	opts := Options{Sources: []config.SourceConfig{fileSource(p, true)}}
	r := startRun(t, filepath.Join(dir, "state"), opts)
	r.waitRows(t, 2)
	r.stop(t)

	// While nothing ran: one more line, then rotation (rename and create).
	writeLines(t, p, os.O_APPEND, 3)
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	writeLines(t, p, os.O_TRUNC, 4)
	r = startRun(t, filepath.Join(dir, "state"), opts)
	defer r.stop(t)
	r.waitRows(t, 4)
	pids, _ := r.pids(t)
	wantPIDs(t, pids, 1, 2, 3, 4)
}

func TestFollowCopyTruncateAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "log.ndjson")
	writeLines(t, p, os.O_TRUNC, 1, 2)
	opts := Options{Sources: []config.SourceConfig{fileSource(p, true)}}
	r := startRun(t, filepath.Join(dir, "state"), opts)
	r.waitRows(t, 2)
	r.stop(t)

	// logrotate's copytruncate: the log is copied, then emptied in place.
	writeLines(t, p, os.O_APPEND, 3)
	copyFile(t, p, p+".1")
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	writeLines(t, p, os.O_APPEND, 4)
	r = startRun(t, filepath.Join(dir, "state"), opts)
	defer r.stop(t)
	r.waitRows(t, 4)
	pids, _ := r.pids(t)
	wantPIDs(t, pids, 1, 2, 3, 4)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
}

// TestFollowRotationWhileRunning: lines written to the old file after the
// last poll, just before it was renamed, are read from the renamed file.
func TestFollowRotationWhileRunning(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "log.ndjson")
	writeLines(t, p, os.O_TRUNC, 1)
	r := startRun(t, filepath.Join(dir, "state"), Options{Sources: []config.SourceConfig{fileSource(p, true)}, PollInterval: 300 * time.Millisecond})
	defer r.stop(t)
	waitFor(t, "first line", func() bool { return r.st.Stats().Rows == 1 })
	writeLines(t, p, os.O_APPEND, 2)
	os.Rename(p, p+".1")
	writeLines(t, p, os.O_TRUNC, 3)
	waitFor(t, "three rows", func() bool { return r.st.Stats().Rows == 3 })
	pids, _ := r.pids(t)
	slices.Sort(pids)
	wantPIDs(t, pids, 1, 2, 3)
}

// TestFollowEVTXAcrossRestart: a followed EVTX file is read again whole
// after a restart, and records up to the highest record id stored are
// passed over.
func TestFollowEVTXAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "Security.evtx")
	copyFile(t, testdir.Testdata(t, "evtx", "tsclient_positive.evtx"), p)
	opts := Options{Sources: []config.SourceConfig{fileSource(p, true)}}
	r := startRun(t, filepath.Join(dir, "state"), opts)
	waitFor(t, "detections", func() bool { return r.st.Stats().Rows > 0 })
	n := r.st.Stats().Rows
	r.waitRows(t, n)
	if st := r.c.Status()[0]; !strings.Contains(st.Cursor, "record id") {
		t.Errorf("cursor %q does not hold a record id", st.Cursor)
	}
	r.stop(t)
	r = startRun(t, filepath.Join(dir, "state"), opts)
	defer r.stop(t)
	r.waitRows(t, n)
	if st := r.c.Status()[0]; st.EventsRead != 0 || r.st.Stats().Duplicates != 0 {
		t.Errorf("after restart: %d events passed on, %d duplicates; want none", st.EventsRead, r.st.Stats().Duplicates)
	}
}

// gapWatcher emits its events and then watches (blocks) until closed.
type gapWatcher struct {
	events []detector.Event
	cursor string
	closed chan struct{}
	once   sync.Once
}

func (w *gapWatcher) Run(ctx context.Context, sink source.Sink) error {
	for i := range w.events {
		if err := sink.Event(&w.events[i]); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
	case <-w.closed:
	}
	return nil
}

func (w *gapWatcher) Close() error { w.once.Do(func() { close(w.closed) }); return nil }

type resumableWatcher struct{ gapWatcher }

func (w *resumableWatcher) Cursor() string { return w.cursor }

// TestLiveGapAcrossRestart: a live source without history reports the
// window it could not watch (from the last moment it had handed everything
// over to when it ran again); one that resumes from a stored cursor is
// handed that cursor and reports none.
func TestLiveGapAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ev := detector.Event{Type: detector.TypeStart, Executable: `\Device\Mup\tsclient\C\a.exe`, HostOS: detector.OSWindows, PID: 7, Source: "etw", Time: time.Now()}
	var mu sync.Mutex
	var resumes []string
	opts := Options{
		Sources: []config.SourceConfig{{Type: config.SourceETW}, {Type: config.SourceEventLog}},
		OpenLive: func(_ context.Context, typ, resume string) (LiveWatcher, error) {
			if typ == config.SourceETW {
				return &gapWatcher{events: []detector.Event{ev}, closed: make(chan struct{})}, nil
			}
			mu.Lock()
			resumes = append(resumes, resume)
			mu.Unlock()
			e := ev
			e.PID, e.Source = 8, "Security"
			return &resumableWatcher{gapWatcher{events: []detector.Event{e}, cursor: "<BookmarkList>8</BookmarkList>", closed: make(chan struct{})}}, nil
		},
	}
	r := startRun(t, dir, opts)
	waitFor(t, "two detections", func() bool { return r.st.Stats().Rows == 2 })
	time.Sleep(3 * poll) // a few cursor updates
	for _, st := range r.c.Status() {
		if !st.GapStart.IsZero() {
			t.Errorf("first start reports a gap: %+v", st)
		}
	}
	r.stop(t)
	stopped := time.Now()
	time.Sleep(300 * time.Millisecond) // nothing watches

	r = startRun(t, dir, opts)
	defer r.stop(t)
	waitFor(t, "both sources running", func() bool {
		sts := r.c.Status()
		return sts[0].State == StateRunning && sts[1].State == StateRunning
	})
	sts := r.c.Status()
	etw := sts[0]
	if etw.GapStart.IsZero() || etw.GapStart.After(stopped) || etw.GapStart.Before(stopped.Add(-liveSlack-time.Second)) ||
		etw.GapEnd.Sub(stopped) < 300*time.Millisecond {
		t.Errorf("etw gap %v .. %v; want from shortly before the stop (%v) to the restart", etw.GapStart, etw.GapEnd, stopped)
	}
	if !sts[1].GapStart.IsZero() {
		t.Errorf("the Event Log source resumed from its bookmark but reports a gap: %+v", sts[1])
	}
	mu.Lock()
	defer mu.Unlock()
	if len(resumes) != 2 || resumes[0] != "" || resumes[1] != "<BookmarkList>8</BookmarkList>" {
		t.Errorf("Event Log resumes %q; want none, then the stored bookmark", resumes)
	}
	// The same events delivered again are stored once.
	waitFor(t, "the repeated events", func() bool { return r.st.Stats().Duplicates == 2 })
	if r.st.Stats().Rows != 2 {
		t.Errorf("stats %+v", r.st.Stats())
	}
}

// TestFollowForwardedEVTX: a collected (forwarded) log holds each source
// host's EventRecordIDs, which go down as often as up within the file. The
// follower must go by the records' numbers in the file: before, a second
// host's execution logged after a first host's higher id was never read,
// in the running follower nor after a restart.
func TestFollowForwardedEVTX(t *testing.T) {
	all := evtxwrite.TSClientSamples()
	// Records 1..5 of the collecting log; the kernel-form positive (the
	// second) comes from a host whose counter is far below the first's.
	ids := []uint64{90001, 12, 88000, 7, 5}
	for i := range all {
		all[i].Number = uint64(i + 1)
		all[i].RecordID = ids[i]
		all[i].Computer = fmt.Sprintf("host%d.corp.example", i)
	}
	write := func(path string, events []evtxwrite.Event) {
		var b bytes.Buffer
		if err := evtxwrite.Write(&b, events); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(b.Bytes(), 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "ForwardedEvents.evtx")
	write(p, all[:1])
	opts := Options{Sources: []config.SourceConfig{fileSource(p, true)}}
	r := startRun(t, filepath.Join(dir, "state"), opts)
	r.waitRows(t, 1)
	write(p, all[:2]) // the second host's execution arrives
	r.waitRows(t, 2)
	r.stop(t)

	// Across a restart: what was read is not read again, what was added
	// while the extension was down is.
	all = append(all, all[1])
	all[5].Number, all[5].RecordID, all[5].Computer = 6, 3, "host5.corp.example"
	write(p, all)
	r = startRun(t, filepath.Join(dir, "state"), opts)
	defer r.stop(t)
	r.waitRows(t, 3)
	if d := r.st.Stats().Duplicates; d != 0 {
		t.Errorf("%d duplicates after restart", d)
	}
	var hosts []string
	r.st.Scan(context.Background(), store.Filter{}, func(row *store.Row) bool {
		hosts = append(hosts, row.Host)
		return true
	})
	if want := []string{"host0.corp.example", "host1.corp.example", "host5.corp.example"}; !slices.Equal(hosts, want) {
		t.Errorf("hosts %v, want %v", hosts, want)
	}
}
