// Package collect runs the configured event sources and fills the detection
// store: each source's events are batched, run through a detector.Detector
// and the detections added to a store.Store. It keeps one status per source
// (state, counters, last error) for the tsclientwatch_status table.
//
// File sources replay EVTX, event XML or JSON through source/file, or, with
// follow, tail a growing file by polling (so it works on every platform and
// file system) and survive rotation and truncation. Live sources need a
// watcher the caller provides (Options.OpenLive); without one they are
// reported as unavailable, and everything else still runs.
package collect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/backoff"
	"github.com/tsclientwatch/tsclientwatch/session"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/file"
	"github.com/tsclientwatch/tsclientwatch/source/live"
	"github.com/tsclientwatch/tsclientwatch/store"
	"github.com/tsclientwatch/tsclientwatch/tables"
)

// Source states as the status table shows them.
const (
	StateStarting    = "starting"    // not started yet (earlier replays still running)
	StateRunning     = "running"     // reading, or following and caught up
	StateWaiting     = "waiting"     // following a file that does not exist (yet)
	StateDone        = "done"        // a replay that read its input to the end
	StateFailed      = "failed"      // nothing could be read
	StateStopped     = "stopped"     // ended by Close or the context
	StateUnavailable = "unavailable" // no watcher for this source on this build/platform, or it cannot be opened (retried)
	StateRestarting  = "restarting"  // a live source failed; it is started again after a delay (last_error says why)
)

// Defaults for Options.
const (
	DefaultPollInterval = 250 * time.Millisecond
	DefaultBatchSize    = 512
)

// LiveWatcher is a running live process watcher (source/live's Watcher
// satisfies it).
type LiveWatcher interface {
	// Run hands events to sink until ctx ends or Close is called.
	Run(ctx context.Context, sink source.Sink) error
	// Close releases the watcher; a Run in progress returns.
	Close() error
}

// statsReporter is a LiveWatcher that counts what it saw and lost
// (source/live's Watcher does); the status table shows its figures.
type statsReporter interface {
	Stats() live.Stats
}

// cursorer is a LiveWatcher that can resume (the Event Log watcher): its
// cursor is handed to the next watcher of the source after a restart.
type cursorer interface {
	Cursor() string
}

// LiveOpener returns an Options.OpenLive that starts source/live's watcher
// with base's settings (the xrdp client-drive mount names the fanotify
// fallback marks, the xrdp-sesman log attribution reads): source type
// "live" picks the best mechanism of the platform, the others force
// theirs.
func LiveOpener(base live.Options) func(ctx context.Context, typ, resume string) (LiveWatcher, error) {
	return func(ctx context.Context, typ, resume string) (LiveWatcher, error) {
		opts := base
		opts.Mechanism = typ
		if typ == config.SourceLive {
			opts.Mechanism = live.Auto
		}
		opts.WaitForMounts, opts.Resume = true, resume
		return live.Open(ctx, opts)
	}
}

// Options configure a Collector.
type Options struct {
	// Sources are the configured sources, in order. Non-follow file
	// sources are replayed one after another in this order, so eids
	// follow it; followed files and live sources run alongside.
	Sources []config.SourceConfig
	// Detector runs the rule on each batch. Required.
	Detector detector.Detector
	// Store receives the detections. Required.
	Store *store.Store
	// PollInterval is how often a followed file is checked for new data;
	// 0 means DefaultPollInterval.
	PollInterval time.Duration
	// BatchSize is how many events go to the detector at once; 0 means
	// DefaultBatchSize.
	BatchSize int
	// OpenLive starts the watcher for a live source type ("live", "ebpf",
	// "fanotify", "etw", "eventlog"); resume is the cursor the source's
	// previous watcher reported, "" the first time. nil means no live
	// watcher exists in this build: such sources are reported as
	// unavailable.
	OpenLive func(ctx context.Context, typ, resume string) (LiveWatcher, error)
	// OpenOsquery starts an osquery source (reading osquery's own process
	// event tables through its extension socket); resume as for OpenLive.
	// nil means osquery's socket is unknown here: such sources are
	// reported as unavailable.
	OpenOsquery func(ctx context.Context, sc config.SourceConfig, resume string) (LiveWatcher, error)
	// Restart spaces the restarts of a live source that failed or could
	// not be opened; the zero value waits 1 s, doubling up to 5 min, and
	// starts over once a run lasted a minute.
	Restart backoff.Policy
	// MaxRecordBytes caps one NDJSON line, JSON document or XML event of a
	// file source (config input.max_record_bytes); 0 means the readers'
	// defaults.
	MaxRecordBytes int
	// MaxSpool caps the temporary copy of a compressed EVTX file source
	// (config input.max_spool); 0 means source/file's default.
	MaxSpool int64
	// Tracker learns the session events of every source and attributes
	// each detection before it is stored (docs/attribution.md); nil
	// means a tracker of the collector's own.
	Tracker *session.Tracker
	// Evidence says what is read of the program of each live detection
	// (evidence.*, docs/evidence.md): such a detection is held in the
	// store, hidden, until its hash (and copy) is settled. The zero value
	// reads nothing and stores detections at once.
	Evidence config.Evidence
	// Log receives what the evidence reader has to say; nil discards it.
	Log *slog.Logger
}

// Collector runs sources into a store. Create it with New, start it with
// Run, stop it with Close.
type Collector struct {
	opts    Options
	sources []*sourceRun

	base     context.Context // ended by Close
	stop     context.CancelFunc
	started  atomic.Bool
	finished chan struct{} // closed when Run returns

	pending atomic.Int64  // sources that have not finished their first pass
	ready   chan struct{} // closed when pending reaches 0

	tracker   *session.Tracker
	evidence  *evidenceRun
	closeOnce sync.Once
}

// New checks opts and builds a Collector. An unknown source type or a file
// source without a path is an error naming the source.
func New(opts Options) (*Collector, error) {
	if opts.Detector == nil || opts.Store == nil {
		return nil, errors.New("collect: Detector and Store are required")
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	c := &Collector{opts: opts, finished: make(chan struct{}), ready: make(chan struct{}), tracker: opts.Tracker}
	if c.tracker == nil {
		c.tracker = session.New(session.Options{})
	}
	c.evidence = &evidenceRun{st: opts.Store, copies: opts.Evidence.Dir != "", target: opts.Evidence.Dir, started: time.Now()}
	if c.evidence.target == "" {
		c.evidence.target = "hash only"
	}
	for i, sc := range opts.Sources {
		switch sc.Type {
		case config.SourceFile:
			if sc.Path == "" {
				return nil, fmt.Errorf("collect: sources[%d]: file source without a path", i)
			}
		case config.SourceLive, config.SourceEBPF, config.SourceFanotify, config.SourceETW, config.SourceEventLog, config.SourceOsquery:
		default:
			return nil, fmt.Errorf("collect: sources[%d]: unknown source type %q", i, sc.Type)
		}
		target := sc.Path
		if sc.Type != config.SourceFile {
			target = sc.Type
		}
		c.sources = append(c.sources, &sourceRun{
			c:      c,
			cfg:    sc,
			key:    cursorKey(sc),
			status: tables.SourceStatus{Type: sc.Type, Target: target, State: StateStarting},
		})
	}
	c.pending.Store(int64(len(c.sources)))
	if len(c.sources) == 0 {
		close(c.ready)
	}
	// Only live sources have a running program to read: replays and
	// followed files never start the reader (or create its directory).
	evCfg := opts.Evidence
	if !slices.ContainsFunc(c.sources, func(s *sourceRun) bool { return s.cfg.Type != config.SourceFile }) {
		evCfg = config.Evidence{}
	}
	ev, err := NewEvidence(evCfg, opts.Log)
	if err != nil {
		if opts.Log != nil {
			opts.Log.Error("evidence reader", "err", err)
		}
		c.evidence.failed = err.Error()
		if ev != nil {
			c.evidence.copies, c.evidence.target = false, "hash only"
		}
	}
	c.evidence.ev = ev
	c.base, c.stop = context.WithCancel(context.Background())
	return c, nil
}

// Run runs every source until each has finished (replays read to the end)
// or ctx ends or Close is called. It returns nil then: what each source did
// is in Status. It may be called once.
func (c *Collector) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("collect: Run called twice")
	}
	defer close(c.finished)
	// What a previous run held for its evidence is read once more now.
	c.evidence.retryHeld()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopAfter := context.AfterFunc(c.base, cancel)
	defer stopAfter()

	var wg sync.WaitGroup
	var replays []*sourceRun
	// File sources start once the session events of all of them are
	// known (learnSessions), so a detection finds its client whichever
	// file holds it; live sources start at once.
	learned := make(chan struct{})
	afterLearning := func(f func()) func() {
		return func() {
			select {
			case <-learned:
				f()
			case <-ctx.Done():
			}
		}
	}
	for _, s := range c.sources {
		switch {
		case s.cfg.Type == config.SourceFile && !s.cfg.Follow:
			replays = append(replays, s)
		case s.cfg.Type == config.SourceFile:
			wg.Go(afterLearning(func() { s.follow(ctx) }))
		default:
			wg.Go(func() { s.live(ctx) })
		}
	}
	wg.Go(func() {
		c.learnSessions(ctx)
		close(learned)
	})
	if len(replays) > 0 {
		wg.Go(afterLearning(func() {
			for _, s := range replays {
				s.replay(ctx)
			}
		}))
	}
	wg.Wait()
	return nil
}

// Close stops Run and waits for it to return. It is safe to call more than
// once and before Run.
func (c *Collector) Close() error {
	c.stop()
	if c.started.Load() {
		<-c.finished
	}
	c.closeOnce.Do(func() {
		// Detections still waiting for evidence stay held in the store,
		// to be read again at the next start.
		if c.evidence.ev != nil {
			c.evidence.ev.Close()
		}
	})
	return nil
}

// Ready is closed once every source has finished its first pass: replays
// have read their input, followed files have caught up with their current
// end (or found them missing), live sources have started or failed. A
// one-shot query waits for it before running SQL.
func (c *Collector) Ready() <-chan struct{} { return c.ready }

// Done is closed when Run has returned.
func (c *Collector) Done() <-chan struct{} { return c.finished }

// Status returns one status per configured source, in configuration order,
// or a single "none" row saying no source is configured.
func (c *Collector) Status() []tables.SourceStatus {
	if len(c.sources) == 0 {
		return []tables.SourceStatus{tables.NoSource("no sources configured: add sources to the configuration, or use --replay / --live")}
	}
	out := make([]tables.SourceStatus, len(c.sources))
	for i, s := range c.sources {
		s.mu.Lock()
		out[i] = s.status
		if s.watcher != nil {
			st := s.watcher.Stats()
			out[i].Target = st.Mechanism
			if st.Detail != "" {
				out[i].Target += ": " + st.Detail
			}
			// Starts the kernel or the subscription dropped before we
			// saw them, added to those the pipeline dropped (and to
			// those of earlier watchers, folded in when they ended).
			out[i].Dropped += int64(st.Lost)
			out[i].LostBuffers += int64(st.LostBuffers)
			out[i].Warning = st.Warning
		}
		s.mu.Unlock()
	}
	if st, ok := c.evidence.status(); ok {
		out = append(out, st)
	}
	return out
}

// sourceRun is one configured source: its status and its detector pipeline.
type sourceRun struct {
	c         *Collector
	cfg       config.SourceConfig
	readyOnce sync.Once

	mu      sync.Mutex
	status  tables.SourceStatus
	watcher statsReporter // a live source's watcher, once open; nil otherwise

	// key names the source's cursor in the store (cursorKey).
	key string
	// cursor, when set, returns the cursor to store with the detections
	// of each flush: where the source stands once they are stored.
	cursor func() []byte
	// until is the time up to which a live source is known to have handed
	// every event to the store (from its cursor).
	until time.Time

	// Used only by the source's own goroutine (a live source's batch
	// mutex guards them there).
	batch []detector.Event
	out   []detector.Detection
}

// markReady records that the source finished its first pass.
func (s *sourceRun) markReady() {
	s.readyOnce.Do(func() {
		if s.c.pending.Add(-1) == 0 {
			close(s.c.ready)
		}
	})
}

func (s *sourceRun) setState(state string) {
	s.mu.Lock()
	s.status.State = state
	if state == StateRunning && s.status.Started.IsZero() {
		s.status.Started = time.Now()
	}
	s.mu.Unlock()
}

// warn records why a source may have missed something, without counting
// an error.
func (s *sourceRun) warn(msg string) {
	s.mu.Lock()
	s.status.Warning = msg
	s.mu.Unlock()
}

// fail counts an error and makes it the last one.
func (s *sourceRun) fail(err error) {
	s.mu.Lock()
	s.status.Errors++
	s.status.LastError = err.Error()
	s.mu.Unlock()
}

// sink is the source.Sink every reader and watcher of this source feeds.
func (s *sourceRun) sink(ctx context.Context) source.Sink {
	return source.Sink{
		Event: func(ev *detector.Event) error {
			s.batch = append(s.batch, *ev)
			if len(s.batch) >= s.c.opts.BatchSize {
				return s.flush(ctx)
			}
			return nil
		},
		Bad: func(re *source.RecordError) { s.fail(re) },
	}
}

// flush runs the batch through the detector and stores the detections,
// with the source's cursor when it keeps one (so the two are written
// together). A detector failure drops the batch (counted and reported) and
// reading goes on; only the end of ctx stops the reader.
func (s *sourceRun) flush(ctx context.Context) error {
	var cur []byte
	if s.cursor != nil {
		cur = s.cursor()
	}
	return s.flushAt(ctx, cur)
}

// flushAt is flush with the cursor cur (nil: none) that holds once the
// batch is stored.
func (s *sourceRun) flushAt(ctx context.Context, cur []byte) error {
	if len(s.batch) == 0 {
		if cur != nil {
			s.c.opts.Store.Commit(nil, store.Cursor{Source: s.key, Value: cur})
		}
		return nil
	}
	n := int64(len(s.batch))
	var err error
	// Session events first: a detection in the same batch may need one.
	for i := range s.batch {
		s.c.tracker.Add(&s.batch[i])
	}
	s.out, err = s.c.opts.Detector.Detect(ctx, s.batch, s.out[:0])
	s.batch = s.batch[:0]
	var partial *detector.PartialError
	if err != nil && !errors.As(err, &partial) {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		s.mu.Lock()
		s.status.EventsRead += n
		s.status.Dropped += n
		s.status.Errors++
		s.status.LastError = fmt.Sprintf("detector: %v (%d events dropped)", err, n)
		s.mu.Unlock()
		return nil
	}
	for i := range s.out {
		s.c.tracker.Attribute(&s.out[i])
	}
	// A live detection waits, held, for the program it ran to be read;
	// the held rows are written before the cursor that follows them.
	found := int64(len(s.out))
	if s.cfg.Type != config.SourceFile {
		s.out = s.c.evidence.hold(s.out)
	}
	// A partial verdict drops only the events it names; the detections
	// among the others are stored.
	if cur != nil {
		s.c.opts.Store.Commit(s.out, store.Cursor{Source: s.key, Value: cur})
	} else {
		s.c.opts.Store.Commit(s.out)
	}
	s.mu.Lock()
	s.status.EventsRead += n
	s.status.Detections += found
	if partial != nil {
		s.status.Dropped += int64(len(partial.Unjudged))
		s.status.Errors++
		s.status.LastError = fmt.Sprintf("detector: %v (%d of %d events dropped)", err, len(partial.Unjudged), n)
	}
	s.mu.Unlock()
	clear(s.out[:found]) // drop references to event strings until the next batch
	return ctx.Err()
}

// replay reads a file or directory once.
func (s *sourceRun) replay(ctx context.Context) {
	defer s.markReady()
	if ctx.Err() != nil {
		s.setState(StateStopped)
		return
	}
	s.setState(StateRunning)
	var counters file.Counters
	err := file.ReadPaths(ctx, []string{s.cfg.Path}, file.Options{
		Sink:           s.sink(ctx),
		Error:          func(ie *file.InputError) { s.fail(ie) },
		Counters:       &counters,
		MaxRecordBytes: s.c.opts.MaxRecordBytes,
		MaxSpool:       s.c.opts.MaxSpool,
	})
	if err == nil {
		err = s.flush(ctx)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		s.setState(StateStopped)
	case err != nil:
		s.fail(err)
		s.setState(StateFailed)
	case counters.Failed.Load() > 0 && counters.Failed.Load() >= counters.Files.Load():
		s.setState(StateFailed) // every input failed; last_error says why
	default:
		if counters.FilesTotal.Load() == 0 && counters.Failed.Load() == 0 {
			s.fail(fmt.Errorf("%s: no files to read", s.cfg.Path))
		}
		s.setState(StateDone)
	}
}

// live runs a live watcher, or reports why there is none. A watcher that
// fails, stops on its own or cannot be opened is started again after a
// delay that doubles up to Options.Restart's cap (and starts over after a
// healthy run), resuming from its cursor when it has one; only the end of
// ctx, or a mechanism this platform lacks, ends the source.
func (s *sourceRun) live(ctx context.Context) {
	defer s.markReady()
	open := s.opener()
	if open == nil {
		return // unavailable; the status says why
	}
	bo := backoff.New(s.c.opts.Restart)
	// Resume where the previous process stopped: the watcher's own cursor
	// when it keeps one, else only the time up to which it had seen
	// everything, which bounds the blind window (gap) after a restart.
	prev := decodeLiveCursor(s.c.opts.Store.Cursor(s.key))
	resume := prev.Resume
	s.until = prev.until()
	for {
		began := time.Now()
		opened, err := s.runLive(ctx, open, &resume)
		if ctx.Err() != nil {
			s.setState(StateStopped)
			return
		}
		if errors.Is(err, live.ErrUnsupported) {
			return // no such mechanism here: retrying cannot help
		}
		if opened {
			s.setState(StateRestarting)
		}
		t := time.NewTimer(bo.Next(time.Since(began)))
		select {
		case <-ctx.Done():
			t.Stop()
			s.setState(StateStopped)
			return
		case <-t.C:
		}
		s.mu.Lock()
		s.status.Restarts++
		s.mu.Unlock()
	}
}

// opener returns how to open the source's watcher, or nil (reporting why)
// when this build or host has none.
func (s *sourceRun) opener() func(context.Context, string) (LiveWatcher, error) {
	if s.cfg.Type == config.SourceOsquery {
		if s.c.opts.OpenOsquery == nil {
			s.setState(StateUnavailable)
			s.fail(errors.New("the osquery source reads through osquery's extension socket: run it in the osquery extension (tsclientwatch.ext), or give the source a socket"))
			return nil
		}
		return func(ctx context.Context, resume string) (LiveWatcher, error) {
			return s.c.opts.OpenOsquery(ctx, s.cfg, resume)
		}
	}
	if s.c.opts.OpenLive == nil {
		s.setState(StateUnavailable)
		s.fail(fmt.Errorf("the live process watcher (%s) is not built yet on this platform (%s/%s); replay log files with a file source instead",
			s.cfg.Type, runtime.GOOS, runtime.GOARCH))
		return nil
	}
	return func(ctx context.Context, resume string) (LiveWatcher, error) {
		return s.c.opts.OpenLive(ctx, s.cfg.Type, resume)
	}
}

// runLive opens the source's watcher and runs it until it ends. It
// reports whether the watcher opened, and why it ended (nil when ctx
// ended); resume is updated with the watcher's last cursor.
func (s *sourceRun) runLive(ctx context.Context, open func(context.Context, string) (LiveWatcher, error), resume *string) (bool, error) {
	w, err := open(ctx, *resume)
	if err != nil {
		s.setState(StateUnavailable)
		s.fail(err)
		s.markReady()
		return false, err
	}
	sr, _ := w.(statsReporter)
	s.mu.Lock()
	s.watcher = sr
	if *resume == "" && !s.until.IsZero() {
		// Nothing to read back: what ran between the last moment all was
		// seen and now was not watched.
		s.status.GapStart, s.status.GapEnd = s.until, time.Now()
	}
	s.mu.Unlock()
	cw, _ := w.(cursorer)
	var mu sync.Mutex // the watcher's goroutine and the timer both touch the batch
	var last string   // the watcher's cursor after the last event handed over
	if cw != nil {
		last = *resume
	}
	s.cursor = func() []byte {
		lc := liveCursor{Resume: last, Until: time.Now().Add(-liveSlack).UnixNano()}
		s.until = time.Unix(0, lc.Until)
		s.mu.Lock()
		s.status.Cursor = lc.describe()
		s.mu.Unlock()
		return lc.encode()
	}
	var closeOnce sync.Once
	closeW := func() { closeOnce.Do(func() { w.Close() }) }
	// A watcher blocked in the kernel may only notice Close.
	stopAfter := context.AfterFunc(ctx, closeW)
	s.setState(StateRunning)
	s.markReady()

	// Events arrive one at a time, so a timer flushes a partial batch:
	// a detection must not wait for BatchSize more process starts.
	flushed := make(chan error, 1)
	sink := s.sink(ctx)
	locked := source.Sink{
		Event: func(ev *detector.Event) error {
			mu.Lock()
			defer mu.Unlock()
			if cw != nil {
				last = cw.Cursor() // updated before this call: it covers ev
			}
			return sink.Event(ev)
		},
		Bad: sink.Bad,
	}
	tick := time.NewTicker(s.c.opts.PollInterval)
	defer tick.Stop()
	go func() { flushed <- w.Run(ctx, locked) }()
	var runErr error
wait:
	for {
		select {
		case <-tick.C:
			mu.Lock()
			s.flush(ctx)
			mu.Unlock()
		case runErr = <-flushed:
			mu.Lock()
			s.flush(ctx)
			mu.Unlock()
			break wait
		}
	}
	stopAfter()
	closeW()
	if cw != nil {
		if cur := cw.Cursor(); cur != "" {
			*resume = cur
		}
	}
	s.retire(sr)
	switch {
	case ctx.Err() != nil:
		return true, nil
	case runErr == nil:
		runErr = errors.New("the watcher stopped on its own")
	}
	s.fail(runErr)
	return true, runErr
}

// retire folds what an ended watcher counted into the status, so that the
// figures survive a restart.
func (s *sourceRun) retire(sr statsReporter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watcher = nil
	if sr == nil {
		return
	}
	st := sr.Stats()
	s.status.Dropped += int64(st.Lost)
	s.status.LostBuffers += int64(st.LostBuffers)
	s.status.Warning = st.Warning
	s.status.Target = st.Mechanism
	if st.Detail != "" {
		s.status.Target += ": " + st.Detail
	}
}
