package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// userDet is a detection from the eBPF watcher for user on host h1, unique
// by pid.
func userDet(user string, pid int64) detector.Detection {
	d := det(1_700_000_000+pid, pid)
	d.Source = "ebpf"
	d.Host = "h1"
	d.User = user
	d.Form = detector.FormXrdp
	d.Executable = fmt.Sprintf("/tmp/u/thinclient_drives/x/f%d", pid%5)
	return d
}

func rowsOf(t *testing.T, s *Store, f Filter) []*Row {
	t.Helper()
	var rs []*Row
	if err := s.Scan(context.Background(), f, func(r *Row) bool { rs = append(rs, r); return true }); err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestFloodKeepsOthersUnreadRow reproduces the review's E2 at store level:
// with the store's default cap, one user adds 60,000 detections after
// another user's real one, before any query read it. Before per-owner
// shares the real row was the first to go.
func TestFloodKeepsOthersUnreadRow(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	real := userDet("alice", 1)
	real.Executable = "/home/alice/thinclient_drives/C:/tools/mimikatz"
	s.Add(real)
	batch := make([]detector.Detection, 0, 500)
	for i := int64(0); i < 60000; i++ {
		batch = append(batch, userDet("nobody", 1000+i))
		if len(batch) == cap(batch) {
			s.Add(batch...)
			batch = batch[:0]
		}
	}
	found := 0
	for _, r := range rowsOf(t, s, Filter{}) {
		if r.User == "alice" {
			found++
		}
	}
	st := s.Stats()
	if found != 1 {
		t.Errorf("alice's detection was pushed out by another user's flood (stats %+v)", st)
	}
	if st.Rows != DefaultMaxEvents || st.DroppedCap != 10001 || st.DroppedUnread != 10001 || st.Owners != 2 {
		t.Errorf("Stats = %+v, want %d rows, 10001 unread dropped for the cap, 2 owners", st, DefaultMaxEvents)
	}
}

// TestFloodOverManyOwners: a flood spread over many owners of one row each
// (a user with a range of subordinate uids) drops the most recently active
// owners first, so a real detection that came before it stays.
func TestFloodOverManyOwners(t *testing.T) {
	t.Parallel()
	s := New(Options{MaxEvents: 100})
	s.Add(userDet("alice", 1))
	for i := int64(0); i < 1000; i++ {
		s.Add(userDet(fmt.Sprintf("uid %d", 100000+i), 10+i))
	}
	if rs := rowsOf(t, s, Filter{}); len(rs) != 100 || rs[0].User != "alice" {
		t.Errorf("after a flood over 1000 owners: %d rows, first %q; want 100 rows, alice's first", len(rs), rs[0].User)
	}
}

// TestReadRowsGoFirst: rows a query returned are dropped before unread
// ones, even newer read ones, whoever owns them.
func TestReadRowsGoFirst(t *testing.T) {
	t.Parallel()
	s := New(Options{MaxEvents: 10})
	for i := int64(1); i <= 10; i++ {
		s.Add(userDet("alice", i))
	}
	// A query returned eids 6..8.
	s.MarkRead(rowsOf(t, s, Filter{MinEID: 6, MaxEID: 8}))
	if st := s.Stats(); st.Unread != 7 {
		t.Fatalf("Unread = %d, want 7", st.Unread)
	}
	// bob (smaller, unread) adds 4: alice's three read rows go first, then
	// the oldest row of the biggest owner (alice, eid 1).
	for i := int64(11); i <= 14; i++ {
		s.Add(userDet("bob", i))
	}
	var got []uint64
	for _, r := range rowsOf(t, s, Filter{}) {
		got = append(got, r.EID)
	}
	want := []uint64{2, 3, 4, 5, 9, 10, 11, 12, 13, 14}
	if !slices.Equal(got, want) {
		t.Errorf("eids = %v, want %v", got, want)
	}
	if st := s.Stats(); st.DroppedCap != 4 || st.DroppedUnread != 1 || st.Unread != 10 {
		t.Errorf("Stats = %+v, want 4 dropped, 1 of them unread, 10 unread held", st)
	}
}

// TestDuplicatesAreSkipped: the same detection added twice, or again after
// it was dropped, is one row; past the tombstone bound it may come back.
func TestDuplicatesAreSkipped(t *testing.T) {
	t.Parallel()
	s := New(Options{MaxEvents: 3})
	a, b := userDet("alice", 1), userDet("alice", 2)
	s.Add(a, a, b)
	s.Add(b)
	if got := collect(t, s, Filter{}); !equal(got, []uint64{1, 2}) {
		t.Fatalf("eids = %v, want [1 2]", got)
	}
	// A copy of the same record read through another path differs only in
	// fields the rule derives: still the same detection.
	c := a
	c.SharePath = "other"
	s.Add(c)
	// Push a out (cap 3), then replay it: its tombstone keeps it out.
	s.Add(userDet("alice", 3), userDet("alice", 4))
	s.Add(a)
	st := s.Stats()
	if st.Duplicates != 4 || st.Rows != 3 || st.LastEID != 4 {
		t.Errorf("Stats = %+v, want 4 duplicates, 3 rows, last eid 4", st)
	}
	// Tombstones are bounded by the row cap: after 3 more drops a is
	// forgotten and a replay adds it again.
	s.Add(userDet("alice", 5), userDet("alice", 6), userDet("alice", 7))
	s.Add(a)
	if st := s.Stats(); st.Duplicates != 4 || st.LastEID != 8 {
		t.Errorf("after the tombstone was forgotten: Stats = %+v, want a added again as eid 8", st)
	}
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	base := userDet("alice", 7)
	base.RecordID = 42
	id := IdentOf(&base)
	same := base
	same.Form, same.ClientDrive, same.SharePath, same.RuleID = "x", "y", "z", "r"
	if IdentOf(&same) != id {
		t.Error("fields derived by the rule changed the identity")
	}
	for name, change := range map[string]func(*detector.Detection){
		"record id":   func(d *detector.Detection) { d.RecordID++ },
		"source":      func(d *detector.Detection) { d.Source = "sysmon" },
		"host":        func(d *detector.Detection) { d.Host = "h2" },
		"time ns":     func(d *detector.Detection) { d.Time = d.Time.Add(time.Nanosecond) },
		"no time":     func(d *detector.Detection) { d.Time = time.Time{} },
		"pid":         func(d *detector.Detection) { d.PID++ },
		"parent pid":  func(d *detector.Detection) { d.ParentPID++ },
		"path":        func(d *detector.Detection) { d.Executable += "x" },
		"cmdline":     func(d *detector.Detection) { d.CommandLine = "x" },
		"user":        func(d *detector.Detection) { d.User = "bob" },
		"field shift": func(d *detector.Detection) { d.Source, d.Host = d.Source+d.Host[:1], d.Host[1:] },
		"year 1601":   func(d *detector.Detection) { d.Time = time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC) },
	} {
		d := base
		change(&d)
		if IdentOf(&d) == id {
			t.Errorf("changing the %s kept the identity", name)
		}
	}
}

func TestStringsAreCapped(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	d := userDet("alice", 1)
	long := strings.Repeat("é", MaxStringBytes) // 2 bytes a rune: the cap falls between runes or inside one
	d.CommandLine = "x" + long
	d.WorkingDirectory = strings.Repeat("\xff", MaxStringBytes+10) // not UTF-8: cut at the cap
	short := userDet("alice", 2)
	s.Add(d, short)
	rs := rowsOf(t, s, Filter{})
	r := rs[0]
	if !r.Truncated || rs[1].Truncated {
		t.Fatalf("Truncated = %v, %v; want true, false", r.Truncated, rs[1].Truncated)
	}
	if len(r.CommandLine) > MaxStringBytes || len(r.CommandLine) < MaxStringBytes-3 || !utf8.ValidString(r.CommandLine) {
		t.Errorf("command line cut to %d bytes (valid UTF-8: %v), want at most %d, at a rune boundary", len(r.CommandLine), utf8.ValidString(r.CommandLine), MaxStringBytes)
	}
	if len(r.WorkingDirectory) != MaxStringBytes {
		t.Errorf("working directory cut to %d bytes, want %d", len(r.WorkingDirectory), MaxStringBytes)
	}
	if r.Executable != d.Executable || r.SharePath != d.SharePath {
		t.Errorf("short strings changed: %q %q", r.Executable, r.SharePath)
	}
	if want := sizeOf(&r.Detection); r.Size() != want || r.Size() > RowOverhead+3*MaxStringBytes {
		t.Errorf("Size = %d, want %d", r.Size(), want)
	}
	if st := s.Stats(); st.Truncated != 1 {
		t.Errorf("Stats.Truncated = %d, want 1", st.Truncated)
	}
}

// TestByteBudget reproduces the review's E3 at store level: 50,000 rows with
// strings of about 4 KiB (what a local user can make eBPF report) stay
// within MaxBytes, the oldest going first.
func TestByteBudget(t *testing.T) {
	t.Parallel()
	const maxBytes = 8 << 20
	s := New(Options{MaxBytes: maxBytes})
	deep := strings.Repeat("/d", 1950)
	for i := int64(0); i < 50000; i += 100 {
		ds := make([]detector.Detection, 100)
		for j := range ds {
			d := userDet("nobody", i+int64(j)+1)
			d.Executable = "/tmp/u/thinclient_drives/x" + deep + "/f"
			d.WorkingDirectory = "/tmp/u/thinclient_drives/x" + deep
			d.CommandLine = strings.Repeat("a", 1024) + fmt.Sprint(i+int64(j))
			ds[j] = d
		}
		s.Add(ds...)
	}
	st := s.Stats()
	if st.Bytes > maxBytes || st.Bytes < maxBytes-10<<10 {
		t.Errorf("Bytes = %d, want at most %d and close to it", st.Bytes, maxBytes)
	}
	if st.Rows+int(st.DroppedBytes) != 50000 || st.DroppedCap != 0 || st.Rows > 1000 {
		t.Errorf("Stats = %+v, want the byte budget to bound ~900 rows", st)
	}
	var sum int64
	for _, r := range rowsOf(t, s, Filter{}) {
		sum += r.Size()
	}
	if sum != st.Bytes {
		t.Errorf("sum of row sizes %d, Stats.Bytes %d", sum, st.Bytes)
	}
	if rs := rowsOf(t, s, Filter{}); rs[len(rs)-1].EID != 50000 || rs[0].EID != uint64(50000-st.Rows+1) {
		t.Errorf("held eids %d..%d, want the newest %d", rs[0].EID, rs[len(rs)-1].EID, st.Rows)
	}
}

// refRow and refStore restate the eviction policy plainly, for
// TestPolicyMatchesModel.
type refRow struct {
	eid   uint64
	owner string
	size  int64
	read  bool
	added time.Time
}

type refStore struct {
	rows              []refRow
	maxRows           int
	maxBytes          int64
	last              map[string]uint64 // newest eid per owner since it last held no rows
	dropped, unreadDr int
}

func (m *refStore) add(r refRow, now time.Time, expiry time.Duration) {
	m.expire(now, expiry)
	if !slices.ContainsFunc(m.rows, func(x refRow) bool { return x.owner == r.owner }) {
		delete(m.last, r.owner)
	}
	m.rows = append(m.rows, r)
	m.last[r.owner] = r.eid
	for {
		var bytes int64
		for _, x := range m.rows {
			bytes += x.size
		}
		if len(m.rows) <= m.maxRows && bytes <= m.maxBytes {
			return
		}
		usage := map[string]int64{}
		anyRead := false
		for _, x := range m.rows {
			usage[x.owner] += x.size
			anyRead = anyRead || x.read
		}
		best := -1
		bigger := func(a, b string) bool {
			return usage[a] > usage[b] || usage[a] == usage[b] && m.last[a] > m.last[b]
		}
		for i, x := range m.rows { // rows are in eid order: the first hit per owner is its oldest
			if anyRead && !x.read {
				continue
			}
			if best < 0 || bigger(x.owner, m.rows[best].owner) {
				best = i
			}
		}
		if !m.rows[best].read {
			m.unreadDr++
		}
		m.dropped++
		m.rows = slices.Delete(m.rows, best, best+1)
	}
}

func (m *refStore) expire(now time.Time, expiry time.Duration) {
	m.rows = slices.DeleteFunc(m.rows, func(x refRow) bool { return !x.added.After(now.Add(-expiry)) })
}

// TestPolicyMatchesModel drives the store and the plain model with random
// owners, sizes, reads and clock steps and compares what each holds.
func TestPolicyMatchesModel(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	c := &clock{t: t0}
	const expiry = 10 * time.Minute
	// The byte budget is set so that both it and the row cap drop rows
	// (rows average RowOverhead + 750 bytes of strings).
	const maxBytes = 200*RowOverhead + 166_000
	s := New(Options{MaxEvents: 200, MaxBytes: maxBytes, Expiry: expiry, Now: c.Now})
	m := &refStore{maxRows: 200, maxBytes: maxBytes, last: map[string]uint64{}}
	pid := int64(0)
	for step := 0; step < 4000; step++ {
		switch op := rng.IntN(20); {
		case op == 0: // a query reads a random eid window
			lo := uint64(rng.IntN(int(s.Stats().LastEID) + 1))
			rs := rowsOf(t, s, Filter{MinEID: lo, MaxEID: lo + uint64(rng.IntN(40))})
			s.MarkRead(rs)
			for _, r := range rs {
				for i := range m.rows {
					if m.rows[i].eid == r.EID {
						m.rows[i].read = true
					}
				}
			}
		case op == 1:
			c.Add(time.Duration(rng.IntN(90)) * time.Second)
		default:
			pid++
			owner := fmt.Sprintf("u%d", rng.IntN(6))
			if rng.IntN(4) == 0 {
				owner = "flood"
			}
			d := userDet(owner, pid)
			d.CommandLine = strings.Repeat("c", rng.IntN(1500))
			s.Add(d)
			r := rowsOf(t, s, Filter{MinEID: s.Stats().LastEID})[0]
			m.add(refRow{eid: r.EID, owner: ownerKey(&d), size: r.Size(), added: c.Now()}, c.Now(), expiry)
		}
		m.expire(c.Now(), expiry)
		var got, want []uint64
		for _, r := range rowsOf(t, s, Filter{}) {
			got = append(got, r.EID)
		}
		for _, r := range m.rows {
			want = append(want, r.eid)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("step %d: store holds %v\nmodel holds %v", step, got, want)
		}
	}
	st := s.Stats()
	t.Logf("model: %d dropped, %d unread; %+v", m.dropped, m.unreadDr, st)
	if int(st.DroppedCap+st.DroppedBytes) != m.dropped || int(st.DroppedUnread) != m.unreadDr || st.DroppedExpired == 0 ||
		st.DroppedCap == 0 || st.DroppedBytes == 0 || m.unreadDr == m.dropped {
		t.Errorf("Stats = %+v; model dropped %d (%d unread)", st, m.dropped, m.unreadDr)
	}
}

// TestEveryStringIsCapped: whatever string fields detector.Event gains, the
// store cuts them and counts them.
func TestEveryStringIsCapped(t *testing.T) {
	t.Parallel()
	d := userDet("alice", 1)
	v := reflect.ValueOf(&d).Elem()
	long := strings.Repeat("x", MaxStringBytes+100)
	for _, idx := range stringFields {
		v.FieldByIndex(idx).SetString(long + v.Type().FieldByIndex(idx).Name)
	}
	r := prepare([]detector.Detection{d}, t0)[0]
	rv := reflect.ValueOf(&r.Detection).Elem()
	for _, idx := range stringFields {
		if n := rv.FieldByIndex(idx).Len(); n > MaxStringBytes {
			t.Errorf("%s kept %d bytes", v.Type().FieldByIndex(idx).Name, n)
		}
	}
	if !r.Truncated || r.Size() != MaxRowBytes {
		t.Errorf("Truncated %v, Size %d; want true, %d", r.Truncated, r.Size(), MaxRowBytes)
	}
}
