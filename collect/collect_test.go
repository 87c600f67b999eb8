package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"go.uber.org/goleak"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/backoff"
	"github.com/tsclientwatch/tsclientwatch/internal/evtxwrite"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/live"
	"github.com/tsclientwatch/tsclientwatch/store"
	"github.com/tsclientwatch/tsclientwatch/tables"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// poll is the follow interval in tests: short, so waits are short, but the
// tests only ever wait for conditions, never for an amount of time.
const poll = 5 * time.Millisecond

// waitFor polls cond until it holds, failing the test after a generous
// bound (a hung pipeline, not a slow one).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type harness struct {
	c     *Collector
	store *store.Store
	done  chan error
}

func start(t *testing.T, opts Options) *harness {
	t.Helper()
	if opts.Detector == nil {
		opts.Detector = detector.MustNew(detector.DefaultConfig())
	}
	if opts.Store == nil {
		opts.Store = store.New(store.Options{})
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = poll
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{c: c, store: opts.Store, done: make(chan error, 1)}
	go func() { h.done <- c.Run(context.Background()) }()
	t.Cleanup(func() {
		c.Close()
		if err := <-h.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return h
}

func (h *harness) rows(t *testing.T) []*store.Row {
	t.Helper()
	var rows []*store.Row
	if err := h.store.Scan(context.Background(), store.Filter{}, func(r *store.Row) bool {
		rows = append(rows, r)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return rows
}

func (h *harness) count() int { return h.store.Stats().Rows }

func (h *harness) status(i int) tables.SourceStatus { return h.c.Status()[i] }

func fileSource(path string, follow bool) config.SourceConfig {
	return config.SourceConfig{Type: config.SourceFile, Path: path, Follow: follow}
}

// ecsLine is one ECS process start on an RDP client drive, as NDJSON.
func ecsLine(pid int, exe string) string {
	return fmt.Sprintf(`{"@timestamp":"2024-03-12T09:41:%02d.000Z","event":{"category":["process"],"type":["start"]},"host":{"name":"ws1","os":{"type":"windows"}},"process":{"pid":%d,"executable":%q,"command_line":"x"}}`+"\n", pid%60, pid, exe)
}

func TestReplayTestdata(t *testing.T) {
	tests := []struct {
		file string
		want []struct {
			path, drive, share, form string
			pid                      int64
		}
	}{
		{"evtx/tsclient_positive.evtx", []struct {
			path, drive, share, form string
			pid                      int64
		}{
			{evtxwrite.SampleSysmonImage, "c", `\temp\stack\a.exe`, "unc", 0},
			{evtxwrite.SampleKernelImage, "C", `\Tools\mimikatz.exe`, "kernel", 0},
		}},
		{"ecs/system_security_4688_tsclient.ndjson", []struct {
			path, drive, share, form string
			pid                      int64
		}{
			{`\Device\Mup\tsclient\C\Tools\a.exe`, "C", `\Tools\a.exe`, "kernel", 7724},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			h := start(t, Options{Sources: []config.SourceConfig{fileSource(testdir.Testdata(t, tc.file), false)}})
			<-h.c.Ready()
			waitFor(t, "replay done", func() bool { return h.status(0).State == StateDone })
			rows := h.rows(t)
			if len(rows) != len(tc.want) {
				t.Fatalf("%d detections, want %d", len(rows), len(tc.want))
			}
			for i, w := range tc.want {
				r := rows[i]
				if r.Executable != w.path || r.ClientDrive != w.drive || r.SharePath != w.share || string(r.Form) != w.form {
					t.Errorf("row %d = %q %q %q %q, want %q %q %q %q", i, r.Executable, r.ClientDrive, r.SharePath, r.Form, w.path, w.drive, w.share, w.form)
				}
				if w.pid != 0 && r.PID != w.pid {
					t.Errorf("row %d pid = %d, want %d", i, r.PID, w.pid)
				}
				if r.EID != uint64(i+1) || r.Time() <= 0 || r.RuleID != detector.RuleID {
					t.Errorf("row %d eid %d time %d rule %q", i, r.EID, r.Time(), r.RuleID)
				}
			}
			st := h.status(0)
			if st.Type != "file" || st.Target != testdir.Testdata(t, tc.file) || st.Started.IsZero() ||
				st.EventsRead < int64(len(tc.want)) || st.Detections != int64(len(tc.want)) || st.Errors != 0 {
				t.Errorf("status = %+v", st)
			}
		})
	}
}

// TestReplayTestdataDir replays every bundled sample, as the README's first
// command does, and checks that each format contributed detections.
func TestReplayTestdataDir(t *testing.T) {
	h := start(t, Options{Sources: []config.SourceConfig{fileSource(testdir.Testdata(t), false)}})
	<-h.c.Ready()
	st := h.status(0)
	// Some samples hold the same record in two encodings (the UTF-16 copy
	// of an XML file): the store keeps it once.
	if dups := h.store.Stats().Duplicates; st.State != StateDone || st.Detections == 0 || dups == 0 ||
		st.Detections != int64(h.count())+int64(dups) {
		t.Fatalf("status = %+v, store rows %d, duplicates %d", st, h.count(), dups)
	}
	forms := map[string]int{}
	sources := map[string]int{}
	for _, r := range h.rows(t) {
		forms[string(r.Form)]++
		sources[r.Source]++
	}
	for _, f := range []string{"kernel", "unc"} {
		if forms[f] == 0 {
			t.Errorf("no %s detection in testdata (forms %v)", f, forms)
		}
	}
	t.Logf("testdata: %d events, %d detections, %d errors, forms %v, sources %v, last error %q",
		st.EventsRead, st.Detections, st.Errors, forms, sources, st.LastError)
}

func TestReplayOrderAndBadInputs(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "broken.evtx")
	if err := os.WriteFile(bad, []byte("this is not an event log at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	mixed := filepath.Join(dir, "mixed")
	os.Mkdir(mixed, 0o700)
	os.WriteFile(filepath.Join(mixed, "a.ndjson"), []byte(ecsLine(1, `\\tsclient\c\a.exe`)+"{not json\n"+ecsLine(2, `\\tsclient\c\b.exe`)), 0o600)
	// A .evtx extension promises a log, so garbage under it is an error, not a skipped non-log file.
	os.WriteFile(filepath.Join(mixed, "b.evtx"), []byte{0, 1, 2, 3}, 0o600)
	missing := filepath.Join(dir, "nope.xml")

	h := start(t, Options{Sources: []config.SourceConfig{
		fileSource(bad, false), fileSource(mixed, false), fileSource(missing, false),
		fileSource(testdir.Testdata(t, "ecs", "system_security_4688_tsclient.ndjson"), false),
	}})
	<-h.c.Ready()

	st := h.c.Status()
	if st[0].State != StateFailed || st[0].Errors != 1 || !strings.Contains(st[0].LastError, bad) {
		t.Errorf("bad file status = %+v", st[0])
	}
	if st[1].State != StateDone || st[1].Detections != 2 || st[1].Errors != 2 {
		t.Errorf("mixed dir status = %+v (want done, 2 detections, 2 errors)", st[1])
	}
	if !strings.Contains(st[1].LastError, "b.evtx") && !strings.Contains(st[1].LastError, "a.ndjson") {
		t.Errorf("mixed dir last error %q names neither bad input", st[1].LastError)
	}
	if st[2].State != StateFailed || !strings.Contains(st[2].LastError, missing) {
		t.Errorf("missing file status = %+v", st[2])
	}
	if st[3].State != StateDone || st[3].Detections != 1 {
		t.Errorf("good file after bad ones: %+v", st[3])
	}
	// Replays run in configuration order, so eids follow it.
	rows := h.rows(t)
	if len(rows) != 3 || rows[0].PID != 1 || rows[1].PID != 2 || rows[2].PID != 7724 {
		t.Errorf("rows out of configuration order: %d rows", len(rows))
	}
}

func TestBadRecordNamesLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.ndjson")
	os.WriteFile(p, []byte(ecsLine(1, `\\tsclient\c\a.exe`)+"{broken\n"), 0o600)
	h := start(t, Options{Sources: []config.SourceConfig{fileSource(p, false)}})
	<-h.c.Ready()
	st := h.status(0)
	if st.Errors != 1 || !strings.Contains(st.LastError, p) || !strings.Contains(st.LastError, "line 2") {
		t.Errorf("status = %+v", st)
	}
}

func TestLiveUnavailable(t *testing.T) {
	h := start(t, Options{Sources: []config.SourceConfig{{Type: config.SourceLive}, {Type: config.SourceEBPF}}})
	<-h.c.Ready()
	for i, st := range h.c.Status() {
		if st.State != StateUnavailable || st.Errors != 1 || !strings.Contains(st.LastError, "not built yet") {
			t.Errorf("source %d status = %+v", i, st)
		}
	}
	if h.count() != 0 {
		t.Errorf("store has %d rows", h.count())
	}
}

func TestNoSources(t *testing.T) {
	h := start(t, Options{})
	<-h.c.Ready()
	st := h.c.Status()
	if len(st) != 1 || st[0].Type != "none" || !strings.Contains(st[0].LastError, "no sources configured") {
		t.Errorf("status = %+v", st)
	}
}

func TestNewRejects(t *testing.T) {
	det := detector.MustNew(detector.DefaultConfig())
	st := store.New(store.Options{})
	tests := []struct {
		opts Options
		want string
	}{
		{Options{Store: st}, "required"},
		{Options{Detector: det, Store: st, Sources: []config.SourceConfig{{Type: "file"}}}, "sources[0]: file source without a path"},
		{Options{Detector: det, Store: st, Sources: []config.SourceConfig{{Type: "live"}, {Type: "carrier-pigeon"}}}, `sources[1]: unknown source type "carrier-pigeon"`},
	}
	for _, tc := range tests {
		if _, err := New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New error = %v, want %q", err, tc.want)
		}
	}
}

// fakeWatcher emits the given events, then blocks until closed.
type fakeWatcher struct {
	events []detector.Event
	closed chan struct{}
	once   sync.Once
}

func (w *fakeWatcher) Run(ctx context.Context, sink source.Sink) error {
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

func (w *fakeWatcher) Close() error {
	w.once.Do(func() { close(w.closed) })
	return nil
}

// countingWatcher also reports what it saw and lost, as source/live's
// watchers do.
type countingWatcher struct {
	*fakeWatcher
	lost uint64
}

func (w *countingWatcher) Stats() live.Stats {
	return live.Stats{Mechanism: "ebpf", Detail: "tp_btf/sched_process_exec", Events: uint64(len(w.events)), Lost: w.lost}
}

// TestLiveWatcherStats: the kernel's lost events and the mechanism in use
// reach the status table.
func TestLiveWatcherStats(t *testing.T) {
	w := &countingWatcher{fakeWatcher: &fakeWatcher{closed: make(chan struct{}), events: []detector.Event{
		{Type: detector.TypeStart, Executable: "/usr/bin/true", PID: 10, Source: "ebpf"},
	}}, lost: 7}
	h := start(t, Options{
		Sources:  []config.SourceConfig{{Type: config.SourceLive}},
		OpenLive: func(context.Context, string, string) (LiveWatcher, error) { return w, nil },
	})
	<-h.c.Ready()
	waitFor(t, "live event read", func() bool { return h.status(0).EventsRead == 1 })
	if st := h.status(0); st.Target != "ebpf: tp_btf/sched_process_exec" || st.Dropped != 7 {
		t.Errorf("status = %+v, want target naming the mechanism and 7 dropped", st)
	}
}

func TestLiveOpenerRejectsUnknownMechanism(t *testing.T) {
	_, err := LiveOpener(live.Options{})(context.Background(), "kprobe", "")
	if err == nil || !strings.Contains(err.Error(), `unknown mechanism "kprobe"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestLiveWatcher(t *testing.T) {
	w := &fakeWatcher{closed: make(chan struct{}), events: []detector.Event{
		{Type: detector.TypeStart, Executable: "/home/u/thinclient_drives/home/run", PID: 9, HostOS: detector.OSLinux, Source: "ebpf", Time: time.Unix(1700000000, 0)},
		{Type: detector.TypeStart, Executable: "/usr/bin/true", PID: 10, Source: "ebpf"},
	}}
	var gotType string
	h := start(t, Options{
		Sources: []config.SourceConfig{{Type: config.SourceLive}},
		OpenLive: func(_ context.Context, typ, _ string) (LiveWatcher, error) {
			gotType = typ
			return w, nil
		},
	})
	<-h.c.Ready()
	// Fewer events than a batch: the timer must flush them.
	waitFor(t, "live detection", func() bool { return h.count() == 1 })
	st := h.status(0)
	if gotType != "live" || st.State != StateRunning || st.EventsRead != 2 || st.Detections != 1 {
		t.Errorf("type %q status %+v", gotType, st)
	}
	h.c.Close()
	if st := h.status(0); st.State != StateStopped {
		t.Errorf("after Close: %+v", st)
	}
}

func TestLiveOpenFails(t *testing.T) {
	h := start(t, Options{
		Sources: []config.SourceConfig{{Type: config.SourceFanotify}},
		OpenLive: func(context.Context, string, string) (LiveWatcher, error) {
			return nil, errors.New("fanotify: operation not permitted")
		},
	})
	<-h.c.Ready()
	if st := h.status(0); st.State != StateUnavailable || st.LastError != "fanotify: operation not permitted" {
		t.Errorf("status = %+v", st)
	}
}

// failingDetector fails every batch.
type failingDetector struct{}

func (failingDetector) Info() detector.Rule { return detector.DefaultRule() }
func (failingDetector) Detect(_ context.Context, _ []detector.Event, out []detector.Detection) ([]detector.Detection, error) {
	return out, errors.New("plugin unreachable")
}

func TestDetectorFailureDropsBatch(t *testing.T) {
	h := start(t, Options{
		Detector:  failingDetector{},
		BatchSize: 1,
		Sources:   []config.SourceConfig{fileSource(testdir.Testdata(t, "ecs", "system_security_4688_tsclient.ndjson"), false)},
	})
	<-h.c.Ready()
	st := h.status(0)
	if st.State != StateDone || st.Dropped != 1 || st.EventsRead != 1 || st.Errors != 1 ||
		!strings.Contains(st.LastError, "plugin unreachable") || h.count() != 0 {
		t.Errorf("status = %+v", st)
	}
}

// partialDetector judges every event but the first of each batch.
type partialDetector struct{ m *detector.Matcher }

func (p partialDetector) Info() detector.Rule { return p.m.Info() }

func (p partialDetector) Detect(ctx context.Context, batch []detector.Event, out []detector.Detection) ([]detector.Detection, error) {
	out, _ = p.m.Detect(ctx, batch[1:], out)
	return out, &detector.PartialError{Unjudged: []int{0}, Err: errors.New("event refused")}
}

// TestPartialVerdictKeepsTheRest: review E5. When the detector could not
// judge one event of a batch, only that event is dropped; the detections
// among the others are stored.
func TestPartialVerdictKeepsTheRest(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.ndjson")
	appendFile(t, p, ecsLine(1, `\\tsclient\c\a.exe`)+ecsLine(2, `\\tsclient\c\b.exe`)+ecsLine(3, `\\tsclient\c\c.exe`))
	h := start(t, Options{
		Detector:  partialDetector{detector.MustNew(detector.DefaultConfig())},
		BatchSize: 3,
		Sources:   []config.SourceConfig{fileSource(p, false)},
	})
	<-h.c.Ready()
	st := h.status(0)
	if st.EventsRead != 3 || st.Dropped != 1 || st.Detections != 2 || st.Errors != 1 || h.count() != 2 ||
		!strings.Contains(st.LastError, "event refused (1 of 3 events dropped)") {
		t.Errorf("status = %+v, %d rows", st, h.count())
	}
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFollowNDJSON(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "events.ndjson")
	// The file does not exist yet: the source waits for it.
	h := start(t, Options{Sources: []config.SourceConfig{fileSource(p, true)}})
	<-h.c.Ready()
	if st := h.status(0); st.State != StateWaiting {
		t.Fatalf("state before the file exists = %q", st.State)
	}

	appendFile(t, p, ecsLine(1, `\\tsclient\c\a.exe`))
	waitFor(t, "first line", func() bool { return h.count() == 1 })
	if st := h.status(0); st.State != StateRunning {
		t.Errorf("state = %q", st.State)
	}

	// A line written in two parts is read once, when complete.
	line2 := ecsLine(2, `\\tsclient\c\b.exe`)
	appendFile(t, p, ecsLine(3, `C:\Windows\notepad.exe`)+line2[:20])
	waitFor(t, "benign line read", func() bool { return h.status(0).EventsRead == 2 })
	appendFile(t, p, line2[20:]+"{bad json\n")
	waitFor(t, "completed line", func() bool { return h.count() == 2 })
	waitFor(t, "bad line reported", func() bool { return h.status(0).Errors == 1 })
	if st := h.status(0); !strings.Contains(st.LastError, p) || !strings.Contains(st.LastError, "line 4") {
		t.Errorf("bad line error %q does not name the file and line 4", st.LastError)
	}

	// Rotation: the file is renamed away and a new one takes its name.
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p, ecsLine(4, `\\tsclient\d\c.exe`))
	waitFor(t, "line of the rotated-in file", func() bool { return h.count() == 3 })

	// Truncation: the file is emptied in place and written again.
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p, ecsLine(5, `\\tsclient\e\d.exe`))
	waitFor(t, "line after truncation", func() bool { return h.count() == 4 })

	var pids []int64
	for _, r := range h.rows(t) {
		pids = append(pids, r.PID)
	}
	if fmt.Sprint(pids) != "[1 2 4 5]" {
		t.Errorf("detections for pids %v, want [1 2 4 5] (each once)", pids)
	}
	if st := h.status(0); st.Detections != 4 || st.EventsRead != 5 || st.Errors != 1 {
		t.Errorf("status = %+v", st)
	}
}

func TestFollowXML(t *testing.T) {
	src, err := os.ReadFile(testdir.Testdata(t, "xml", "sysmon_tsclient.xml"))
	if err != nil {
		t.Fatal(err)
	}
	// Replay the sample once to learn how many detections it holds.
	ref := start(t, Options{Sources: []config.SourceConfig{fileSource(testdir.Testdata(t, "xml", "sysmon_tsclient.xml"), false)}})
	<-ref.c.Ready()
	want := ref.count()
	if want == 0 {
		t.Fatal("sample has no detection")
	}

	// Write the sample in two parts, cut in the middle of an event.
	p := filepath.Join(t.TempDir(), "live.xml")
	cut := bytes.Index(src, []byte("</Event>")) + 20
	os.WriteFile(p, src[:cut], 0o600)
	h := start(t, Options{Sources: []config.SourceConfig{fileSource(p, true)}})
	<-h.c.Ready()
	appendFile(t, p, string(src[cut:]))
	waitFor(t, "all XML detections", func() bool { return h.count() == want })
	// The same events again, as a log would grow: detected again, and
	// stored once (the same records).
	appendFile(t, p, string(src))
	waitFor(t, "appended XML detections", func() bool { return h.status(0).Detections == int64(2*want) })
	if st, dups := h.status(0), h.store.Stats().Duplicates; st.Errors != 0 || h.count() != want || dups != uint64(want) {
		t.Errorf("status = %+v, %d rows, %d duplicates; want %d rows and %d duplicates", st, h.count(), dups, want, want)
	}
}

func TestFollowEVTX(t *testing.T) {
	all := evtxwrite.TSClientSamples()
	write := func(path string, events []evtxwrite.Event) {
		var b bytes.Buffer
		if err := evtxwrite.Write(&b, events); err != nil {
			t.Fatal(err)
		}
		// Rewrite in place (same file, never shorter), as a log grows.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(b.Bytes(), 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	p := filepath.Join(t.TempDir(), "Security.evtx")
	write(p, all[:1]) // the Sysmon positive only
	h := start(t, Options{Sources: []config.SourceConfig{fileSource(p, true)}})
	<-h.c.Ready()
	if h.count() != 1 {
		t.Fatalf("after first pass: %d detections, want 1", h.count())
	}
	write(p, all)
	waitFor(t, "records appended to the EVTX", func() bool { return h.status(0).EventsRead == int64(len(all)) })
	rows := h.rows(t)
	if len(rows) != 2 || rows[0].Executable != evtxwrite.SampleSysmonImage || rows[1].Executable != evtxwrite.SampleKernelImage {
		t.Errorf("rows = %d, want the two sample positives once each", len(rows))
	}
}

func TestFollowRejectsUnfollowable(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.log")
	os.WriteFile(junk, bytes.Repeat([]byte("garbage "), 1000), 0o600)
	h := start(t, Options{Sources: []config.SourceConfig{fileSource(junk, true), fileSource(dir, true)}})
	<-h.c.Ready()
	st := h.c.Status()
	if st[0].Errors != 1 || !strings.Contains(st[0].LastError, "unknown format") || !strings.Contains(st[0].LastError, junk) {
		t.Errorf("junk status = %+v", st[0])
	}
	if st[1].State != StateFailed || !strings.Contains(st[1].LastError, "is a directory") {
		t.Errorf("directory status = %+v", st[1])
	}
	// Replacing the junk with a good file recovers.
	os.Remove(junk)
	appendFile(t, junk, ecsLine(1, `\\tsclient\c\a.exe`))
	waitFor(t, "detection after replacing junk", func() bool { return h.count() == 1 })
}

func TestCloseStopsFollowers(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.ndjson")
	appendFile(t, p, ecsLine(1, `\\tsclient\c\a.exe`))
	c, err := New(Options{
		Detector: detector.MustNew(detector.DefaultConfig()), Store: store.New(store.Options{}),
		PollInterval: poll, Sources: []config.SourceConfig{fileSource(p, true), {Type: "live"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- c.Run(context.Background()) }()
	<-c.Ready()
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := c.Status()[0]; st.State != StateStopped {
		t.Errorf("state after Close = %q", st.State)
	}
	if err := c.Run(context.Background()); err == nil {
		t.Error("second Run succeeded")
	}
	c.Close() // twice is fine
}

func TestRunEndsWithContext(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.ndjson")
	c, err := New(Options{
		Detector: detector.MustNew(detector.DefaultConfig()), Store: store.New(store.Options{}),
		PollInterval: poll, Sources: []config.SourceConfig{fileSource(p, true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	<-c.Ready()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	c.Close()
}

// TestFollowUTF16XML follows a UTF-16 event XML file, which is read whole
// rather than cut on byte patterns.
func TestFollowUTF16XML(t *testing.T) {
	src := testdir.Testdata(t, "xml", "security_4688_tsclient_utf16le.xml")
	ref := start(t, Options{Sources: []config.SourceConfig{fileSource(src, false)}})
	<-ref.c.Ready()
	want := ref.count()
	if want == 0 {
		t.Fatal("sample has no detection")
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "utf16.xml")
	os.WriteFile(p, data, 0o600)
	h := start(t, Options{Sources: []config.SourceConfig{fileSource(p, true)}})
	<-h.c.Ready()
	if h.count() != want {
		t.Fatalf("%d detections, want %d", h.count(), want)
	}
	// The log grows: the same events again, before the closing </Events>
	// (a rewrite keeping the same beginning, as an exporter adding events does).
	text := utf16Decode(t, data)
	body := text[strings.Index(text, "<Event "):strings.LastIndex(text, "</Events>")]
	// Later events have later record ids: ids decide what is new.
	body = regexp.MustCompile(`<EventRecordID>(\d+)</EventRecordID>`).ReplaceAllString(body, "<EventRecordID>9${1}</EventRecordID>")
	grown := utf16Encode(strings.Replace(text, "</Events>", body+"</Events>", 1))
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(grown, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	waitFor(t, "events added to the UTF-16 file", func() bool { return h.count() == 2*want })
	if st := h.status(0); st.Errors != 0 || st.Detections != int64(2*want) {
		t.Errorf("status %+v", st)
	}
}

func utf16Decode(t *testing.T, b []byte) string {
	t.Helper()
	if len(b)%2 != 0 || !bytes.HasPrefix(b, []byte{0xff, 0xfe}) {
		t.Fatal("not UTF-16LE with a BOM")
	}
	u := make([]uint16, 0, len(b)/2)
	for i := 2; i < len(b); i += 2 {
		u = append(u, uint16(b[i])|uint16(b[i+1])<<8)
	}
	return string(utf16.Decode(u))
}

func utf16Encode(s string) []byte {
	out := []byte{0xff, 0xfe}
	for _, u := range utf16.Encode([]rune(s)) {
		out = append(out, byte(u), byte(u>>8))
	}
	return out
}

// scriptedWatcher is one run of a live source in TestLiveRestarts: it emits
// its events, then fails with err (nil: it stops on its own) or, when
// block is set, waits to be closed.
type scriptedWatcher struct {
	events []detector.Event
	err    error
	block  bool
	lost   uint64
	cursor string
	closed chan struct{}
	once   sync.Once
}

func (w *scriptedWatcher) Run(ctx context.Context, sink source.Sink) error {
	for i := range w.events {
		if err := sink.Event(&w.events[i]); err != nil {
			return err
		}
	}
	if w.block {
		select {
		case <-ctx.Done():
		case <-w.closed:
		}
		return nil
	}
	return w.err
}

func (w *scriptedWatcher) Close() error {
	w.once.Do(func() { close(w.closed) })
	return nil
}

func (w *scriptedWatcher) Stats() live.Stats {
	return live.Stats{Mechanism: "eventlog", Detail: "Security: subscribed", Lost: w.lost, LostBuffers: 1, Warning: "audit off"}
}

func (w *scriptedWatcher) Cursor() string { return w.cursor }

// TestLiveRestarts: a live source that fails, stops on its own or cannot
// be opened is started again, from the previous watcher's cursor; the
// status counts the restarts and keeps every watcher's losses.
func TestLiveRestarts(t *testing.T) {
	start1 := detector.Event{Type: detector.TypeStart, Executable: `\Device\Mup\tsclient\C\a.exe`, HostOS: detector.OSWindows, PID: 1, Source: "eventlog:security"}
	start2 := start1
	start2.PID = 2
	runs := []*scriptedWatcher{
		{events: []detector.Event{start1}, err: errors.New("eventlog: Security: 5 reads or subscriptions in a row failed"), lost: 2, cursor: "<BookmarkList>1</BookmarkList>"},
		nil,                 // the service is still down: opening fails
		{err: nil, lost: 1}, // stops on its own; no cursor: the previous one is kept
		{events: []detector.Event{start2}, block: true, cursor: "<BookmarkList>3</BookmarkList>"},
	}
	var mu sync.Mutex
	var resumes []string
	opens := 0
	h := start(t, Options{
		Sources: []config.SourceConfig{{Type: config.SourceEventLog}},
		Restart: backoff.Policy{Min: time.Millisecond, Max: 2 * time.Millisecond},
		OpenLive: func(_ context.Context, typ, resume string) (LiveWatcher, error) {
			mu.Lock()
			defer mu.Unlock()
			resumes = append(resumes, resume)
			if opens >= len(runs) {
				t.Errorf("opened %d times", opens+1)
				return nil, errors.New("too many opens")
			}
			w := runs[opens]
			opens++
			if w == nil {
				return nil, errors.New("eventlog: no channel could be subscribed: RPC server unavailable")
			}
			w.closed = make(chan struct{})
			return w, nil
		},
	})
	waitFor(t, "the fourth watcher", func() bool { return h.count() == 2 && h.status(0).State == StateRunning && h.status(0).Restarts == 3 })
	st := h.status(0)

	if st.Dropped != 3 || st.LostBuffers != 3 || st.Errors != 3 || st.Warning != "audit off" || st.Target != "eventlog: Security: subscribed" ||
		!strings.Contains(st.LastError, "stopped on its own") {
		t.Errorf("status %+v", st)
	}
	mu.Lock()
	want := []string{"", "<BookmarkList>1</BookmarkList>", "<BookmarkList>1</BookmarkList>", "<BookmarkList>1</BookmarkList>"}
	if !slices.Equal(resumes, want) {
		t.Errorf("resumed from %q, want %q", resumes, want)
	}
	mu.Unlock()
	h.c.Close()
	if st := h.status(0); st.State != StateStopped || st.Restarts != 3 {
		t.Errorf("after Close: %+v", st)
	}
}

// TestLiveUnsupportedNotRetried: a mechanism the platform lacks is
// reported once and the source ends.
func TestLiveUnsupportedNotRetried(t *testing.T) {
	opens := 0
	h := start(t, Options{
		Sources: []config.SourceConfig{{Type: config.SourceETW}},
		Restart: backoff.Policy{Min: time.Millisecond, Max: time.Millisecond},
		OpenLive: func(context.Context, string, string) (LiveWatcher, error) {
			opens++
			return nil, fmt.Errorf("%w: etw is not available on linux", live.ErrUnsupported)
		},
	})
	select {
	case <-h.c.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the source kept retrying")
	}
	if st := h.status(0); st.State != StateUnavailable || st.Restarts != 0 || opens != 1 {
		t.Errorf("status %+v after %d opens", st, opens)
	}
}

// TestOsquerySource: an osquery source opens through OpenOsquery with its
// configuration, is restarted like a live source, and is unavailable
// without an opener.
func TestOsquerySource(t *testing.T) {
	sc := config.SourceConfig{Type: config.SourceOsquery, Interval: 5 * time.Second, Table: "process_etw_events"}
	var got []config.SourceConfig
	var resumes []string
	var mu sync.Mutex
	runs := []*scriptedWatcher{
		{events: []detector.Event{{Type: detector.TypeStart, Executable: `\Device\Mup\tsclient\C\a.exe`, HostOS: detector.OSWindows, Source: "osquery:process_etw_events"}},
			err: errors.New("osquery source: query process_etw_events at /var/osquery/osquery.em: EOF"), cursor: "osquery:process_etw_events:10:3"},
		{block: true},
	}
	h := start(t, Options{
		Sources: []config.SourceConfig{sc},
		Restart: backoff.Policy{Min: time.Millisecond},
		OpenOsquery: func(_ context.Context, c config.SourceConfig, resume string) (LiveWatcher, error) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, c)
			resumes = append(resumes, resume)
			w := runs[min(len(got)-1, len(runs)-1)]
			w.closed = make(chan struct{})
			return w, nil
		},
	})
	waitFor(t, "the restarted source", func() bool { return h.status(0).Restarts == 1 && h.status(0).State == StateRunning })
	mu.Lock()
	if len(got) != 2 || got[0] != sc || !slices.Equal(resumes, []string{"", "osquery:process_etw_events:10:3"}) {
		t.Errorf("opened with %+v, resumes %q", got, resumes)
	}
	mu.Unlock()
	waitFor(t, "the detection", func() bool { return h.count() == 1 })

	h2 := start(t, Options{Sources: []config.SourceConfig{sc}})
	<-h2.c.Ready()
	if st := h2.status(0); st.State != StateUnavailable || !strings.Contains(st.LastError, "run it in the osquery extension") {
		t.Errorf("status without an opener: %+v", st)
	}
}
