package tables

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osquery/osquery-go/plugin/table"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/store"
)

// floodDetection is the i-th detection of writer w: a few hosts, users and
// tools, a unique pid and command line, strings freshly allocated the way a
// decoder produces them. Times advance with i, interleaved across writers,
// so the store's time index sees out-of-order inserts too.
func floodDetection(w, i int) detector.Detection {
	tools := [...]string{"procdump64.exe", "PsExec64.exe", "mimikatz.exe", "AdFind.exe", "rclone.exe", "setup.exe"}
	hosts := [...]string{"WS-FIN-0042", "WS-ENG-0107", "SRV-APP-03"}
	users := [...]string{`CORP\alice`, `CORP\bob`, `CORP\svc_backup`}
	n := w*1_000_003 + i
	share := `\Users\alice\Downloads\` + tools[n%len(tools)]
	var d detector.Detection
	d.Time = time.Unix(1_700_000_000+int64(i/8)+int64(w%2)*50, 0)
	d.Type = detector.TypeStart
	d.PID = int64(4000 + n)
	d.ParentPID = int64(900 + n%50)
	d.Executable = `\Device\Mup\tsclient\C` + share
	d.CommandLine = fmt.Sprintf(`"\\tsclient\C%s" -accepteula -ma %d C:\Windows\Temp\out%d.dmp`, share, 600+n%97, n)
	d.WorkingDirectory = `C:\Users\alice\`
	d.ParentExecutable = `C:\Windows\System32\cmd.exe`
	d.User = users[n%len(users)]
	d.Host = hosts[n%len(hosts)]
	d.Source = "sysmon"
	d.SHA256 = fmt.Sprintf("%064x", n%len(tools)+1)
	d.Form = detector.FormKernel
	d.ClientDrive = "C"
	d.SharePath = share
	d.RuleID = detector.RuleID
	return d
}

// heapInUse returns the heap's in-use bytes after a full collection.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC() // the second pass frees what the first one's finalizers released
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestFlood pushes floodN detections into a store from several goroutines
// as fast as they go, while others query it through Scan and both tables'
// generate functions the whole time. It checks that the memory held stays
// bounded by max_events (against the per-row size measured here, not a
// wall-clock figure), that every drop is counted in tsclientwatch_status,
// and that every query answered during the flood is consistent and bounded.
//
// Not parallel: the heap figures need the package to itself.
func TestFlood(t *testing.T) {
	const (
		maxEvents = 20_000
		writers   = 4
		batch     = 64
	)
	ctx := context.Background()

	// Per-row size: a store filled to the cap, single-threaded.
	base := heapInUse()
	ref := store.New(store.Options{MaxEvents: maxEvents})
	for i := 0; i < maxEvents; i++ {
		ref.Add(floodDetection(9, i))
	}
	perRow := float64(heapInUse()-base) / maxEvents
	runtime.KeepAlive(ref)
	ref = nil

	before := heapInUse()
	s := store.New(store.Options{MaxEvents: maxEvents})
	exec := Executions(s)
	status := Status(func() []SourceStatus { return []SourceStatus{StoreStatus(s)} })

	var (
		wg, rwg  sync.WaitGroup
		done     atomic.Bool
		peak     atomic.Uint64
		answered [3]atomic.Int64 // scans, executions generates, status generates
		errc     = make(chan error, 64)
	)
	fail := func(format string, a ...any) {
		select {
		case errc <- fmt.Errorf(format, a...):
		default:
		}
	}

	// Writers: single adds and batches, as the collector produces both.
	per := floodN / writers
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]detector.Detection, 0, batch)
			for i := 0; i < per; {
				if w%2 == 0 {
					s.Add(floodDetection(w, i))
					i++
					continue
				}
				buf = buf[:0]
				for ; len(buf) < batch && i < per; i++ {
					buf = append(buf, floodDetection(w, i))
				}
				s.Add(buf...)
			}
		}()
	}

	// Heap sampler: the peak in-use heap, garbage included.
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		var m runtime.MemStats
		for !done.Load() {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	// Readers run until the writers are done, each at least once.
	reader := func(kind int, q func(i int)) {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for i := 0; ; i++ {
				q(i)
				answered[kind].Add(1)
				if done.Load() {
					return
				}
			}
		}()
	}
	reader(0, func(i int) {
		f := store.Filter{}
		if i%2 == 1 {
			st := s.Stats()
			f.MinTime = 1_700_000_000 + int64(st.Added/writers/8) - 30
			f.MaxTime = f.MinTime + 20
		}
		var last uint64
		n := 0
		err := s.Scan(ctx, f, func(r *store.Row) bool {
			if r.EID <= last {
				fail("scan %+v: eid %d after %d", f, r.EID, last)
				return false
			}
			if f.MinTime != 0 && (r.Time() < f.MinTime || r.Time() > f.MaxTime) {
				fail("scan %+v: eid %d has time %d", f, r.EID, r.Time())
				return false
			}
			last = r.EID
			n++
			return true
		})
		if err != nil || n > maxEvents {
			fail("scan %+v: %d rows, err %v", f, n, err)
		}
	})
	reader(1, func(i int) {
		qc := table.QueryContext{Constraints: map[string]table.ConstraintList{}}
		var lo int64
		if i%8 != 0 { // mostly time windows, as scheduled queries ask; every 8th unconstrained
			lo = 1_700_000_000 + int64(s.Stats().Added/writers/8) - 40
			qc.Constraints["time"] = table.ConstraintList{Affinity: table.ColumnTypeBigInt, Constraints: []table.Constraint{
				{Operator: table.OperatorGreaterThanOrEquals, Expression: strconv.FormatInt(lo, 10)},
			}}
		}
		rows, err := exec.Generate(ctx, qc)
		if err != nil || len(rows) > maxEvents {
			fail("generate %s: %d rows, err %v", describe(qc), len(rows), err)
			return
		}
		var last int64
		for _, r := range rows {
			eid, _ := strconv.ParseInt(r["eid"], 10, 64)
			tm, _ := strconv.ParseInt(r["time"], 10, 64)
			if eid <= last || tm < lo || r["path"] == "" {
				fail("generate %s: row %v after eid %d", describe(qc), r, last)
				return
			}
			last = eid
		}
	})
	var lastDropped int64
	reader(2, func(int) {
		rows, err := status.Generate(ctx, table.QueryContext{})
		if err != nil || len(rows) != 1 {
			fail("status: %v rows, err %v", rows, err)
			return
		}
		r := rows[0]
		held, _ := strconv.ParseInt(r["detections"], 10, 64)
		dropped, _ := strconv.ParseInt(r["dropped_cap"], 10, 64)
		added, _ := strconv.ParseInt(r["events_read"], 10, 64)
		if r["type"] != "store" || held > maxEvents || dropped < lastDropped || added != held+dropped {
			fail("status row %v (previous dropped_cap %d)", r, lastDropped)
		}
		lastDropped = dropped
	})

	start := time.Now()
	wg.Wait()
	took := time.Since(start)
	done.Store(true)
	rwg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}

	// Every drop is counted, and visible where operators look.
	added := uint64(per * writers)
	st := s.Stats()
	if st.Added != added || st.Rows != maxEvents || st.DroppedCap != added-maxEvents || st.DroppedExpired != 0 {
		t.Errorf("Stats = %+v, want %d added, %d held, %d dropped for the cap", st, added, maxEvents, added-maxEvents)
	}
	rows, err := status.Generate(ctx, table.QueryContext{})
	if err != nil || len(rows) != 1 || rows[0]["dropped_cap"] != strconv.FormatUint(added-maxEvents, 10) ||
		rows[0]["state"] != "full" || rows[0]["max_events"] != strconv.Itoa(maxEvents) {
		t.Errorf("status after the flood: %v, err %v", rows, err)
	}
	// Rows the queries returned went first, so what is held is not simply
	// the newest rows; the newest is always there.
	all, err := exec.Generate(ctx, table.QueryContext{})
	if err != nil || len(all) != maxEvents || all[len(all)-1]["eid"] != strconv.FormatUint(added, 10) {
		t.Errorf("generate after the flood: %d rows, last %v, err %v", len(all), all[max(0, len(all)-1):], err)
	}
	all = nil

	// Memory: what the store holds after the flood is what a full store
	// holds, not what passed through it. Twice the single-threaded figure
	// plus 8 MiB absorbs the index slack and heap fragmentation; holding
	// even a tenth of the flood would exceed it several times over.
	after := heapInUse()
	retained := float64(after) - float64(before)
	bound := 2*perRow*maxEvents + 8<<20
	runtime.KeepAlive(s)
	if retained > bound {
		t.Errorf("heap held after %d detections: %.1f MiB, bound %.1f MiB (%.0f B/row x %d rows x 2 + 8 MiB)",
			added, retained/(1<<20), bound/(1<<20), perRow, maxEvents)
	}
	t.Logf("flood: %d detections from %d writers in %v (%.0f/s); %d dropped for the cap; max_events %d",
		added, writers, took.Round(time.Millisecond), float64(added)/took.Seconds(), st.DroppedCap, maxEvents)
	t.Logf("queries answered during the flood: %d scans, %d executions generates, %d status generates",
		answered[0].Load(), answered[1].Load(), answered[2].Load())
	t.Logf("heap: %.0f B/row measured; held after the flood %.1f MiB (bound %.1f MiB); peak in-use during it %.1f MiB (garbage included)",
		perRow, retained/(1<<20), bound/(1<<20), float64(peak.Load()-min(peak.Load(), before))/(1<<20))
}
