package sqlquery

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/osquery/osquery-go/plugin/table"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/store"
	"github.com/tsclientwatch/tsclientwatch/tables"
)

const benchRows = 50000

// benchStore holds benchRows detections one second apart from t0.
func benchStore(b *testing.B) (*store.Store, int64) {
	b.Helper()
	t0 := time.Unix(1700000000, 0)
	st := store.New(store.Options{MaxEvents: benchRows, Expiry: 24 * time.Hour})
	batch := make([]detector.Detection, 0, 1000)
	for i := range benchRows {
		batch = append(batch, detector.Detection{
			Event: detector.Event{
				Time: t0.Add(time.Duration(i) * time.Second), Type: detector.TypeStart,
				PID: int64(1000 + i%5000), ParentPID: 4, Executable: fmt.Sprintf(`\\tsclient\c\tools\t%d.exe`, i%300),
				CommandLine: "t.exe -x", User: `CORP\alice`, Host: "ws1", Source: "sysmon",
			},
			Form: detector.FormUNC, ClientDrive: "c", SharePath: fmt.Sprintf(`\tools\t%d.exe`, i%300), RuleID: detector.RuleID,
		})
		if len(batch) == cap(batch) {
			st.Add(batch...)
			batch = batch[:0]
		}
	}
	return st, t0.Unix()
}

// BenchmarkTimeWindow compares a query for a 100-second window (100 of
// 50000 rows) through SQLite with the same constraint handed to Generate
// directly, and both with a full scan.
func BenchmarkTimeWindow(b *testing.B) {
	st, t0 := benchStore(b)
	exec := tables.Executions(st)
	db, err := Open(context.Background(), exec)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	lo, hi := t0+25000, t0+25100
	sqlWindow := fmt.Sprintf("SELECT eid, time, path, form FROM tsclient_executions WHERE time >= %d AND time < %d", lo, hi)
	qcWindow := table.QueryContext{Constraints: map[string]table.ConstraintList{
		"time": {Affinity: table.ColumnTypeBigInt, Constraints: []table.Constraint{
			{Operator: table.OperatorGreaterThanOrEquals, Expression: strconv.FormatInt(lo, 10)},
			{Operator: table.OperatorLessThan, Expression: strconv.FormatInt(hi, 10)},
		}},
	}}
	ctx := context.Background()
	b.Run("sqlite/window", func(b *testing.B) {
		for b.Loop() {
			_, rows, err := db.Query(ctx, sqlWindow)
			if err != nil || len(rows) != 100 {
				b.Fatalf("%d rows, %v", len(rows), err)
			}
		}
	})
	b.Run("generate/window", func(b *testing.B) {
		for b.Loop() {
			rows, err := exec.Generate(ctx, qcWindow)
			if err != nil || len(rows) != 100 {
				b.Fatalf("%d rows, %v", len(rows), err)
			}
		}
	})
	b.Run("sqlite/count-all", func(b *testing.B) {
		for b.Loop() {
			_, rows, err := db.Query(ctx, "SELECT count(*) FROM tsclient_executions")
			if err != nil || rows[0][0] != int64(benchRows) {
				b.Fatalf("%v, %v", rows, err)
			}
		}
	})
	b.Run("generate/all", func(b *testing.B) {
		for b.Loop() {
			rows, err := exec.Generate(ctx, table.QueryContext{})
			if err != nil || len(rows) != benchRows {
				b.Fatalf("%d rows, %v", len(rows), err)
			}
		}
	})
}
