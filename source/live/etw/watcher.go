package etw

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/recovered"
	"github.com/tsclientwatch/tsclientwatch/source"
)

// SessionPrefix starts the name of every session this package starts:
// SessionPrefix + "<pid>-<process creation FILETIME>-<n>". Each watcher has
// its own session, so a second instance (the extension and an admin's
// tsclientwatch watch, or an extension restart that overlaps the old one)
// no longer stops the first.
const SessionPrefix = "tsclientwatch-process-"

// legacySessionName is the one fixed name earlier versions used. A session
// by that name is left over from one of them and is stopped like any stale
// session of ours.
const legacySessionName = "tsclientwatch-process"

// Defaults for Options.
const (
	DefaultQueueSize     = 4096
	DefaultUserTTL       = 10 * time.Minute
	DefaultFailedUserTTL = time.Minute
	maxCachedUsers       = 4096
)

// Options tune a Watcher. The zero value uses the defaults.
type Options struct {
	// QueueSize bounds the events waiting between ETW's callback and the
	// worker that decodes them; when it is full, events are counted as
	// dropped rather than making ETW wait.
	QueueSize int
	// UserTTL is how long a resolved SID-to-name lookup is reused;
	// FailedUserTTL how long a failed one is (so an unreachable domain
	// controller is not asked for every event).
	UserTTL, FailedUserTTL time.Duration
	// now is the clock (tests).
	now func() time.Time
}

// Watcher is one real-time ETW session with Microsoft-Windows-Kernel-Process
// enabled and a consumer on it. ETW's callback only copies each ProcessStart
// into a bounded queue; a worker goroutine decodes it, resolves the user and
// hands it to the sink, so nothing slow (an LSA lookup, a busy collector)
// runs on ETW's delivery thread.
type Watcher struct {
	sys      System
	opts     Options
	name     string
	session  uint64
	consumer uint64
	filtered bool     // the kernel drops every event but ProcessStart
	stale    []string // sessions stopped at Open: their owner was gone

	queue chan pending
	sink  source.Sink
	users *userCache

	started      atomic.Bool // Run was called
	asked        atomic.Bool // Close was called
	faulted      atomic.Bool // fault is set
	closeOnce    sync.Once
	consumerOnce sync.Once

	mu    sync.Mutex
	fault error         // why the session must end: a panic, the sink's error
	final *SessionStats // what STOP returned
	last  SessionStats  // the last statistics read

	events        atomic.Uint64
	bad           atomic.Uint64
	dropped       atomic.Uint64 // queue full
	lostNotices   atomic.Uint64 // RT_LostEvent
	bufferNotices atomic.Uint64 // RT_LostBuffer
	foreign       atomic.Uint64 // events of another provider (someone enabled one on our session)
	tokenUsers    atomic.Uint64 // users read from the new process's token
	creatorUsers  atomic.Uint64 // users taken from the creating thread's SID
	tokenLogons   atomic.Uint64 // logon ids read from a client-drive program's token
	newestVersion atomic.Uint32 // highest ProcessStart version seen
	labelSkipped  atomic.Uint64 // v3 events whose MandatoryLabel was unreadable
}

// pending is one ProcessStart copied out of ETW's buffer.
type pending struct {
	version uint8
	data    []byte
	sid     []byte
}

var sessionSeq atomic.Uint64

// New starts a session through sys: it stops stale sessions of ours whose
// owner process is gone, starts a uniquely named session, enables the
// kernel process provider (ProcessStart only, where the kernel can filter)
// and opens a consumer. It needs administrator rights (or membership in
// Performance Log Users).
func New(sys System, opts Options) (*Watcher, error) {
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.UserTTL <= 0 {
		opts.UserTTL = DefaultUserTTL
	}
	if opts.FailedUserTTL <= 0 {
		opts.FailedUserTTL = DefaultFailedUserTTL
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	w := &Watcher{sys: sys, opts: opts, queue: make(chan pending, opts.QueueSize)}
	w.users = newUserCache(sys.LookupAccount, opts.UserTTL, opts.FailedUserTTL, opts.now)
	pid, created := sys.Self()
	w.stale = w.stopStale(pid, created)
	w.name = SessionPrefix + strconv.FormatUint(uint64(pid), 10) + "-" + strconv.FormatUint(created, 10) + "-" + strconv.FormatUint(sessionSeq.Add(1), 10)

	session, err := sys.StartSession(w.name)
	if err != nil {
		return nil, startError(w.name, err)
	}
	w.session = session
	if err := w.enable(); err != nil {
		sys.StopSession(w.name)
		return nil, err
	}
	consumer, err := sys.OpenConsumer(w.name, w.deliver)
	if err != nil {
		sys.StopSession(w.name)
		return nil, fmt.Errorf("etw: OpenTrace %s: %w", w.name, err)
	}
	w.consumer = consumer
	return w, nil
}

// stopStale stops the sessions of ours whose owner process is gone (a
// crash leaves a real-time session running until reboot, holding one of
// the host's 64 sessions and one of the provider's 8 enablements). A
// session whose owner still runs, or whose owner cannot be checked, is left
// alone. It returns the names it stopped.
func (w *Watcher) stopStale(selfPID uint32, selfCreated uint64) []string {
	names, err := w.sys.Sessions()
	if err != nil {
		return nil // cleanup is a courtesy: starting our own session still works
	}
	var stopped []string
	for _, name := range names {
		if !w.isStale(name, selfPID, selfCreated) {
			continue
		}
		if _, err := w.sys.StopSession(name); err == nil || errors.Is(err, errWMIInstanceNotFound) {
			stopped = append(stopped, name)
		}
	}
	return stopped
}

func (w *Watcher) isStale(name string, selfPID uint32, selfCreated uint64) bool {
	if name == legacySessionName {
		return true
	}
	pid, created, ok := parseSessionName(name)
	if !ok {
		return false // not ours
	}
	if pid == selfPID && created == selfCreated {
		return false // another watcher of this process
	}
	c, running, err := w.sys.ProcessCreated(pid)
	if err != nil {
		return false // cannot tell: leave it
	}
	return !running || c != created
}

// parseSessionName reads the owner out of a session name of ours.
func parseSessionName(name string) (pid uint32, created uint64, ok bool) {
	rest, found := strings.CutPrefix(name, SessionPrefix)
	if !found {
		return 0, 0, false
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 3 {
		return 0, 0, false
	}
	p, err1 := strconv.ParseUint(parts[0], 10, 32)
	c, err2 := strconv.ParseUint(parts[1], 10, 64)
	_, err3 := strconv.ParseUint(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, false
	}
	return uint32(p), c, true
}

// enable turns on ProcessStart with an event-id filter, so the kernel does
// not send ProcessStop and ProcessRundown (keyword 0x10 enables all three)
// only for them to be dropped here. Windows before 8.1 refuses the filter;
// then every event of the keyword comes and is dropped in user mode.
func (w *Watcher) enable() error {
	err := w.sys.EnableProvider(w.session, kernelProcess, KeywordProcess, []uint16{EventProcessStart})
	if err == nil {
		w.filtered = true
		return nil
	}
	if errors.Is(err, errNotSupported) || errors.Is(err, errInvalidParameter) {
		err = w.sys.EnableProvider(w.session, kernelProcess, KeywordProcess, nil)
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, errNoSystemResources) {
		return fmt.Errorf("etw: cannot enable Microsoft-Windows-Kernel-Process %s on session %s: "+
			"at most 8 sessions can enable one provider and the host's limit is reached "+
			"(other tracing or EDR agents hold them; `logman query -ets` lists the sessions): %w", Provider, w.name, err)
	}
	if errors.Is(err, errAccessDenied) {
		return fmt.Errorf("etw: access denied enabling Microsoft-Windows-Kernel-Process %s (need Administrator or Performance Log Users): %w", Provider, err)
	}
	return fmt.Errorf("etw: EnableTraceEx2 %s on session %s: %w", Provider, w.name, err)
}

func startError(name string, err error) error {
	switch {
	case errors.Is(err, errAccessDenied):
		return fmt.Errorf("etw: access denied starting trace session %s (need Administrator or Performance Log Users): %w", name, err)
	case errors.Is(err, errNoSystemResources):
		return fmt.Errorf("etw: cannot start trace session %s: the host's trace sessions (64 by default) are all in use; `logman query -ets` lists them: %w", name, err)
	case errors.Is(err, errAlreadyExists):
		return fmt.Errorf("etw: trace session %s already exists: %w", name, err)
	}
	return fmt.Errorf("etw: StartTrace %s: %w", name, err)
}

// Name is the session's name, as `logman query -ets` lists it.
func (w *Watcher) Name() string { return w.name }

// deliver is ETW's callback, on ProcessTrace's thread. It only copies: the
// provider is checked first (anyone with the right to can enable another
// provider on our session), lost-event notifications are counted, and a
// ProcessStart is queued for the worker. It never calls ControlTrace, and a
// panic ends the session through CloseTrace instead of the process.
func (w *Watcher) deliver(rec *Record) {
	defer func() {
		if r := recover(); r != nil {
			w.setFault(recovered.Error("the ETW event callback", r))
		}
	}()
	if w.faulted.Load() {
		return
	}
	switch {
	case rec.Err != nil:
		w.setFault(rec.Err)
	case rec.Provider == lostEvents:
		switch rec.Opcode {
		case opRTLostEvent:
			w.lostNotices.Add(1)
		case opRTLostBuffer:
			w.bufferNotices.Add(1)
		}
		return
	case rec.Provider != kernelProcess:
		w.foreign.Add(1)
		return
	case rec.ID != EventProcessStart:
		return // ProcessStop and Rundown, when the kernel could not filter
	}
	p := pending{version: rec.Version, data: append([]byte(nil), rec.UserData...)}
	if len(rec.SID) > 0 {
		p.sid = append([]byte(nil), rec.SID...)
	}
	select {
	case w.queue <- p:
	default:
		w.dropped.Add(1)
	}
}

// setFault records why the session must end (the first reason wins) and
// closes the consumer so that Process returns. Run stops the session.
func (w *Watcher) setFault(err error) {
	w.mu.Lock()
	if w.fault == nil {
		w.fault = err
		w.faulted.Store(true)
	}
	w.mu.Unlock()
	w.closeConsumer()
}

func (w *Watcher) closeConsumer() {
	w.consumerOnce.Do(func() { w.sys.CloseConsumer(w.consumer) })
}

// Run delivers process starts to sink until ctx ends or Close is called
// (nil), or the session ends for another reason: stopped from outside, a
// panic in the callback path, the sink's error (that error). Run after
// Close returns nil at once.
func (w *Watcher) Run(ctx context.Context, sink source.Sink) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("etw: Run called twice")
	}
	if w.asked.Load() {
		return nil
	}
	w.sink = sink
	workerDone := make(chan struct{})
	go w.work(workerDone)
	stop := context.AfterFunc(ctx, func() { w.Close() })
	defer stop()

	perr := w.sys.Process(w.consumer)
	asked := w.asked.Load()
	if !asked {
		w.refreshStats() // the session may still exist: keep its last figures
	}
	close(w.queue)
	<-workerDone
	w.shutdown()

	w.mu.Lock()
	fault := w.fault
	w.mu.Unlock()
	switch {
	case ctx.Err() != nil:
		return nil
	case fault != nil:
		return fmt.Errorf("etw: session %s ended: %w", w.name, fault)
	case asked:
		return nil
	case perr != nil && !errors.Is(perr, errCancelled):
		return fmt.Errorf("etw: session %s ended without being asked to: ProcessTrace: %w", w.name, perr)
	}
	return fmt.Errorf("etw: session %s ended without being asked to (stopped from outside: `logman stop %s -ets`, a tracing tool's cleanup, or the system)", w.name, w.name)
}

// work decodes queued events, resolves users and feeds the sink.
func (w *Watcher) work(done chan struct{}) {
	defer close(done)
	defer func() {
		if r := recover(); r != nil {
			w.setFault(recovered.Error("the ETW event worker", r))
			for range w.queue { // let Run finish
			}
		}
	}()
	for p := range w.queue {
		if w.faulted.Load() {
			continue // drain: the session is ending
		}
		w.handle(p)
	}
}

func (w *Watcher) handle(p pending) {
	if v := uint32(p.version); v > w.newestVersion.Load() {
		w.newestVersion.Store(v) // only the worker writes it
	}
	ps, err := DecodeProcessStart(p.version, p.data)
	if err != nil {
		n := w.bad.Add(1)
		w.sink.Report(&source.RecordError{File: "etw session " + w.name, Record: int64(n), Offset: -1, Err: err})
		return
	}
	if ps.LabelError != nil {
		w.labelSkipped.Add(1)
		w.sink.Report(&source.RecordError{File: "etw session " + w.name, Record: int64(w.events.Load() + 1), Offset: -1,
			Err: fmt.Errorf("pid %d %s: %w (image name read anyway)", ps.PID, ps.ImageName, ps.LabelError)})
	}
	w.events.Add(1)
	ev := ps.Event(w.user(&ps, p.sid))
	w.logon(&ps, &ev)
	if err := w.sink.Emit(&ev); err != nil {
		w.setFault(err)
	}
}

// user names the account the new process runs as: the user of its primary
// token while it still runs (best effort), else the SID ETW attached, which
// is the creating thread's (the same for a program started from an RDP
// user's desktop, not for CreateProcessAsUser callers such as the Task
// Scheduler, services or an impersonating creator).
func (w *Watcher) user(p *ProcessStart, creator []byte) string {
	if !p.CreateTime.IsZero() {
		if sid, err := w.sys.ProcessUser(p.PID, filetime(p.CreateTime)); err == nil && sid != "" {
			w.tokenUsers.Add(1)
			return w.users.name(sid)
		}
	}
	if len(creator) == 0 {
		return ""
	}
	sid, _, err := SIDString(creator)
	if err != nil {
		return ""
	}
	w.creatorUsers.Add(1)
	return w.users.name(sid)
}

// logon reads the logon session of a program started from a client drive
// from its token, while it still runs. ETW's ProcessStart carries the
// terminal session but no logon id; other starts are not looked up, so the
// extra token read costs nothing on the host's ordinary processes.
func (w *Watcher) logon(p *ProcessStart, ev *detector.Event) {
	if p.CreateTime.IsZero() || !containsFold(p.ImageName, "tsclient") {
		return
	}
	if id, err := w.sys.ProcessLogon(p.PID, filetime(p.CreateTime)); err == nil && id != 0 {
		ev.LogonID = detector.LogonID(id)
		w.tokenLogons.Add(1)
	}
}

// containsFold reports whether s contains the lower-case ASCII needle,
// ignoring ASCII case.
func containsFold(s, needle string) bool {
	for i := 0; i+len(needle) <= len(s); i++ {
		j := 0
		for j < len(needle) {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != needle[j] {
				break
			}
			j++
		}
		if j == len(needle) {
			return true
		}
	}
	return false
}

// refreshStats reads the session's statistics while it runs.
func (w *Watcher) refreshStats() {
	st, err := w.sys.QuerySession(w.name)
	if err != nil {
		return
	}
	w.mu.Lock()
	w.last = st
	w.mu.Unlock()
}

// shutdown stops the session (keeping the final statistics STOP returns)
// and closes the consumer, once.
func (w *Watcher) shutdown() {
	w.closeOnce.Do(func() {
		st, err := w.sys.StopSession(w.name)
		if err == nil {
			w.mu.Lock()
			w.final = &st
			w.mu.Unlock()
		}
		w.closeConsumer()
	})
}

// Close stops the session; a Run in progress delivers what ETW still holds
// and returns nil.
func (w *Watcher) Close() error {
	w.asked.Store(true)
	w.shutdown()
	return nil
}

// Stats is what a Watcher has seen so far.
type Stats struct {
	Name          string   // the session's name
	Filtered      bool     // the kernel filters to ProcessStart
	Stale         []string // stale sessions stopped at start
	Events        uint64   // process starts decoded
	Bad           uint64   // ProcessStart payloads that could not be decoded
	Dropped       uint64   // starts dropped because the queue was full
	Session       SessionStats
	LostNotices   uint64 // RT_LostEvent notifications
	BufferNotices uint64 // RT_LostBuffer notifications
	Foreign       uint64 // events of other providers, ignored
	TokenUsers    uint64 // users read from the new process's token
	CreatorUsers  uint64 // users taken from the creating thread
	TokenLogons   uint64 // logon ids read from client-drive programs' tokens
	LabelSkipped  uint64 // v3 starts whose MandatoryLabel could not be read
	NewestVersion uint8  // highest ProcessStart version seen
}

// Stats reads the counters; while the session runs it asks ETW for the
// session's, afterwards it keeps the last (or final) ones.
func (w *Watcher) Stats() Stats {
	if !w.asked.Load() && !w.faulted.Load() {
		w.refreshStats()
	}
	w.mu.Lock()
	sess := w.last
	if w.final != nil {
		sess = *w.final
	}
	w.mu.Unlock()
	return Stats{
		Name:          w.name,
		Filtered:      w.filtered,
		Stale:         w.stale,
		Events:        w.events.Load(),
		Bad:           w.bad.Load(),
		Dropped:       w.dropped.Load(),
		Session:       sess,
		LostNotices:   w.lostNotices.Load(),
		BufferNotices: w.bufferNotices.Load(),
		Foreign:       w.foreign.Load(),
		TokenUsers:    w.tokenUsers.Load(),
		CreatorUsers:  w.creatorUsers.Load(),
		TokenLogons:   w.tokenLogons.Load(),
		LabelSkipped:  w.labelSkipped.Load(),
		NewestVersion: uint8(w.newestVersion.Load()),
	}
}

// Lost is the process starts known to be lost: those the session had no
// buffer for, those our queue had no room for, and undecodable ones.
func (s Stats) Lost() uint64 { return s.Session.EventsLost + s.Dropped + s.Bad }

// LostBuffers is the real-time buffers ETW could not deliver (each holds
// many events; how many were starts is unknown).
func (s Stats) LostBuffers() uint64 {
	return max(s.Session.RealTimeBuffersLost, s.BufferNotices)
}

// Detail describes the session for the status table.
func (s Stats) Detail() string {
	var b strings.Builder
	b.WriteString("session " + s.Name)
	if !s.Filtered {
		b.WriteString(" (no kernel event-id filter: stops and rundowns dropped here)")
	}
	fmt.Fprintf(&b, "; lost: %d by the session, %d queue full, %d undecodable; RT_LostEvent %d, RT_LostBuffer %d",
		s.Session.EventsLost, s.Dropped, s.Bad, s.LostNotices, s.BufferNotices)
	fmt.Fprintf(&b, "; user from token %d, from creator %d", s.TokenUsers, s.CreatorUsers)
	if s.Foreign > 0 {
		fmt.Fprintf(&b, "; %d events of other providers ignored", s.Foreign)
	}
	if len(s.Stale) > 0 {
		b.WriteString("; stopped stale sessions " + strings.Join(s.Stale, ", "))
	}
	return b.String()
}

// Warning says what an operator should look at, or "".
func (s Stats) Warning() string {
	var w []string
	if s.NewestVersion > maxSupportedVersion {
		w = append(w, fmt.Sprintf("ProcessStart version %d is newer than this build knows (3); it is read with the version 3 layout", s.NewestVersion))
	}
	if s.LabelSkipped > 0 {
		w = append(w, fmt.Sprintf("%d process starts had an unreadable MandatoryLabel", s.LabelSkipped))
	}
	if s.Foreign > 0 {
		w = append(w, "another provider was enabled on this session from outside")
	}
	return strings.Join(w, "; ")
}
