package store

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/state"
)

// How the writer paces itself.
const (
	// coalesceEvery is how often cursors and read marks are written when no
	// detection comes with them: a followed file's position, a live
	// source's "watched until" time. A crash loses at most this much of
	// them, which costs re-reading, never a detection.
	coalesceEvery = time.Second
	// stallAfter is how long a commit may take before the rows waiting
	// for it are shown anyway: a hung disk must not hide detections.
	stallAfter = 5 * time.Second
	// retryMax bounds the wait between attempts while commits fail.
	retryMax = 30 * time.Second
)

// Persistence states, as Persistence.State and the status table show them.
const (
	PersistMemory  = "memory"  // no state directory: rows live in memory only
	PersistOK      = "ok"      // every visible row is in the database
	PersistFailing = "failing" // commits fail (a full disk...); rows are shown and kept for retry
	PersistStalled = "stalled" // a commit has not returned for stallAfter; rows are shown meanwhile
)

// Persistence describes the store's durable side.
type Persistence struct {
	State string // one of the Persist* constants
	Path  string // the database file; "" in memory
	// Err is the latest failure to write, or why the database found at
	// start was moved aside; "" when there is nothing to say.
	Err string
	// Unpersisted counts rows shown to queries that are not in the
	// database yet (while failing or stalled).
	Unpersisted int
	Commits     uint64 // transactions written
	Loaded      int    // rows read back from the database at start
}

// Cursor is a source's position, stored with the detections it produced.
// Its Value is the source's own encoding.
type Cursor struct {
	Source string
	Value  []byte
}

// heldRow is a row held back from queries, by its id.
type heldRow struct {
	id int64
	r  *Row
}

// op is one Commit (or Hold, Release, Sync) waiting for the writer.
type op struct {
	rows    []*Row    // new visible rows, eids assigned
	held    []heldRow // new held-back rows
	release []heldRow // held-back rows now visible, eids assigned
	cursors []Cursor
	shown   bool          // already visible (the writer was failing or stalled)
	done    chan struct{} // closed once the op is visible; nil if nobody waits
	force   bool          // write now, even if only cursors or marks are in it
}

// writer is the store's durable side: a goroutine that commits queued ops
// to the database and then makes their rows visible. Fields are guarded
// by the store's lock unless noted.
type writer struct {
	db     *state.DB
	wakeCh chan struct{}
	stop   chan struct{}
	done   chan struct{}

	queue    []*op
	inflight []*op
	since    time.Time // when the commit in flight began; zero when none
	deletes  []uint64
	reads    []uint64
	buried   []Ident
	force    bool

	state       string
	err         string
	recovered   string
	unpersisted int
	commits     uint64
	loaded      int

	// Owned by the writer goroutine.
	backlog *state.Batch // what failed to commit, retried first
	retry   time.Duration
}

func (w *writer) wake() {
	select {
	case w.wakeCh <- struct{}{}:
	default:
	}
}

// Open returns a store backed by db, holding what snap holds: the same rows
// with the same eids, read marks, tombstones and cursors, and continuing
// the eid sequence. Bounds and expiry apply at once, so a lower
// store.max_events or a shorter expiry takes effect on restart. Rows are
// written to db off the caller's path, by a goroutine that Close stops.
func Open(opts Options, db *state.DB, snap *state.Snapshot) *Store {
	s := New(opts)
	w := &writer{
		db:     db,
		wakeCh: make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		state:  PersistOK,
	}
	if err := db.Recovered(); err != nil {
		w.recovered = err.Error()
	}
	s.w = w
	s.mu.Lock()
	if !snap.Created.IsZero() {
		s.created = snap.Created
	}
	s.nextEID = max(snap.NextEID, 1)
	for _, id := range snap.Tombstones {
		if s.ids.admit(id) {
			s.ids.bury(id)
		}
	}
	for _, c := range snapCursors(snap) {
		s.cursors[c.Source] = c.Value
	}
	for i := range snap.Rows {
		r := rowFromState(&snap.Rows[i])
		if !s.ids.admit(r.ident) {
			continue // a tombstone too (a crash between two commits): the row wins
		}
		s.publishLocked(r)
		w.loaded++
	}
	for i := range snap.Pending {
		r := rowFromState(&snap.Pending[i])
		if s.ids.admit(r.ident) {
			s.held[snap.Pending[i].ID] = r
		}
		s.heldID = max(s.heldID, snap.Pending[i].ID)
	}
	s.added, s.truncated = 0, 0 // counters are about this run
	s.expireLocked(s.now())
	s.enforceLocked()
	s.droppedCap, s.droppedBytes, s.droppedExpired, s.droppedUnread = 0, 0, 0, 0
	s.compactLocked()
	s.mu.Unlock()
	go s.write()
	go s.watchStall()
	return s
}

func snapCursors(snap *state.Snapshot) []Cursor {
	out := make([]Cursor, 0, len(snap.Cursors))
	for k, v := range snap.Cursors {
		out = append(out, Cursor{Source: k, Value: v})
	}
	return out
}

func rowFromState(sr *state.Row) *Row {
	r := &Row{EID: sr.EID, Added: sr.Added, read: sr.Read, ident: Ident(sr.Ident)}
	r.Detection, r.Truncated = compact(sr.Detection)
	r.Truncated = r.Truncated || sr.Truncated
	r.unix = r.Added.Unix()
	if !r.Event.Time.IsZero() {
		r.unix = r.Event.Time.Unix()
	}
	r.size = int32(sizeOf(&r.Detection))
	return r
}

func rowToState(r *Row) state.Row {
	return state.Row{EID: r.EID, Ident: r.ident, Added: r.Added, Read: r.read, Truncated: r.Truncated, Detection: r.Detection}
}

// Commit is Add with source cursors: the cursors are written in the same
// transaction as the detections, so after a crash a source resumes exactly
// where the stored detections end. With a database, the rows become
// visible once written (or at once while writing fails, see Persistence);
// the call itself never waits for the disk.
func (s *Store) Commit(ds []detector.Detection, cursors ...Cursor) {
	if len(ds) == 0 && len(cursors) == 0 {
		return
	}
	now := s.now()
	rows := prepare(ds, now)
	s.mu.Lock()
	s.expireLocked(now)
	admitted := rows[:0]
	for _, r := range rows {
		if !s.ids.admit(r.ident) {
			s.dups++
			continue
		}
		r.EID = s.nextEID
		s.nextEID++
		admitted = append(admitted, r)
	}
	for _, c := range cursors {
		s.cursors[c.Source] = c.Value
	}
	if s.w == nil {
		for _, r := range admitted {
			s.publishLocked(r)
		}
		s.enforceLocked()
		s.compactLocked()
		s.mu.Unlock()
		return
	}
	s.enqueueLocked(&op{rows: admitted, cursors: cursors})
	s.mu.Unlock()
	s.w.wake()
}

// enqueueLocked queues o for the writer; while writes fail or stall, its
// rows are shown at once (and written when the writer recovers).
func (s *Store) enqueueLocked(o *op) {
	if s.w.state == PersistFailing || s.w.state == PersistStalled {
		s.showLocked(o)
	}
	s.w.queue = append(s.w.queue, o)
}

// showLocked makes o's rows visible without waiting for the database.
func (s *Store) showLocked(o *op) {
	if o.shown {
		return
	}
	o.shown = true
	for _, r := range o.rows {
		s.publishLocked(r)
	}
	for _, h := range o.release {
		s.publishLocked(h.r)
	}
	s.w.unpersisted += len(o.rows) + len(o.release)
	s.enforceLocked()
	s.compactLocked()
	if o.done != nil {
		close(o.done)
		o.done = nil
	}
}

// Cursor returns the latest cursor committed (or read back at start) for
// source, nil if none.
func (s *Store) Cursor(source string) []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cursors[source]
}

// Sync waits until everything committed before it is visible and, with a
// database, written (or writing it failed). It returns ctx's error if ctx
// ends first.
func (s *Store) Sync(ctx context.Context) error {
	if s.w == nil {
		return nil
	}
	done := make(chan struct{})
	o := &op{done: done, force: true}
	s.mu.Lock()
	select {
	case <-s.w.done:
		s.mu.Unlock()
		return errors.New("store: closed")
	default:
	}
	s.w.queue = append(s.w.queue, o)
	s.mu.Unlock()
	s.w.wake()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes what is queued and stops the writer, waiting at most
// timeout for the disk; then closes the database. A store without one has
// nothing to close.
func (s *Store) Close(timeout time.Duration) error {
	if s.w == nil {
		return nil
	}
	s.closeOnce.Do(func() { close(s.w.stop) })
	select {
	case <-s.w.done:
	case <-time.After(timeout):
		return errors.New("store: the last commit did not finish in time; the database is left to the operating system")
	}
	return s.w.db.Close()
}

// Persistence reports the durable side's state.
func (s *Store) Persistence() Persistence {
	if s.w == nil {
		return Persistence{State: PersistMemory}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	p := Persistence{State: s.w.state, Path: s.w.db.Path(), Err: s.w.err, Unpersisted: s.w.unpersisted,
		Commits: s.w.commits, Loaded: s.w.loaded}
	if p.Err == "" {
		p.Err = s.w.recovered
	}
	return p
}

// write is the writer goroutine.
func (s *Store) write() {
	w := s.w
	defer close(w.done)
	tick := time.NewTicker(coalesceEvery)
	defer tick.Stop()
	last := time.Time{}
	for {
		stopping := false
		select {
		case <-w.wakeCh:
		case <-tick.C:
		case <-w.stop:
			stopping = true
		}
		for {
			ops, b, urgent := s.takeWork()
			if b.Empty() && w.backlog == nil && len(ops) == 0 {
				break
			}
			// Cursors and read marks alone wait for the next tick; after a
			// failure everything waits for the retry delay (rows are
			// shown meanwhile, see enqueueLocked).
			if !stopping && (!urgent && time.Since(last) < coalesceEvery ||
				w.backlog != nil && time.Since(last) < w.retry) {
				s.putBack(ops, b)
				break
			}
			s.begin(ops)
			err := s.commit(b)
			last = time.Now()
			s.finish(ops, err)
			if err != nil {
				break // wait for the next wake or tick
			}
		}
		if stopping {
			return
		}
	}
}

// takeWork moves the queued ops and pending marks into one batch. urgent is
// true when rows wait for it, or a Sync does.
func (s *Store) takeWork() (ops []*op, b *state.Batch, urgent bool) {
	w := s.w
	s.mu.Lock()
	defer s.mu.Unlock()
	ops, w.queue = w.queue, nil
	b = &state.Batch{KeepTombstones: s.maxEvents}
	cursors := map[string][]byte{}
	for _, o := range ops {
		for _, r := range o.rows {
			b.Rows = append(b.Rows, rowToState(r))
		}
		for _, h := range o.held {
			sr := rowToState(h.r)
			sr.ID, sr.EID = h.id, 0
			b.Pending = append(b.Pending, sr)
		}
		for _, h := range o.release {
			sr := rowToState(h.r)
			sr.ID = h.id
			b.Release = append(b.Release, sr)
		}
		for _, c := range o.cursors {
			cursors[c.Source] = c.Value
		}
		urgent = urgent || o.force || len(o.rows)+len(o.held)+len(o.release) > 0
	}
	if len(cursors) > 0 {
		b.Cursors = cursors
	}
	b.Delete, w.deletes = w.deletes, nil
	b.Read, w.reads = w.reads, nil
	for _, id := range w.buried {
		b.Buried = append(b.Buried, [16]byte(id))
	}
	w.buried = nil
	urgent = urgent || w.force
	w.force = false
	b.NextEID = s.nextEID
	return ops, b, urgent
}

// begin marks ops as in flight, for watchStall.
func (s *Store) begin(ops []*op) {
	s.mu.Lock()
	s.w.inflight, s.w.since = ops, time.Now()
	s.mu.Unlock()
}

// putBack returns work that is not due yet to the front of the queue.
func (s *Store) putBack(ops []*op, b *state.Batch) {
	w := s.w
	s.mu.Lock()
	defer s.mu.Unlock()
	w.queue = append(ops, w.queue...)
	w.deletes = append(b.Delete, w.deletes...)
	w.reads = append(b.Read, w.reads...)
	for i := len(b.Buried) - 1; i >= 0; i-- {
		w.buried = append([]Ident{Ident(b.Buried[i])}, w.buried...)
	}
}

// commit writes the backlog of failed batches and b in one transaction.
func (s *Store) commit(b *state.Batch) error {
	w := s.w
	if w.backlog != nil {
		b = merge(w.backlog, b)
	}
	err := w.db.Commit(b)
	if err != nil {
		w.backlog = b
		w.retry = min(max(2*w.retry, time.Second), retryMax)
		return err
	}
	w.backlog, w.retry = nil, 0
	return nil
}

// merge appends b to the backlog a, in order: a's rows are older.
func merge(a, b *state.Batch) *state.Batch {
	a.Rows = append(a.Rows, b.Rows...)
	a.Pending = append(a.Pending, b.Pending...)
	a.Release = append(a.Release, b.Release...)
	a.Delete = append(a.Delete, b.Delete...)
	a.Read = append(a.Read, b.Read...)
	a.Buried = append(a.Buried, b.Buried...)
	if b.Cursors != nil {
		if a.Cursors == nil {
			a.Cursors = map[string][]byte{}
		}
		for k, v := range b.Cursors {
			a.Cursors[k] = v
		}
	}
	a.NextEID = max(a.NextEID, b.NextEID)
	a.KeepTombstones = b.KeepTombstones
	return a
}

// finish makes the ops' rows visible after a commit, whether it worked
// or not: detection goes on when the disk fails.
func (s *Store) finish(ops []*op, err error) {
	w := s.w
	s.mu.Lock()
	defer s.mu.Unlock()
	w.inflight, w.since = nil, time.Time{}
	if err != nil {
		w.state = PersistFailing
		w.err = err.Error()
	} else {
		w.state = PersistOK
		w.err = ""
		w.unpersisted = 0
		w.commits++
	}
	for _, o := range ops {
		if o.shown {
			if o.done != nil {
				close(o.done)
				o.done = nil
			}
			continue
		}
		o.shown = true
		for _, r := range o.rows {
			s.publishLocked(r)
		}
		for _, h := range o.release {
			s.publishLocked(h.r)
		}
		if err != nil {
			w.unpersisted += len(o.rows) + len(o.release)
		}
		if o.done != nil {
			close(o.done)
			o.done = nil
		}
	}
	if err == nil {
		w.unpersisted = 0
	}
	s.enforceLocked()
	s.compactLocked()
}

// watchStall shows the rows waiting for a commit that has not returned
// for stallAfter, and everything queued behind it.
func (s *Store) watchStall() {
	t := time.NewTicker(stallAfter / 5)
	defer t.Stop()
	for {
		select {
		case <-s.w.done:
			return
		case <-t.C:
		}
		s.mu.Lock()
		if w := s.w; !w.since.IsZero() && time.Since(w.since) > stallAfter {
			if w.state == PersistOK {
				w.state = PersistStalled
				w.err = "a commit to " + w.db.Path() + " has not returned for " + stallAfter.String() + "; detections are shown without waiting for it"
			}
			for _, o := range w.inflight {
				s.showLocked(o)
			}
			for _, o := range w.queue {
				s.showLocked(o)
			}
		}
		s.mu.Unlock()
	}
}

// noteDropLocked records a dropped row for the next commit.
func (s *Store) noteDropLocked(r *Row) {
	if s.w != nil {
		s.w.deletes = append(s.w.deletes, r.EID)
		s.w.buried = append(s.w.buried, r.ident)
	}
}

// noteReadLocked records a row a query returned for the next commit.
func (s *Store) noteReadLocked(r *Row) {
	if s.w != nil {
		s.w.reads = append(s.w.reads, r.EID)
	}
}

// Held is a detection held back from queries until it is released (issue
// 15's evidence: a row must not change once visible, so it waits until its
// hash is known).
type Held struct {
	ID        int64
	Detection detector.Detection
}

// Hold stores d like Commit but keeps it from queries until Release. It is
// written to the database at once, so it survives a crash; Held lists the
// rows still held after a restart. ok is false when d's identity is
// already stored. Held rows do not count against the bounds: the caller
// bounds how many it holds.
func (s *Store) Hold(d detector.Detection) (id int64, ok bool) {
	now := s.now()
	r := prepare([]detector.Detection{d}, now)[0]
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ids.admit(r.ident) {
		s.dups++
		return 0, false
	}
	s.heldID++
	s.held[s.heldID] = r
	if s.w != nil {
		s.enqueueLocked(&op{held: []heldRow{{s.heldID, r}}})
		s.w.wake()
	}
	return s.heldID, true
}

// Release makes the held row id visible, after update (if not nil) has
// filled fields that were not known when it was held (the evidence:
// SHA256, Size, EvidencePath); an update that changes a field of its
// identity (IdentOf) is ignored and the row released as held. The row gets the next eid now, so eids
// stay in the order rows become visible. It reports false for an unknown
// id.
func (s *Store) Release(id int64, update func(*detector.Detection)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.held[id]
	if !ok {
		return false
	}
	delete(s.held, id)
	if update != nil {
		d := r.Detection
		update(&d)
		// The row keeps the identity it was held (and deduplicated) under:
		// an update that would change it is not applied.
		if IdentOf(&d) == IdentOf(&r.Detection) {
			var cut bool
			r.Detection, cut = compact(d)
			r.Truncated = r.Truncated || cut
			r.size = int32(sizeOf(&r.Detection))
		}
	}
	r.Added = s.now() // visible from now: expiry counts from here
	r.EID = s.nextEID
	s.nextEID++
	if s.w == nil {
		s.publishLocked(r)
		s.enforceLocked()
		s.compactLocked()
		return true
	}
	s.enqueueLocked(&op{release: []heldRow{{id, r}}})
	s.w.wake()
	return true
}

// HeldRows lists the rows held back, oldest first: after a restart, those
// whose release the crash interrupted.
func (s *Store) HeldRows() []Held {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Held, 0, len(s.held))
	for id, r := range s.held {
		out = append(out, Held{ID: id, Detection: r.Detection})
	}
	sortHeld(out)
	return out
}

func sortHeld(hs []Held) {
	slices.SortFunc(hs, func(a, b Held) int { return int(a.ID - b.ID) })
}
