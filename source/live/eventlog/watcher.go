package eventlog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/backoff"
	"github.com/tsclientwatch/tsclientwatch/internal/recovered"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
)

// Defaults for Options.
const (
	// DefaultWaitTimeout is the safety net: after a service restart a
	// subscription's signal may never fire again, so every subscription
	// is read at least this often.
	DefaultWaitTimeout = 30 * time.Second
	// DefaultRetryMissing is how often a channel that does not exist
	// (Sysmon not installed yet) or cannot be read is tried again.
	DefaultRetryMissing = time.Minute
	// DefaultAuditCheck is how often the Process Creation audit policy is
	// read again.
	DefaultAuditCheck = 5 * time.Minute
	// DefaultMaxFailures is how many failed reads and resubscriptions in a
	// row make Run give up on a channel and return an error.
	DefaultMaxFailures = 5
	// DefaultBatch is how many events one EvtNext asks for; it is halved
	// while the RPC layer refuses it (RPC_S_INVALID_BOUND).
	DefaultBatch = 64
)

// Options tune a Watcher. The zero value uses the defaults.
type Options struct {
	// Resume is a cursor from Cursor: each channel in it is read from
	// the event after its bookmark instead of from now on.
	Resume       string
	WaitTimeout  time.Duration
	RetryMissing time.Duration
	AuditCheck   time.Duration
	MaxFailures  int
	// Backoff spaces resubscriptions after a failure; zero means 1 s
	// doubling up to a minute.
	Backoff backoff.Policy
	now     func() time.Time // the clock (tests)
}

func (o *Options) defaults() {
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = DefaultWaitTimeout
	}
	if o.RetryMissing <= 0 {
		o.RetryMissing = DefaultRetryMissing
	}
	if o.AuditCheck <= 0 {
		o.AuditCheck = DefaultAuditCheck
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = DefaultMaxFailures
	}
	if o.Backoff == (backoff.Policy{}) {
		o.Backoff = backoff.Policy{Min: time.Second, Max: time.Minute, Healthy: time.Minute}
	}
	if o.now == nil {
		o.now = time.Now
	}
}

// Channel states, as Detail shows them.
const (
	stateSubscribed = "subscribed"
	stateMissing    = "not found"     // no such channel (Sysmon not installed)
	stateDenied     = "access denied" // need Administrator or Event Log Readers
	stateFailed     = "failed"        // waiting to resubscribe
)

// channel is one subscribed (or to-be-subscribed) channel.
type channel struct {
	Subscription
	sub      Handle // 0 when not subscribed
	state    string
	lastErr  error
	pos      uint64 // EventRecordID of the last event handled, 0 if none yet
	failures int    // failed reads and resubscriptions in a row
	retryAt  time.Time
	bo       *backoff.Backoff
	batch    int
	gaps     int // the log was cleared or wrapped under the subscription
}

// Watcher holds one pull subscription per available channel and reads
// them in Run.
type Watcher struct {
	api  API
	opts Options

	started atomic.Bool
	closed  atomic.Bool
	// mu is held by Run while it uses the handles, so Close cannot close
	// one under EvtNext.
	mu    sync.Mutex
	chans []*channel

	// Guarded by stat: read by Stats, Cursor and Detail from other
	// goroutines.
	stat      sync.Mutex
	positions map[string]uint64
	current   string
	audit     auditState
	resumeErr error
	detail    string
	warning   string
	auditAt   time.Time
	events    atomic.Uint64
	bad       atomic.Uint64
	resubs    atomic.Uint64
}

type auditState struct {
	checked bool
	on      bool
	err     error
}

// New subscribes through api to every channel of Subscriptions that can be
// read, each from its Resume bookmark or else after its newest record, and
// fails only when none can, naming why for each.
func New(api API, opts Options) (*Watcher, error) {
	opts.defaults()
	w := &Watcher{api: api, opts: opts, positions: map[string]uint64{}}
	var resume map[string]uint64
	if opts.Resume != "" {
		var err error
		if resume, err = ParseBookmarks(opts.Resume); err != nil {
			w.resumeErr = err // start from now on, and say so
		}
	}
	now := opts.now()
	var errs []error
	for _, s := range Subscriptions {
		c := &channel{Subscription: s, batch: DefaultBatch, bo: backoff.New(opts.Backoff)}
		c.pos = resume[s.Channel]
		w.chans = append(w.chans, c)
		if err := w.subscribe(c, now); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Channel, err))
		}
	}
	if !w.anySubscribed() {
		w.closeAll()
		api.Release()
		return nil, fmt.Errorf("eventlog: no channel could be subscribed: %w", errors.Join(errs...))
	}
	w.checkAudit(now)
	w.publish()
	return w, nil
}

func (w *Watcher) anySubscribed() bool {
	for _, c := range w.chans {
		if c.sub != 0 {
			return true
		}
	}
	return false
}

// subscribe (re)subscribes c after its position, or after the channel's
// newest record when it has none, so that nothing logged between two
// subscriptions (or between Newest and Subscribe) is missed.
func (w *Watcher) subscribe(c *channel, now time.Time) error {
	if c.pos == 0 {
		if id, ok, err := w.api.Newest(c.Channel); err == nil && ok {
			c.pos = id
		}
	}
	h, err := w.api.Subscribe(c.Channel, c.Query, c.pos)
	if err == nil {
		c.sub, c.state, c.lastErr = h, stateSubscribed, nil
		if c.pos > 0 {
			w.setPosition(c.Channel, c.pos, false)
		}
		return nil
	}
	c.lastErr = err
	switch {
	case errors.Is(err, errChannelNotFound):
		c.state, c.retryAt = stateMissing, now.Add(w.opts.RetryMissing)
	case errors.Is(err, errAccessDenied):
		c.state, c.retryAt = stateDenied, now.Add(w.opts.RetryMissing)
	default:
		c.state = stateFailed
		c.failures++
		c.retryAt = now.Add(c.bo.Next(0))
	}
	return err
}

// Run reads the subscriptions until ctx ends or Close is called (nil), the
// sink fails (its error), or a channel keeps failing (MaxFailures reads or
// resubscriptions in a row; an error naming it). Run after Close returns
// nil at once.
func (w *Watcher) Run(ctx context.Context, sink source.Sink) (err error) {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("eventlog: Run called twice")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed.Load() {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = recovered.Error("the Event Log watcher", r)
		}
	}()
	stop := context.AfterFunc(ctx, w.api.Wake)
	defer stop()
	for {
		if w.closed.Load() || ctx.Err() != nil {
			return nil
		}
		now := w.opts.now()
		if err := w.retryDue(now); err != nil {
			return err
		}
		w.checkAudit(now)
		w.publish()
		var subs []Handle
		var which []*channel
		for _, c := range w.chans {
			if c.sub != 0 {
				subs = append(subs, c.sub)
				which = append(which, c)
			}
		}
		i, err := w.api.Wait(subs, w.waitFor(now))
		if err != nil {
			return fmt.Errorf("eventlog: wait: %w", err)
		}
		switch {
		case i == WaitWoken:
			continue // Close or ctx: checked at the top
		case i == WaitTimedOut:
			// The safety net: read everything, signalled or not.
			for _, c := range which {
				if err := w.drain(c, sink); err != nil {
					return err
				}
			}
		case i >= 0 && i < len(which):
			if err := w.drain(which[i], sink); err != nil {
				return err
			}
		}
	}
}

// waitFor is how long Wait may block: the safety-net timeout, or less when
// a retry or an audit check is due sooner.
func (w *Watcher) waitFor(now time.Time) time.Duration {
	d := w.opts.WaitTimeout
	due := func(t time.Time) {
		if left := t.Sub(now); left < d {
			d = max(left, 0)
		}
	}
	for _, c := range w.chans {
		if c.sub == 0 {
			due(c.retryAt)
		}
	}
	due(w.auditAt.Add(w.opts.AuditCheck))
	return d
}

// retryDue resubscribes channels whose retry time has come. A channel
// that failed MaxFailures times in a row ends Run.
func (w *Watcher) retryDue(now time.Time) error {
	for _, c := range w.chans {
		if c.sub == 0 && c.state == stateFailed && c.failures >= w.opts.MaxFailures {
			return fmt.Errorf("eventlog: %s: %d reads or subscriptions in a row failed, last: %w", c.Channel, c.failures, c.lastErr)
		}
		if c.sub != 0 || now.Before(c.retryAt) {
			continue
		}
		if c.state == stateFailed {
			w.resubs.Add(1)
		}
		if w.subscribe(c, now) != nil && c.failures >= w.opts.MaxFailures {
			return fmt.Errorf("eventlog: %s: %d reads or subscriptions in a row failed, last: %w", c.Channel, c.failures, c.lastErr)
		}
	}
	return nil
}

// drain reads every pending event of c. Only the sink's error is returned:
// an event that cannot be rendered or decoded is reported and skipped, and
// a failing subscription is closed and resubscribed later from its
// position.
func (w *Watcher) drain(c *channel, sink source.Sink) error {
	for c.sub != 0 {
		hs, err := w.api.Next(c.sub, c.batch)
		if herr := w.handleBatch(c, hs, sink); herr != nil {
			return herr
		}
		switch {
		case err == nil && len(hs) > 0:
			w.healthy(c)
			continue
		case err == nil, errors.Is(err, errNoMoreItems), len(hs) == 0 && errors.Is(err, errInvalidOperation):
			// Nothing (more) to read: EvtNext says so with either code
			// when no handles come back.
			w.healthy(c)
			return nil
		case errors.Is(err, errInvalidBound) && c.batch > 1:
			c.batch /= 2
			continue
		}
		w.fail(c, err)
	}
	return nil
}

// handleBatch hands on a batch of events and closes every handle, also
// when the sink fails or panics.
func (w *Watcher) handleBatch(c *channel, hs []Handle, sink source.Sink) error {
	done := 0
	defer func() {
		for _, h := range hs[done:] {
			w.api.Close(h)
		}
	}()
	for _, h := range hs {
		err := w.handle(c, h, sink)
		w.api.Close(h)
		done++
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *Watcher) healthy(c *channel) {
	if c.failures > 0 {
		c.failures = 0
		c.bo.Reset()
	}
}

// fail closes c's subscription after a read error and schedules a
// resubscription after its position.
func (w *Watcher) fail(c *channel, err error) {
	w.api.Close(c.sub)
	c.sub = 0
	c.state, c.lastErr = stateFailed, err
	c.failures++
	if errors.Is(err, errQueryResultStale) {
		c.gaps++
	}
	c.retryAt = w.opts.now().Add(c.bo.Next(0))
}

// handle renders, decodes and hands on one event. The position moves past
// it before the sink sees it, good or bad.
func (w *Watcher) handle(c *channel, h Handle, sink source.Sink) error {
	x, err := w.api.Render(h)
	if err != nil {
		w.bad.Add(1)
		sink.Report(&source.RecordError{File: c.Channel, Offset: -1, Err: fmt.Errorf("EvtRender: %w", err)})
		return nil
	}
	var ev detector.Event
	id, err := decodeRecord(x, &ev)
	if id > 0 {
		c.pos = id
		w.setPosition(c.Channel, id, true)
	}
	if err != nil {
		w.bad.Add(1)
		sink.Report(&source.RecordError{File: c.Channel, Record: int64(id), Offset: -1, Err: err})
		return nil
	}
	if ev.Type == detector.TypeOther {
		return nil
	}
	w.events.Add(1)
	return sink.Emit(&ev)
}

// decodeRecord is Decode that also returns the EventRecordID.
func decodeRecord(x []byte, ev *detector.Event) (uint64, error) {
	var id uint64
	err := decodeWith(x, ev, func(r *winevent.Record) { id = r.RecordID })
	if id == 0 {
		id = recordIDFromXML(x)
	}
	return id, err
}

func (w *Watcher) setPosition(ch string, id uint64, current bool) {
	w.stat.Lock()
	w.positions[ch] = id
	if current {
		w.current = ch
	}
	w.stat.Unlock()
}

// Cursor returns the bookmarks of the last event handled in each channel
// (a BookmarkList, as EvtRender writes it), to pass as Options.Resume; ""
// before any position is known. It moves before each sink call.
func (w *Watcher) Cursor() string {
	w.stat.Lock()
	defer w.stat.Unlock()
	return BookmarkXML(w.positions, w.current)
}

// checkAudit reads the Process Creation audit policy when it is due.
func (w *Watcher) checkAudit(now time.Time) {
	if !w.auditAt.IsZero() && now.Sub(w.auditAt) < w.opts.AuditCheck {
		return
	}
	w.auditAt = now
	on, err := w.api.ProcessCreationAudited()
	w.stat.Lock()
	w.audit = auditState{checked: true, on: on, err: err}
	w.stat.Unlock()
}

// publish renders Detail and Warning for other goroutines.
func (w *Watcher) publish() {
	var detail, warn []string
	for _, c := range w.chans {
		d := c.Channel + ": " + c.state
		if c.batch < DefaultBatch {
			d += fmt.Sprintf(" (batch %d)", c.batch)
		}
		if c.state == stateFailed && c.lastErr != nil {
			d += fmt.Sprintf(" (%v; retry %d)", c.lastErr, c.failures)
		}
		detail = append(detail, d)
		switch {
		case c.Channel == winevent.ChannelSysmon && c.state == stateMissing:
			warn = append(warn, fmt.Sprintf("Sysmon is not installed (no channel %s); looking for it every %v", c.Channel, w.opts.RetryMissing))
		case c.state == stateDenied:
			warn = append(warn, fmt.Sprintf("%s: access denied (need Administrator or Event Log Readers); trying again every %v", c.Channel, w.opts.RetryMissing))
		case c.state == stateMissing:
			warn = append(warn, fmt.Sprintf("%s: no such channel; looking for it every %v", c.Channel, w.opts.RetryMissing))
		}
		if c.gaps > 0 {
			warn = append(warn, fmt.Sprintf("%s: the log was cleared or wrapped under the subscription %d time(s); events in between may be missing", c.Channel, c.gaps))
		}
	}
	if n := w.resubs.Load(); n > 0 {
		detail = append(detail, fmt.Sprintf("%d resubscriptions", n))
	}
	w.stat.Lock()
	defer w.stat.Unlock()
	switch a := w.audit; {
	case a.checked && a.err != nil:
		warn = append(warn, fmt.Sprintf("could not read the Process Creation audit policy (%v); without it Security 4688 is not written", a.err))
	case a.checked && !a.on:
		warn = append(warn, "Security 4688 is not written: success auditing of Process Creation is off "+
			"(auditpol /set /subcategory:"+ProcessCreationSubcategory+" /success:enable)")
	}
	if w.resumeErr != nil {
		warn = append(warn, fmt.Sprintf("resume cursor unreadable (%v); started after the newest records", w.resumeErr))
	}
	w.detail = strings.Join(detail, "; ")
	w.warning = strings.Join(warn, "; ")
}

// Detail describes each channel's state.
func (w *Watcher) Detail() string {
	w.stat.Lock()
	defer w.stat.Unlock()
	return w.detail
}

// Warning says why events may not arrive (auditing off, Sysmon missing, a
// log wrapped), or "".
func (w *Watcher) Warning() string {
	w.stat.Lock()
	defer w.stat.Unlock()
	return w.warning
}

// Events returns the process starts delivered.
func (w *Watcher) Events() uint64 { return w.events.Load() }

// Lost returns events that could not be rendered or decoded. (Empty reads
// are not losses; the Event Log keeps events until the log wraps, so a
// slow or resubscribing reader loses nothing short of that, which Warning
// reports.)
func (w *Watcher) Lost() uint64 { return w.bad.Load() }

func (w *Watcher) closeAll() {
	for _, c := range w.chans {
		if c.sub != 0 {
			w.api.Close(c.sub)
			c.sub = 0
		}
	}
}

// Close ends the subscriptions and wakes Run.
func (w *Watcher) Close() error {
	if w.closed.Swap(true) {
		return nil
	}
	w.api.Wake()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closeAll()
	w.api.Release()
	return nil
}
