package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/internal/evtxwrite"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
)

// TestQueryREADME runs the README's first command on the bundled samples.
func TestQueryREADME(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "query", "--replay", testdir.Testdata(t), "--format", "json",
		"SELECT time, path, client_drive, form, source FROM tsclient_executions")
	if r.code != exitOK {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("output is not one JSON array: %v\n%s", err, r.stdout)
	}
	if len(rows) < 10 {
		t.Fatalf("%d detections from testdata, want the samples' positives", len(rows))
	}
	forms := map[any]int{}
	for _, row := range rows {
		if len(row) != 5 {
			t.Fatalf("row has keys %v", row)
		}
		if tm, ok := row["time"].(float64); !ok || tm < 1e9 {
			t.Errorf("time %v (%T) is not a Unix time as a JSON number", row["time"], row["time"])
		}
		forms[row["form"]]++
	}
	if forms["kernel"] == 0 || forms["unc"] == 0 {
		t.Errorf("forms %v", forms)
	}
	// Key order follows the SELECT list.
	if !strings.HasPrefix(strings.TrimSpace(r.stdout), `[`+"\n"+`  {"time": `) {
		t.Errorf("output starts %q", r.stdout[:min(40, len(r.stdout))])
	}
}

func positiveEVTXPath(t *testing.T) string {
	t.Helper()
	return testdir.Testdata(t, "evtx", "tsclient_positive.evtx")
}

func TestQueryFormats(t *testing.T) {
	t.Parallel()
	evtx := positiveEVTXPath(t)
	sql := "SELECT eid, time, pid, path, form FROM tsclient_executions WHERE time >= 1710408413 ORDER BY eid"
	tests := []struct {
		format string
		check  func(t *testing.T, out string)
	}{
		{"json", func(t *testing.T, out string) {
			var rows []map[string]any
			if err := json.Unmarshal([]byte(out), &rows); err != nil {
				t.Fatal(err)
			}
			want := []map[string]any{
				{"eid": 1.0, "time": 1710408413.0, "pid": 4242.0, "path": evtxwrite.SampleSysmonImage, "form": "unc"},
				{"eid": 2.0, "time": 1710408415.0, "pid": 8080.0, "path": evtxwrite.SampleKernelImage, "form": "kernel"},
			}
			if !reflect.DeepEqual(rows, want) {
				t.Errorf("rows = %v\nwant %v", rows, want)
			}
		}},
		{"csv", func(t *testing.T, out string) {
			recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			want := [][]string{{"eid", "time", "pid", "path", "form"},
				{"1", "1710408413", "4242", evtxwrite.SampleSysmonImage, "unc"},
				{"2", "1710408415", "8080", evtxwrite.SampleKernelImage, "kernel"}}
			if !reflect.DeepEqual(recs, want) {
				t.Errorf("csv = %q\nwant %q", recs, want)
			}
		}},
		{"table", func(t *testing.T, out string) {
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != 6 || !strings.HasPrefix(lines[1], "| eid | time       | pid  | path ") {
				t.Errorf("table:\n%s", out)
			}
			for _, l := range lines {
				if len(l) != len(lines[0]) {
					t.Errorf("lines not aligned:\n%s", out)
					break
				}
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.format, func(t *testing.T) {
			r := runCLI(t, nil, "query", "--replay", evtx, "--format", tc.format, sql)
			if r.code != exitOK {
				t.Fatalf("code %d stderr %q", r.code, r.stderr)
			}
			tc.check(t, r.stdout)
		})
	}
}

func TestQueryErrors(t *testing.T) {
	t.Parallel()
	evtx := positiveEVTXPath(t)
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  []string
	}{
		{"bad SQL", "", []string{"query", "--replay", evtx, "SELEC eid FROM tsclient_executions"},
			[]string{"syntax error", `"SELEC eid FROM tsclient_executions"`}},
		{"unknown column", "", []string{"query", "SELECT nope FROM tsclient_executions"}, []string{"no such column: nope"}},
		{"second statement fails", "", []string{"query", "SELECT 1; SELECT * FROM nowhere"}, []string{"no such table: nowhere"}},
		{"no SQL", "  \n", []string{"query"}, []string{"no SQL given"}},
		{"bad format", "", []string{"query", "--format", "xml", "SELECT 1"}, []string{"--format", `"xml"`}},
		{"two arguments", "", []string{"query", "SELECT 1", "SELECT 2"}, []string{"accepts at most 1 arg"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, strings.NewReader(tc.stdin), tc.args...)
			if r.code != exitError {
				t.Fatalf("code %d, want %d; stderr %q", r.code, exitError, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not contain %q", r.stderr, w)
				}
			}
		})
	}
}

func TestQuerySQLFromStdin(t *testing.T) {
	t.Parallel()
	script := `-- two statements, one with a ';' inside a string
SELECT count(*) AS n FROM tsclient_executions WHERE path LIKE '%;%' ;
SELECT form, count(*) AS n FROM tsclient_executions GROUP BY form ORDER BY form`
	r := runCLI(t, strings.NewReader(script), "query", "--replay", positiveEVTXPath(t), "--format", "csv")
	if r.code != exitOK {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	if want := "n\n0\nform,n\nkernel,1\nunc,1\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
}

func TestQueryStatusAndSources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.evtx")
	os.WriteFile(bad, []byte("not an event log"), 0o600)
	// ETW exists only on Windows, so on this platform the live source is
	// unavailable whatever the machine's privileges.
	unavailable := "etw"
	if runtime.GOOS == "windows" {
		unavailable = "ebpf"
	}
	cfgFile := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("sources:\n  - {type: file, path: %q}\n  - {type: file, path: %q}\n  - {type: %s}\n",
		positiveEVTXPath(t), bad, unavailable)), 0o600)
	r := runCLI(t, nil, "--config", cfgFile, "query", "--format", "csv",
		"SELECT s.type, s.state, s.errors, count(e.eid) AS n FROM tsclientwatch_status s LEFT JOIN tsclient_executions e ON s.type = 'file' AND e.source != '' GROUP BY s.rowid ORDER BY s.rowid")
	if r.code != exitOK {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	// A live source is configured, so the evidence reader runs (and has
	// read nothing).
	want := "type,state,errors,n\nfile,done,0,2\nfile,failed,1,2\n" + unavailable + ",unavailable,1,0\nevidence,running,0,0\nstore,ok,0,0\n"
	if r.stdout != want {
		t.Errorf("stdout %q\nwant %q", r.stdout, want)
	}
	// Sources in trouble are named on standard error.
	for _, w := range []string{bad, "unsupported", "unavailable"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q does not mention %q", r.stderr, w)
		}
	}
}

func TestQueryConfigSources(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	text := fmt.Sprintf("sources:\n  - type: file\n    path: %q\nstore:\n  max_events: 1\n", positiveEVTXPath(t))
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "query", "--config", cfg, "--format", "csv",
		"SELECT (SELECT count(*) FROM tsclient_executions) AS rows, dropped_cap FROM tsclientwatch_status WHERE type = 'store'")
	if r.code != exitOK || r.stdout != "rows,dropped_cap\n1,1\n" {
		t.Errorf("code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestQueryPrompt drives the interactive prompt (not parallel: it swaps the
// terminal check).
func TestQueryPrompt(t *testing.T) {
	old := stdinIsTerminal
	stdinIsTerminal = func(io.Reader) bool { return true }
	defer func() { stdinIsTerminal = old }()

	input := strings.Join([]string{
		".tables",
		".schema tsclientwatch_status",
		".mode json",
		"SELECT count(*) AS n",
		"  FROM tsclient_executions;",
		"SELEC 1;",
		".mode csv",
		"SELECT form FROM tsclient_executions ORDER BY eid; SELECT 'a;b' AS s;",
		".mode yaml",
		".nope",
		".quit",
		"SELECT 'not reached';",
	}, "\n")
	r := runCLI(t, strings.NewReader(input), "query", "--replay", positiveEVTXPath(t))
	if r.code != exitOK {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	for _, w := range []string{
		"tsclientwatch> ",
		"  => tsclient_executions\n  => tsclientwatch_status\n",
		`CREATE TABLE "tsclientwatch_status"("type" TEXT`,
		"          ...> ",
		"[\n  {\"n\": 2}\n]\n",
		"form\nunc\nkernel\n",
		"s\na;b\n",
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout does not contain %q:\n%s", w, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "not reached") {
		t.Error(".quit did not stop the prompt")
	}
	for _, w := range []string{`near "SELEC": syntax error`, `unknown output format "yaml"`, `unknown command ".nope"`} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr does not contain %q:\n%s", w, r.stderr)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		in    string
		stmts []string
		rest  string
	}{
		{"SELECT 1", nil, "SELECT 1"},
		{"SELECT 1;", []string{"SELECT 1"}, ""},
		{"SELECT 1; SELECT 2;\n", []string{"SELECT 1", "SELECT 2"}, ""},
		{"SELECT ';'; SELECT \"a;b\" FROM [x;y];", []string{"SELECT ';'", `SELECT "a;b" FROM [x;y]`}, ""},
		{"SELECT 'it''s;'; x", []string{"SELECT 'it''s;'"}, " x"},
		{"SELECT 1 -- no; split\n;", []string{"SELECT 1 -- no; split"}, ""},
		{"SELECT /* ; */ 1;", []string{"SELECT /* ; */ 1"}, ""},
		{"SELECT 'open;", nil, "SELECT 'open;"},
		{";;  ; -- only a comment\n", nil, ""},
		{"-- c1\n-- c2;\n", nil, ""},
	}
	for _, tc := range tests {
		stmts, rest := splitStatements(tc.in)
		if !reflect.DeepEqual(stmts, tc.stmts) || rest != tc.rest {
			t.Errorf("splitStatements(%q) = %q, %q; want %q, %q", tc.in, stmts, rest, tc.stmts, tc.rest)
		}
	}
}

// TestQueryNoDefaultLive: only the extension runs the live watcher by
// default. With no configuration file, query --replay reads the files and
// starts nothing else; without --replay or sources it runs nothing.
func TestQueryNoDefaultLive(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"query", "--replay", testdir.Testdata(t), "--format", "csv", "SELECT type FROM tsclientwatch_status"}, "type\nfile\nstore\n"},
		{[]string{"query", "--format", "csv", "SELECT type FROM tsclientwatch_status"}, "type\nnone\nstore\n"},
	} {
		r := runCLI(t, nil, tt.args...)
		if r.code != exitOK || r.stdout != tt.want {
			t.Errorf("%q: exit %d stdout %q, want %q\n%s", tt.args, r.code, r.stdout, tt.want, r.stderr)
		}
	}
}
