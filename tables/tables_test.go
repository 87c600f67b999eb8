package tables

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osquery/osquery-go/gen/osquery"
	"github.com/osquery/osquery-go/plugin/table"
	"go.uber.org/goleak"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cons is one pushed-down constraint as osquery serializes it.
type cons struct {
	col  string
	op   int
	expr string
}

// QueryContext builds the context JSON osqueryd sends with "generate": an
// entry for every column (an empty "list" string when unconstrained), the
// constrained ones with their operator codes, plus colsUsed.
func QueryContext(cols []table.ColumnDefinition, cs ...cons) string {
	type item struct {
		Op   int    `json:"op"`
		Expr string `json:"expr"`
	}
	type entry struct {
		Name     string `json:"name"`
		List     any    `json:"list"`
		Affinity string `json:"affinity"`
	}
	var out struct {
		Constraints    []entry  `json:"constraints"`
		ColsUsed       []string `json:"colsUsed"`
		ColsUsedBitset uint64   `json:"colsUsedBitset"`
	}
	for i, c := range cols {
		var list []item
		for _, k := range cs {
			if k.col == c.Name {
				list = append(list, item{k.op, k.expr})
			}
		}
		e := entry{Name: c.Name, List: "", Affinity: string(c.Type)}
		if list != nil {
			e.List = list
		}
		out.Constraints = append(out.Constraints, e)
		out.ColsUsed = append(out.ColsUsed, c.Name)
		out.ColsUsedBitset |= 1 << i
	}
	b, err := json.Marshal(out)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// call invokes p exactly as the extension server does for osquery.
func call(t *testing.T, p *table.Plugin, ctxJSON string) ([]map[string]string, osquery.ExtensionStatus) {
	t.Helper()
	resp := p.Call(context.Background(), osquery.ExtensionPluginRequest{"action": "generate", "context": ctxJSON})
	return resp.Response, *resp.Status
}

func fill(s *store.Store) {
	mk := func(unix, pid int64, exe string) detector.Detection {
		var d detector.Detection
		d.Time = time.Unix(unix, 0)
		d.Type = detector.TypeStart
		d.PID = pid
		d.ParentPID = 100
		d.Executable = exe
		d.CommandLine = `"` + exe + `" /q`
		d.WorkingDirectory = `C:\Users\alice\`
		d.ParentExecutable = `C:\Windows\explorer.exe`
		d.User = `CORP\alice`
		d.Host = "ws1"
		d.Source = "sysmon"
		d.SHA256 = strings.Repeat("ab", 32)
		d.Form = detector.FormKernel
		d.ClientDrive = "c"
		d.SharePath = exe[strings.LastIndex(exe, `\c\`)+2:]
		d.RuleID = detector.RuleID
		return d
	}
	// Times deliberately out of eid order.
	s.Add(
		mk(1000, 10, `\Device\Mup\tsclient\c\a.exe`),
		mk(3000, 11, `\Device\Mup\tsclient\c\b.exe`),
		mk(2000, 12, `\Device\Mup\tsclient\c\c.exe`),
		mk(2000, 10, `\Device\Mup\tsclient\c\d.exe`),
		mk(500, 13, `\Device\Mup\tsclient\c\e.exe`),
	)
}

func eids(rows []map[string]string) []int {
	var out []int
	for _, r := range rows {
		n, _ := strconv.Atoi(r["eid"])
		out = append(out, n)
	}
	return out
}

func TestExecutionsGenerate(t *testing.T) {
	t.Parallel()
	s := store.New(store.Options{})
	fill(s)
	tbl := Executions(s)
	p := tbl.Plugin()
	const (
		eq, gt, le, lt, ge = 2, 4, 8, 16, 32
		like               = 65
	)
	tests := []struct {
		name string
		cs   []cons
		want []int
	}{
		{"no constraints", nil, []int{1, 2, 3, 4, 5}},
		{"time >=", []cons{{"time", ge, "2000"}}, []int{2, 3, 4}},
		{"time >", []cons{{"time", gt, "2000"}}, []int{2}},
		{"time <", []cons{{"time", lt, "2000"}}, []int{1, 5}},
		{"time <=", []cons{{"time", le, "2000"}}, []int{1, 3, 4, 5}},
		{"time =", []cons{{"time", eq, "2000"}}, []int{3, 4}},
		{"time window", []cons{{"time", gt, "600"}, {"time", lt, "2500"}}, []int{1, 3, 4}},
		{"time contradiction", []cons{{"time", eq, "1000"}, {"time", eq, "2000"}}, nil},
		{"time fractional", []cons{{"time", gt, "1999.5"}}, []int{2, 3, 4}},
		{"time = fractional", []cons{{"time", eq, "2000.5"}}, nil},
		{"time < 0", []cons{{"time", lt, "0"}}, nil},
		{"time <= 0 left to sqlite", []cons{{"time", le, "0"}}, []int{1, 2, 3, 4, 5}}, // the store cannot bound at 0
		{"time < -inf is text to sqlite", []cons{{"time", lt, "-inf"}}, []int{1, 2, 3, 4, 5}},
		{"time < hex float is text", []cons{{"time", lt, "0x1p4"}}, []int{1, 2, 3, 4, 5}},
		{"time < unicode-spaced number is text", []cons{{"time", lt, "\u00a0600"}}, []int{1, 2, 3, 4, 5}},
		{"time ascii-spaced number", []cons{{"time", lt, " 600\t"}}, []int{5}},
		{"time not a number", []cons{{"time", gt, "soon"}}, []int{1, 2, 3, 4, 5}},
		{"eid =", []cons{{"eid", eq, "3"}}, []int{3}},
		{"eid >", []cons{{"eid", gt, "3"}}, []int{4, 5}},
		{"eid range", []cons{{"eid", ge, "2"}, {"eid", lt, "4"}}, []int{2, 3}},
		{"eid < 1", []cons{{"eid", lt, "1"}}, nil},
		{"eid > negative", []cons{{"eid", gt, "-5"}}, []int{1, 2, 3, 4, 5}},
		{"eid huge", []cons{{"eid", gt, "9223372036854775807"}}, nil},
		{"pid =", []cons{{"pid", eq, "10"}}, []int{1, 4}},
		{"pid and time", []cons{{"pid", eq, "10"}, {"time", ge, "1500"}}, []int{4}},
		{"pid range left to sqlite", []cons{{"pid", gt, "11"}}, []int{1, 2, 3, 4, 5}},
		{"text constraint left to sqlite", []cons{{"path", like, "%a.exe"}}, []int{1, 2, 3, 4, 5}},
		{"all three", []cons{{"eid", le, "4"}, {"time", ge, "2000"}, {"pid", eq, "12"}}, []int{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows, st := call(t, p, QueryContext(tbl.Columns, tt.cs...))
			if st.Code != 0 {
				t.Fatalf("status %d: %s", st.Code, st.Message)
			}
			if got := eids(rows); !slices.Equal(got, tt.want) {
				t.Errorf("eids = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExecutionsRowContent(t *testing.T) {
	t.Parallel()
	s := store.New(store.Options{})
	fill(s)
	tbl := Executions(s)
	rows, st := call(t, tbl.Plugin(), QueryContext(tbl.Columns, cons{"eid", 2, "2"}))
	if st.Code != 0 || len(rows) != 1 {
		t.Fatalf("status %+v, %d rows", st, len(rows))
	}
	want := map[string]string{
		"eid": "2", "time": "3000", "pid": "11", "parent": "100",
		"path": `\Device\Mup\tsclient\c\b.exe`, "cmdline": `"\Device\Mup\tsclient\c\b.exe" /q`,
		"cwd": `C:\Users\alice\`, "parent_path": `C:\Windows\explorer.exe`, "username": `CORP\alice`,
		"hostname": "ws1", "sha256": strings.Repeat("ab", 32), "client_drive": "c", "share_path": `\b.exe`,
		"form": "kernel", "source": "sysmon", "fs_type": "", "path_truncated": "0", "truncated": "0",
		"logon_id": "", "session_id": "", "client_name": "", "client_address": "", "logon_time": "", "attribution": "",
		"size": "", "evidence_path": "",
	}
	if fmt.Sprint(rows[0]) != fmt.Sprint(want) {
		t.Errorf("row = %v\nwant  %v", rows[0], want)
	}
	// Every declared column is present in the row, and nothing else.
	for _, c := range tbl.Columns {
		if _, ok := rows[0][c.Name]; !ok {
			t.Errorf("column %s missing from row", c.Name)
		}
	}
	if len(rows[0]) != len(tbl.Columns) {
		t.Errorf("row has %d keys, table %d columns", len(rows[0]), len(tbl.Columns))
	}
}

// TestExecutionsLiveRow: a live Linux row carries its filesystem type and
// says when the watcher cut its path.
func TestExecutionsLiveRow(t *testing.T) {
	t.Parallel()
	s := store.New(store.Options{})
	var d detector.Detection
	d.Time, d.Type, d.HostOS, d.Source = time.Unix(5000, 0), detector.TypeStart, detector.OSLinux, "ebpf"
	d.Executable = "/home/u/thinclient_drives/C:/…/d/tool"
	d.FSType, d.PathTruncated = "fuse.xrdp-chansrv", true
	d.Form, d.ClientDrive, d.SharePath, d.RuleID = detector.FormXrdp, "C:", "/…/d/tool", detector.RuleID
	s.Add(d)
	tbl := Executions(s)
	rows, st := call(t, tbl.Plugin(), QueryContext(tbl.Columns))
	if st.Code != 0 || len(rows) != 1 {
		t.Fatalf("status %+v, %d rows", st, len(rows))
	}
	if rows[0]["fs_type"] != "fuse.xrdp-chansrv" || rows[0]["path_truncated"] != "1" || rows[0]["path"] != d.Executable {
		t.Errorf("row = %v", rows[0])
	}
}

// TestExecutionsAttributionRow: the attribution columns, with session 0
// (a real session) kept apart from an unknown session, which is NULL.
func TestExecutionsAttributionRow(t *testing.T) {
	t.Parallel()
	s := store.New(store.Options{})
	d := detector.Detection{Event: detector.Event{Time: time.Unix(5000, 0), Type: detector.TypeStart, Host: "srv1", Source: "sysmon",
		Executable: `\\tsclient\c\a.exe`, LogonID: 0x6a423, SessionID: detector.SessionOf(0), ClientName: "JUMP01",
		ClientAddress: "10.23.23.9", LogonTime: 4000, Attribution: detector.Attribution4778},
		Form: detector.FormUNC, ClientDrive: "c", SharePath: `\a.exe`, RuleID: detector.RuleID}
	s.Add(d)
	d.PID, d.SessionID, d.LogonID, d.LogonTime, d.ClientName, d.ClientAddress, d.Attribution = 2, detector.SessionID{}, 0, 0, "", "", ""
	s.Add(d)
	tbl := Executions(s)
	rows, st := call(t, tbl.Plugin(), QueryContext(tbl.Columns))
	if st.Code != 0 || len(rows) != 2 {
		t.Fatalf("status %+v, %d rows", st, len(rows))
	}
	for i, want := range []map[string]string{
		{"logon_id": "0x6a423", "session_id": "0", "client_name": "JUMP01", "client_address": "10.23.23.9", "logon_time": "4000", "attribution": "4778"},
		{"logon_id": "", "session_id": "", "client_name": "", "client_address": "", "logon_time": "", "attribution": ""},
	} {
		for k, v := range want {
			if rows[i][k] != v {
				t.Errorf("row %d: %s = %q, want %q", i, k, rows[i][k], v)
			}
		}
	}
}

// TestExecutionsEvidenceRow: size and evidence_path as the evidence
// collector fills them; an unknown size is NULL, not 0.
func TestExecutionsEvidenceRow(t *testing.T) {
	t.Parallel()
	s := store.New(store.Options{})
	d := detector.Detection{Event: detector.Event{Time: time.Unix(5000, 0), Type: detector.TypeStart, Source: "ebpf", PID: 1,
		Executable: "/home/a/thinclient_drives/C:/x", SHA256: strings.Repeat("0f", 32), Size: 70 << 20,
		EvidencePath: "/var/lib/tsclientwatch/evidence/" + strings.Repeat("0f", 32)},
		Form: detector.FormXrdp, ClientDrive: "C:", SharePath: "/x", RuleID: detector.RuleID}
	s.Add(d)
	d.PID, d.SHA256, d.Size, d.EvidencePath = 2, "", 0, ""
	s.Add(d)
	tbl := Executions(s)
	rows, st := call(t, tbl.Plugin(), QueryContext(tbl.Columns))
	if st.Code != 0 || len(rows) != 2 {
		t.Fatalf("status %+v, %d rows", st, len(rows))
	}
	for i, want := range []map[string]string{
		{"sha256": strings.Repeat("0f", 32), "size": "73400320", "evidence_path": "/var/lib/tsclientwatch/evidence/" + strings.Repeat("0f", 32)},
		{"sha256": "", "size": "", "evidence_path": ""},
	} {
		for k, v := range want {
			if rows[i][k] != v {
				t.Errorf("row %d: %s = %q, want %q", i, k, rows[i][k], v)
			}
		}
	}
}

func TestExecutionsColumns(t *testing.T) {
	t.Parallel()
	tbl := Executions(store.New(store.Options{}))
	want := "eid BIGINT, time BIGINT, pid BIGINT, parent BIGINT, path TEXT, cmdline TEXT, cwd TEXT, " +
		"parent_path TEXT, username TEXT, hostname TEXT, sha256 TEXT, client_drive TEXT, share_path TEXT, form TEXT, source TEXT, " +
		"fs_type TEXT, path_truncated INTEGER, truncated INTEGER, logon_id TEXT, session_id BIGINT, client_name TEXT, " +
		"client_address TEXT, logon_time BIGINT, attribution TEXT, size BIGINT, evidence_path TEXT"
	var got []string
	for _, c := range tbl.Columns {
		got = append(got, c.Name+" "+string(c.Type))
	}
	if strings.Join(got, ", ") != want {
		t.Errorf("columns = %s\nwant %s", strings.Join(got, ", "), want)
	}
	resp := tbl.Plugin().Call(context.Background(), osquery.ExtensionPluginRequest{"action": "columns"})
	if resp.Status.Code != 0 || len(resp.Response) != len(tbl.Columns) || resp.Response[1]["name"] != "time" || resp.Response[1]["type"] != "BIGINT" {
		t.Errorf("columns action = %+v", resp)
	}
}

func TestBadContext(t *testing.T) {
	t.Parallel()
	tbl := Executions(store.New(store.Options{}))
	_, st := call(t, tbl.Plugin(), `{"constraints":[{"name":"time","list":[{"op":"x","expr":"1"}]}]}`)
	if st.Code == 0 {
		t.Errorf("bad operator accepted: %+v", st)
	}
	_, st = call(t, tbl.Plugin(), `not json`)
	if st.Code == 0 {
		t.Errorf("bad JSON accepted: %+v", st)
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	clock := time.Unix(1_700_000_000, 0)
	s := store.New(store.Options{MaxEvents: 2, Expiry: 10 * time.Minute, Now: func() time.Time { return clock }})
	fill(s) // 5 rows into a cap of 2
	bytes := strconv.FormatInt(s.Stats().Bytes, 10)
	// storeOnly are the store's own columns, zero on a source row.
	storeOnly := func(m map[string]string) map[string]string {
		for _, k := range []string{"dropped_bytes", "dropped_unread", "unread", "bytes", "max_bytes", "truncated", "duplicates",
			"unpersisted", "loaded", "gap_start", "gap_end", "evidence_read", "evidence_kept", "evidence_too_large", "evidence_timed_out",
			"evidence_failed", "evidence_evicted", "evidence_released", "evidence_waiting", "evidence_hung"} {
			if _, ok := m[k]; !ok {
				m[k] = "0"
			}
		}
		for _, k := range []string{"persistence", "state_path", "cursor"} {
			if _, ok := m[k]; !ok {
				m[k] = ""
			}
		}
		return m
	}
	tests := []struct {
		name string
		f    func() []SourceStatus
		want []map[string]string
	}{
		{"nil func", nil, []map[string]string{}},
		{"no source", func() []SourceStatus {
			return []SourceStatus{NoSource("no sources configured"), StoreStatus(s)}
		}, []map[string]string{
			storeOnly(map[string]string{"type": "none", "target": "", "state": "unconfigured", "started": "0", "events_read": "0", "detections": "0",
				"dropped": "0", "errors": "0", "last_error": "no sources configured",
				"dropped_cap": "0", "dropped_expired": "0", "max_events": "0", "expiry": "0", "restarts": "0", "lost_buffers": "0", "warning": ""}),
			storeOnly(map[string]string{"type": "store", "target": "tsclient_executions", "state": "full", "started": "1700000000", "events_read": "5",
				"detections": "2", "dropped": "3", "errors": "0", "last_error": "",
				"dropped_cap": "3", "dropped_expired": "0", "max_events": "2", "expiry": "600", "restarts": "0", "lost_buffers": "0", "warning": "",
				"dropped_unread": "3", "unread": "2", "bytes": bytes, "max_bytes": "67108864", "persistence": "memory"}),
		}},
		{"file source", func() []SourceStatus {
			return []SourceStatus{{Type: "file", Target: "/var/log/x.evtx", State: "done", Started: clock,
				EventsRead: 120, Detections: 3, Errors: 1, LastError: "x.evtx: record 7: bad"}}
		}, []map[string]string{
			storeOnly(map[string]string{"type": "file", "target": "/var/log/x.evtx", "state": "done", "started": "1700000000", "events_read": "120",
				"detections": "3", "dropped": "0", "errors": "1", "last_error": "x.evtx: record 7: bad",
				"dropped_cap": "0", "dropped_expired": "0", "max_events": "0", "expiry": "0", "restarts": "0", "lost_buffers": "0", "warning": ""}),
		}},
		{"live source restarting", func() []SourceStatus {
			return []SourceStatus{{Type: "etw", Target: "etw: session tsclientwatch-process-1-2-3", State: "restarting", Started: clock,
				EventsRead: 7, Dropped: 4, Errors: 2, LastError: "etw: session ended without being asked to",
				Restarts: 2, LostBuffers: 3, Warning: "another provider was enabled on this session from outside"}}
		}, []map[string]string{
			storeOnly(map[string]string{"type": "etw", "target": "etw: session tsclientwatch-process-1-2-3", "state": "restarting", "started": "1700000000", "events_read": "7",
				"detections": "0", "dropped": "4", "errors": "2", "last_error": "etw: session ended without being asked to",
				"dropped_cap": "0", "dropped_expired": "0", "max_events": "0", "expiry": "0", "restarts": "2", "lost_buffers": "3",
				"warning": "another provider was enabled on this session from outside"}),
		}},
		{"evidence", func() []SourceStatus {
			return []SourceStatus{{Type: "evidence", Target: "/var/lib/tsclientwatch/evidence", State: "running", Started: clock,
				EvidenceRead: 9, EvidenceKept: 4, EvidenceTooLarge: 1, EvidenceTimedOut: 2, EvidenceFailed: 3, EvidenceEvicted: 5,
				EvidenceReleased: 6, EvidenceWaiting: 7, EvidenceHung: 8}}
		}, []map[string]string{
			storeOnly(map[string]string{"type": "evidence", "target": "/var/lib/tsclientwatch/evidence", "state": "running", "started": "1700000000",
				"events_read": "0", "detections": "0", "dropped": "0", "errors": "0", "last_error": "",
				"dropped_cap": "0", "dropped_expired": "0", "max_events": "0", "expiry": "0", "restarts": "0", "lost_buffers": "0", "warning": "",
				"evidence_read": "9", "evidence_kept": "4", "evidence_too_large": "1", "evidence_timed_out": "2", "evidence_failed": "3",
				"evidence_evicted": "5", "evidence_released": "6", "evidence_waiting": "7", "evidence_hung": "8"}),
		}},
		// Review E9: file and mount names and decoder errors quoting log
		// content are escaped before osquery sees them.
		{"hostile text", func() []SourceStatus {
			return []SourceStatus{{Type: "live", Target: "/tmp/u2/\x1b]0;PWNED\x07/thinclient_drives", State: "running",
				LastError: "d1/evil\x1b[5m\u009b\u202e.json: attribute attr of <Bad\x1b[5m> is not quoted\n",
				Warning:   "Sysmon channel \x1b[2J missing"}}
		}, []map[string]string{
			storeOnly(map[string]string{"type": "live", "target": `/tmp/u2/\x1b]0;PWNED\x07/thinclient_drives`, "state": "running", "started": "0",
				"events_read": "0", "detections": "0", "dropped": "0", "errors": "0",
				"last_error":  `d1/evil\x1b[5m\u009b\u202e.json: attribute attr of <Bad\x1b[5m> is not quoted\n`,
				"dropped_cap": "0", "dropped_expired": "0", "max_events": "0", "expiry": "0", "restarts": "0", "lost_buffers": "0",
				"warning": `Sysmon channel \x1b[2J missing`}),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl := Status(tt.f)
			rows, st := call(t, tbl.Plugin(), QueryContext(tbl.Columns))
			if st.Code != 0 {
				t.Fatalf("status %+v", st)
			}
			if fmt.Sprint(rows) != fmt.Sprint(tt.want) {
				t.Errorf("rows = %v\nwant   %v", rows, tt.want)
			}
		})
	}
}

// TestGuardReturnsAtDeadline reproduces the review's E6b at the table
// layer: a generate function stuck in a call that ignores its context
// (the status table waiting on a stalled watcher) used to hold its caller
// and its slot past the deadline, until four such calls blocked every
// table. The guard must return at the deadline whatever the function
// does, free the slot, and refuse new calls only once MaxConcurrent are
// still stuck.
func TestGuardReturnsAtDeadline(t *testing.T) {
	stuck := make(chan struct{})
	var once sync.Once
	unstick := func() { once.Do(func() { close(stuck) }) }
	defer unstick()
	g := guard("stuck", func(context.Context, table.QueryContext) ([]map[string]string, error) {
		<-stuck // ignores ctx
		return nil, nil
	})
	fast := guard("fast", func(context.Context, table.QueryContext) ([]map[string]string, error) {
		return []map[string]string{{"ok": "1"}}, nil
	})
	for i := 0; i < MaxConcurrent; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		done := make(chan error, 1)
		go func() { _, err := g(ctx, table.QueryContext{}); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not finish") {
				t.Errorf("call %d: err = %v, want a deadline error", i, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("call %d did not return after its deadline", i)
		}
		cancel()
		if i < MaxConcurrent-1 {
			// The slot is free again: other tables still answer.
			if rows, err := fast(context.Background(), table.QueryContext{}); err != nil || len(rows) != 1 {
				t.Errorf("after %d stuck calls: rows=%v err=%v", i+1, rows, err)
			}
		}
	}
	if _, err := fast(context.Background(), table.QueryContext{}); err == nil || !strings.Contains(err.Error(), "still running past their deadline") {
		t.Errorf("with %d stuck calls: err = %v, want a refusal", MaxConcurrent, err)
	}
	unstick()
	waitFor(t, func() bool { return abandoned.Load() == 0 })
	if _, err := fast(context.Background(), table.QueryContext{}); err != nil {
		t.Errorf("after the stuck calls ended: %v", err)
	}
}

func TestGuard(t *testing.T) {
	t.Run("panic becomes error", func(t *testing.T) {
		g := guard("boom", func(context.Context, table.QueryContext) ([]map[string]string, error) {
			var m map[string]string
			m["x"] = "y" // nil map write
			return nil, nil
		})
		rows, err := g(context.Background(), table.QueryContext{})
		if err == nil || rows != nil || !strings.Contains(err.Error(), "boom: internal error") {
			t.Errorf("rows=%v err=%v, want internal error", rows, err)
		}
		// The slot was released: MaxConcurrent more calls still get one.
		for i := 0; i < MaxConcurrent+1; i++ {
			if _, err := g(context.Background(), table.QueryContext{}); err == nil {
				t.Fatal("second panic not reported")
			}
		}
	})
	t.Run("concurrency limit and cancellation", func(t *testing.T) {
		release := make(chan struct{})
		var mu sync.Mutex
		running, peak := 0, 0
		g := guard("slow", func(ctx context.Context, _ table.QueryContext) ([]map[string]string, error) {
			mu.Lock()
			running++
			peak = max(peak, running)
			mu.Unlock()
			defer func() { mu.Lock(); running--; mu.Unlock() }()
			select {
			case <-release:
				return []map[string]string{}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
		var wg sync.WaitGroup
		errs := make(chan error, 2*MaxConcurrent)
		for i := 0; i < 2*MaxConcurrent; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := g(context.Background(), table.QueryContext{})
				errs <- err
			}()
		}
		// A caller whose context ends while waiting for a slot gives up.
		waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return running == MaxConcurrent })
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := g(ctx, table.QueryContext{}); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled caller: err = %v, want context.Canceled", err)
		}
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if peak != MaxConcurrent {
			t.Errorf("peak concurrency %d, want %d", peak, MaxConcurrent)
		}
	})
}

// waitFor polls cond; the bound only detects a hang, it is not a threshold.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestExecutionsCancelled(t *testing.T) {
	t.Parallel()
	s := store.New(store.Options{})
	fill(s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Executions(s).Generate(ctx, table.QueryContext{}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func benchStore(testing.TB) *store.Store {
	s := store.New(store.Options{})
	ds := make([]detector.Detection, store.DefaultMaxEvents)
	for i := range ds {
		d := &ds[i]
		d.Time = time.Unix(1_700_000_000+int64(i), 0) // one per second: 50000 s span
		d.Type = detector.TypeStart
		d.PID = int64(4000 + i)
		d.ParentPID = 900
		d.Executable = `\Device\Mup\tsclient\C\Users\alice\Downloads\procdump64.exe`
		d.CommandLine = fmt.Sprintf(`"\\tsclient\C\Users\alice\Downloads\procdump64.exe" -ma %d out%d.dmp`, 600+i%97, i)
		d.WorkingDirectory = `C:\Users\alice\`
		d.ParentExecutable = `C:\Windows\System32\cmd.exe`
		d.User = `CORP\alice`
		d.Host = "WS-FIN-0042"
		d.Source = "sysmon"
		d.SHA256 = strings.Repeat("ab", 32)
		d.Form = detector.FormKernel
		d.ClientDrive = "C"
		d.SharePath = `\Users\alice\Downloads\procdump64.exe`
		d.RuleID = detector.RuleID
	}
	s.Add(ds...)
	return s
}

// BenchmarkGenerate calls the plugin the way osquery does over 50000
// stored rows spanning 50000 seconds.
func BenchmarkGenerate(b *testing.B) {
	s := benchStore(b)
	tbl := Executions(s)
	p := tbl.Plugin()
	end := 1_700_000_000 + store.DefaultMaxEvents
	for _, bc := range []struct {
		name string
		cs   []cons
		rows int
	}{
		// 50000 rows of this size pass MaxReplyBytes: the reply stops at
		// the cap (about 46,600 rows with the attribution columns).
		{"all_50000", nil, -1},
		{"time_last_hour", []cons{{"time", 4, strconv.Itoa(end - 3600)}}, 3599},
		{"time_last_5min", []cons{{"time", 4, strconv.Itoa(end - 300)}}, 299},
		{"eid_last_100", []cons{{"eid", 4, "49900"}}, 100},
		{"pid_eq", []cons{{"pid", 2, "4123"}}, 1},
	} {
		ctxJSON := QueryContext(tbl.Columns, bc.cs...)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp := p.Call(context.Background(), osquery.ExtensionPluginRequest{"action": "generate", "context": ctxJSON})
				if bc.rows < 0 && (resp.Status.Code != 0 || len(resp.Response) < 40000) || bc.rows >= 0 && len(resp.Response) != bc.rows {
					b.Fatalf("%d rows, want %d (%s)", len(resp.Response), bc.rows, resp.Status.Message)
				}
			}
		})
	}
}

// countdown is a context that reports cancellation from its n+1-th Err
// call on: a generate over many rows can then be cancelled deterministically
// part way through, at a point the scan itself chooses to check.
type countdown struct {
	context.Context
	left  atomic.Int64
	calls atomic.Int64
	once  sync.Once
	done  chan struct{}
}

func newCountdown(n int64) *countdown {
	c := &countdown{Context: context.Background(), done: make(chan struct{})}
	c.left.Store(n)
	return c
}

func (c *countdown) Done() <-chan struct{} { return c.done }
func (c *countdown) Err() error {
	c.calls.Add(1)
	if c.left.Add(-1) < 0 {
		c.once.Do(func() { close(c.done) })
		return context.Canceled
	}
	return nil
}

// TestExecutionsCancelledHalfWay: a generate over 50000 rows whose context
// ends part way stops at its next check with the context's error and no
// rows, rather than finishing the result.
func TestExecutionsCancelledHalfWay(t *testing.T) {
	t.Parallel()
	s := benchStore(t)
	gen := executionsGenerate(s)
	for _, qc := range []table.QueryContext{
		{}, // sequential scan
		{Constraints: map[string]table.ConstraintList{"time": {Constraints: []table.Constraint{ // time index
			{Operator: table.OperatorGreaterThan, Expression: "1700030000"}}}}},
	} {
		ctx := newCountdown(20)
		rows, err := gen(ctx, qc)
		if !errors.Is(err, context.Canceled) || rows != nil {
			t.Errorf("%s: %d rows, err %v; want context.Canceled and no rows", describe(qc), len(rows), err)
		}
		if n := ctx.calls.Load(); n != 21 {
			t.Errorf("%s: %d context checks; want it to stop at the first failing one (21)", describe(qc), n)
		}
	}
}
