// Package store keeps detections the way osquery keeps the rows of its
// evented tables: every row gets a monotonic event id (eid) when it becomes
// visible, and rows are dropped once they have been held for Expiry. Expiry
// counts from when a row entered the store, not from the event's own time,
// so a replayed file's old events stay queryable for the full period, as in
// osquery.
//
// Unlike osquery's tables, the store is built to be attacked by the people
// it records (any local user can start processes that become detections):
//
//   - Bounds: at most MaxEvents rows and MaxBytes bytes (each row counted by
//     the size it takes in a query reply). Every string is cut to
//     MaxStringBytes and the row says so (Row.Truncated).
//   - Shares: when a bound is reached, the row to drop comes from the owner
//     (source, host and user of the event) holding the most bytes, so one
//     user's flood pushes out that user's own rows first; each of N owners
//     keeps at least about 1/N of the store.
//   - Unread rows: rows no query has returned yet (see MarkRead) are dropped
//     only when no row that was read remains.
//   - Idempotence: each detection has an identity (Ident); a detection whose
//     identity is held, or was dropped recently, is not added again, so
//     reading the same log twice adds nothing.
//
// With a state database (Open, package state) every row is written before
// it becomes visible, by a goroutine of the store's own, so a caller never
// waits for the disk; source cursors given to Commit are written in the same
// transaction as the rows. Hold and Release are for rows that must wait
// before they are shown (issue 15: a live detection whose program is still
// being hashed): Hold writes the detection at once but shows it to no
// query; Release fills the fields that were missing, gives it the next eid
// and shows it, so eids stay in the order rows become visible and a visible
// row never changes. HeldRows lists what a crash left held.
//
// Lookups by eid binary-search the rows, which are kept in eid order; lookups
// by event time use a secondary index sorted by (time, eid), because events
// may arrive out of time order (a replayed file next to live events).
package store

import (
	"cmp"
	"container/heap"
	"context"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unique"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// Defaults: DefaultMaxEvents is osquery's events_max; DefaultExpiry is a day
// (osquery's events_expiry is an hour), as long as the longest window the
// shipped pack, Fleet query and policy look back over (config.DefaultExpiry);
// the byte budget is twice the reply budget of tables.MaxReplyBytes.
const (
	DefaultMaxEvents = 50000
	DefaultExpiry    = 24 * time.Hour
	DefaultMaxBytes  = 64 << 20
)

// MaxStringBytes caps every string of a stored row. Longer ones are cut (at
// a UTF-8 boundary where there is one) and the row is marked Truncated. Real
// paths fit easily (Linux PATH_MAX is 4096); a 16 MiB command line from a
// hostile log does not need to be kept whole to be found.
const MaxStringBytes = 8 << 10

// RowOverhead is what a row costs besides its strings, in the same unit as
// its strings (bytes of a query reply): the column names, numbers and
// framing of one tsclient_executions row, with the widest numbers a row
// can hold (tables.TestRowOverheadCoversNumbers measures it).
const RowOverhead = 544

// MaxRowBytes is the largest Row.Size: every string at MaxStringBytes.
var MaxRowBytes = int64(RowOverhead + len(stringFields)*MaxStringBytes)

// Options configure a Store. Zero values select the defaults.
type Options struct {
	// MaxEvents is the most rows held. Zero or negative means
	// DefaultMaxEvents.
	MaxEvents int
	// MaxBytes bounds the sum of Row.Size over the rows held. Zero or
	// negative means DefaultMaxBytes.
	MaxBytes int64
	// Expiry is how long a row is held after it entered the store. Zero or
	// negative means DefaultExpiry.
	Expiry time.Duration
	// Now is the clock; nil means time.Now. Tests substitute a fake clock.
	Now func() time.Time
}

// Row is one stored detection. Its exported fields never change once it is
// visible: a *Row handed to a Scan callback may be kept after the callback
// returns, but must not be modified.
type Row struct {
	// EID is the event id, assigned in the order rows become visible,
	// starting at 1.
	EID uint64
	// Added is when the row entered the store; expiry counts from it.
	Added time.Time
	detector.Detection
	// Truncated says a string of the row was cut to MaxStringBytes.
	Truncated bool

	// Guarded by the store's lock.
	read bool // a query has returned it (MarkRead)
	dead bool // dropped; still referenced by indexes until they are compacted

	size  int32 // at most MaxRowBytes
	unix  int64 // the time column: event time, or Added when the event has none
	ident Ident
	owner *owner
}

// Time returns the row's time column in Unix seconds: the event's own time,
// or the time the row was added when the event carried none.
func (r *Row) Time() int64 { return r.unix }

// Size is what the row counts against MaxBytes: RowOverhead plus the
// length of its strings.
func (r *Row) Size() int64 { return int64(r.size) }

// Stats describe a store's content and what it dropped.
type Stats struct {
	Rows           int    // rows held now
	Bytes          int64  // sum of Row.Size over the rows held
	Added          uint64 // rows ever added
	DroppedCap     uint64 // rows dropped to stay within MaxEvents
	DroppedBytes   uint64 // rows dropped to stay within MaxBytes
	DroppedExpired uint64 // rows dropped after Expiry
	// DroppedUnread counts rows dropped by MaxEvents or MaxBytes before any
	// query had read them: detections nobody saw. Alert when it grows.
	DroppedUnread uint64
	Unread        int    // rows held that no query has read yet
	Owners        int    // distinct owners (source, host, user) holding rows
	Truncated     uint64 // rows added with a string cut to MaxStringBytes
	Duplicates    uint64 // detections not added because their identity was already stored

	MaxEvents int           // the effective row cap
	MaxBytes  int64         // the effective byte budget
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
	maxBytes  int64
	expiry    time.Duration
	now       func() time.Time
	created   time.Time

	mu sync.RWMutex
	// rows[head:] are the visible rows in eid order, dead ones included
	// until compaction; live counts those not dead.
	rows      []*Row
	head      int
	live      int
	deadRows  int // dead rows in rows[head:]
	bytes     int64
	unread    int
	nextEID   uint64
	lastEID   uint64 // newest visible eid
	owners    map[string]*owner
	byUsage   ownerHeap // owners holding rows, biggest first
	withRead  ownerHeap // owners holding read rows, biggest first
	ids       idents
	tidx      []tentry // the time index, sorted by (t, eid)
	pend      []tentry // recent out-of-order entries, merged when it grows
	stale     int      // index entries of dead rows
	truncated uint64
	dups      uint64
	cursors   map[string][]byte
	held      map[int64]*Row // rows held back from queries (Hold)
	heldID    int64          // the last id Hold gave

	w         *writer // the durable side; nil in memory
	closeOnce sync.Once

	added, droppedCap, droppedBytes, droppedExpired, droppedUnread uint64
}

type tentry struct {
	t   int64
	eid uint64
	r   *Row
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
		maxBytes:  opts.MaxBytes,
		expiry:    opts.Expiry,
		now:       opts.Now,
		nextEID:   1,
		owners:    make(map[string]*owner),
		cursors:   make(map[string][]byte),
		held:      make(map[int64]*Row),
	}
	if s.maxEvents <= 0 {
		s.maxEvents = DefaultMaxEvents
	}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultMaxBytes
	}
	if s.expiry <= 0 {
		s.expiry = DefaultExpiry
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.byUsage.which = byUsageIdx
	s.withRead.which = withReadIdx
	s.ids.init(s.maxEvents)
	s.created = s.now()
	return s
}

// Add stores detections in order, assigning each the next eid. A detection
// whose identity the store holds or dropped recently is skipped (counted
// in Stats.Duplicates). Rows beyond MaxEvents or MaxBytes push out others
// (see the package documentation for which). Without a database the rows
// are visible when Add returns; with one, once written (see Commit).
func (s *Store) Add(ds ...detector.Detection) { s.Commit(ds) }

// prepare turns detections into rows outside any lock: copying, capping and
// hashing is the costly part and touches nothing shared.
func prepare(ds []detector.Detection, now time.Time) []*Row {
	nowUnix := now.Unix()
	rows := make([]Row, len(ds))
	out := make([]*Row, len(ds))
	for i := range ds {
		r := &rows[i]
		r.ident = IdentOf(&ds[i])
		r.Added = now
		r.Detection, r.Truncated = compact(ds[i])
		r.unix = nowUnix
		if !r.Event.Time.IsZero() {
			r.unix = r.Event.Time.Unix()
		}
		r.size = int32(sizeOf(&r.Detection))
		out[i] = r
	}
	return out
}

// compact returns a copy of d whose strings are cut to MaxStringBytes, share
// no memory with the reader's buffers (a substring would keep a whole
// decoded record alive) and, where repetitive, are interned, which keeps a
// stored row small. cut reports whether a string was shortened.
func compact(d detector.Detection) (_ detector.Detection, cut bool) {
	capped := func(s string) string {
		if len(s) <= MaxStringBytes {
			return s
		}
		cut = true
		n := MaxStringBytes
		// Back off to the start of a UTF-8 sequence, so valid text stays
		// valid; bytes that are not UTF-8 are cut where they are.
		for i := 0; i < utf8.UTFMax-1 && n > 0 && !utf8.RuneStart(s[n]); i++ {
			n--
		}
		if !utf8.RuneStart(s[n]) {
			n = MaxStringBytes
		}
		return s[:n]
	}
	in := func(s string) string {
		if s == "" {
			return ""
		}
		return unique.Make(capped(s)).Value()
	}
	e := &d.Event
	// SharePath and ClientDrive are usually substrings of Executable:
	// re-derive SharePath from the interned copy instead of storing it twice.
	sp := d.SharePath
	e.Executable = in(e.Executable)
	if sp != "" && strings.HasSuffix(e.Executable, sp) {
		d.SharePath = e.Executable[len(e.Executable)-len(sp):]
	} else {
		d.SharePath = strings.Clone(capped(sp))
	}
	e.CommandLine = strings.Clone(capped(e.CommandLine))
	e.WorkingDirectory = in(e.WorkingDirectory)
	e.ParentExecutable = in(e.ParentExecutable)
	e.User = in(e.User)
	e.Host = in(e.Host)
	e.HostOS = in(e.HostOS)
	e.Source = in(e.Source)
	e.SHA256 = in(e.SHA256)
	e.FSType = in(e.FSType)
	d.Form = detector.Form(in(string(d.Form)))
	d.ClientDrive = in(d.ClientDrive)
	d.RuleID = in(d.RuleID)
	// Fields added after these (attribution, evidence...) are capped and
	// interned too.
	v := reflect.ValueOf(&d).Elem()
	for _, idx := range otherStrings {
		f := v.FieldByIndex(idx)
		f.SetString(in(f.String()))
	}
	return d, cut
}

// otherStrings are the string fields compact has no line of its own for.
var otherStrings = func() [][]int {
	handled := map[string]bool{"Executable": true, "CommandLine": true, "WorkingDirectory": true, "ParentExecutable": true,
		"User": true, "Host": true, "HostOS": true, "Source": true, "SHA256": true, "FSType": true, "Form": true,
		"ClientDrive": true, "SharePath": true, "RuleID": true}
	t := reflect.TypeFor[detector.Detection]()
	var out [][]int
	for _, idx := range stringFields {
		if !handled[t.FieldByIndex(idx).Name] {
			out = append(out, idx)
		}
	}
	return out
}()

// sizeOf is a row's cost against MaxBytes: what it takes in a query reply,
// RowOverhead and every string field.
func sizeOf(d *detector.Detection) int64 {
	v := reflect.ValueOf(d).Elem()
	n := int64(RowOverhead)
	for _, idx := range stringFields {
		n += int64(v.FieldByIndex(idx).Len())
	}
	return n
}

// stringFields are the index paths of every string field of a Detection
// (its Event's included): the fields compact caps and sizeOf counts,
// whatever fields later issues add.
var stringFields = func() [][]int {
	var out [][]int
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			idx := append(append([]int(nil), prefix...), i)
			switch {
			case !f.IsExported():
			case f.Anonymous && f.Type.Kind() == reflect.Struct:
				walk(f.Type, idx)
			case f.Type.Kind() == reflect.String:
				out = append(out, idx)
			}
		}
	}
	walk(reflect.TypeFor[detector.Detection](), nil)
	return out
}()

// ownerKey is the share a row counts against: who caused it, as the event
// says. Live events carry the local user; log records the user and host
// they were written for.
func ownerKey(d *detector.Detection) string {
	return d.Source + "\x00" + d.Host + "\x00" + d.User
}

// publishLocked makes r visible. r.EID must be above every visible eid.
func (s *Store) publishLocked(r *Row) {
	key := ownerKey(&r.Detection)
	o := s.owners[key]
	if o == nil {
		o = &owner{key: key, idx: [2]int{-1, -1}}
		s.owners[key] = o
	}
	r.owner = o
	s.rows = append(s.rows, r)
	s.live++
	s.bytes += int64(r.size)
	s.lastEID = r.EID
	s.added++
	if r.Truncated {
		s.truncated++
	}
	if r.read {
		o.addRead(r)
	} else {
		s.unread++
	}
	o.rows = append(o.rows, r)
	o.live++
	o.usage += int64(r.size)
	o.last = r.EID
	s.byUsage.update(o)
	if o.nread > 0 {
		s.withRead.update(o)
	}
	s.indexLocked(tentry{t: r.unix, eid: r.EID, r: r})
}

// Why a row is dropped.
type dropReason uint8

const (
	dropCap dropReason = iota
	dropBytes
	dropExpired
)

// dropLocked removes r from every structure (indexes lazily) and keeps its
// identity as a tombstone so a replay does not add it again.
func (s *Store) dropLocked(r *Row, why dropReason) {
	r.dead = true
	s.live--
	s.deadRows++
	s.stale++
	s.bytes -= int64(r.size)
	switch why {
	case dropCap:
		s.droppedCap++
	case dropBytes:
		s.droppedBytes++
	case dropExpired:
		s.droppedExpired++
	}
	if r.read {
		r.owner.nread--
	} else {
		s.unread--
		if why != dropExpired {
			s.droppedUnread++
		}
	}
	o := r.owner
	o.usage -= int64(r.size)
	o.live--
	o.dead++
	if o.live == 0 {
		s.byUsage.remove(o)
		s.withRead.remove(o)
		delete(s.owners, o.key)
	} else {
		s.byUsage.update(o)
		if o.nread > 0 {
			s.withRead.update(o)
		} else {
			s.withRead.remove(o)
		}
		o.compact()
	}
	s.ids.bury(r.ident)
	s.noteDropLocked(r)
}

// enforceLocked drops rows until both bounds hold: a read row of the
// biggest owner that has read rows if there is one, else the oldest row of
// the biggest owner.
func (s *Store) enforceLocked() {
	for s.live > s.maxEvents || s.bytes > s.maxBytes {
		why := dropCap
		if s.live <= s.maxEvents {
			why = dropBytes
		}
		var r *Row
		if len(s.withRead.h) > 0 {
			r = s.withRead.h[0].oldestRead()
		} else {
			r = s.byUsage.h[0].oldest()
		}
		s.dropLocked(r, why)
	}
	for s.head < len(s.rows) && s.rows[s.head].dead {
		s.rows[s.head] = nil
		s.head++
		s.deadRows--
	}
}

// MarkRead records that a query returned rs. A read row is dropped before
// any unread one when a bound is reached.
func (s *Store) MarkRead(rs []*Row) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rs {
		if r.read || r.dead {
			continue
		}
		r.read = true
		s.unread--
		r.owner.addRead(r)
		s.withRead.update(r.owner)
		s.noteReadLocked(r)
	}
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
	clear(s.pend)
	s.pend = s.pend[:0]
}

// expireLocked drops rows held longer than the expiry, oldest first. Rows
// become visible in Added order, so the expired ones are at the front.
func (s *Store) expireLocked(now time.Time) {
	cutoff := now.Add(-s.expiry)
	for s.head < len(s.rows) {
		r := s.rows[s.head]
		if !r.dead {
			if r.Added.After(cutoff) {
				break
			}
			s.dropLocked(r, dropExpired)
		}
		s.rows[s.head] = nil
		s.head++
		s.deadRows--
	}
	s.compactLocked()
}

// compactLocked reclaims the space of dropped rows and stale index entries
// once they make up half of their slice, so each costs O(1) amortized.
func (s *Store) compactLocked() {
	if s.head > 0 && s.head*2 >= len(s.rows) || s.deadRows > 64 && s.deadRows*2 >= len(s.rows)-s.head {
		n := 0
		for _, r := range s.rows[s.head:] {
			if !r.dead {
				s.rows[n] = r
				n++
			}
		}
		clear(s.rows[n:])
		s.rows = s.rows[:n]
		s.head, s.deadRows = 0, 0
		if cap(s.rows) > 4*s.maxEvents && n < s.maxEvents {
			s.rows = slices.Clip(slices.Clone(s.rows))
		}
	}
	if s.stale > 1024 && s.stale*2 >= len(s.tidx)+len(s.pend) {
		gone := func(e tentry) bool { return e.r.dead }
		s.tidx = slices.DeleteFunc(s.tidx, gone)
		s.pend = slices.DeleteFunc(s.pend, gone)
		s.stale = 0
	}
}

// expire drops expired rows if there are any; readers call it so that
// expiry holds even when nothing is being added.
func (s *Store) expire() time.Time {
	now := s.now()
	cutoff := now.Add(-s.expiry)
	s.mu.RLock()
	due := false
	for i := s.head; i < len(s.rows); i++ {
		if r := s.rows[i]; !r.dead {
			due = !r.Added.After(cutoff)
			break
		}
	}
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
		Rows:           s.live,
		Bytes:          s.bytes,
		Added:          s.added,
		DroppedCap:     s.droppedCap,
		DroppedBytes:   s.droppedBytes,
		DroppedExpired: s.droppedExpired,
		DroppedUnread:  s.droppedUnread,
		Unread:         s.unread,
		Owners:         len(s.owners),
		Truncated:      s.truncated,
		Duplicates:     s.dups,
		MaxEvents:      s.maxEvents,
		MaxBytes:       s.maxBytes,
		Expiry:         s.expiry,
		Created:        s.created,
		LastEID:        s.lastEID,
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
		return !r.dead && r.Added.After(cutoff) &&
			(f.MinTime == 0 || r.unix >= f.MinTime) &&
			(f.MaxTime == 0 || r.unix <= f.MaxTime) &&
			(f.PID == 0 || r.PID == f.PID)
	}
	if f.MinTime != 0 || f.MaxTime != 0 {
		if rs, ok := s.timeCandidates(f); ok {
			return s.scanRows(ctx, rs, match, fn)
		}
	}
	return s.scanRange(ctx, f, match, fn)
}

// timeCandidates returns, in eid order, the rows the time index puts within
// the filter's time and eid bounds. ok is false when the index would select
// most rows anyway; a sequential scan is then cheaper than sorting.
func (s *Store) timeCandidates(f Filter) (rs []*Row, ok bool) {
	lo, hi := f.MinTime, f.MaxTime
	if lo == 0 { // unbounded below: events may carry times before 1970
		lo = math.MinInt64
	}
	if hi == 0 {
		hi = math.MaxInt64
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	i := sort.Search(len(s.tidx), func(i int) bool { return s.tidx[i].t >= lo })
	j := sort.Search(len(s.tidx), func(i int) bool { return s.tidx[i].t > hi })
	if (j-i)*2 > s.live {
		return nil, false
	}
	minEID, maxEID := f.MinEID, s.lastEID
	if f.MaxEID != 0 {
		maxEID = min(maxEID, f.MaxEID)
	}
	add := func(e tentry) {
		if e.t >= lo && e.t <= hi && e.eid >= minEID && e.eid <= maxEID && !e.r.dead {
			rs = append(rs, e.r)
		}
	}
	for _, e := range s.tidx[i:j] {
		add(e)
	}
	for _, e := range s.pend {
		add(e)
	}
	slices.SortFunc(rs, func(a, b *Row) int { return cmp.Compare(a.EID, b.EID) })
	return rs, true
}

func (s *Store) scanRows(ctx context.Context, rs []*Row, match, fn func(*Row) bool) error {
	buf := make([]*Row, 0, min(len(rs), scanChunk))
	for len(rs) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(rs), scanChunk)
		buf = buf[:0]
		s.mu.RLock()
		for _, r := range rs[:n] {
			if match(r) { // dead ones were dropped since the index was read
				buf = append(buf, r)
			}
		}
		s.mu.RUnlock()
		rs = rs[n:]
		for _, r := range buf {
			if !fn(r) {
				return nil
			}
		}
	}
	return nil
}

// searchLocked returns the position in s.rows of the first row whose eid is
// at least eid.
func (s *Store) searchLocked(eid uint64) int {
	rows := s.rows[s.head:]
	return s.head + sort.Search(len(rows), func(i int) bool { return rows[i].EID >= eid })
}

func (s *Store) scanRange(ctx context.Context, f Filter, match, fn func(*Row) bool) error {
	next := max(f.MinEID, 1)
	// The newest eid when the scan starts bounds it: rows added meanwhile
	// are left out, so a scan under a flood of writes still ends and
	// yields at most the rows held at its start.
	s.mu.RLock()
	end := s.lastEID
	s.mu.RUnlock()
	if f.MaxEID != 0 {
		end = min(end, f.MaxEID)
	}
	buf := make([]*Row, 0, scanChunk)
	for next <= end {
		if err := ctx.Err(); err != nil {
			return err
		}
		buf = buf[:0]
		s.mu.RLock()
		// Rows may have been compacted since the last chunk: find the
		// position again by eid.
		i := s.searchLocked(next)
		// Examine a bounded number of rows per lock hold, matching or not.
		for examined := 0; i < len(s.rows) && examined < 4*scanChunk && len(buf) < scanChunk; examined++ {
			r := s.rows[i]
			if r.EID > end {
				break
			}
			if match(r) {
				buf = append(buf, r)
			}
			next = r.EID + 1
			i++
		}
		if i == len(s.rows) || s.rows[i].EID > end {
			next = end + 1
		}
		s.mu.RUnlock()
		for _, r := range buf {
			if !fn(r) {
				return nil
			}
		}
	}
	return nil
}

// owner is one share of the store: the rows of one source, host and user.
type owner struct {
	key   string
	rows  []*Row // rows[head:] in eid order, dead ones included until compaction
	head  int
	live  int    // live rows
	dead  int    // dead rows in rows[head:]
	usage int64  // bytes of the live rows
	last  uint64 // eid of the newest row: breaks ties between equal owners
	read  rowHeap
	nread int    // live read rows
	idx   [2]int // position in the store's two owner heaps, -1 when absent
}

func (o *owner) addRead(r *Row) {
	o.nread++
	heap.Push(&o.read, r)
}

// oldest returns the owner's oldest live row.
func (o *owner) oldest() *Row {
	for o.head < len(o.rows) && o.rows[o.head].dead {
		o.rows[o.head] = nil
		o.head++
		o.dead--
	}
	if o.head == len(o.rows) {
		panic("store: owner without live rows in the usage heap")
	}
	return o.rows[o.head]
}

// oldestRead returns the owner's oldest live read row.
func (o *owner) oldestRead() *Row {
	for len(o.read) > 0 {
		if r := o.read[0]; !r.dead {
			return r
		}
		heap.Pop(&o.read)
	}
	panic("store: owner without read rows in the read heap")
}

// compact reclaims dead rows once they are half of the owner's list.
func (o *owner) compact() {
	if o.head > 16 && o.head*2 >= len(o.rows) || o.dead > 16 && o.dead*2 >= len(o.rows)-o.head {
		n := 0
		for _, r := range o.rows[o.head:] {
			if !r.dead {
				o.rows[n] = r
				n++
			}
		}
		clear(o.rows[n:])
		o.rows = o.rows[:n]
		o.head, o.dead = 0, 0
	}
	if n := len(o.read); n > 16 && n > 2*o.nread {
		o.read = slices.DeleteFunc(o.read, func(r *Row) bool { return r.dead })
		heap.Init(&o.read)
	}
}

// rowHeap is a min-heap of rows by eid.
type rowHeap []*Row

func (h rowHeap) Len() int           { return len(h) }
func (h rowHeap) Less(i, j int) bool { return h[i].EID < h[j].EID }
func (h rowHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *rowHeap) Push(x any)        { *h = append(*h, x.(*Row)) }
func (h *rowHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}

// Which of an owner's two heap positions an ownerHeap keeps.
const (
	byUsageIdx = iota
	withReadIdx
)

// ownerHeap is a max-heap of owners by usage; among equal owners, the one
// that added a row most recently comes first, so a flood spread over many
// owners of one row each is dropped before the quiet owner that came first.
type ownerHeap struct {
	h     []*owner
	which int
}

func (h *ownerHeap) Len() int { return len(h.h) }
func (h *ownerHeap) Less(i, j int) bool {
	a, b := h.h[i], h.h[j]
	return a.usage > b.usage || a.usage == b.usage && a.last > b.last
}
func (h *ownerHeap) Swap(i, j int) {
	h.h[i], h.h[j] = h.h[j], h.h[i]
	h.h[i].idx[h.which] = i
	h.h[j].idx[h.which] = j
}
func (h *ownerHeap) Push(x any) {
	o := x.(*owner)
	o.idx[h.which] = len(h.h)
	h.h = append(h.h, o)
}
func (h *ownerHeap) Pop() any {
	o := h.h[len(h.h)-1]
	h.h[len(h.h)-1] = nil
	h.h = h.h[:len(h.h)-1]
	o.idx[h.which] = -1
	return o
}

// update adds o or restores the order after its usage changed.
func (h *ownerHeap) update(o *owner) {
	if i := o.idx[h.which]; i >= 0 {
		heap.Fix(h, i)
	} else {
		heap.Push(h, o)
	}
}

func (h *ownerHeap) remove(o *owner) {
	if i := o.idx[h.which]; i >= 0 {
		heap.Remove(h, i)
	}
}
