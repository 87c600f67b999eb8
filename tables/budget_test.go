package tables

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/osquery/osquery-go/gen/osquery"
	"github.com/osquery/osquery-go/plugin/table"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/store"
)

// bigDetection is what the review's E3 harness made a local user's execs
// look like: a path and a working directory of about 3.9 KiB each under a
// directory called thinclient_drives, and 1 KiB of argv.
func bigDetection(i int) detector.Detection {
	deep := strings.Repeat("/dddddddd", 430)
	var d detector.Detection
	d.Time = time.Unix(1_700_000_000+int64(i), 0)
	d.Type = detector.TypeStart
	d.PID = int64(10_000 + i)
	d.Executable = "/tmp/u/thinclient_drives/x" + deep + "/f"
	d.WorkingDirectory = "/tmp/u/thinclient_drives/x" + deep
	d.CommandLine = strings.Repeat("A", 1024) + fmt.Sprint(i)
	d.User, d.Host, d.Source = "nobody", "h1", "ebpf"
	d.Form, d.ClientDrive, d.SharePath, d.RuleID = detector.FormXrdp, "x", deep+"/f", detector.RuleID
	return d
}

// thriftReplyBytes is the size of rows as osquery receives them: an
// ExtensionResponse in Thrift's binary protocol, as osquery-go sends it.
func thriftReplyBytes(t *testing.T, rows []map[string]string) int {
	t.Helper()
	resp := osquery.ExtensionResponse{Status: &osquery.ExtensionStatus{}}
	for _, r := range rows {
		resp.Response = append(resp.Response, r)
	}
	b, err := thrift.NewTSerializer().Write(context.Background(), &resp)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// TestReplyBudget reproduces the review's E3 without osqueryd: 50,000 rows
// of about 9 KiB made a 556 MB store and a 603 MB reply. The store's byte
// budget bounds what is held, the reply budget what one generate returns,
// measured as the Thrift message osquery would receive.
func TestReplyBudget(t *testing.T) {
	t.Parallel()
	s := store.New(store.Options{})
	for i := 0; i < 50000; i += 500 {
		ds := make([]detector.Detection, 500)
		for j := range ds {
			ds[j] = bigDetection(i + j)
		}
		s.Add(ds...)
	}
	st := s.Stats()
	if st.Bytes > store.DefaultMaxBytes || st.DroppedBytes == 0 {
		t.Fatalf("store: %d bytes in %d rows (%d dropped for bytes), want at most %d", st.Bytes, st.Rows, st.DroppedBytes, store.DefaultMaxBytes)
	}
	rows, err := executionsGenerate(s)(context.Background(), table.QueryContext{})
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, r := range rows {
		want += ReplyBytes(r)
	}
	wire := thriftReplyBytes(t, rows)
	if want > MaxReplyBytes || wire > MaxReplyBytes+1024 || len(rows) == 0 || len(rows) == st.Rows {
		t.Errorf("reply: %d rows of %d held, %d bytes counted, %d bytes on the wire; want at most %d, cut short", len(rows), st.Rows, want, wire, MaxReplyBytes)
	}
	// What was counted is what Thrift sends, within the message framing.
	if wire < want || wire > want+64 {
		t.Errorf("counted %d reply bytes for %d rows, Thrift wrote %d", want, len(rows), wire)
	}
	// The rows cut from the reply are the newest: a time window returns them.
	last := rows[len(rows)-1]["eid"]
	rest, err := executionsGenerate(s)(context.Background(), table.QueryContext{Constraints: map[string]table.ConstraintList{
		"eid": {Affinity: table.ColumnTypeBigInt, Constraints: []table.Constraint{{Operator: table.OperatorGreaterThan, Expression: last}}},
	}})
	if err != nil || len(rows)+len(rest) != st.Rows {
		t.Errorf("the rest after eid %s: %d rows, err %v; want %d", last, len(rest), err, st.Rows-len(rows))
	}
	t.Logf("store: %d rows, %.1f MiB counted; one unconstrained reply: %d rows, %.1f MiB on the wire", st.Rows, float64(st.Bytes)/(1<<20), len(rows), float64(wire)/(1<<20))
}

// TestGenerateMarksRead: the rows a generate returns are marked read in the
// store, and only those.
func TestGenerateMarksRead(t *testing.T) {
	t.Parallel()
	s := store.New(store.Options{})
	fill(s)
	gen := executionsGenerate(s)
	if st := s.Stats(); st.Unread != 5 {
		t.Fatalf("Unread = %d before any query, want 5", st.Unread)
	}
	rows, err := gen(context.Background(), table.QueryContext{Constraints: map[string]table.ConstraintList{
		"eid": {Affinity: table.ColumnTypeBigInt, Constraints: []table.Constraint{{Operator: table.OperatorLessThanOrEquals, Expression: "2"}}},
	}})
	if err != nil || len(rows) != 2 {
		t.Fatalf("%d rows, err %v", len(rows), err)
	}
	if st := s.Stats(); st.Unread != 3 {
		t.Errorf("Unread = %d after a query returned 2 of 5 rows, want 3", st.Unread)
	}
}

// TestRowOverheadCoversNumbers: store.RowOverhead, what a row costs
// besides its strings, covers the column names, framing and the widest
// numbers of a tsclient_executions row, so the store's byte budget bounds
// the reply however many columns later issues add.
func TestRowOverheadCoversNumbers(t *testing.T) {
	t.Parallel()
	s := store.New(store.Options{})
	var d detector.Detection
	d.Time = time.Unix(-1<<40, 0) // the widest time a log can carry that fits a reply
	d.PID, d.ParentPID = -1<<62, -1<<62
	d.LogonID, d.SessionID, d.LogonTime = 1<<63, detector.SessionOf(1<<32-1), -1<<62
	d.Size = 1<<63 - 1
	d.PathTruncated = true
	s.Add(d)
	var row map[string]string
	var size int64
	s.Scan(context.Background(), store.Filter{}, func(r *store.Row) bool {
		row, size = executionRow(r), r.Size()
		return false
	})
	if row == nil {
		t.Fatal("no row stored")
	}
	strs := 0
	for _, k := range []string{"path", "cmdline", "cwd", "parent_path", "username", "hostname", "sha256", "client_drive",
		"share_path", "form", "source", "fs_type", "client_name", "client_address", "attribution", "evidence_path"} {
		strs += len(row[k])
	}
	if n := ReplyBytes(row) - strs; int64(n) > store.RowOverhead || size < int64(n) {
		t.Errorf("a row without strings takes %d reply bytes; store.RowOverhead is %d, the row counts %d", n, store.RowOverhead, size)
	}
}
