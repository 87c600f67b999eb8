package ruleexport_test

import (
	"database/sql"
	"encoding/json"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/ruleexport"
)

// osqueryTables are osquery's evented process tables with their real
// column names (osquery 5.x specs), enough for the exported queries.
var osqueryTables = map[string]string{
	"process_etw_events": `CREATE TABLE process_etw_events (type TEXT, pid BIGINT, ppid BIGINT, session_id INTEGER,
		flags INTEGER, exit_code INTEGER, path TEXT, cmdline TEXT, username TEXT, token_elevation_type TEXT,
		token_elevation_status INTEGER, mandatory_label TEXT, datetime TEXT, time_windows BIGINT, time BIGINT, eid TEXT,
		header_pid BIGINT, process_sequence_number BIGINT, parent_process_sequence_number BIGINT)`,
	"bpf_process_events": `CREATE TABLE bpf_process_events (tid BIGINT, pid BIGINT, parent BIGINT, uid BIGINT, gid BIGINT,
		cid INTEGER, exit_code TEXT, probe_error INTEGER, syscall TEXT, path TEXT, cwd TEXT, cmdline TEXT,
		duration INTEGER, json_cmdline TEXT, ntime TEXT, time BIGINT, eid INTEGER)`,
	"process_events": `CREATE TABLE process_events (pid BIGINT, path TEXT, mode TEXT, cmdline TEXT, cmdline_size BIGINT,
		env TEXT, env_count BIGINT, env_size BIGINT, cwd TEXT, auid BIGINT, uid BIGINT, euid BIGINT, gid BIGINT,
		egid BIGINT, owner_uid BIGINT, owner_gid BIGINT, atime BIGINT, mtime BIGINT, ctime BIGINT, btime BIGINT,
		overflows TEXT, parent BIGINT, time BIGINT, uptime BIGINT, eid TEXT, status BIGINT, fsuid BIGINT,
		suid BIGINT, fsgid BIGINT, sgid BIGINT, syscall TEXT)`,
}

// osqueryRun loads paths into fresh osquery-shaped tables (Windows paths
// into process_etw_events, Linux paths into both Linux tables, pid = index)
// and returns, per query of the exported pack, the pids it selected.
func osqueryRun(t *testing.T, def detector.Definition, win, lin []string) map[string]map[int64]bool {
	t.Helper()
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one in-memory database
	for _, ddl := range osqueryTables {
		if _, err := db.Exec(ddl); err != nil {
			t.Fatal(err)
		}
	}
	insert := func(q string, paths []string) {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range paths {
			if _, err := tx.Exec(q, i, p); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	insert(`INSERT INTO process_etw_events (type, pid, ppid, session_id, path, cmdline, username, time) VALUES ('ProcessStart', ?, 4, 2, ?, '', 'CORP\alice', 1700000000)`, win)
	// A stop event of a matching path must not count.
	insert(`INSERT INTO process_etw_events (type, pid, path) VALUES ('ProcessStop', ? + 1000000, ?)`, win)
	insert(`INSERT INTO bpf_process_events (pid, parent, uid, syscall, path, cwd, cmdline, time) VALUES (?, 1, 1000, 'execve', ?, '/', '', 1700000000)`, lin)
	insert(`INSERT INTO process_events (pid, parent, uid, syscall, path, cwd, cmdline, time) VALUES (?, 1, 1000, 'execve', ?, '/', '', 1700000000)`, lin)

	var pack struct {
		Queries map[string]ruleexport.OsqueryQuery `json:"queries"`
	}
	if err := json.Unmarshal([]byte(ruleexport.OsqueryPack(def).Content), &pack); err != nil {
		t.Fatalf("pack is not JSON: %v", err)
	}
	out := map[string]map[int64]bool{}
	for name, q := range pack.Queries {
		rows, err := db.Query(q.Query)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, q.Query)
		}
		cols, _ := rows.Columns()
		if cols[0] != "pid" || !strings.Contains(strings.Join(cols, ","), "path") {
			t.Errorf("%s selects %v, want pid and path", name, cols)
		}
		got := map[int64]bool{}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			got[vals[0].(int64)] = true
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		out[name] = got
	}
	return out
}

// TestOsqueryDifferential runs the exported pack in SQLite (modernc.org/
// sqlite, the engine osquery embeds) over tables with osquery's column
// names: every generated path and every testdata event gets the detector's
// verdict.
func TestOsqueryDifferential(t *testing.T) {
	evs := testdataEvents(t)
	for name := range configs {
		t.Run(name, func(t *testing.T) {
			def := definition(t, name)
			m := detector.MustNew(configs[name])
			win := append(windowsPaths(def), unicodeFoldPaths...)
			lin := linuxPaths(def)
			for _, e := range evs {
				switch productOf(e) {
				case detector.OSWindows:
					win = append(win, e.Executable)
				case detector.OSLinux:
					lin = append(lin, e.Executable)
				}
			}
			res := osqueryRun(t, def, win, lin)
			wantQueries := 3
			if def.Strict {
				wantQueries = 1
			}
			if len(res) != wantQueries {
				t.Fatalf("%d queries, want %d", len(res), wantQueries)
			}
			hits := 0
			check := func(query, os string, paths []string) {
				for i, p := range paths {
					want := verdict(m, os, p)
					if got := res[query][int64(i)]; got != want {
						t.Errorf("%s %q: osquery %v, detector %v", query, p, got, want)
					}
					if want {
						hits++
					}
				}
				for pid := range res[query] {
					if pid >= int64(len(paths)) {
						t.Errorf("%s selected a ProcessStop row (pid %d)", query, pid)
					}
				}
			}
			check("tsclient_execution_windows", detector.OSWindows, win)
			if !def.Strict {
				check("tsclient_execution_linux_bpf", detector.OSLinux, lin)
				check("tsclient_execution_linux_audit", detector.OSLinux, lin)
			}
			if hits == 0 {
				t.Fatal("no detections")
			}
			t.Logf("%d Windows and %d Linux paths, %d detections, all equal", len(win), len(lin), hits)
		})
	}
}

func TestOsqueryPackShape(t *testing.T) {
	def := definition(t, "default")
	qs := ruleexport.OsqueryQueries(def)
	for name, q := range qs {
		if q.Removed || q.Interval <= 0 || !strings.Contains(q.Description, detector.RuleID) {
			t.Errorf("%s: %+v", name, q)
		}
		want := map[string]string{"tsclient_execution_windows": "windows"}[name]
		if want == "" {
			want = "linux"
		}
		if q.Platform != want || !strings.HasPrefix(q.Query, "SELECT pid, ") || !strings.HasSuffix(q.Query, ";") {
			t.Errorf("%s: platform %q query %q", name, q.Platform, q.Query)
		}
		// LIKE folds case: only the Windows query may use it.
		if strings.Contains(q.Query, " LIKE ") != (q.Platform == "windows") || strings.Contains(q.Query, " GLOB ") == (q.Platform == "windows") {
			t.Errorf("%s: Windows compares with LIKE, Linux with GLOB: %s", name, q.Query)
		}
	}
}
