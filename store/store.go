// Package store keeps detections in memory the way osquery keeps the rows of
// its evented tables: every row gets a monotonic event id (eid) when it
// enters, the store holds at most MaxEvents rows (oldest dropped first) and
// drops rows once they have been held for Expiry. Expiry counts from when a
// row entered the store, not from the event's own time, so a replayed file's
// old events stay queryable for the full period, as in osquery.
//
// Lookups by eid are positional (eids are contiguous in insertion order);
// lookups by event time use a secondary index sorted by (time, eid), because
// events may arrive out of time order (a replayed file next to live events).
package store

import (
	"context"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unique"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// Defaults match osquery's events_max and events_expiry flags.
const (
	DefaultMaxEvents = 50000
	DefaultExpiry    = time.Hour
)

// Options configure a Store. Zero values select the defaults.
type Options struct {
	// MaxEvents is the most rows held; adding beyond it drops the oldest
	// rows. Zero or negative means DefaultMaxEvents.
	MaxEvents int
	// Expiry is how long a row is held after it entered the store. Zero or
	// negative means DefaultExpiry.
	Expiry time.Duration
	// Now is the clock; nil means time.Now. Tests substitute a fake clock.
	Now func() time.Time
}

// Row is one stored detection. Rows are immutable once added: a *Row handed
// to a Scan callback may be kept after the callback returns, but must not be
// modified.
type Row struct {
	// EID is the event id, assigned in insertion order starting at 1.
	EID uint64
	// Added is when the row entered the store; expiry counts from it.
	Added time.Time
	detector.Detection

	unix int64 // the time column: event time, or Added when the event has none
}

// Time returns the row's time column in Unix seconds: the event's own time,
// or the time the row was added when the event carried none.
func (r *Row) Time() int64 { return r.unix }

// Stats describe a store's content and what it dropped.
type Stats struct {
	Rows           int    // rows held now
	Added          uint64 // rows ever added
	DroppedCap     uint64 // rows dropped to stay within MaxEvents
	DroppedExpired uint64 // rows dropped after Expiry

	MaxEvents int           // the effective row cap
	Expiry    time.Duration // the effective expiry
	Created   time.Time     // when the store was made
	LastEID   uint64        // eid of the newest row ever added; 0 if none
}

// Filter narrows a Scan. Bounds are inclusive; zero means unbounded.
type Filter struct {
	MinEID, MaxEID   uint64 // 0 = unbounded
	MinTime, MaxTime int64  // Unix seconds of the time column; 0 = unbounded
	PID              int64  // 0 = any
}

// Store is a bounded, expiring, concurrency-safe set of detections. The zero
// value is not usable: call New.
type Store struct {
	maxEvents int
	expiry    time.Duration
	now       func() time.Time
	created   time.Time

	mu sync.RWMutex
	// rows[head:] are the live rows in eid order; their eids are contiguous
	// because rows only ever leave from the front (the oldest by eid is also
	// the oldest by Added).
	rows    []*Row
	head    int
	nextEID uint64

	// The time index: tidx is sorted by (t, eid); pend holds recent entries
	// that arrived out of time order and is merged into tidx when it grows.
	// Both may hold stale entries for evicted rows (eid below the first live
	// eid); readers skip those and compaction removes them.
	tidx  []tentry
	pend  []tentry
	stale int

	added, droppedCap, droppedExpired uint64
}

type tentry struct {
	t   int64
	eid uint64
}

func (a tentry) less(b tentry) bool {
	return a.t < b.t || (a.t == b.t && a.eid < b.eid)
}

// pendMax bounds the unsorted part of the time index: a query checks it
// linearly, and a merge costs one pass over the sorted part, so merging
// every pendMax out-of-order inserts keeps both costs small.
const pendMax = 512

// scanChunk is how many rows a Scan collects per lock hold: callbacks run
// without the lock, so a slow reader never stalls writers for long.
const scanChunk = 256

// New returns an empty store.
func New(opts Options) *Store {
	s := &Store{
		maxEvents: opts.MaxEvents,
		expiry:    opts.Expiry,
		now:       opts.Now,
		nextEID:   1,
	}
	if s.maxEvents <= 0 {
		s.maxEvents = DefaultMaxEvents
	}
	if s.expiry <= 0 {
		s.expiry = DefaultExpiry
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.created = s.now()
	return s
}

// Add stores detections in order, assigning each the next eid. Rows beyond
// MaxEvents push out the oldest ones.
func (s *Store) Add(ds ...detector.Detection) {
	if len(ds) == 0 {
		return
	}
	// Copy and intern outside the lock: it is the costly part and touches
	// nothing shared.
	now := s.now()
	nowUnix := now.Unix()
	rows := make([]Row, len(ds))
	for i := range ds {
		r := &rows[i]
		r.Added = now
		r.Detection = compact(ds[i])
		r.unix = nowUnix
		if !r.Event.Time.IsZero() {
			r.unix = r.Event.Time.Unix()
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	for i := range rows {
		r := &rows[i]
		r.EID = s.nextEID
		s.nextEID++
		s.rows = append(s.rows, r)
		s.indexLocked(tentry{t: r.unix, eid: r.EID})
		s.added++
		if len(s.rows)-s.head > s.maxEvents {
			s.dropFrontLocked()
			s.droppedCap++
		}
	}
	s.compactLocked()
}

// compact returns a copy of d whose strings share no memory with the
// reader's buffers (a substring would keep a whole decoded record alive)
// and whose repetitive fields are interned, which keeps a stored row small.
func compact(d detector.Detection) detector.Detection {
	in := func(s string) string {
		if s == "" {
			return ""
		}
		return unique.Make(s).Value()
	}
	e := &d.Event
	// SharePath and ClientDrive are usually substrings of Executable:
	// re-derive SharePath from the interned copy instead of storing it twice.
	sp := d.SharePath
	e.Executable = in(e.Executable)
	if sp != "" && strings.HasSuffix(e.Executable, sp) {
		d.SharePath = e.Executable[len(e.Executable)-len(sp):]
	} else {
		d.SharePath = strings.Clone(sp)
	}
	e.CommandLine = strings.Clone(e.CommandLine)
	e.WorkingDirectory = in(e.WorkingDirectory)
	e.ParentExecutable = in(e.ParentExecutable)
	e.User = in(e.User)
	e.Host = in(e.Host)
	e.HostOS = in(e.HostOS)
	e.Source = in(e.Source)
	e.SHA256 = in(e.SHA256)
	d.Form = detector.Form(in(string(d.Form)))
	d.ClientDrive = in(d.ClientDrive)
	d.RuleID = in(d.RuleID)
	return d
}

func (s *Store) indexLocked(e tentry) {
	if len(s.pend) == 0 && (len(s.tidx) == 0 || !e.less(s.tidx[len(s.tidx)-1])) {
		// In time order, the common case: append keeps tidx sorted.
		s.tidx = append(s.tidx, e)
		return
	}
	s.pend = append(s.pend, e)
	if len(s.pend) >= pendMax {
		s.mergeLocked()
	}
}

// mergeLocked sorts pend into tidx in place, merging from the back so no
// second buffer is needed.
func (s *Store) mergeLocked() {
	slices.SortFunc(s.pend, func(a, b tentry) int {
		switch {
		case a.less(b):
			return -1
		case b.less(a):
			return 1
		}
		return 0
	})
	n, m := len(s.tidx), len(s.pend)
	s.tidx = slices.Grow(s.tidx, m)[:n+m]
	i, j, k := n-1, m-1, n+m-1
	for j >= 0 {
		if i >= 0 && s.pend[j].less(s.tidx[i]) {
			s.tidx[k] = s.tidx[i]
			i--
		} else {
			s.tidx[k] = s.pend[j]
			j--
		}
		k--
	}
	s.pend = s.pend[:0]
}

func (s *Store) firstEIDLocked() uint64 {
	return s.nextEID - uint64(len(s.rows)-s.head)
}

func (s *Store) dropFrontLocked() {
	s.rows[s.head] = nil // let the row be collected
	s.head++
	s.stale++
}

// expireLocked drops rows held longer than the expiry, oldest first. Rows
// enter in Added order, so the expired ones are always at the front.
func (s *Store) expireLocked(now time.Time) {
	cutoff := now.Add(-s.expiry)
	for s.head < len(s.rows) && !s.rows[s.head].Added.After(cutoff) {
		s.dropFrontLocked()
		s.droppedExpired++
	}
	s.compactLocked()
}

// compactLocked reclaims the space of dropped rows and stale index entries
// once they make up half of their slice, so each costs O(1) amortized.
func (s *Store) compactLocked() {
	if s.head > 0 && s.head*2 >= len(s.rows) {
		n := copy(s.rows, s.rows[s.head:])
		clear(s.rows[n:])
		s.rows = s.rows[:n]
		s.head = 0
		if cap(s.rows) > 4*s.maxEvents && n < s.maxEvents {
			s.rows = slices.Clip(slices.Clone(s.rows))
		}
	}
	if s.stale > 1024 && s.stale*2 >= len(s.tidx)+len(s.pend) {
		first := s.firstEIDLocked()
		keep := func(e tentry) bool { return e.eid < first }
		s.tidx = slices.DeleteFunc(s.tidx, keep)
		s.pend = slices.DeleteFunc(s.pend, keep)
		s.stale = 0
	}
}

// expire drops expired rows if there are any; readers call it so that
// expiry holds even when nothing is being added.
func (s *Store) expire() time.Time {
	now := s.now()
	cutoff := now.Add(-s.expiry)
	s.mu.RLock()
	due := s.head < len(s.rows) && !s.rows[s.head].Added.After(cutoff)
	s.mu.RUnlock()
	if due {
		s.mu.Lock()
		s.expireLocked(now)
		s.mu.Unlock()
	}
	return cutoff
}

// Stats returns current counts.
func (s *Store) Stats() Stats {
	s.expire()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Stats{
		Rows:           len(s.rows) - s.head,
		Added:          s.added,
		DroppedCap:     s.droppedCap,
		DroppedExpired: s.droppedExpired,
		MaxEvents:      s.maxEvents,
		Expiry:         s.expiry,
		Created:        s.created,
		LastEID:        s.nextEID - 1,
	}
}

// Scan calls fn for every row that passes f, in eid order, until fn returns
// false, ctx ends (its error is returned) or the rows run out. A Scan sees
// the rows held when it started and none added later, so it never yields
// more than MaxEvents rows however fast writers add; rows dropped during it
// may still be seen.
// fn runs without the store's lock held, so it may call back into the store.
func (s *Store) Scan(ctx context.Context, f Filter, fn func(*Row) bool) error {
	cutoff := s.expire()
	if f.MaxEID != 0 && f.MinEID > f.MaxEID ||
		f.MinTime != 0 && f.MaxTime != 0 && f.MinTime > f.MaxTime {
		return ctx.Err()
	}
	match := func(r *Row) bool {
		return r.Added.After(cutoff) &&
			(f.MinTime == 0 || r.unix >= f.MinTime) &&
			(f.MaxTime == 0 || r.unix <= f.MaxTime) &&
			(f.PID == 0 || r.PID == f.PID)
	}
	if f.MinTime != 0 || f.MaxTime != 0 {
		if eids, ok := s.timeCandidates(f); ok {
			return s.scanEIDs(ctx, eids, match, fn)
		}
	}
	return s.scanRange(ctx, f, match, fn)
}

// timeCandidates returns, sorted, the eids the time index puts within the
// filter's time and eid bounds. ok is false when the index would select
// most rows anyway; a sequential scan is then cheaper than sorting eids.
func (s *Store) timeCandidates(f Filter) (eids []uint64, ok bool) {
	lo, hi := f.MinTime, f.MaxTime
	if lo == 0 { // unbounded below: events may carry times before 1970
		lo = math.MinInt64
	}
	if hi == 0 {
		hi = math.MaxInt64
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	live := len(s.rows) - s.head
	first := s.firstEIDLocked()
	i := sort.Search(len(s.tidx), func(i int) bool { return s.tidx[i].t >= lo })
	j := sort.Search(len(s.tidx), func(i int) bool { return s.tidx[i].t > hi })
	if (j-i)*2 > live {
		return nil, false
	}
	minEID, maxEID := max(first, f.MinEID), s.nextEID-1
	if f.MaxEID != 0 {
		maxEID = min(maxEID, f.MaxEID)
	}
	add := func(e tentry) {
		if e.t >= lo && e.t <= hi && e.eid >= minEID && e.eid <= maxEID {
			eids = append(eids, e.eid)
		}
	}
	for _, e := range s.tidx[i:j] {
		add(e)
	}
	for _, e := range s.pend {
		add(e)
	}
	slices.Sort(eids)
	return eids, true
}

func (s *Store) scanEIDs(ctx context.Context, eids []uint64, match, fn func(*Row) bool) error {
	buf := make([]*Row, 0, min(len(eids), scanChunk))
	for len(eids) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(eids), scanChunk)
		buf = buf[:0]
		s.mu.RLock()
		first := s.firstEIDLocked()
		for _, eid := range eids[:n] {
			if eid < first || eid >= s.nextEID {
				continue // dropped since the index was read
			}
			if r := s.rows[s.head+int(eid-first)]; match(r) {
				buf = append(buf, r)
			}
		}
		s.mu.RUnlock()
		eids = eids[n:]
		for _, r := range buf {
			if !fn(r) {
				return nil
			}
		}
	}
	return nil
}

func (s *Store) scanRange(ctx context.Context, f Filter, match, fn func(*Row) bool) error {
	next := max(f.MinEID, 1)
	// The newest eid when the scan starts bounds it: rows added meanwhile
	// are left out, so a scan under a flood of writes still ends and
	// yields at most the rows held at its start.
	s.mu.RLock()
	end := s.nextEID - 1
	s.mu.RUnlock()
	if f.MaxEID != 0 {
		end = min(end, f.MaxEID)
	}
	buf := make([]*Row, 0, scanChunk)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		buf = buf[:0]
		s.mu.RLock()
		first := s.firstEIDLocked()
		next = max(next, first)
		last := end
		// Examine a bounded number of rows per lock hold, matching or not.
		for examined := 0; next <= last && examined < 4*scanChunk && len(buf) < scanChunk; examined++ {
			if r := s.rows[s.head+int(next-first)]; match(r) {
				buf = append(buf, r)
			}
			next++
		}
		done := next > last
		s.mu.RUnlock()
		for _, r := range buf {
			if !fn(r) {
				return nil
			}
		}
		if done {
			return nil
		}
	}
}
