package eventlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const patience = 20 * time.Second

// fakeAPI plays wevtapi: channels holding records, subscriptions with a
// read position, event handles that must all be closed, a clock that only
// moves when Wait times out, and a script of things that happen while Run
// waits.
type fakeAPI struct {
	t *testing.T

	mu       sync.Mutex
	now      time.Time
	channels map[string]*fakeChannel
	subs     map[Handle]*fakeSub
	events   map[Handle]bool // open event handles
	handles  Handle
	audited  bool
	auditErr error
	audits   int
	steps    []func(f *fakeAPI) int // run while nothing is pending; a result other than 0 is returned by Wait
	waits    []time.Duration
	batches  []int // max asked of each Next
	after    []string
	woken    bool
	wake     chan struct{}
	idle     chan struct{} // closed when the script is done and Run waits
	released int
	problems []string
}

type fakeChannel struct {
	records    []fakeRecord
	missing    bool
	denied     bool
	subErrs    []error // returned by the next Subscribe calls
	nextErrs   []error // returned by the next Next calls on any subscription of the channel
	maxBatch   int     // RPC_S_INVALID_BOUND above this
	silent     bool    // new records do not signal (a subscription whose signal broke)
	newestErrs []error
}

type fakeRecord struct {
	id  uint64
	xml string
}

type fakeSub struct {
	channel string
	pos     int // index of the next record
	open    bool
}

func newFakeAPI(t *testing.T) *fakeAPI {
	return &fakeAPI{
		t: t, now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		channels: map[string]*fakeChannel{
			winevent.ChannelSysmon:   {},
			winevent.ChannelSecurity: {},
		},
		subs: map[Handle]*fakeSub{}, events: map[Handle]bool{}, audited: true,
		wake: make(chan struct{}), idle: make(chan struct{}),
	}
}

func (f *fakeAPI) problem(format string, args ...any) {
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

func (f *fakeAPI) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// add appends records with consecutive ids to a channel.
func (f *fakeAPI) add(ch string, xmls ...string) {
	c := f.channels[ch]
	for _, x := range xmls {
		id := uint64(1)
		if n := len(c.records); n > 0 {
			id = c.records[n-1].id + 1
		}
		if x != "" { // "" renders with an error
			x = fmt.Sprintf(x, id)
		}
		c.records = append(c.records, fakeRecord{id: id, xml: x})
	}
}

func (f *fakeAPI) Newest(ch string) (uint64, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.channels[ch]
	if c == nil || c.missing {
		return 0, false, errChannelNotFound
	}
	if len(c.newestErrs) > 0 {
		err := c.newestErrs[0]
		c.newestErrs = c.newestErrs[1:]
		return 0, false, err
	}
	if len(c.records) == 0 {
		return 0, false, nil
	}
	return c.records[len(c.records)-1].id, true, nil
}

func (f *fakeAPI) Subscribe(ch, query string, after uint64) (Handle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.channels[ch]
	switch {
	case c == nil || c.missing:
		return 0, errChannelNotFound
	case c.denied:
		return 0, errAccessDenied
	case len(c.subErrs) > 0:
		err := c.subErrs[0]
		c.subErrs = c.subErrs[1:]
		return 0, err
	}
	want := map[string]string{winevent.ChannelSysmon: "*[System[(EventID=1)]]", winevent.ChannelSecurity: "*[System[(EventID=4688)]]"}[ch]
	if query != want {
		f.problem("%s subscribed with query %q", ch, query)
	}
	pos := len(c.records) // future events
	if after > 0 {
		pos = len(c.records)
		for i, r := range c.records {
			if r.id > after {
				pos = i
				break
			}
		}
	}
	f.after = append(f.after, fmt.Sprintf("%s>%d", ch, after))
	f.handles++
	f.subs[f.handles] = &fakeSub{channel: ch, pos: pos, open: true}
	return f.handles, nil
}

func (f *fakeAPI) Next(h Handle, max int) ([]Handle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, max)
	s := f.subs[h]
	if s == nil || !s.open {
		f.problem("Next on closed subscription %d", h)
		return nil, errInvalidHandle
	}
	c := f.channels[s.channel]
	if len(c.nextErrs) > 0 {
		err := c.nextErrs[0]
		c.nextErrs = c.nextErrs[1:]
		return nil, err
	}
	if c.maxBatch > 0 && max > c.maxBatch {
		return nil, errInvalidBound
	}
	n := min(max, len(c.records)-s.pos)
	if n <= 0 {
		// Windows answers an empty read with either code.
		if len(f.batches)%2 == 0 {
			return nil, errInvalidOperation
		}
		return nil, errNoMoreItems
	}
	var hs []Handle
	for i := 0; i < n; i++ {
		f.handles++
		f.events[f.handles] = true
		hs = append(hs, f.handles)
		f.subs[f.handles] = &fakeSub{channel: s.channel, pos: s.pos} // event handle: which record
		s.pos++
	}
	return hs, nil
}

func (f *fakeAPI) Render(h Handle) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.events[h] {
		f.problem("Render on closed event %d", h)
		return nil, errInvalidHandle
	}
	e := f.subs[h]
	x := f.channels[e.channel].records[e.pos].xml
	if x == "" {
		return nil, errors.New("render failed")
	}
	return []byte(x), nil
}

func (f *fakeAPI) Close(h Handle) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.events[h] {
		delete(f.events, h)
		delete(f.subs, h)
		return
	}
	s := f.subs[h]
	if s == nil || !s.open {
		f.problem("Close of unknown or closed handle %d", h)
		return
	}
	s.open = false
}

func (f *fakeAPI) pending(h Handle) bool {
	s := f.subs[h]
	c := f.channels[s.channel]
	return !c.silent && (s.pos < len(c.records) || len(c.nextErrs) > 0)
}

func (f *fakeAPI) Wait(subs []Handle, timeout time.Duration) (int, error) {
	f.mu.Lock()
	f.waits = append(f.waits, timeout)
	for _, h := range subs {
		if s := f.subs[h]; s == nil || !s.open {
			f.problem("Wait on closed subscription %d", h)
		}
	}
	for {
		if f.woken {
			f.mu.Unlock()
			return WaitWoken, nil
		}
		for i, h := range subs {
			if f.pending(h) {
				f.mu.Unlock()
				return i, nil
			}
		}
		if len(f.steps) == 0 {
			break
		}
		step := f.steps[0]
		f.steps = f.steps[1:]
		if r := step(f); r != 0 {
			if r == WaitTimedOut {
				f.now = f.now.Add(timeout)
			}
			f.mu.Unlock()
			return r, nil
		}
	}
	idle := f.idle
	f.mu.Unlock()
	select {
	case <-idle:
	default:
		close(idle)
	}
	select {
	case <-f.wake:
	case <-time.After(patience):
		f.t.Error("Run was never woken")
	}
	return WaitWoken, nil
}

func (f *fakeAPI) Wake() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.woken {
		f.woken = true
		close(f.wake)
	}
}

func (f *fakeAPI) Release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released++
}

func (f *fakeAPI) ProcessCreationAudited() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.audits++
	return f.audited, f.auditErr
}

// tick is a step where nothing happens for the whole wait.
func tick(*fakeAPI) int { return WaitTimedOut }

// check verifies that every handle was closed and Release called once.
func (f *fakeAPI) check() {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.problems {
		f.t.Error(p)
	}
	for h := range f.events {
		f.t.Errorf("event handle %d never closed", h)
	}
	for h, s := range f.subs {
		if s.open {
			f.t.Errorf("subscription %d (%s) never closed", h, s.channel)
		}
	}
	if f.released != 1 {
		f.t.Errorf("Release called %d times", f.released)
	}
}

// Events as EvtRender returns them; %d is the record id.
const (
	sysmonXML   = `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Sysmon'/><EventID>1</EventID><TimeCreated SystemTime='2024-05-01T12:00:01Z'/><EventRecordID>%d</EventRecordID><Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>WS01</Computer></System><EventData><Data Name='ProcessId'>4242</Data><Data Name='Image'>\\tsclient\c\temp\a.exe</Data><Data Name='User'>CORP\alice</Data><Data Name='ParentProcessId'>600</Data></EventData></Event>`
	securityXML = `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing'/><EventID>4688</EventID><TimeCreated SystemTime='2024-05-01T12:00:02Z'/><EventRecordID>%d</EventRecordID><Channel>Security</Channel><Computer>WS01</Computer></System><EventData><Data Name='SubjectUserName'>alice</Data><Data Name='SubjectDomainName'>CORP</Data><Data Name='NewProcessId'>0x1092</Data><Data Name='NewProcessName'>\Device\Mup\tsclient\C\temp\a.exe</Data><Data Name='ProcessId'>0x258</Data></EventData></Event>`
	brokenXML   = `<Event><System><EventRecordID>%d</EventRecordID><Channel>Security</Channel></System><EventData><Data Name='NewProcessName'>x` // cut
)

// collector gathers what Run hands on, with the cursor as it was at each
// sink call.
type collector struct {
	mu      sync.Mutex
	w       *Watcher
	events  []detector.Event
	cursors []string
	bad     []string
	err     error
	panics  bool
}

func (c *collector) sink() source.Sink {
	return source.Sink{
		Event: func(e *detector.Event) error {
			if c.panics {
				panic("sink exploded")
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			c.events = append(c.events, *e)
			c.cursors = append(c.cursors, c.w.Cursor())
			return c.err
		},
		Bad: func(re *source.RecordError) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.bad = append(c.bad, re.Error())
		},
	}
}

func open(t *testing.T, f *fakeAPI, opts Options) *Watcher {
	t.Helper()
	opts.now = f.clock
	w, err := New(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// runUntilIdle runs w until the script is done and Run waits with nothing
// to do, then closes it; it returns Run's result.
func runUntilIdle(t *testing.T, f *fakeAPI, w *Watcher, col *collector) error {
	t.Helper()
	col.w = w
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), col.sink()) }()
	select {
	case <-f.idle:
	case err := <-done:
		w.Close()
		return err
	case <-time.After(patience):
		t.Fatal("Run never went idle")
	}
	w.Close()
	select {
	case err := <-done:
		return err
	case <-time.After(patience):
		t.Fatal("Run did not return after Close")
		return nil
	}
}

func paths(evs []detector.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Source)
	}
	return out
}

// TestReadAndCursor: both channels are subscribed after their newest
// record, events arrive in order, empty reads are not losses, and the
// cursor names each event before the sink sees it.
func TestReadAndCursor(t *testing.T) {
	f := newFakeAPI(t)
	for range 10 {
		f.add(winevent.ChannelSysmon, sysmonXML)
	}
	for range 100 {
		f.add(winevent.ChannelSecurity, securityXML)
	}
	f.steps = []func(*fakeAPI) int{
		func(f *fakeAPI) int { f.add(winevent.ChannelSysmon, sysmonXML); return 0 },
		func(f *fakeAPI) int { f.add(winevent.ChannelSecurity, securityXML, securityXML); return 0 },
	}
	w := open(t, f, Options{})
	if got := w.Cursor(); !strings.Contains(got, "Channel='Microsoft-Windows-Sysmon/Operational' RecordId='10'") || !strings.Contains(got, "Channel='Security' RecordId='100'") {
		t.Errorf("cursor before any event: %q", got)
	}
	col := &collector{}
	if err := runUntilIdle(t, f, w, col); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.after, []string{winevent.ChannelSysmon + ">10", "Security>100"}) {
		t.Errorf("subscribed %v", f.after)
	}
	if !slices.Equal(paths(col.events), []string{"eventlog:sysmon", "eventlog:security", "eventlog:security"}) {
		t.Fatalf("events %v", paths(col.events))
	}
	wantCur := []string{
		"<BookmarkList>\r\n  <Bookmark Channel='Microsoft-Windows-Sysmon/Operational' RecordId='11' IsCurrent='true'/>\r\n  <Bookmark Channel='Security' RecordId='100'/>\r\n</BookmarkList>",
		"<BookmarkList>\r\n  <Bookmark Channel='Microsoft-Windows-Sysmon/Operational' RecordId='11'/>\r\n  <Bookmark Channel='Security' RecordId='101' IsCurrent='true'/>\r\n</BookmarkList>",
		"<BookmarkList>\r\n  <Bookmark Channel='Microsoft-Windows-Sysmon/Operational' RecordId='11'/>\r\n  <Bookmark Channel='Security' RecordId='102' IsCurrent='true'/>\r\n</BookmarkList>",
	}
	if !slices.Equal(col.cursors, wantCur) {
		t.Errorf("cursors\n%q\nwant\n%q", col.cursors, wantCur)
	}
	if w.Events() != 3 || w.Lost() != 0 || len(col.bad) != 0 {
		t.Errorf("events %d lost %d bad %q", w.Events(), w.Lost(), col.bad)
	}
	if d := w.Detail(); d != "Microsoft-Windows-Sysmon/Operational: subscribed; Security: subscribed" {
		t.Errorf("detail %q", d)
	}
	if w.Warning() != "" {
		t.Errorf("warning %q", w.Warning())
	}
	f.check()
}

// TestResume: a cursor from an earlier run makes each channel in it start
// after its bookmark; a channel missing from it starts after its newest
// record; an unreadable cursor is reported and ignored.
func TestResume(t *testing.T) {
	f := newFakeAPI(t)
	for range 60 {
		f.add(winevent.ChannelSecurity, securityXML)
	}
	f.add(winevent.ChannelSysmon, sysmonXML)
	cursor := BookmarkXML(map[string]uint64{winevent.ChannelSecurity: 57}, winevent.ChannelSecurity)
	w := open(t, f, Options{Resume: cursor})
	col := &collector{}
	if err := runUntilIdle(t, f, w, col); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.after, []string{winevent.ChannelSysmon + ">1", "Security>57"}) {
		t.Errorf("subscribed %v", f.after)
	}
	if len(col.events) != 3 || !strings.Contains(col.cursors[2], "RecordId='60' IsCurrent='true'") {
		t.Errorf("events %d cursors %q", len(col.events), col.cursors)
	}
	f.check()

	f2 := newFakeAPI(t)
	f2.add(winevent.ChannelSecurity, securityXML)
	w2 := open(t, f2, Options{Resume: "<BookmarkList><Bookmark Channel='Security' RecordId='x'/></BookmarkList>"})
	if !strings.Contains(w2.Warning(), "resume cursor unreadable") {
		t.Errorf("warning %q", w2.Warning())
	}
	if err := runUntilIdle(t, f2, w2, &collector{}); err != nil {
		t.Fatal(err)
	}
	f2.check()
}

func TestBookmarks(t *testing.T) {
	pos := map[string]uint64{"Security": 7, "A'b<c": 9}
	s := BookmarkXML(pos, "Security")
	got, err := ParseBookmarks(s)
	if err != nil || len(got) != 2 || got["Security"] != 7 || got["A'b<c"] != 9 {
		t.Fatalf("%q -> %v %v", s, got, err)
	}
	if BookmarkXML(nil, "") != "" {
		t.Error("empty positions")
	}
	for _, bad := range []string{"", "<x/>junk<", "<BookmarkList><Bookmark RecordId='3'/></BookmarkList>", "<BookmarkList><Bookmark Channel='S' RecordId='0'/></BookmarkList>"} {
		if _, err := ParseBookmarks(bad); err == nil && bad != "<x/>junk<" {
			t.Errorf("ParseBookmarks(%q) succeeded", bad)
		}
	}
	if recordIDFromXML([]byte(fmt.Sprintf(securityXML, 4242))) != 4242 || recordIDFromXML([]byte("<Event/>")) != 0 {
		t.Error("recordIDFromXML")
	}
}

// TestInvalidBound: a batch the RPC layer refuses is halved until it is
// accepted, and nothing is lost or reported.
func TestInvalidBound(t *testing.T) {
	f := newFakeAPI(t)
	f.channels[winevent.ChannelSecurity].maxBatch = 20
	f.steps = []func(*fakeAPI) int{func(f *fakeAPI) int {
		for range 50 {
			f.add(winevent.ChannelSecurity, securityXML)
		}
		return 0
	}}
	w := open(t, f, Options{})
	col := &collector{}
	if err := runUntilIdle(t, f, w, col); err != nil {
		t.Fatal(err)
	}
	if len(col.events) != 50 || w.Lost() != 0 || len(col.bad) != 0 {
		t.Fatalf("events %d lost %d bad %q", len(col.events), w.Lost(), col.bad)
	}
	if !slices.Contains(f.batches, 64) || !slices.Contains(f.batches, 32) || !slices.Contains(f.batches, 16) || slices.Contains(f.batches, 8) {
		t.Errorf("batches %v", f.batches)
	}
	if !strings.Contains(w.Detail(), "Security: subscribed (batch 16)") {
		t.Errorf("detail %q", w.Detail())
	}
	f.check()
}

// TestResubscribe: a stale result set and a service restart close the
// subscription; it comes back after its bookmark with growing delays and
// every event is read once.
func TestResubscribe(t *testing.T) {
	f := newFakeAPI(t)
	f.channels[winevent.ChannelSysmon].missing = true
	f.add(winevent.ChannelSecurity, securityXML) // id 1
	f.steps = []func(*fakeAPI) int{
		func(f *fakeAPI) int { f.add(winevent.ChannelSecurity, securityXML, securityXML); return 0 }, // 2, 3
		func(f *fakeAPI) int {
			// The log wraps under the subscription.
			f.add(winevent.ChannelSecurity, securityXML) // 4
			f.channels[winevent.ChannelSecurity].nextErrs = []error{errQueryResultStale}
			return 0
		},
		tick, // the resubscription is due after 1 s
		func(f *fakeAPI) int {
			// The EventLog service restarts: the subscription is dead and
			// the first two resubscriptions fail.
			f.add(winevent.ChannelSecurity, securityXML) // 5
			c := f.channels[winevent.ChannelSecurity]
			c.nextErrs = []error{errRPCUnavailable}
			c.subErrs = []error{errRPCUnavailable, errRPCUnavailable}
			return 0
		},
		tick, tick, tick,
		func(f *fakeAPI) int { f.add(winevent.ChannelSecurity, securityXML); return 0 }, // 6
	}
	w := open(t, f, Options{})
	col := &collector{}
	if err := runUntilIdle(t, f, w, col); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range col.cursors {
		i := strings.Index(c, "Security' RecordId='")
		ids = append(ids, c[i+20:i+21])
	}
	if !slices.Equal(ids, []string{"2", "3", "4", "5", "6"}) {
		t.Fatalf("events by record id %v (each once, none missing)", ids)
	}
	if !slices.Equal(f.after, []string{"Security>1", "Security>3", "Security>4"}) {
		t.Errorf("subscriptions %v", f.after)
	}
	// After the stale set: 1 s; after the restart: 1 s, 2 s, 4 s as the
	// resubscriptions fail.
	var delays []time.Duration
	for _, d := range f.waits {
		if d < DefaultWaitTimeout {
			delays = append(delays, d)
		}
	}
	if !slices.Equal(delays, []time.Duration{time.Second, time.Second, 2 * time.Second, 4 * time.Second}) {
		t.Errorf("waits %v", f.waits)
	}
	if w.Lost() != 0 || len(col.bad) != 0 {
		t.Errorf("lost %d bad %q", w.Lost(), col.bad)
	}
	if !strings.Contains(w.Warning(), "Security: the log was cleared or wrapped under the subscription 1 time(s)") ||
		!strings.Contains(w.Warning(), "Sysmon is not installed") {
		t.Errorf("warning %q", w.Warning())
	}
	if !strings.Contains(w.Detail(), "4 resubscriptions") {
		t.Errorf("detail %q", w.Detail())
	}
	f.check()
}

// TestGivesUp: a channel that keeps failing ends Run with an error naming
// it, and every handle is closed.
func TestGivesUp(t *testing.T) {
	f := newFakeAPI(t)
	f.channels[winevent.ChannelSysmon].missing = true
	f.steps = []func(*fakeAPI) int{
		func(f *fakeAPI) int {
			c := f.channels[winevent.ChannelSecurity]
			c.nextErrs = []error{errInvalidHandle}
			c.subErrs = []error{errRPCUnavailable, errRPCUnavailable, errRPCUnavailable, errRPCUnavailable, errRPCUnavailable}
			return 0
		},
		tick, tick, tick, tick, tick,
	}
	w := open(t, f, Options{MaxFailures: 3})
	err := runUntilIdle(t, f, w, &collector{})
	if err == nil || !strings.Contains(err.Error(), "eventlog: Security: 3 reads or subscriptions in a row failed, last: ") {
		t.Fatalf("Run = %v", err)
	}
	f.check()
}

// TestSafetyNet: events whose signal never comes are read when the wait
// times out.
func TestSafetyNet(t *testing.T) {
	f := newFakeAPI(t)
	f.channels[winevent.ChannelSecurity].silent = true
	f.steps = []func(*fakeAPI) int{
		func(f *fakeAPI) int { f.add(winevent.ChannelSecurity, securityXML); return 0 },
		tick,
	}
	w := open(t, f, Options{})
	col := &collector{}
	if err := runUntilIdle(t, f, w, col); err != nil {
		t.Fatal(err)
	}
	if len(col.events) != 1 {
		t.Fatalf("events %d", len(col.events))
	}
	if f.waits[0] != DefaultWaitTimeout {
		t.Errorf("waits %v", f.waits)
	}
	f.check()
}

// TestLateSysmonAndAudit: Sysmon installed after start is picked up;
// the audit policy is checked again and the warning follows it.
func TestLateSysmonAndAudit(t *testing.T) {
	f := newFakeAPI(t)
	f.channels[winevent.ChannelSysmon].missing = true
	f.audited = false
	f.steps = []func(*fakeAPI) int{
		func(f *fakeAPI) int {
			c := f.channels[winevent.ChannelSysmon]
			c.missing = false
			f.add(winevent.ChannelSysmon, sysmonXML) // before the subscription: not read
			f.audited = true
			return 0
		},
		tick, // 30 s
		tick, // 60 s: Sysmon is looked for again
		func(f *fakeAPI) int { f.add(winevent.ChannelSysmon, sysmonXML); return 0 },
		tick, tick, tick, tick, tick, tick, tick, tick, tick, // past the 5 min audit check
	}
	w := open(t, f, Options{})
	warn := w.Warning()
	if !strings.Contains(warn, "Sysmon is not installed (no channel Microsoft-Windows-Sysmon/Operational); looking for it every 1m0s") ||
		!strings.Contains(warn, "success auditing of Process Creation is off (auditpol /set /subcategory:{0CCE922B-69AE-11D9-BED3-505054503030} /success:enable)") {
		t.Errorf("warning at start %q", warn)
	}
	col := &collector{}
	if err := runUntilIdle(t, f, w, col); err != nil {
		t.Fatal(err)
	}
	if len(col.events) != 1 || col.events[0].Source != "eventlog:sysmon" {
		t.Fatalf("events %v", paths(col.events))
	}
	if !slices.Equal(f.after, []string{"Security>0", winevent.ChannelSysmon + ">1"}) {
		t.Errorf("subscriptions %v", f.after)
	}
	if w.Warning() != "" || f.audits < 2 {
		t.Errorf("warning %q after %d audit checks", w.Warning(), f.audits)
	}
	f.check()

	f2 := newFakeAPI(t)
	f2.auditErr = errAccessDenied
	f2.channels[winevent.ChannelSecurity].denied = true
	w2 := open(t, f2, Options{})
	if warn := w2.Warning(); !strings.Contains(warn, "could not read the Process Creation audit policy") ||
		!strings.Contains(warn, "Security: access denied (need Administrator or Event Log Readers)") {
		t.Errorf("warning %q", warn)
	}
	w2.Close()
	f2.check()
}

// TestBadEvents: an event that cannot be rendered or decoded is reported
// with its channel (and record id when known), counted as lost, and the
// cursor still moves past it.
func TestBadEvents(t *testing.T) {
	f := newFakeAPI(t)
	f.steps = []func(*fakeAPI) int{func(f *fakeAPI) int {
		f.add(winevent.ChannelSecurity, "", brokenXML, securityXML)
		return 0
	}}
	w := open(t, f, Options{})
	col := &collector{}
	if err := runUntilIdle(t, f, w, col); err != nil {
		t.Fatal(err)
	}
	if w.Lost() != 2 || len(col.bad) != 2 || len(col.events) != 1 {
		t.Fatalf("lost %d bad %q events %d", w.Lost(), col.bad, len(col.events))
	}
	if !strings.HasPrefix(col.bad[0], "Security: EvtRender: render failed") || !strings.HasPrefix(col.bad[1], "Security: record 2: event XML") {
		t.Errorf("bad %q", col.bad)
	}
	if !strings.Contains(w.Cursor(), "RecordId='3'") {
		t.Errorf("cursor %q", w.Cursor())
	}
	f.check()
}

func TestSinkErrorClosesBatch(t *testing.T) {
	f := newFakeAPI(t)
	f.steps = []func(*fakeAPI) int{func(f *fakeAPI) int {
		f.add(winevent.ChannelSecurity, securityXML, securityXML, securityXML)
		return 0
	}}
	w := open(t, f, Options{})
	err := runUntilIdle(t, f, w, &collector{err: errors.New("store full")})
	if err == nil || err.Error() != "store full" {
		t.Fatalf("Run = %v", err)
	}
	f.check() // the two unread handles of the batch were closed
}

func TestPanicEndsRun(t *testing.T) {
	f := newFakeAPI(t)
	f.steps = []func(*fakeAPI) int{func(f *fakeAPI) int { f.add(winevent.ChannelSecurity, securityXML); return 0 }}
	w := open(t, f, Options{})
	err := runUntilIdle(t, f, w, &collector{panics: true})
	if err == nil || !strings.Contains(err.Error(), "panic in the Event Log watcher at eventlog/watcher_test.go:") {
		t.Fatalf("Run = %v", err)
	}
	f.check()
}

func TestOpenFails(t *testing.T) {
	f := newFakeAPI(t)
	f.channels[winevent.ChannelSysmon].missing = true
	f.channels[winevent.ChannelSecurity].denied = true
	_, err := New(f, Options{now: f.clock})
	if err == nil || !strings.Contains(err.Error(), "no channel could be subscribed") ||
		!strings.Contains(err.Error(), winevent.ChannelSysmon+": ") || !strings.Contains(err.Error(), "Security: ") {
		t.Fatalf("err = %v", err)
	}
	f.check()
}

func TestRunAfterClose(t *testing.T) {
	f := newFakeAPI(t)
	w := open(t, f, Options{})
	w.Close()
	w.Close()
	if err := w.Run(context.Background(), (&collector{w: w}).sink()); err != nil {
		t.Fatal(err)
	}
	if len(f.waits) != 0 {
		t.Errorf("Run waited after Close: %v", f.waits)
	}
	if err := w.Run(context.Background(), (&collector{w: w}).sink()); err == nil {
		t.Error("second Run accepted")
	}
	f.check()
}

func TestContextEndsRun(t *testing.T) {
	f := newFakeAPI(t)
	w := open(t, f, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, (&collector{w: w}).sink()) }()
	<-f.idle
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(patience):
		t.Fatal("Run ignored the context")
	}
	w.Close()
	f.check()
}
