package etw

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// patience bounds every wait: it turns a hang into a failure, nothing is
// expected to take long.
const patience = 20 * time.Second

// fakeSys plays advapi32 for the watcher: sessions by name, consumers that
// deliver scripted records on Process's goroutine, processes and tokens.
// It also checks the rules the real API imposes: no ControlTrace from the
// callback, CloseTrace at most once per consumer.
type fakeSys struct {
	t       *testing.T
	pid     uint32
	created uint64

	mu         sync.Mutex
	procs      map[uint32]uint64 // running pid -> creation time
	procErr    map[uint32]error
	sessions   map[string]*fakeSession
	listErr    error
	startErr   error
	enableErrs []error // returned by successive EnableProvider calls
	enabled    [][]uint16
	stops      []string
	consumers  map[uint64]*fakeConsumer
	handles    uint64
	processErr error
	tokens     map[uint32]fakeToken
	logonReads int // ProcessLogon calls
	accounts   map[string]string
	lookups    map[string]int
	// feed runs at the start of Process, on its goroutine, and delivers
	// records through c.send.
	feed func(c *fakeConsumer)

	inDeliver  atomic.Bool
	violations []string
}

type fakeSession struct {
	stats SessionStats
	done  chan struct{} // closed when the session stops
}

type fakeConsumer struct {
	f       *fakeSys
	name    string
	deliver func(*Record)
	closed  chan struct{}
	closes  atomic.Int32
}

type fakeToken struct {
	created uint64
	sid     string
	logon   uint64
}

func newFakeSys(t *testing.T) *fakeSys {
	return &fakeSys{
		t: t, pid: 4000, created: 133600000000000000,
		procs:     map[uint32]uint64{4000: 133600000000000000},
		procErr:   map[uint32]error{},
		sessions:  map[string]*fakeSession{},
		consumers: map[uint64]*fakeConsumer{},
		tokens:    map[uint32]fakeToken{},
		accounts:  map[string]string{},
		lookups:   map[string]int{},
	}
}

func (f *fakeSys) violate(format string, args ...any) {
	f.mu.Lock()
	f.violations = append(f.violations, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *fakeSys) Self() (uint32, uint64) { return f.pid, f.created }

func (f *fakeSys) ProcessCreated(pid uint32) (uint64, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.procErr[pid]; err != nil {
		return 0, false, err
	}
	c, ok := f.procs[pid]
	return c, ok, nil
}

func (f *fakeSys) Sessions() ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listErr != nil {
		return nil, f.listErr
	}
	var names []string
	for n := range f.sessions {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

func (f *fakeSys) addSession(name string) {
	f.mu.Lock()
	f.sessions[name] = &fakeSession{done: make(chan struct{})}
	f.mu.Unlock()
}

func (f *fakeSys) StartSession(name string) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.startErr != nil {
		return 0, f.startErr
	}
	if _, ok := f.sessions[name]; ok {
		return 0, errAlreadyExists
	}
	f.sessions[name] = &fakeSession{done: make(chan struct{})}
	f.handles++
	return f.handles, nil
}

func (f *fakeSys) EnableProvider(session uint64, provider GUID, keywords uint64, ids []uint16) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if provider != kernelProcess || keywords != KeywordProcess {
		f.violations = append(f.violations, fmt.Sprintf("enabled %v keywords %#x", provider, keywords))
	}
	f.enabled = append(f.enabled, slices.Clone(ids))
	if len(f.enableErrs) > 0 {
		err := f.enableErrs[0]
		f.enableErrs = f.enableErrs[1:]
		return err
	}
	return nil
}

func (f *fakeSys) QuerySession(name string) (SessionStats, error) {
	if f.inDeliver.Load() {
		f.violate("ControlTrace QUERY from the callback")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[name]
	if !ok {
		return SessionStats{}, errWMIInstanceNotFound
	}
	return s.stats, nil
}

func (f *fakeSys) StopSession(name string) (SessionStats, error) {
	if f.inDeliver.Load() {
		f.violate("ControlTrace STOP from the callback")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops = append(f.stops, name)
	s, ok := f.sessions[name]
	if !ok {
		return SessionStats{}, errWMIInstanceNotFound
	}
	delete(f.sessions, name)
	close(s.done)
	return s.stats, nil
}

// stopOutside stops a session as `logman stop` would.
func (f *fakeSys) stopOutside(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.sessions[name]; ok {
		delete(f.sessions, name)
		close(s.done)
	}
}

func (f *fakeSys) setStats(name string, st SessionStats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions[name].stats = st
}

func (f *fakeSys) OpenConsumer(name string, deliver func(*Record)) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.sessions[name]; !ok {
		return 0, errWMIInstanceNotFound
	}
	f.handles++
	f.consumers[f.handles] = &fakeConsumer{f: f, name: name, deliver: deliver, closed: make(chan struct{})}
	return f.handles, nil
}

func (f *fakeSys) Process(h uint64) error {
	f.mu.Lock()
	c := f.consumers[h]
	s := f.sessions[c.name]
	feed := f.feed
	perr := f.processErr
	f.mu.Unlock()
	if s == nil {
		return errWMIInstanceNotFound
	}
	if feed != nil {
		feed(c)
	}
	select {
	case <-c.closed:
	case <-s.done:
	case <-time.After(patience):
		f.violate("Process never ended")
	}
	return perr
}

func (f *fakeSys) CloseConsumer(h uint64) error {
	f.mu.Lock()
	c := f.consumers[h]
	f.mu.Unlock()
	if c.closes.Add(1) > 1 {
		f.violate("CloseTrace called twice on consumer %d", h)
		return nil
	}
	close(c.closed)
	return nil
}

func (f *fakeSys) ProcessUser(pid uint32, created uint64) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok, ok := f.tokens[pid]
	if !ok || tok.created != created {
		return "", errors.New("process gone")
	}
	return tok.sid, nil
}

func (f *fakeSys) ProcessLogon(pid uint32, created uint64) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logonReads++
	tok, ok := f.tokens[pid]
	if !ok || tok.created != created {
		return 0, errors.New("process gone")
	}
	return tok.logon, nil
}

func (f *fakeSys) LookupAccount(sid string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups[sid]++
	if n, ok := f.accounts[sid]; ok {
		return n, nil
	}
	return "", errors.New("none mapped")
}

// send delivers rec as ProcessTrace would, on the Process goroutine.
func (c *fakeConsumer) send(rec *Record) {
	c.f.inDeliver.Store(true)
	defer c.f.inDeliver.Store(false)
	c.deliver(rec)
}

func (f *fakeSys) check() {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.violations {
		f.t.Error(v)
	}
}

// Records the fake delivers.

var (
	otherProvider = mustGUID("{EDD08927-9CC4-4E65-B970-C2560FB5C289}") // Kernel-File
	aliceSID      = sidBytes(5, 21, 1004336348, 1177238915, 682003330, 1104)
	systemSID     = sidBytes(5, 18)
)

func sidBytes(auth byte, subs ...uint32) []byte {
	b := []byte{1, byte(len(subs)), 0, 0, 0, 0, 0, auth}
	for _, s := range subs {
		b = append(b, byte(s), byte(s>>8), byte(s>>16), byte(s>>24))
	}
	return b
}

func startRec(pid uint32, image string, sid []byte) *Record {
	data := payload{}.u32(pid).u64(created).u32(600).u32(2).u32(0).str(image).u32(0).u32(0).str("").str("")
	return &Record{Provider: kernelProcess, ID: EventProcessStart, Version: 2, UserData: data, SID: sid}
}

func lostRec(op uint8) *Record { return &Record{Provider: lostEvents, Opcode: op} }

// collector gathers what the watcher hands on.
type collector struct {
	mu     sync.Mutex
	events []detector.Event
	bad    []string
	block  chan struct{} // when set, the first Emit waits on it
	in     chan struct{} // closed when the first Emit starts
	err    error         // returned by every Emit
	panics bool
}

func (c *collector) sink() source.Sink {
	var once sync.Once
	return source.Sink{
		Event: func(e *detector.Event) error {
			if c.panics {
				panic("sink exploded")
			}
			if c.block != nil {
				first := false
				once.Do(func() { first = true; close(c.in) })
				if first {
					<-c.block
				}
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			c.events = append(c.events, *e)
			return c.err
		},
		Bad: func(re *source.RecordError) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.bad = append(c.bad, re.Error())
		},
	}
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func run(w *Watcher, ctx context.Context, sink source.Sink) chan error {
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, sink) }()
	return done
}

func result(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(patience):
		t.Fatal("Run did not return")
		return nil
	}
}

func TestSessionNamesAreUnique(t *testing.T) {
	f := newFakeSys(t)
	a, err := New(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name() == b.Name() || !strings.HasPrefix(a.Name(), "tsclientwatch-process-4000-133600000000000000-") {
		t.Fatalf("names %q and %q", a.Name(), b.Name())
	}
	// The second watcher must not have stopped the first.
	if len(f.stops) != 0 {
		t.Fatalf("stopped %v", f.stops)
	}
	if names, _ := f.Sessions(); len(names) != 2 {
		t.Fatalf("sessions %v", names)
	}
	a.Close()
	b.Close()
	if names, _ := f.Sessions(); len(names) != 0 {
		t.Fatalf("sessions left after Close: %v", names)
	}
	f.check()
}

func TestStaleSessions(t *testing.T) {
	f := newFakeSys(t)
	f.procs[77] = 111 // runs, created at 111
	f.procs[78] = 999 // runs, but was created after its session: pid reused
	f.procErr[79] = errAccessDenied
	sessions := map[string]bool{ // name -> should be stopped
		"tsclientwatch-process":                           true,  // legacy fixed name
		"tsclientwatch-process-66-5-1":                    true,  // owner gone
		"tsclientwatch-process-77-111-3":                  false, // owner runs
		"tsclientwatch-process-78-222-1":                  true,  // pid reused
		"tsclientwatch-process-79-1-1":                    false, // cannot tell
		"tsclientwatch-process-4000-133600000000000000-9": false, // another watcher of this process
		"tsclientwatch-process-x-1-1":                     false, // not ours
		"tsclientwatch-processing":                        false,
		"EventLog-Security":                               false,
		"Circular Kernel Context Logger":                  false,
	}
	for n := range sessions {
		f.addSession(n)
	}
	w, err := New(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var want []string
	for n, stop := range sessions {
		if stop {
			want = append(want, n)
		}
	}
	slices.Sort(want)
	got := slices.Clone(w.Stats().Stale)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("stopped %v, want %v", got, want)
	}
	if d := w.Stats().Detail(); !strings.Contains(d, "stopped stale sessions") {
		t.Errorf("detail %q", d)
	}

	// A failing QueryAllTraces only skips the cleanup.
	f2 := newFakeSys(t)
	f2.listErr = errAccessDenied
	w2, err := New(f2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w2.Close()
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name     string
		startErr error
		enable   []error
		want     string
		filtered bool
		calls    int // EnableProvider calls
	}{
		{"filter on", nil, nil, "", true, 1},
		{"no filter before 8.1", nil, []error{errNotSupported}, "", false, 2},
		{"filter refused as invalid", nil, []error{errInvalidParameter}, "", false, 2},
		{"too many sessions on the provider", nil, []error{errNoSystemResources},
			"at most 8 sessions can enable one provider", false, 1},
		{"access denied enabling", nil, []error{errAccessDenied}, "need Administrator or Performance Log Users", false, 1},
		{"other enable error", nil, []error{errNotSupported, syscall87()}, "EnableTraceEx2", false, 2},
		{"no session slots", errNoSystemResources, nil, "trace sessions (64 by default) are all in use", false, 0},
		{"access denied starting", errAccessDenied, nil, "access denied starting trace session", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSys(t)
			f.startErr = tt.startErr
			f.enableErrs = tt.enable
			w, err := New(f, Options{})
			if len(f.enabled) != tt.calls {
				t.Errorf("EnableProvider called %d times, want %d", len(f.enabled), tt.calls)
			}
			if tt.calls > 0 && !slices.Equal(f.enabled[0], []uint16{EventProcessStart}) {
				t.Errorf("first enable filtered to %v, want [1]", f.enabled[0])
			}
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want %q", err, tt.want)
				}
				if names, _ := f.Sessions(); len(names) != 0 {
					t.Fatalf("session left behind: %v", names)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if w.Stats().Filtered != tt.filtered {
				t.Errorf("filtered = %v", w.Stats().Filtered)
			}
			if !tt.filtered && !strings.Contains(w.Stats().Detail(), "no kernel event-id filter") {
				t.Errorf("detail %q", w.Stats().Detail())
			}
		})
	}
}

// syscall87 is an error EnableProvider might return that has no special
// meaning after the filter was already refused.
func syscall87() error { return errInvalidParameter }

func TestEventIDFilter(t *testing.T) {
	if got := eventIDFilter([]uint16{1}); !slices.Equal(got, []byte{1, 0, 1, 0, 1, 0}) {
		t.Fatalf("filter payload % x", got)
	}
	if got := eventIDFilter([]uint16{1, 0x0102}); !slices.Equal(got, []byte{1, 0, 2, 0, 1, 0, 2, 1}) {
		t.Fatalf("filter payload % x", got)
	}
}

func TestGUID(t *testing.T) {
	g, err := ParseGUID(Provider)
	if err != nil || g.String() != Provider {
		t.Fatalf("%v %v", g, err)
	}
	if g.Data1 != 0x22FB2CD6 || g.Data2 != 0x0E7B || g.Data3 != 0x422B || g.Data4 != [8]byte{0xA0, 0xC7, 0x2F, 0xAD, 0x1F, 0xD0, 0xE7, 0x16} {
		t.Fatalf("layout %+v", g)
	}
	if l, _ := ParseGUID("6a399ae0-4bc6-4de9-870b-3657f8947e7e"); l != lostEvents {
		t.Fatal("lower case without braces")
	}
	for _, bad := range []string{"", "{22FB2CD6-0E7B-422B-A0C7}", "{22FB2CD6-0E7B-422B-A0C7-2FAD1FD0E71G}", "22FB2CD60E7B422BA0C72FAD1FD0E716"} {
		if _, err := ParseGUID(bad); err == nil {
			t.Errorf("ParseGUID(%q) succeeded", bad)
		}
	}
}

// TestDeliver: the provider is checked before decoding, lost-event
// notifications are counted apart, other event ids are skipped, the
// callback copies what it keeps, and the final statistics survive Close.
func TestDeliver(t *testing.T) {
	f := newFakeSys(t)
	f.accounts["S-1-5-18"] = `NT AUTHORITY\SYSTEM`
	f.feed = func(c *fakeConsumer) {
		c.send(lostRec(opRTLostEvent))
		c.send(lostRec(opRTLostEvent))
		c.send(lostRec(opRTLostBuffer))
		c.send(lostRec(34)) // RTLostFile: not ours to count
		foreign := startRec(1, `\Device\Mup\tsclient\C\foreign.exe`, nil)
		foreign.Provider = otherProvider
		c.send(foreign)
		stop := startRec(2, `\Device\Mup\tsclient\C\stop.exe`, nil)
		stop.ID = 2
		c.send(stop)
		// One buffer reused for two records, as ETW reuses its buffers:
		// the callback must have copied the first before the second.
		rec := startRec(10, `\Device\Mup\tsclient\C\Tools\a.exe`, slices.Clone(systemSID))
		c.send(rec)
		copy(rec.UserData, startRec(11, `\Device\Mup\tsclient\C\Tools\b.exe`, nil).UserData)
		copy(rec.SID, []byte{1, 1, 0, 0, 0, 0, 0, 5, 99, 0, 0, 0})
		c.send(rec)
	}
	w, err := New(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.setStats(w.Name(), SessionStats{EventsLost: 3, RealTimeBuffersLost: 1})
	var col collector
	done := run(w, context.Background(), col.sink())
	waitFor(t, "two starts", func() bool { return col.count() == 2 })
	f.setStats(w.Name(), SessionStats{EventsLost: 5, RealTimeBuffersLost: 2}) // STOP returns these
	w.Close()
	if err := result(t, done); err != nil {
		t.Fatalf("Run after Close: %v", err)
	}
	if col.events[0].Executable != `\Device\Mup\tsclient\C\Tools\a.exe` || col.events[0].PID != 10 || col.events[0].User != `NT AUTHORITY\SYSTEM` ||
		col.events[1].Executable != `\Device\Mup\tsclient\C\Tools\b.exe` || col.events[1].PID != 11 || col.events[1].User != "S-1-5-99" {
		t.Errorf("events %+v", col.events)
	}
	st := w.Stats()
	if st.Events != 2 || st.LostNotices != 2 || st.BufferNotices != 1 || st.Foreign != 1 || st.Session.EventsLost != 5 || st.Session.RealTimeBuffersLost != 2 {
		t.Errorf("stats %+v", st)
	}
	if st.Lost() != 5 || st.LostBuffers() != 2 {
		t.Errorf("lost %d, lost buffers %d", st.Lost(), st.LostBuffers())
	}
	if !strings.Contains(st.Warning(), "another provider") {
		t.Errorf("warning %q", st.Warning())
	}
	f.check()
}

// TestStoppedOutside: `logman stop` ends ProcessTrace with success; Run
// must say so instead of returning as if asked to stop.
func TestStoppedOutside(t *testing.T) {
	for _, tt := range []struct {
		name       string
		processErr error
		want       string
	}{
		{"success", nil, "ended without being asked to (stopped from outside: `logman stop tsclientwatch-process-"},
		{"error", errInvalidParameter, "ended without being asked to: ProcessTrace: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSys(t)
			f.processErr = tt.processErr
			started := make(chan struct{})
			f.feed = func(*fakeConsumer) { close(started) }
			w, err := New(f, Options{})
			if err != nil {
				t.Fatal(err)
			}
			f.setStats(w.Name(), SessionStats{EventsLost: 4})
			w.Stats() // read while running
			var col collector
			done := run(w, context.Background(), col.sink())
			<-started
			f.stopOutside(w.Name())
			err = result(t, done)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want %q", err, tt.want)
			}
			if st := w.Stats(); st.Session.EventsLost != 4 {
				t.Errorf("statistics lost after the session ended: %+v", st)
			}
			f.check()
		})
	}
}

func TestPanicsEndTheSession(t *testing.T) {
	tests := []struct {
		name string
		feed func(c *fakeConsumer)
		col  *collector
		want string
	}{
		{"in the callback", func(c *fakeConsumer) { c.send(nil) }, &collector{}, "panic in the ETW event callback at etw/watcher.go:"},
		{"unreadable record", func(c *fakeConsumer) {
			c.send(&Record{Err: errors.New("panic in reading an ETW event record: bad pointer")})
		}, &collector{}, "panic in reading an ETW event record: bad pointer"},
		{"in the sink", func(c *fakeConsumer) {
			c.send(startRec(10, `\Device\Mup\tsclient\C\a.exe`, nil))
			c.send(startRec(11, `\Device\Mup\tsclient\C\b.exe`, nil))
		}, &collector{panics: true}, "panic in the ETW event worker at etw/watcher_test.go:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSys(t)
			f.feed = tt.feed
			w, err := New(f, Options{})
			if err != nil {
				t.Fatal(err)
			}
			err = result(t, run(w, context.Background(), tt.col.sink()))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want %q", err, tt.want)
			}
			if names, _ := f.Sessions(); len(names) != 0 {
				t.Errorf("session left running: %v", names)
			}
			f.check() // no ControlTrace from the callback, one CloseTrace
		})
	}
}

func TestSinkErrorEndsTheSession(t *testing.T) {
	f := newFakeSys(t)
	f.feed = func(c *fakeConsumer) { c.send(startRec(10, `\Device\Mup\tsclient\C\a.exe`, nil)) }
	w, err := New(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{err: errors.New("store is full")}
	err = result(t, run(w, context.Background(), col.sink()))
	if err == nil || !strings.Contains(err.Error(), "store is full") {
		t.Fatalf("Run = %v", err)
	}
	if names, _ := f.Sessions(); len(names) != 0 {
		t.Errorf("session left running: %v", names)
	}
	f.check()
}

// TestQueueIsBounded: a blocked sink makes the queue fill up; the callback
// then counts drops instead of waiting.
func TestQueueIsBounded(t *testing.T) {
	f := newFakeSys(t)
	col := &collector{block: make(chan struct{}), in: make(chan struct{})}
	f.feed = func(c *fakeConsumer) {
		c.send(startRec(1, `\Device\Mup\tsclient\C\a.exe`, nil))
		<-col.in // the worker holds event 1 in the sink
		for pid := uint32(2); pid <= 10; pid++ {
			c.send(startRec(pid, `\Device\Mup\tsclient\C\a.exe`, nil))
		}
		close(col.block)
	}
	w, err := New(f, Options{QueueSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	done := run(w, context.Background(), col.sink())
	waitFor(t, "three starts", func() bool { return col.count() == 3 })
	w.Close()
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.Events != 3 || st.Dropped != 7 || st.Lost() != 7 {
		t.Fatalf("stats %+v", st)
	}
	f.check()
}

func TestUsers(t *testing.T) {
	f := newFakeSys(t)
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	aliceStr, _, _ := SIDString(aliceSID)
	f.accounts[aliceStr] = `CORP\alice`
	f.accounts["S-1-5-18"] = `NT AUTHORITY\SYSTEM`
	// pid 10 still runs as alice (its token), although SYSTEM created it
	// (CreateProcessAsUser from a service).
	f.tokens[10] = fakeToken{created: created, sid: aliceStr}
	// pid 11 runs, but is not the process of the event: its pid was
	// reused.
	f.tokens[11] = fakeToken{created: created + 1, sid: "S-1-5-21-9"}
	step := make(chan struct{})
	f.feed = func(c *fakeConsumer) {
		c.send(startRec(10, `\Device\Mup\tsclient\C\a.exe`, systemSID))
		c.send(startRec(11, `\Device\Mup\tsclient\C\a.exe`, systemSID))
		c.send(startRec(12, `\Device\Mup\tsclient\C\a.exe`, systemSID))
		c.send(startRec(13, `\Device\Mup\tsclient\C\a.exe`, sidBytes(5, 21, 7))) // unresolvable
		c.send(startRec(14, `\Device\Mup\tsclient\C\a.exe`, sidBytes(5, 21, 7)))
		c.send(startRec(15, `\Device\Mup\tsclient\C\a.exe`, nil))
		<-step
		c.send(startRec(16, `\Device\Mup\tsclient\C\a.exe`, sidBytes(5, 21, 7))) // failed lookup expired
		c.send(startRec(17, `\Device\Mup\tsclient\C\a.exe`, systemSID))          // still cached
	}
	w, err := New(f, Options{now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	var col collector
	done := run(w, context.Background(), col.sink())
	waitFor(t, "six starts", func() bool { return col.count() == 6 })
	clock.Store(now.Add(2 * time.Minute).UnixNano())
	close(step)
	waitFor(t, "eight starts", func() bool { return col.count() == 8 })
	w.Close()
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}
	want := []string{`CORP\alice`, `NT AUTHORITY\SYSTEM`, `NT AUTHORITY\SYSTEM`, "S-1-5-21-7", "S-1-5-21-7", "", "S-1-5-21-7", `NT AUTHORITY\SYSTEM`}
	for i, ev := range col.events {
		if ev.User != want[i] {
			t.Errorf("event %d (pid %d) user %q, want %q", i, ev.PID, ev.User, want[i])
		}
	}
	if f.lookups["S-1-5-18"] != 1 || f.lookups["S-1-5-21-7"] != 2 || f.lookups[aliceStr] != 1 {
		t.Errorf("lookups %v", f.lookups)
	}
	if st := w.Stats(); st.TokenUsers != 1 || st.CreatorUsers != 6 {
		t.Errorf("stats %+v", st)
	}
	f.check()
}

func TestUserCacheBounded(t *testing.T) {
	now := time.Unix(0, 0)
	n := 0
	c := newUserCache(func(sid string) (string, error) { n++; return "x", nil }, time.Hour, time.Minute, func() time.Time { return now })
	for i := range maxCachedUsers + 10 {
		c.name(fmt.Sprint("S-1-5-21-", i))
	}
	if len(c.entries) > maxCachedUsers {
		t.Fatalf("%d entries", len(c.entries))
	}
	if n != maxCachedUsers+10 {
		t.Fatalf("%d lookups", n)
	}
}

func TestBadRecords(t *testing.T) {
	f := newFakeSys(t)
	badLabel := append(payload{}.u32(42).u64(7).u64(created).u32(600).u64(6).u32(2).u32(0).u32(3).u32(0), 9, 1, 0, 0, 0, 0, 0, 16, 0, 0x20, 0, 0)
	badLabel = badLabel.str(`\Device\Mup\tsclient\C\label.exe`).u32(0).u32(0).str("").str("")
	f.feed = func(c *fakeConsumer) {
		c.send(&Record{Provider: kernelProcess, ID: EventProcessStart, Version: 0, UserData: []byte{1, 2}})
		c.send(&Record{Provider: kernelProcess, ID: EventProcessStart, Version: 3, UserData: badLabel})
		c.send(&Record{Provider: kernelProcess, ID: EventProcessStart, Version: 4, UserData: badLabel})
	}
	w, err := New(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var col collector
	done := run(w, context.Background(), col.sink())
	waitFor(t, "two starts", func() bool { return col.count() == 2 })
	w.Close()
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}
	if col.events[0].Executable != `\Device\Mup\tsclient\C\label.exe` || col.events[0].PID != 42 {
		t.Errorf("event %+v", col.events[0])
	}
	if len(col.bad) != 3 || !strings.Contains(col.bad[0], "ProcessID") && !strings.Contains(col.bad[0], "needs 4 bytes") ||
		!strings.Contains(col.bad[1], "MandatoryLabel at offset 48: not a SID") || !strings.Contains(col.bad[1], "image name read anyway") {
		t.Errorf("bad %q", col.bad)
	}
	st := w.Stats()
	if st.Bad != 1 || st.LabelSkipped != 2 || st.NewestVersion != 4 || st.Lost() != 1 {
		t.Errorf("stats %+v", st)
	}
	if warn := st.Warning(); !strings.Contains(warn, "ProcessStart version 4 is newer") || !strings.Contains(warn, "2 process starts had an unreadable MandatoryLabel") {
		t.Errorf("warning %q", warn)
	}
	f.check()
}

func TestRunAfterClose(t *testing.T) {
	f := newFakeSys(t)
	f.feed = func(c *fakeConsumer) { f.violate("Process ran after Close") }
	w, err := New(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	w.Close()
	if err := result(t, run(w, context.Background(), (&collector{}).sink())); err != nil {
		t.Fatal(err)
	}
	if err := w.Run(context.Background(), (&collector{}).sink()); err == nil || !strings.Contains(err.Error(), "Run called twice") {
		t.Fatalf("second Run: %v", err)
	}
	f.check()
}

func TestContextEndsRun(t *testing.T) {
	f := newFakeSys(t)
	w, err := New(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := run(w, ctx, (&collector{}).sink())
	cancel()
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}
	if names, _ := f.Sessions(); len(names) != 0 {
		t.Errorf("session left running: %v", names)
	}
	f.check()
}

func TestParseSessionName(t *testing.T) {
	for _, tt := range []struct {
		name    string
		pid     uint32
		created uint64
		ok      bool
	}{
		{"tsclientwatch-process-12-34-5", 12, 34, true},
		{"tsclientwatch-process-12-34", 0, 0, false},
		{"tsclientwatch-process-99999999999-34-5", 0, 0, false},
		{"tsclientwatch-process-12-34-5-6", 0, 0, false},
		{"tsclientwatch-process", 0, 0, false},
		{"other-12-34-5", 0, 0, false},
	} {
		pid, created, ok := parseSessionName(tt.name)
		if pid != tt.pid || created != tt.created || ok != tt.ok {
			t.Errorf("%q: %d %d %v", tt.name, pid, created, ok)
		}
	}
}

// TestLogons: a program started from a client drive gets its logon session
// from its token while it runs, and every start its terminal session from
// the event; other programs' tokens are not read.
func TestLogons(t *testing.T) {
	f := newFakeSys(t)
	f.tokens[10] = fakeToken{created: created, sid: "S-1-5-21-1", logon: 0x6a423}
	f.tokens[11] = fakeToken{created: created, sid: "S-1-5-21-1", logon: 0x6a423}
	f.tokens[12] = fakeToken{created: created + 1, logon: 0x99} // pid reused
	f.feed = func(c *fakeConsumer) {
		c.send(startRec(10, `\Device\Mup\TSCLIENT\C\a.exe`, nil))
		c.send(startRec(11, `C:\Windows\System32\notepad.exe`, nil))
		c.send(startRec(12, `\Device\Mup\tsclient\C\b.exe`, nil))
	}
	w, err := New(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var col collector
	done := run(w, context.Background(), col.sink())
	waitFor(t, "three starts", func() bool { return col.count() == 3 })
	w.Close()
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}
	for i, want := range []detector.LogonID{0x6a423, 0, 0} {
		ev := col.events[i]
		if ev.LogonID != want || ev.SessionID != detector.SessionOf(2) {
			t.Errorf("pid %d: logon %s session %s, want %s and session 2", ev.PID, ev.LogonID, ev.SessionID, want)
		}
	}
	if f.logonReads != 2 || w.Stats().TokenLogons != 1 {
		t.Errorf("%d token reads, stats %+v", f.logonReads, w.Stats())
	}
	f.check()
}

func TestDecodeTokenStatistics(t *testing.T) {
	// TOKEN_STATISTICS as the SDK lays it out: TokenId {0x1234, 0},
	// AuthenticationId {LowPart 0x0006a423, HighPart 0x1}, then the rest.
	b := make([]byte, tokenStatisticsSize)
	binary.LittleEndian.PutUint32(b[0:], 0x1234)
	binary.LittleEndian.PutUint32(b[8:], 0x0006a423)
	binary.LittleEndian.PutUint32(b[12:], 0x1)
	binary.LittleEndian.PutUint32(b[24:], 1) // TokenPrimary
	if id, err := DecodeTokenStatistics(b); err != nil || id != 0x1_0006a423 {
		t.Errorf("%#x, %v", id, err)
	}
	if _, err := DecodeTokenStatistics(b[:40]); err == nil {
		t.Error("short TOKEN_STATISTICS accepted")
	}
}
