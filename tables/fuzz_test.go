package tables

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osquery/osquery-go/gen/osquery"
	"github.com/osquery/osquery-go/plugin/table"
	_ "modernc.org/sqlite" // the SQL-level re-check runs in real SQLite

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/store"
)

// The fuzz targets below check the one property the pushed-down constraints
// must keep: narrowing the store scan never drops a row that SQLite, which
// re-applies the WHERE clause to whatever generate returns (in osqueryd and
// in the embedded path alike), would keep. The reference is real SQLite
// over the same rows, not a model of it: SQLite's text-to-number rules are
// exactly where hand-written narrowing goes wrong.

// fuzzNow is the fixed clock of the fuzz store: the row without an event
// time takes it as its time column, and nothing ever expires.
var fuzzNow = time.Unix(1_700_000_000, 0)

// fuzzRow is what the re-check needs of one stored row.
type fuzzRow struct{ eid, time, pid int64 }

// fuzzStore is a small store with the awkward values an attacker-written
// event can carry: times before 1970 and at 0, no event time at all,
// duplicate times, pids at the int64 extremes.
func fuzzStore() (*store.Store, []fuzzRow) {
	s := store.New(store.Options{Now: func() time.Time { return fuzzNow }})
	specs := []struct {
		t   time.Time
		pid int64
	}{
		{time.Unix(1000, 0), 10},
		{time.Unix(3000, 0), 11},
		{time.Unix(2000, 0), 12},
		{time.Unix(2000, 0), 10},
		{time.Unix(500, 0), 0},
		{time.Unix(-11644473600, 0), -1}, // FILETIME 0 (1601)
		{time.Unix(0, 0), math.MaxInt64},
		{time.Time{}, math.MinInt64}, // no event time: the time column is fuzzNow
		{time.Unix(1, 0), 4},
		{time.Unix(1<<40, 0), 1 << 53},
	}
	var want []fuzzRow
	for i, sp := range specs {
		var d detector.Detection
		d.Time = sp.t
		d.PID = sp.pid
		d.Type = detector.TypeStart
		d.Executable = fmt.Sprintf(`\Device\Mup\tsclient\c\t%d.exe`, i)
		d.Form = detector.FormKernel
		s.Add(d)
		tm := sp.t.Unix()
		if sp.t.IsZero() {
			tm = fuzzNow.Unix()
		}
		want = append(want, fuzzRow{eid: int64(i + 1), time: tm, pid: sp.pid})
	}
	return s, want
}

// recheck is SQLite holding the fuzz store's rows in integer columns, as
// osquery declares them.
type recheck struct {
	db   *sql.DB
	rows []fuzzRow
}

func newRecheck(tb testing.TB, rows []fuzzRow) *recheck {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1) // one connection: one in-memory database
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t(eid BIGINT, time BIGINT, pid BIGINT)`); err != nil {
		tb.Fatal(err)
	}
	for _, r := range rows {
		if _, err := db.Exec(`INSERT INTO t VALUES (?, ?, ?)`, r.eid, r.time, r.pid); err != nil {
			tb.Fatal(err)
		}
	}
	return &recheck{db: db, rows: rows}
}

var sqlOps = map[table.Operator]string{
	table.OperatorEquals:              "=",
	table.OperatorGreaterThan:         ">",
	table.OperatorGreaterThanOrEquals: ">=",
	table.OperatorLessThan:            "<",
	table.OperatorLessThanOrEquals:    "<=",
}

// keep returns the eids SQLite keeps from a full scan under the comparison
// constraints of qc on the integer columns the scan narrows by. osquery
// sends every value as text, so "Inf" may have been the real infinity or
// the text 'Inf': the result is the union over both readings, the set a
// correct narrowing must include.
func (rc *recheck) keep(tb testing.TB, qc table.QueryContext) map[int64]bool {
	var where []string
	var alts [][]any
	for _, col := range []string{"eid", "time", "pid"} {
		for _, c := range qc.Constraints[col].Constraints {
			op, ok := sqlOps[c.Operator]
			if !ok {
				continue // never narrowed by generate: SQLite alone decides
			}
			where = append(where, col+" "+op+" ?")
			a := []any{c.Expression}
			switch c.Expression {
			case "Inf":
				a = append(a, math.Inf(1))
			case "-Inf":
				a = append(a, math.Inf(-1))
			}
			alts = append(alts, a)
		}
	}
	out := map[int64]bool{}
	if len(where) == 0 {
		for _, r := range rc.rows {
			out[r.eid] = true
		}
		return out
	}
	q := "SELECT eid FROM t WHERE " + strings.Join(where, " AND ")
	args := make([]any, len(alts))
	var each func(i int)
	each = func(i int) {
		if i == len(alts) {
			rows, err := rc.db.Query(q, args...)
			if err != nil {
				tb.Fatalf("%s %q: %v", q, args, err)
			}
			defer rows.Close()
			for rows.Next() {
				var eid int64
				if err := rows.Scan(&eid); err != nil {
					tb.Fatal(err)
				}
				out[eid] = true
			}
			if err := rows.Err(); err != nil {
				tb.Fatal(err)
			}
			return
		}
		for _, a := range alts[i] {
			args[i] = a
			each(i + 1)
		}
	}
	each(0)
	return out
}

// checkRows checks one generate result against the store and the re-check.
func (rc *recheck) checkRows(t *testing.T, qc table.QueryContext, rows []map[string]string) {
	t.Helper()
	if len(rows) > len(rc.rows) || len(rows) > MaxRows {
		t.Fatalf("%d rows from a store of %d", len(rows), len(rc.rows))
	}
	got := map[int64]bool{}
	last := int64(0)
	for _, r := range rows {
		eid, err := strconv.ParseInt(r["eid"], 10, 64)
		if err != nil || eid <= last || eid > int64(len(rc.rows)) {
			t.Fatalf("row %v: eid not a stored one or not increasing after %d", r, last)
		}
		last = eid
		want := rc.rows[eid-1]
		if r["time"] != strconv.FormatInt(want.time, 10) || r["pid"] != strconv.FormatInt(want.pid, 10) {
			t.Fatalf("row %v does not match stored row %+v", r, want)
		}
		got[eid] = true
	}
	for eid := range rc.keep(t, qc) {
		if !got[eid] {
			t.Fatalf("narrowed scan dropped eid %d (%+v), which SQLite keeps under %s; returned %v",
				eid, rc.rows[eid-1], describe(qc), slices.Sorted(mapKeys(got)))
		}
	}
}

func mapKeys(m map[int64]bool) func(func(int64) bool) {
	return func(yield func(int64) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// FuzzQueryContext feeds arbitrary context JSON to the executions table's
// plugin exactly as osqueryd sends it. Whatever the input: no panic, and
// either an error status with no rows or a bounded, well-formed result
// that includes every row SQLite's re-check keeps.
func FuzzQueryContext(f *testing.F) {
	s, rows := fuzzStore()
	rc := newRecheck(f, rows)
	tbl := Executions(s)
	cols := tbl.Columns
	f.Add(`{}`)
	f.Add(QueryContext(cols))
	f.Add(QueryContext(cols, cons{"time", 32, "1700000000"}))
	f.Add(QueryContext(cols, cons{"time", 4, "600"}, cons{"time", 16, "2500"}, cons{"pid", 2, "10"}))
	f.Add(QueryContext(cols, cons{"eid", 2, "3"}, cons{"path", 65, `%\tsclient\%`}))
	f.Add(`{"constraints":[{"name":"time","list":[{"op":"32","expr":"1000"}],"affinity":"BIGINT"}]}`) // osquery < 3
	f.Fuzz(func(t *testing.T, ctxJSON string) {
		var qc *table.QueryContext
		// The plugin parses the JSON itself (osquery-go); capture what it
		// parsed so the re-check sees the same constraints.
		p := table.NewPlugin(tbl.Name, cols, func(ctx context.Context, q table.QueryContext) ([]map[string]string, error) {
			qc = &q
			return tbl.Generate(ctx, q)
		})
		resp := p.Call(context.Background(), osquery.ExtensionPluginRequest{"action": "generate", "context": ctxJSON})
		if resp.Status == nil {
			t.Fatal("no status")
		}
		if resp.Status.Code != 0 {
			if len(resp.Response) != 0 {
				t.Fatalf("error status %q with %d rows", resp.Status.Message, len(resp.Response))
			}
			if qc != nil {
				t.Fatalf("generate failed on a parsed context: %s", resp.Status.Message)
			}
			return
		}
		if qc == nil {
			t.Fatal("OK status without a generate call")
		}
		rc.checkRows(t, *qc, resp.Response)
	})
}

// FuzzConstraint drives the constraint-to-filter translation directly
// with up to three comparison constraints on the narrowed columns: the
// mutator works on operators and expressions rather than JSON syntax.
func FuzzConstraint(f *testing.F) {
	s, rows := fuzzStore()
	rc := newRecheck(f, rows)
	gen := executionsGenerate(s)
	// Column 3 is path: never narrowed, it pads a seed to one constraint.
	const eid, tm, pid, path = 0, 1, 2, 3
	f.Add(uint8(tm), uint8(32), "1000", uint8(tm), uint8(16), "2500", uint8(pid), uint8(2), "10")
	f.Add(uint8(tm), uint8(16), "-inf", uint8(path), uint8(65), "%", uint8(path), uint8(65), "%")  // text to SQLite
	f.Add(uint8(tm), uint8(16), "0x1p4", uint8(path), uint8(65), "%", uint8(path), uint8(65), "%") // text to SQLite
	f.Add(uint8(tm), uint8(8), "\u00a0500", uint8(path), uint8(65), "%", uint8(path), uint8(65), "%")
	f.Add(uint8(tm), uint8(16), "5", uint8(path), uint8(65), "%", uint8(path), uint8(65), "%") // finds the 1601 row
	f.Add(uint8(tm), uint8(8), "0", uint8(tm), uint8(4), "-1e3", uint8(pid), uint8(2), "9223372036854775807")
	f.Add(uint8(eid), uint8(2), " 3 ", uint8(tm), uint8(32), "1.5", uint8(pid), uint8(16), "12")
	f.Add(uint8(tm), uint8(4), "1099511627775.9", uint8(tm), uint8(2), "Inf", uint8(pid), uint8(4), "-9223372036854775808")
	f.Add(uint8(tm), uint8(2), "1e400", uint8(eid), uint8(4), "-1", uint8(pid), uint8(8), "9007199254740992.0")
	f.Fuzz(func(t *testing.T, c1, o1 uint8, e1 string, c2, o2 uint8, e2 string, c3, o3 uint8, e3 string) {
		names := []string{"eid", "time", "pid", "path"}
		qc := table.QueryContext{Constraints: map[string]table.ConstraintList{}}
		for _, c := range []struct {
			col, op uint8
			expr    string
		}{{c1, o1, e1}, {c2, o2, e2}, {c3, o3, e3}} {
			name := names[int(c.col)%len(names)]
			cl := qc.Constraints[name]
			cl.Affinity = table.ColumnTypeBigInt
			cl.Constraints = append(cl.Constraints, table.Constraint{Operator: table.Operator(c.op), Expression: c.expr})
			qc.Constraints[name] = cl
		}
		got, err := gen(context.Background(), qc)
		if err != nil {
			t.Fatalf("generate(%s): %v", describe(qc), err)
		}
		rc.checkRows(t, qc, got)
	})
}
