package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// clock is a settable fake time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// seq makes every detection det returns a distinct one (the store keeps
// one row per identity).
var seq atomic.Uint64

func det(unix, pid int64) detector.Detection {
	var d detector.Detection
	d.RecordID = seq.Add(1)
	if unix != 0 {
		d.Time = time.Unix(unix, 0)
	}
	d.PID = pid
	d.Type = detector.TypeStart
	d.Executable = fmt.Sprintf(`\Device\Mup\tsclient\c\tools\t%d.exe`, pid%7)
	d.SharePath = fmt.Sprintf(`\tools\t%d.exe`, pid%7)
	d.ClientDrive = "c"
	d.Form = detector.FormKernel
	d.RuleID = detector.RuleID
	return d
}

func collect(t *testing.T, s *Store, f Filter) []uint64 {
	t.Helper()
	var eids []uint64
	err := s.Scan(context.Background(), f, func(r *Row) bool {
		eids = append(eids, r.EID)
		return true
	})
	if err != nil {
		t.Fatalf("Scan(%+v): %v", f, err)
	}
	return eids
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestScanFilters(t *testing.T) {
	t.Parallel()
	c := &clock{t: t0}
	s := New(Options{Now: c.Now})
	// Times arrive out of order on purpose; eid 6 has no event time and
	// takes the time it was added (t0).
	s.Add(det(100, 1), det(300, 2), det(200, 3), det(200, 1), det(50, 4), det(0, 5))
	tests := []struct {
		name string
		f    Filter
		want []uint64
	}{
		{"all", Filter{}, []uint64{1, 2, 3, 4, 5, 6}},
		{"eid range", Filter{MinEID: 2, MaxEID: 4}, []uint64{2, 3, 4}},
		{"eid min only", Filter{MinEID: 5}, []uint64{5, 6}},
		{"eid beyond", Filter{MinEID: 7}, nil},
		{"eid inverted", Filter{MinEID: 4, MaxEID: 2}, nil},
		{"time exact", Filter{MinTime: 200, MaxTime: 200}, []uint64{3, 4}},
		{"time from", Filter{MinTime: 150}, []uint64{2, 3, 4, 6}},
		{"time to", Filter{MaxTime: 150}, []uint64{1, 5}},
		{"time inverted", Filter{MinTime: 300, MaxTime: 100}, nil},
		{"time and eid", Filter{MinTime: 100, MaxTime: 300, MinEID: 2, MaxEID: 3}, []uint64{2, 3}},
		{"pid", Filter{PID: 1}, []uint64{1, 4}},
		{"pid and time", Filter{PID: 1, MinTime: 150}, []uint64{4}},
		{"no event time uses added", Filter{MinTime: t0.Unix(), MaxTime: t0.Unix()}, []uint64{6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := collect(t, s, tt.f); !equal(got, tt.want) {
				t.Errorf("Scan(%+v) = %v, want %v", tt.f, got, tt.want)
			}
		})
	}
}

// TestScanMatchesModel checks the eid and time index against a brute-force
// filter over many random, out-of-order rows, across cap drops and index
// merges and compactions.
func TestScanMatchesModel(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	c := &clock{t: t0}
	const maxEvents = 3000
	s := New(Options{MaxEvents: maxEvents, Now: c.Now})
	var all []Row
	for batch := 0; batch < 40; batch++ {
		ds := make([]detector.Detection, rng.IntN(300)+1)
		for i := range ds {
			tm := int64(1_700_000_000 + batch*100 + rng.IntN(150))
			if rng.IntN(4) == 0 {
				tm -= int64(rng.IntN(100_000)) // a replayed old event
			}
			ds[i] = det(tm, int64(rng.IntN(50)+1))
		}
		s.Add(ds...)
		for _, d := range ds {
			all = append(all, Row{EID: uint64(len(all) + 1), Detection: d, unix: d.Time.Unix()})
		}
		live := all[max(0, len(all)-maxEvents):]
		for q := 0; q < 20; q++ {
			f := Filter{}
			if rng.IntN(2) == 0 {
				f.MinTime = int64(1_700_000_000 + rng.IntN(4000) - 500)
			}
			if rng.IntN(2) == 0 {
				f.MaxTime = f.MinTime + int64(rng.IntN(300))
				if f.MaxTime == 0 {
					f.MaxTime = 1_700_000_000
				}
			}
			if rng.IntN(3) == 0 {
				f.MinEID = uint64(rng.IntN(len(all) + 1))
			}
			if rng.IntN(3) == 0 {
				f.MaxEID = f.MinEID + uint64(rng.IntN(500))
			}
			if rng.IntN(4) == 0 {
				f.PID = int64(rng.IntN(50) + 1)
			}
			var want []uint64
			for _, r := range live {
				if (f.MinEID == 0 || r.EID >= f.MinEID) && (f.MaxEID == 0 || r.EID <= f.MaxEID) &&
					(f.MinTime == 0 || r.unix >= f.MinTime) && (f.MaxTime == 0 || r.unix <= f.MaxTime) &&
					(f.PID == 0 || r.PID == f.PID) {
					want = append(want, r.EID)
				}
			}
			if got := collect(t, s, f); !equal(got, want) {
				t.Fatalf("batch %d: Scan(%+v) returned %d rows, want %d\n got %v\nwant %v", batch, f, len(got), len(want), got, want)
			}
		}
	}
	st := s.Stats()
	if st.Rows != maxEvents || st.Added != uint64(len(all)) || st.DroppedCap != uint64(len(all)-maxEvents) {
		t.Errorf("Stats = %+v, want %d rows, %d added, %d dropped", st, maxEvents, len(all), len(all)-maxEvents)
	}
}

func TestCap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		max       int
		batches   []int
		wantEIDs  []uint64
		wantDrops uint64
	}{
		{"under", 5, []int{3}, []uint64{1, 2, 3}, 0},
		{"exact", 3, []int{3}, []uint64{1, 2, 3}, 0},
		{"one batch over", 3, []int{5}, []uint64{3, 4, 5}, 2},
		{"several batches", 2, []int{1, 1, 1, 1}, []uint64{3, 4}, 2},
		{"default", 0, []int{4}, []uint64{1, 2, 3, 4}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{MaxEvents: tt.max})
			for _, n := range tt.batches {
				ds := make([]detector.Detection, n)
				for i := range ds {
					ds[i] = det(1_700_000_000, 1)
				}
				s.Add(ds...)
			}
			if got := collect(t, s, Filter{}); !equal(got, tt.wantEIDs) {
				t.Errorf("eids = %v, want %v", got, tt.wantEIDs)
			}
			st := s.Stats()
			if st.DroppedCap != tt.wantDrops || st.DroppedExpired != 0 || st.Rows != len(tt.wantEIDs) {
				t.Errorf("Stats = %+v, want %d rows, %d cap drops", st, len(tt.wantEIDs), tt.wantDrops)
			}
		})
	}
}

func TestExpiryCountsFromAdded(t *testing.T) {
	t.Parallel()
	c := &clock{t: t0}
	s := New(Options{Expiry: time.Hour, Now: c.Now})
	// An event from a year ago, replayed now: it is kept for the full hour.
	old := t0.AddDate(-1, 0, 0).Unix()
	s.Add(det(old, 1))
	c.Add(30 * time.Minute)
	s.Add(det(t0.Unix(), 2))
	if got := collect(t, s, Filter{}); !equal(got, []uint64{1, 2}) {
		t.Fatalf("after 30m: eids = %v, want [1 2]", got)
	}
	if got := collect(t, s, Filter{MinTime: old, MaxTime: old}); !equal(got, []uint64{1}) {
		t.Fatalf("old event by time: eids = %v, want [1]", got)
	}
	c.Add(30 * time.Minute) // row 1 now held exactly one hour
	if got := collect(t, s, Filter{}); !equal(got, []uint64{2}) {
		t.Fatalf("after 60m: eids = %v, want [2]", got)
	}
	if got := collect(t, s, Filter{MinTime: old, MaxTime: old}); len(got) != 0 {
		t.Fatalf("expired row still found by time: %v", got)
	}
	c.Add(time.Hour)
	st := s.Stats()
	if st.Rows != 0 || st.DroppedExpired != 2 || st.DroppedCap != 0 || st.Added != 2 || st.LastEID != 2 {
		t.Errorf("Stats = %+v, want 0 rows, 2 expired", st)
	}
	// eids keep counting after everything expired.
	s.Add(det(t0.Unix(), 3))
	if got := collect(t, s, Filter{}); !equal(got, []uint64{3}) {
		t.Errorf("after re-adding: eids = %v, want [3]", got)
	}
}

func TestScanStopsAndCancels(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	for i := 0; i < 2000; i++ {
		s.Add(det(int64(1_700_000_000+i), int64(i)))
	}
	n := 0
	if err := s.Scan(context.Background(), Filter{}, func(*Row) bool { n++; return n < 10 }); err != nil || n != 10 {
		t.Errorf("stopping scan: n=%d err=%v, want 10 rows, no error", n, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n = 0
	for _, f := range []Filter{{}, {MinTime: 1_700_000_000, MaxTime: 1_700_000_600}} {
		err := s.Scan(ctx, f, func(*Row) bool { n++; cancel(); return true })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Scan(%+v) after cancel: err = %v, want context.Canceled", f, err)
		}
		if n > scanChunk {
			t.Errorf("Scan(%+v) went on for %d rows after cancel", f, n)
		}
		n = 0
	}
}

func TestCompactKeepsFieldsAndDropsReferences(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	d := det(1_700_000_000, 42)
	d.CommandLine = `"\\tsclient\c\tools\t0.exe" -x`
	d.User = `CORP\alice`
	d.Host = "ws1"
	d.SHA256 = "ab"
	s.Add(d)
	var got *Row
	_ = s.Scan(context.Background(), Filter{}, func(r *Row) bool { got = r; return true })
	if got == nil || got.Detection != d {
		t.Fatalf("stored detection = %+v, want %+v", got, d)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s := New(Options{MaxEvents: 500, Expiry: time.Hour})
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; i < 300; i++ {
				s.Add(det(int64(1_700_000_000+rng.IntN(1000)), int64(w)), det(int64(1_700_000_000+i), int64(w)))
			}
		}()
	}
	errc := make(chan error, 4)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				f := Filter{}
				if r%2 == 0 {
					f.MinTime, f.MaxTime = 1_700_000_100, 1_700_000_200
				}
				var last uint64
				err := s.Scan(ctx, f, func(row *Row) bool {
					if row.EID <= last {
						errc <- fmt.Errorf("eid %d after %d: not in eid order", row.EID, last)
						return false
					}
					if f.MinTime != 0 && (row.Time() < f.MinTime || row.Time() > f.MaxTime) {
						errc <- fmt.Errorf("eid %d time %d outside filter", row.EID, row.Time())
						return false
					}
					last = row.EID
					return true
				})
				if err != nil {
					errc <- err
				}
				_ = s.Stats()
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	st := s.Stats()
	if st.Added != 4*300*2 || st.Rows != 500 || st.DroppedCap != st.Added-500 {
		t.Errorf("Stats = %+v", st)
	}
}

// realistic returns n detections shaped like real Sysmon/4688 ones: a few
// hosts, users and tools, unique pids and command lines, strings freshly
// allocated per record as a decoder would.
func realistic(n int) []detector.Detection { return realisticFrom(0, n) }

// realisticFrom is realistic's detections off..off+n-1.
func realisticFrom(off, n int) []detector.Detection {
	hosts := []string{"WS-FIN-0042", "WS-ENG-0107", "SRV-APP-03"}
	users := []string{`CORP\alice`, `CORP\bob`, `CORP\svc_backup`, `CORP\carol`, `WS-FIN-0042\Administrator`}
	tools := []string{"procdump64.exe", "PsExec64.exe", "mimikatz.exe", "AdFind.exe", "rclone.exe", "setup.exe"}
	ds := make([]detector.Detection, n)
	for k := range ds {
		i := off + k
		tool := tools[i%len(tools)]
		share := fmt.Sprintf(`\Users\alice\Downloads\%s`, tool)
		var d detector.Detection
		d.Time = time.Unix(1_700_000_000+int64(i), 0)
		d.Type = detector.TypeStart
		d.PID = int64(4000 + i)
		d.ParentPID = int64(900 + i%50)
		d.Executable = `\Device\Mup\tsclient\C` + share
		d.CommandLine = fmt.Sprintf(`"\\tsclient\C%s" -accepteula -ma %d C:\Windows\Temp\out%d.dmp`, share, 600+i%97, i)
		d.WorkingDirectory = fmt.Sprintf(`C:\Users\%s\`, []string{"alice", "bob", "carol"}[i%3])
		d.ParentExecutable = fmt.Sprint(`C:\Windows\System32\cmd.exe`)
		d.User = fmt.Sprint(users[i%len(users)])
		d.Host = fmt.Sprint(hosts[i%len(hosts)])
		d.HostOS = fmt.Sprint("windows")
		d.Source = fmt.Sprint("sysmon")
		d.SHA256 = fmt.Sprintf("%064x", i%len(tools)+1)
		d.Form = detector.FormKernel
		d.ClientDrive = fmt.Sprint("C")
		d.SharePath = d.Executable[len(`\Device\Mup\tsclient\C`):]
		d.RuleID = detector.RuleID
		ds[k] = d
	}
	return ds
}

// BenchmarkBytesPerRow measures the heap a full store holds per detection.
func BenchmarkBytesPerRow(b *testing.B) {
	const n = DefaultMaxEvents
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := New(Options{})
		for i := 0; i < n; i += 500 {
			s.Add(realisticFrom(i, 500)...) // inputs become garbage once stored
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if st := s.Stats(); st.Rows != n {
			b.Fatalf("rows = %d", st.Rows)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/row")
		runtime.KeepAlive(s)
	}
}

func BenchmarkAdd(b *testing.B) {
	ds := realistic(1000)
	s := New(Options{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d := ds[i%len(ds)]
		d.RecordID = uint64(i) // a distinct detection each time, as a flood makes them
		s.Add(d)
		i++
	}
}

func BenchmarkScan(b *testing.B) {
	s := New(Options{})
	s.Add(realistic(DefaultMaxEvents)...)
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		f    Filter
	}{
		{"all", Filter{}},
		{"last_hour", Filter{MinTime: 1_700_000_000 + DefaultMaxEvents - 3600}},
		{"last_minute", Filter{MinTime: 1_700_000_000 + DefaultMaxEvents - 60}},
		{"pid", Filter{PID: 4000 + 123}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n := 0
				_ = s.Scan(ctx, bc.f, func(*Row) bool { n++; return true })
			}
		})
	}
}

// TestNegativeTimes: an attacker-written event can carry a time before 1970
// (FILETIME 0 is 1601); 0 still means "unbounded" in a Filter, but negative
// bounds must work through both the sequential and the time-index scan.
func TestNegativeTimes(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	s.Add(det(-11644473600, 1), det(-100, 2), det(50, 3))
	for i := 0; i < 20; i++ { // enough rows that narrow time filters use the index
		s.Add(det(int64(1_700_000_000+i), 4))
	}
	tests := []struct {
		name string
		f    Filter
		want []uint64
	}{
		{"max only, negative", Filter{MaxTime: -1}, []uint64{1, 2}},
		{"negative window", Filter{MinTime: -200, MaxTime: -50}, []uint64{2}},
		{"min negative", Filter{MinTime: -100, MaxTime: 60}, []uint64{2, 3}},
		{"max below 1601", Filter{MaxTime: -11644473601}, nil},
	}
	for _, tt := range tests {
		if got := collect(t, s, tt.f); !equal(got, tt.want) {
			t.Errorf("%s: Scan(%+v) = %v, want %v", tt.name, tt.f, got, tt.want)
		}
	}
}

// TestScanSeesItsStart: rows added during a Scan (here from its own
// callback, which runs without the lock) are not seen, so a scan under a
// flood of writes ends and yields at most MaxEvents rows.
func TestScanSeesItsStart(t *testing.T) {
	t.Parallel()
	const max = 300
	s := New(Options{MaxEvents: max})
	for i := 0; i < max; i++ {
		s.Add(det(int64(1_700_000_000+i), 1))
	}
	for _, f := range []Filter{{}, {MinEID: 10}, {PID: 1}} {
		n, last := 0, uint64(0)
		start := s.Stats().LastEID
		err := s.Scan(context.Background(), f, func(r *Row) bool {
			n++
			last = r.EID
			if n > 2*max { // without the snapshot the scan would chase the writes forever
				return false
			}
			s.Add(det(1_700_000_000, 1), det(1_700_000_000, 1)) // two in, two of the oldest out
			return true
		})
		if err != nil || n > max || last > start {
			t.Errorf("Scan(%+v) during adds: %d rows, last eid %d (newest at start %d), err %v", f, n, last, start, err)
		}
	}
}
