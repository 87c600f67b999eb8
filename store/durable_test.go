package store

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/state"
)

// openAt opens a durable store in dir.
func openAt(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	db, snap, err := state.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return Open(opts, db, snap)
}

func closeStore(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Close(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func syncStore(t testing.TB, s *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// held returns the rows as comparable strings: eid and every field.
func held(t testing.TB, s *Store) []string {
	t.Helper()
	var out []string
	err := s.Scan(context.Background(), Filter{}, func(r *Row) bool {
		out = append(out, fmt.Sprintf("%d %d %v %+v", r.EID, r.Added.UnixNano(), r.Truncated, r.Detection))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRestartKeepsRowsAndEids(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openAt(t, dir, Options{})
	d1 := userDet("alice", 1)
	d1.Time = time.Date(1601, 1, 1, 0, 0, 0, 5, time.UTC) // FILETIME 0: before UnixNano's range
	d2 := userDet("bob", 2)
	d2.Time = time.Time{}                            // no event time
	d2.CommandLine = string([]byte{0xff, 0xfe, 'x'}) // not UTF-8
	d3 := userDet("carol", 3)
	d3.RecordID, d3.SHA256, d3.HostOS = 42, "ab", "windows"
	s.Add(d1, d2)
	s.Commit([]detector.Detection{d3}, Cursor{Source: "file:/x", Value: []byte(`{"offset":9}`)})
	syncStore(t, s)
	if got := s.Stats().Rows; got != 3 {
		t.Fatalf("%d rows visible after Sync, want 3", got)
	}
	before := held(t, s)
	closeStore(t, s)

	s = openAt(t, dir, Options{})
	defer closeStore(t, s)
	if after := held(t, s); !slices.Equal(before, after) {
		t.Fatalf("after a restart:\n%v\nbefore:\n%v", after, before)
	}
	if c := string(s.Cursor("file:/x")); c != `{"offset":9}` {
		t.Errorf("cursor = %q", c)
	}
	if p := s.Persistence(); p.State != PersistOK || p.Loaded != 3 || p.Path != filepath.Join(dir, state.FileName) {
		t.Errorf("Persistence = %+v", p)
	}
	// The sequence goes on, and the old detections are not added again.
	s.Add(d1, userDet("dave", 4))
	syncStore(t, s)
	st := s.Stats()
	if st.LastEID != 4 || st.Rows != 4 || st.Duplicates != 1 || st.Added != 1 {
		t.Errorf("Stats after adding one old and one new detection: %+v", st)
	}
}

func TestBoundsHoldAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := &clock{t: t0}
	s := openAt(t, dir, Options{MaxEvents: 100, Expiry: time.Hour, Now: c.Now})
	for i := int64(1); i <= 150; i++ {
		s.Add(userDet("alice", i))
	}
	c.Add(40 * time.Minute)
	for i := int64(151); i <= 160; i++ {
		s.Add(userDet("alice", i))
	}
	syncStore(t, s)
	if st := s.Stats(); st.Rows != 100 || st.DroppedCap != 60 {
		t.Fatalf("Stats = %+v", st)
	}
	closeStore(t, s)
	size := fileSize(t, filepath.Join(dir, state.FileName))

	// A lower cap applies on start.
	s = openAt(t, dir, Options{MaxEvents: 50, Expiry: time.Hour, Now: c.Now})
	if rs := rowsOf(t, s, Filter{}); len(rs) != 50 || rs[0].EID != 111 || rs[49].EID != 160 {
		t.Fatalf("after restarting with max_events 50: %d rows", len(rs))
	}
	closeStore(t, s)

	// Expiry counts from when a row entered the store, across restarts:
	// 30 more minutes expire the first rows, not the 10 newer ones.
	c.Add(30 * time.Minute)
	s = openAt(t, dir, Options{MaxEvents: 100, Expiry: time.Hour, Now: c.Now})
	if rs := rowsOf(t, s, Filter{}); len(rs) != 10 || rs[0].EID != 151 {
		t.Fatalf("after 70 minutes: %d rows, want the 10 added at 40 minutes", len(rs))
	}
	closeStore(t, s)

	// What was dropped is gone from the disk too; the file does not grow
	// with what passed through it.
	s = openAt(t, dir, Options{MaxEvents: 100, Expiry: time.Hour, Now: c.Now})
	if p := s.Persistence(); p.Loaded != 10 {
		t.Errorf("loaded %d rows, want 10", p.Loaded)
	}
	for i := int64(1000); i < 3000; i++ {
		s.Add(userDet("bob", i))
	}
	closeStore(t, s)
	if after := fileSize(t, filepath.Join(dir, state.FileName)); after > 3*size+256<<10 {
		t.Errorf("database grew from %d to %d bytes with 2000 rows through a 100-row store", size, after)
	}
}

func fileSize(t testing.TB, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestReplaysAreIdempotentAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openAt(t, dir, Options{MaxEvents: 2})
	a, b, c := userDet("alice", 1), userDet("alice", 2), userDet("alice", 3)
	s.Add(a, b, c) // a is dropped for the cap: its identity stays as a tombstone
	syncStore(t, s)
	closeStore(t, s)
	s = openAt(t, dir, Options{MaxEvents: 2})
	defer closeStore(t, s)
	s.Add(a, b, c) // the same file read again from the start
	syncStore(t, s)
	if st := s.Stats(); st.Duplicates != 3 || st.LastEID != 3 || st.Rows != 2 {
		t.Errorf("replay after restart: Stats = %+v, want 3 duplicates and nothing added", st)
	}
}

func TestReadMarksSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openAt(t, dir, Options{})
	for i := int64(1); i <= 5; i++ {
		s.Add(userDet("alice", i))
	}
	syncStore(t, s)
	s.MarkRead(rowsOf(t, s, Filter{MaxEID: 3}))
	closeStore(t, s)
	s = openAt(t, dir, Options{})
	defer closeStore(t, s)
	if st := s.Stats(); st.Unread != 2 {
		t.Errorf("Unread = %d after restart, want 2", st.Unread)
	}
}

// TestHoldAndRelease covers the hook issue 15 needs: a detection stored at
// once, visible only when released, with the next eid at that moment.
func TestHoldAndRelease(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openAt(t, dir, Options{})
	s.Add(userDet("alice", 1))
	d2 := userDet("alice", 2)
	id, ok := s.Hold(d2)
	if !ok {
		t.Fatal("Hold refused a new detection")
	}
	if _, ok := s.Hold(d2); ok {
		t.Error("Hold accepted the same detection twice")
	}
	s.Add(userDet("alice", 3))
	syncStore(t, s)
	if got := collect(t, s, Filter{}); !equal(got, []uint64{1, 2}) {
		t.Fatalf("visible eids = %v, want [1 2] (the held row has none yet)", got)
	}
	closeStore(t, s) // a crash before the evidence settled

	s = openAt(t, dir, Options{})
	hs := s.HeldRows()
	if len(hs) != 1 || hs[0].ID != id || hs[0].Detection.PID != 2 {
		t.Fatalf("held after restart: %+v", hs)
	}
	ev := "/var/lib/tsclientwatch/evidence/" + strings.Repeat("fe", 32)
	if !s.Release(id, func(d *detector.Detection) { d.SHA256, d.Size, d.EvidencePath = "feed", 1<<33, ev }) || s.Release(id, nil) {
		t.Fatal("Release: want true once, then false")
	}
	syncStore(t, s)
	rs := rowsOf(t, s, Filter{})
	if len(rs) != 3 || rs[2].EID != 3 || rs[2].PID != 2 || rs[2].SHA256 != "feed" {
		t.Fatalf("after release: %d rows, last %+v", len(rs), rs[len(rs)-1])
	}
	closeStore(t, s)

	s = openAt(t, dir, Options{})
	defer closeStore(t, s)
	if hs := s.HeldRows(); len(hs) != 0 {
		t.Errorf("still held after release and restart: %+v", hs)
	}
	if rs := rowsOf(t, s, Filter{MinEID: 3}); len(rs) != 1 || rs[0].SHA256 != "feed" || rs[0].Event.Size != 1<<33 || rs[0].EvidencePath != ev {
		t.Errorf("released row after restart: %+v", rs)
	}
}

// TestReleaseKeepsIdentity: an update that would change what identifies
// the held row (its pid, path, time...) is not applied; the evidence
// fields are, in memory as on disk.
func TestReleaseKeepsIdentity(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"", t.TempDir()} {
		s := New(Options{})
		if dir != "" {
			s = openAt(t, dir, Options{})
		}
		d := userDet("alice", 7)
		id, ok := s.Hold(d)
		if !ok {
			t.Fatal("Hold refused a new detection")
		}
		s.Release(id, func(d *detector.Detection) { d.PID, d.SHA256 = 8, "beef" })
		d9 := userDet("alice", 9)
		id9, _ := s.Hold(d9)
		s.Release(id9, func(d *detector.Detection) { d.SHA256, d.Size = "cafe", 12 })
		if dir != "" {
			syncStore(t, s)
		}
		rs := rowsOf(t, s, Filter{})
		if len(rs) != 2 || rs[0].PID != 7 || rs[0].SHA256 != "" || rs[1].SHA256 != "cafe" || rs[1].Event.Size != 12 {
			t.Errorf("store %q: rows %+v", dir, rs)
		}
		if dir != "" {
			closeStore(t, s)
		}
	}
}

// TestCursorOnlyCommits: a source's position alone is written at most
// every coalesceEvery, and by Sync and Close.
func TestCursorOnlyCommits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openAt(t, dir, Options{})
	for i := 0; i < 100; i++ {
		s.Commit(nil, Cursor{Source: "file:/a", Value: []byte(fmt.Sprint(i))})
	}
	closeStore(t, s)
	s = openAt(t, dir, Options{})
	defer closeStore(t, s)
	if got := string(s.Cursor("file:/a")); got != "99" {
		t.Errorf("cursor after restart = %q, want the last one, 99", got)
	}
	if p := s.Persistence(); p.Commits != 0 {
		t.Errorf("commits = %d in a fresh process", p.Commits)
	}
}

// BenchmarkPersistOne is the cost of making one detection durable: a
// commit with synchronous=FULL (an fsync of the WAL) on this machine's
// disk, measured to the moment the row is visible.
func BenchmarkPersistOne(b *testing.B) {
	s := openAt(b, b.TempDir(), Options{})
	defer closeStore(b, s)
	ds := realistic(1)
	i := 0
	for b.Loop() {
		d := ds[0]
		d.RecordID = uint64(i)
		i++
		s.Add(d)
		syncStore(b, s)
	}
}

// BenchmarkOpen50k is start-up with a full store of 50,000 realistic rows:
// open the database, read it, rebuild the store.
func BenchmarkOpen50k(b *testing.B) {
	dir := b.TempDir()
	s := openAt(b, dir, Options{})
	for i := 0; i < DefaultMaxEvents; i += 1000 {
		s.Add(realisticFrom(i, 1000)...)
	}
	closeStore(b, s)
	// The machine is shared: CPU time per start-up says what wall time
	// would be on a quiet one.
	cpu := cpuTime
	before := cpu()
	for b.Loop() {
		s := openAt(b, dir, Options{})
		if st := s.Stats(); st.Rows != DefaultMaxEvents {
			b.Fatalf("%d rows loaded", st.Rows)
		}
		closeStore(b, s)
	}
	b.ReportMetric(float64((cpu()-before).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// TestDiskFullKeepsDetecting: when the disk fills, rows are still shown
// (persistence "failing", counted as unpersisted); when room comes back
// they are written, and a restart finds them all. CI runs it on a small
// tmpfs.
func TestDiskFullKeepsDetecting(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs a Linux tmpfs")
	}
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "a small tmpfs mount needs root")
	}
	dir := filepath.Join(t.TempDir(), "state")
	os.Mkdir(dir, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tsclientwatch-test", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v: %s", err, out)
	}
	t.Cleanup(func() { unmount(t, dir) })
	s := openAt(t, dir, Options{})
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 1500<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	big := func(i int64) detector.Detection {
		d := userDet("alice", i)
		d.CommandLine = strings.Repeat("c", 4000) + fmt.Sprint(i)
		return d
	}
	n := int64(0)
	for ; n < 2000 && s.Persistence().State != PersistFailing; n++ {
		s.Add(big(n))
		syncStore(t, s)
	}
	p := s.Persistence()
	if p.State != PersistFailing || !strings.Contains(p.Err, "full") {
		t.Fatalf("after %d rows: Persistence = %+v, want failing on a full disk", n, p)
	}
	// Detection goes on: new rows are visible at once.
	for i := n; i < n+20; i++ {
		s.Add(big(i))
	}
	n += 20
	syncStore(t, s)
	if st := s.Stats(); st.Rows != int(n) {
		t.Fatalf("%d rows visible while the disk is full, want %d", st.Rows, n)
	}
	if p := s.Persistence(); p.Unpersisted < 21 {
		t.Errorf("Persistence = %+v, want the rows since the failure counted as unpersisted", p)
	}
	os.Remove(filler)
	deadline := time.Now().Add(time.Minute)
	for s.Persistence().State != PersistOK && time.Now().Before(deadline) {
		s.Commit(nil, Cursor{Source: "x", Value: []byte("nudge")})
		time.Sleep(200 * time.Millisecond)
	}
	if p := s.Persistence(); p.State != PersistOK || p.Unpersisted != 0 {
		t.Fatalf("after making room: %+v", p)
	}
	closeStore(t, s)
	s = openAt(t, dir, Options{})
	defer closeStore(t, s)
	if st := s.Stats(); st.Rows != int(n) {
		t.Errorf("%d rows after restart, want %d", st.Rows, n)
	}
}
