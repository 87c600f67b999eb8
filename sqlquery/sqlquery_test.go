package sqlquery

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osquery/osquery-go/plugin/table"
	"go.uber.org/goleak"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/store"
	"github.com/tsclientwatch/tsclientwatch/tables"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeExec is a small executions-like table whose Generate honours eid/time
// ranges and pid equality the way the real one is meant to, and records
// every QueryContext it is given.
type fakeExec struct {
	mu    sync.Mutex
	calls []table.QueryContext
	rows  []map[string]string
}

func newFakeExec() *fakeExec {
	f := &fakeExec{}
	add := func(eid, tm, pid int, path, form, src string) {
		f.rows = append(f.rows, map[string]string{
			"eid": strconv.Itoa(eid), "time": strconv.Itoa(tm), "pid": strconv.Itoa(pid),
			"path": path, "form": form, "source": src, "parent": "",
		})
	}
	add(1, 1700000000, 100, `\\tsclient\c\temp\a.exe`, "unc", "sysmon")
	add(2, 1700000100, 200, `\Device\Mup\tsclient\C\tools\b.exe`, "kernel", "security")
	add(3, 1700000200, 300, `\Device\Mup\tsclient\D\x.exe`, "kernel", "security")
	add(4, 1700000300, 100, `/home/u/thinclient_drives/home/run.sh`, "xrdp", "ebpf")
	add(5, 1700000400, 500, `\\tsclient\c\temp\c.exe`, "unc", "sysmon")
	return f
}

func (f *fakeExec) table() tables.Table {
	return tables.Table{
		Name: "tsclient_executions",
		Columns: []table.ColumnDefinition{
			table.BigIntColumn("eid"), table.BigIntColumn("time"), table.BigIntColumn("pid"),
			table.BigIntColumn("parent"), table.TextColumn("path"), table.TextColumn("form"),
			table.TextColumn("source"),
		},
		Generate: f.generate,
	}
}

func (f *fakeExec) generate(ctx context.Context, qc table.QueryContext) ([]map[string]string, error) {
	f.mu.Lock()
	f.calls = append(f.calls, qc)
	f.mu.Unlock()
	var out []map[string]string
	for _, r := range f.rows {
		if keep(r, qc, "eid") && keep(r, qc, "time") && keep(r, qc, "pid") {
			out = append(out, r)
		}
	}
	return out, nil
}

func keep(r map[string]string, qc table.QueryContext, col string) bool {
	v, _ := strconv.ParseInt(r[col], 10, 64)
	for _, c := range qc.Constraints[col].Constraints {
		x, err := strconv.ParseInt(c.Expression, 10, 64)
		if err != nil {
			continue
		}
		switch c.Operator {
		case table.OperatorEquals:
			if v != x {
				return false
			}
		case table.OperatorGreaterThan:
			if v <= x {
				return false
			}
		case table.OperatorGreaterThanOrEquals:
			if v < x {
				return false
			}
		case table.OperatorLessThan:
			if v >= x {
				return false
			}
		case table.OperatorLessThanOrEquals:
			if v > x {
				return false
			}
		}
	}
	return true
}

// constraints returns, for each recorded call, the non-empty constraint
// lists as "col op expr" strings, sorted.
func (f *fakeExec) constraints() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all [][]string
	for _, qc := range f.calls {
		var cs []string
		for name, cl := range qc.Constraints {
			for _, c := range cl.Constraints {
				cs = append(cs, fmt.Sprintf("%s %d %s", name, c.Operator, c.Expression))
			}
		}
		slices.Sort(cs)
		all = append(all, cs)
	}
	return all
}

func (f *fakeExec) reset() {
	f.mu.Lock()
	f.calls = nil
	f.mu.Unlock()
}

func statusTable() tables.Table {
	return tables.Table{
		Name: "tsclientwatch_status",
		Columns: []table.ColumnDefinition{
			table.TextColumn("type"), table.TextColumn("target"), table.TextColumn("state"),
			table.BigIntColumn("events_read"),
		},
		Generate: func(context.Context, table.QueryContext) ([]map[string]string, error) {
			return []map[string]string{
				{"type": "sysmon", "target": "a.evtx", "state": "done", "events_read": "10"},
				{"type": "security", "target": "b.evtx", "state": "done", "events_read": "20"},
				{"type": "live", "target": "", "state": "unavailable", "events_read": "0"},
			}, nil
		},
	}
}

func openTest(t *testing.T, tbls ...tables.Table) *DB {
	t.Helper()
	db, err := Open(context.Background(), tbls...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestQueryPushesConstraints(t *testing.T) {
	f := newFakeExec()
	db := openTest(t, f.table(), statusTable())
	tests := []struct {
		name  string
		sql   string
		want  [][]any
		calls [][]string // constraints Generate saw, per call
	}{
		{
			name:  "no where",
			sql:   "SELECT eid FROM tsclient_executions",
			want:  [][]any{{int64(1)}, {int64(2)}, {int64(3)}, {int64(4)}, {int64(5)}},
			calls: [][]string{nil},
		},
		{
			name:  "time range",
			sql:   "SELECT eid FROM tsclient_executions WHERE time > 1700000100 AND time <= 1700000300",
			want:  [][]any{{int64(3)}, {int64(4)}},
			calls: [][]string{{"time 4 1700000100", "time 8 1700000300"}},
		},
		{
			name:  "eid ge lt",
			sql:   "SELECT eid FROM tsclient_executions WHERE eid >= 2 AND eid < 4",
			want:  [][]any{{int64(2)}, {int64(3)}},
			calls: [][]string{{"eid 16 4", "eid 32 2"}},
		},
		{
			name:  "reversed operands",
			sql:   "SELECT eid FROM tsclient_executions WHERE 1700000300 < time",
			want:  [][]any{{int64(5)}},
			calls: [][]string{{"time 4 1700000300"}},
		},
		{
			name:  "pid equals",
			sql:   "SELECT eid FROM tsclient_executions WHERE pid = 100",
			want:  [][]any{{int64(1)}, {int64(4)}},
			calls: [][]string{{"pid 2 100"}},
		},
		{
			name:  "pid IN runs generate per value",
			sql:   "SELECT eid FROM tsclient_executions WHERE pid IN (200, 300) ORDER BY eid",
			want:  [][]any{{int64(2)}, {int64(3)}},
			calls: [][]string{{"pid 2 200"}, {"pid 2 300"}},
		},
		{
			name:  "like on path is passed and rechecked, without the text ranges sqlite derives",
			sql:   `SELECT eid FROM tsclient_executions WHERE path LIKE '\\tsclient\c\%'`,
			want:  [][]any{{int64(1)}, {int64(5)}},
			calls: [][]string{{`path 65 \\tsclient\c\%`}},
		},
		{
			name:  "glob",
			sql:   `SELECT eid FROM tsclient_executions WHERE path GLOB '*.sh'`,
			want:  [][]any{{int64(4)}},
			calls: [][]string{{`path 66 *.sh`}},
		},
		{
			name:  "not-equal stays with sqlite",
			sql:   "SELECT eid FROM tsclient_executions WHERE form != 'kernel'",
			want:  [][]any{{int64(1)}, {int64(4)}, {int64(5)}},
			calls: [][]string{nil},
		},
		{
			name:  "null operand matches nothing",
			sql:   "SELECT eid FROM tsclient_executions WHERE pid = NULL",
			want:  nil,
			calls: [][]string{nil}, // the NULL operand is dropped; SQLite rejects every row
		},
		{
			name:  "text compared as text is still pushed",
			sql:   "SELECT eid FROM tsclient_executions WHERE time >= '1700000400'",
			want:  [][]any{{int64(5)}},
			calls: [][]string{{"time 32 1700000400"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.reset()
			_, rows, err := db.Query(context.Background(), tc.sql)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rows, tc.want) {
				t.Errorf("rows = %v, want %v", rows, tc.want)
			}
			if got := f.constraints(); !reflect.DeepEqual(got, tc.calls) {
				t.Errorf("generate saw %q, want %q", got, tc.calls)
			}
		})
	}
}

func TestQueryContextListsEveryColumn(t *testing.T) {
	f := newFakeExec()
	db := openTest(t, f.table())
	if _, _, err := db.Query(context.Background(), "SELECT count(*) FROM tsclient_executions WHERE eid = 3"); err != nil {
		t.Fatal(err)
	}
	qc := f.calls[0]
	if len(qc.Constraints) != 7 {
		t.Fatalf("query context has %d columns, want all 7: %v", len(qc.Constraints), qc.Constraints)
	}
	if a := qc.Constraints["time"].Affinity; a != table.ColumnTypeBigInt {
		t.Errorf("time affinity %q, want BIGINT", a)
	}
	if a := qc.Constraints["path"].Affinity; a != table.ColumnTypeText {
		t.Errorf("path affinity %q, want TEXT", a)
	}
}

func TestQueryTypesAndAggregates(t *testing.T) {
	f := newFakeExec()
	db := openTest(t, f.table(), statusTable())
	tests := []struct {
		sql  string
		cols []string
		want [][]any
	}{
		{
			sql:  "SELECT typeof(time), typeof(path), typeof(parent) FROM tsclient_executions LIMIT 1",
			cols: []string{"typeof(time)", "typeof(path)", "typeof(parent)"},
			want: [][]any{{"integer", "text", "null"}},
		},
		{
			sql:  "SELECT form, count(*) AS n FROM tsclient_executions GROUP BY form ORDER BY form",
			cols: []string{"form", "n"},
			want: [][]any{{"kernel", int64(2)}, {"unc", int64(2)}, {"xrdp", int64(1)}},
		},
		{
			sql:  "SELECT max(time) - min(time), sum(pid) FROM tsclient_executions",
			cols: []string{"max(time) - min(time)", "sum(pid)"},
			want: [][]any{{int64(400), int64(1200)}},
		},
		{
			sql:  "SELECT s.type, count(e.eid) AS n FROM tsclientwatch_status s LEFT JOIN tsclient_executions e ON e.source = s.type GROUP BY s.type ORDER BY s.type",
			cols: []string{"type", "n"},
			want: [][]any{{"live", int64(0)}, {"security", int64(2)}, {"sysmon", int64(2)}},
		},
		{
			sql:  "SELECT e.eid, s.target FROM tsclient_executions e JOIN tsclientwatch_status s ON s.type = e.source WHERE e.time >= 1700000200 ORDER BY e.eid",
			cols: []string{"eid", "target"},
			want: [][]any{{int64(3), "b.evtx"}, {int64(5), "a.evtx"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.sql, func(t *testing.T) {
			cols, rows, err := db.Query(context.Background(), tc.sql)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cols, tc.cols) {
				t.Errorf("columns = %q, want %q", cols, tc.cols)
			}
			if !reflect.DeepEqual(rows, tc.want) {
				t.Errorf("rows = %v, want %v", rows, tc.want)
			}
		})
	}
}

// TestJoinFeedsConstraint checks that a join hands the outer row's value to
// the inner table as an osquery equality constraint, as osquery does.
func TestJoinFeedsConstraint(t *testing.T) {
	f := newFakeExec()
	db := openTest(t, f.table(), statusTable())
	_, rows, err := db.Query(context.Background(),
		"SELECT s.type, e.eid FROM tsclientwatch_status s JOIN tsclient_executions e ON e.source = s.type ORDER BY e.eid")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("got %d rows, want 4: %v", len(rows), rows)
	}
	want := [][]string{{"source 2 live"}, {"source 2 security"}, {"source 2 sysmon"}}
	got := f.constraints()
	slices.SortFunc(got, func(a, b []string) int { return strings.Compare(strings.Join(a, ","), strings.Join(b, ",")) })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("generate saw %q, want %q", got, want)
	}
}

func TestQueryErrors(t *testing.T) {
	boom := errors.New("store unavailable")
	failing := tables.Table{
		Name:    "failing",
		Columns: []table.ColumnDefinition{table.TextColumn("x")},
		Generate: func(context.Context, table.QueryContext) ([]map[string]string, error) {
			return nil, boom
		},
	}
	panicking := tables.Table{
		Name:    "panicking",
		Columns: []table.ColumnDefinition{table.TextColumn("x")},
		Generate: func(context.Context, table.QueryContext) ([]map[string]string, error) {
			var m map[string]int
			m["x"]++
			return nil, nil
		},
	}
	db := openTest(t, newFakeExec().table(), failing, panicking)
	tests := []struct {
		sql  string
		want []string // substrings of the error
	}{
		{"SELEC eid FROM tsclient_executions", []string{"syntax error", `"SELEC eid FROM tsclient_executions"`}},
		{"SELECT nope FROM tsclient_executions", []string{"no such column: nope"}},
		{"SELECT * FROM nowhere", []string{"no such table: nowhere"}},
		{"SELECT * FROM failing", []string{"table failing", "store unavailable"}},
		{"SELECT * FROM panicking", []string{"table panicking: generate panicked", "nil map"}},
		{"INSERT INTO tsclient_executions(eid) VALUES (1)", []string{"tsclient_executions"}},
	}
	for _, tc := range tests {
		t.Run(tc.sql, func(t *testing.T) {
			_, _, err := db.Query(context.Background(), tc.sql)
			if err == nil {
				t.Fatal("no error")
			}
			var qe *Error
			if !errors.As(err, &qe) || qe.SQL != tc.sql {
				t.Errorf("error %v is not an *Error naming the SQL", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	// The DB still answers after errors.
	if _, rows, err := db.Query(context.Background(), "SELECT count(*) FROM tsclient_executions"); err != nil || rows[0][0] != int64(5) {
		t.Fatalf("after errors: %v %v", rows, err)
	}
}

func TestQueryCancelled(t *testing.T) {
	db := openTest(t, newFakeExec().table())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := db.Query(ctx, "SELECT * FROM tsclient_executions")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestGenerateSeesQueryContext(t *testing.T) {
	type key struct{}
	var got any
	tb := tables.Table{
		Name:    "ctxcheck",
		Columns: []table.ColumnDefinition{table.TextColumn("x")},
		Generate: func(ctx context.Context, _ table.QueryContext) ([]map[string]string, error) {
			got = ctx.Value(key{})
			return nil, nil
		},
	}
	db := openTest(t, tb)
	ctx := context.WithValue(context.Background(), key{}, "mine")
	if _, _, err := db.Query(ctx, "SELECT * FROM ctxcheck"); err != nil {
		t.Fatal(err)
	}
	if got != "mine" {
		t.Fatalf("generate saw context value %v, want the query's", got)
	}
}

func TestOpenRejects(t *testing.T) {
	good := newFakeExec().table()
	tests := []struct {
		name string
		tbls []tables.Table
		want string
	}{
		{"duplicate", []tables.Table{good, good}, "given twice"},
		{"bad name", []tables.Table{{Name: "a b", Columns: good.Columns, Generate: good.Generate}}, "not a plain SQL identifier"},
		{"no columns", []tables.Table{{Name: "x", Generate: good.Generate}}, "no columns"},
		{"no generate", []tables.Table{{Name: "x", Columns: good.Columns}}, "no generate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(context.Background(), tc.tbls...)
			if err == nil {
				db.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestTwoDBsAreIndependent(t *testing.T) {
	a, b := newFakeExec(), newFakeExec()
	b.rows = b.rows[:2]
	dba, dbb := openTest(t, a.table()), openTest(t, b.table())
	for _, tc := range []struct {
		db   *DB
		want int64
	}{{dba, 5}, {dbb, 2}, {dba, 5}} {
		_, rows, err := tc.db.Query(context.Background(), "SELECT count(*) FROM tsclient_executions")
		if err != nil {
			t.Fatal(err)
		}
		if rows[0][0] != tc.want {
			t.Errorf("count = %v, want %d", rows[0][0], tc.want)
		}
	}
	dba.Close()
	if _, _, err := dba.Query(context.Background(), "SELECT 1"); err == nil {
		t.Error("query on closed DB succeeded")
	}
}

func TestConcurrentQueries(t *testing.T) {
	db := openTest(t, newFakeExec().table(), statusTable())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := fmt.Sprintf("SELECT count(*) FROM tsclient_executions WHERE eid > %d", i%5)
			_, rows, err := db.Query(context.Background(), q)
			if err == nil && rows[0][0] != int64(5-i%5) {
				err = fmt.Errorf("%s: got %v", q, rows[0][0])
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestSchema(t *testing.T) {
	db := openTest(t, statusTable())
	s, ok := db.Schema("tsclientwatch_status")
	want := `CREATE TABLE "tsclientwatch_status"("type" TEXT, "target" TEXT, "state" TEXT, "events_read" BIGINT)`
	if !ok || s != want {
		t.Errorf("Schema = %q, %v; want %q", s, ok, want)
	}
	if _, ok := db.Schema("nope"); ok {
		t.Error("Schema of unknown table reported ok")
	}
}

// TestRealTables runs the project's own tables: the executions table over a
// store, wrapped to record what reaches its Generate, joined with status.
func TestRealTables(t *testing.T) {
	st := store.New(store.Options{})
	t0 := time.Unix(1700000000, 0)
	for i, exe := range []string{`\\tsclient\c\a.exe`, `\Device\Mup\tsclient\C\b.exe`, `\\tsclient\d\c.exe`, `\Device\Mup\tsclient\C\d.exe`} {
		form := detector.FormUNC
		if strings.HasPrefix(exe, `\Device`) {
			form = detector.FormKernel
		}
		st.Add(detector.Detection{
			Event: detector.Event{Time: t0.Add(time.Duration(i) * time.Minute), Type: detector.TypeStart, PID: int64(100 + i%2),
				Executable: exe, Source: map[bool]string{true: "sysmon", false: "security"}[form == detector.FormUNC]},
			Form: form, RuleID: detector.RuleID,
		})
	}
	exec := tables.Executions(st)
	var mu sync.Mutex
	var seen []table.QueryContext
	inner := exec.Generate
	exec.Generate = func(ctx context.Context, qc table.QueryContext) ([]map[string]string, error) {
		mu.Lock()
		seen = append(seen, qc)
		mu.Unlock()
		return inner(ctx, qc)
	}
	status := tables.Status(func() []tables.SourceStatus {
		return []tables.SourceStatus{
			{Type: "sysmon", State: "done"}, {Type: "security", State: "done"}, {Type: "live", State: "unavailable"},
		}
	})
	db := openTest(t, exec, status)
	ctx := context.Background()

	_, rows, err := db.Query(ctx, "SELECT eid, pid, form FROM tsclient_executions WHERE time >= 1700000060 AND eid < 4 AND pid = 101")
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]any{{int64(2), int64(101), "kernel"}}; !reflect.DeepEqual(rows, want) {
		t.Errorf("rows = %v, want %v", rows, want)
	}
	got := map[string][]table.Constraint{}
	for name, cl := range seen[0].Constraints {
		if len(cl.Constraints) > 0 {
			got[name] = cl.Constraints
		}
	}
	want := map[string][]table.Constraint{
		"time": {{Operator: table.OperatorGreaterThanOrEquals, Expression: "1700000060"}},
		"eid":  {{Operator: table.OperatorLessThan, Expression: "4"}},
		"pid":  {{Operator: table.OperatorEquals, Expression: "101"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Generate saw %v, want %v", got, want)
	}

	_, rows, err = db.Query(ctx, `SELECT s.type, s.state, count(e.eid) AS n, min(e.time) AS first
		FROM tsclientwatch_status s LEFT JOIN tsclient_executions e ON e.source = s.type
		GROUP BY s.type ORDER BY n DESC, s.type`)
	if err != nil {
		t.Fatal(err)
	}
	wantRows := [][]any{
		{"security", "done", int64(2), int64(1700000060)},
		{"sysmon", "done", int64(2), int64(1700000000)},
		{"live", "unavailable", int64(0), nil},
	}
	if !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("join rows = %v, want %v", rows, wantRows)
	}
}

// TestEvidenceColumns: size is an integer (NULL when unknown, as for every
// log) and evidence_path text, in SQL and in each output format; a path
// with a control character is escaped like any other text.
func TestEvidenceColumns(t *testing.T) {
	st := store.New(store.Options{})
	sum := strings.Repeat("5e", 32)
	base := detector.Detection{Event: detector.Event{Time: time.Unix(1700000000, 0), Type: detector.TypeStart, Source: "ebpf",
		Executable: "/home/a/thinclient_drives/C:/x"}, Form: detector.FormXrdp, RuleID: detector.RuleID}
	d := base
	d.PID, d.SHA256, d.Size, d.EvidencePath = 1, sum, 4096, "/ev/\x1b[2J"+sum
	st.Add(d)
	d = base
	d.PID = 2
	st.Add(d)
	db := openTest(t, tables.Executions(st))
	cols, rows, err := db.Query(context.Background(), "SELECT pid, typeof(size), size, evidence_path FROM tsclient_executions ORDER BY pid")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{{int64(1), "integer", int64(4096), "/ev/\x1b[2J" + sum}, {int64(2), "null", nil, ""}}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows = %v, want %v", rows, want)
	}
	for f, w := range map[Format]string{
		FormatJSON:  `"size": 4096, "evidence_path": "/ev/\u001b[2J` + sum + `"}`,
		FormatCSV:   `1,integer,4096,/ev/\x1b[2J` + sum,
		FormatTable: `| 1   | integer      | 4096 | /ev/\x1b[2J` + sum,
	} {
		var b strings.Builder
		if err := Write(&b, f, cols, rows, Options{}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), w) || strings.Contains(b.String(), "\x1b") {
			t.Errorf("%s output lacks %q or holds a raw escape:\n%s", f, w, b.String())
		}
	}
}
