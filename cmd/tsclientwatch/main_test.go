package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/internal/version"
	"github.com/tsclientwatch/tsclientwatch/source/file"
)

func TestMain(m *testing.M) {
	// Keep the host's configuration out of the tests: no default file, no
	// TSCLIENTWATCH_* variables.
	dir, err := os.MkdirTemp("", "tsclientwatch-test")
	if err != nil {
		panic(err)
	}
	defaultConfigFile = filepath.Join(dir, "absent.yaml")
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "TSCLIENTWATCH_") {
			os.Unsetenv(k)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one run of the command line.
type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errOut bytes.Buffer
	code := runContext(context.Background(), args, stdin, &out, &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// ndjsonLines decodes the scan output, failing on any line that does not
// carry exactly the documented keys.
func ndjsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	want := []string{"attribution", "client_address", "client_drive", "client_name", "cmdline", "cwd", "evidence_path", "form", "fs_type", "hostname",
		"logon_id", "logon_time", "parent", "parent_path", "path", "path_truncated", "pid",
		"rule_id", "session_id", "sha256", "share_path", "size", "source", "time", "username"}
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad NDJSON line %q: %v", line, err)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if !slices.Equal(keys, want) {
			t.Fatalf("keys %q, want %q", keys, want)
		}
		recs = append(recs, m)
	}
	return recs
}

func positiveEVTX(t *testing.T) string {
	t.Helper()
	p := testdir.Testdata(t, "evtx", "tsclient_positive.evtx")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("EVTX fixture missing: %v", err)
	}
	return p
}

// TestScanRealDataIsClean scans real third-party logs, in the repository
// and outside it: nothing is detected and nothing fails.
func TestScanRealDataIsClean(t *testing.T) {
	t.Parallel()
	t.Run("thirdparty", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, nil, "scan", testdir.ThirdParty(t, "sigma"), testdir.ThirdParty(t, "otrf-security-datasets"),
			testdir.ThirdParty(t, "evtx-to-mitre-attack", "ID4688-4778_RDP_hijack_command_execution.evtx"))
		if r.code != exitOK || r.stdout != "" {
			t.Fatalf("code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		// 4 logs and 2 licence files, skipped as not logs.
		if !strings.Contains(r.stderr, "6 files, 77 records") || !strings.Contains(r.stderr, "0 detections, 0 errors; 2 files") {
			t.Fatalf("summary %q", r.stderr)
		}
		// More events than one detector batch, across chunks.
		r = runCLI(t, nil, "scan", "--fail-on-detection", testdir.ThirdParty(t, "evtx-rs", "security.evtx"))
		if r.code != exitOK || !strings.Contains(r.stderr, "2261 records (0 decoded, 2261 passed over by the prefilter), 0 detections") {
			t.Fatalf("code %d stderr %q", r.code, r.stderr)
		}
	})
	t.Run("ecs", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, nil, "scan", testdir.Shared(t, testdir.ECS))
		if r.code != exitOK || r.stdout != "" {
			t.Fatalf("code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, "3 files,") || !strings.Contains(r.stderr, "0 detections, 0 errors") {
			t.Fatalf("summary %q", r.stderr)
		}
	})
}

func TestScanNDJSON(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "scan", "--format", "ndjson", positiveEVTX(t))
	if r.code != exitOK {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	recs := ndjsonLines(t, r.stdout)
	if len(recs) == 0 {
		t.Fatal("no detections")
	}
	want := map[string]any{
		"time": 1710408413.0, "pid": 4242.0, "parent": 3100.0,
		"path": `\\tsclient\c\temp\stack\a.exe`, "cmdline": `"\\tsclient\c\temp\stack\a.exe" --stage 2`,
		"cwd": `\\tsclient\c\temp\stack\`, "parent_path": `C:\Windows\explorer.exe`,
		"username": `CORP\alice`, "hostname": "ws01.corp.example",
		"sha256":       "c513049c52e2932e2ffff8f19e5e94ff63746a5b7c92ed9256b00cc02a831ca4",
		"client_drive": "c", "share_path": `\temp\stack\a.exe`, "form": "unc",
		"source": "Microsoft-Windows-Sysmon/Operational", "rule_id": detector.RuleID,
		"fs_type": "", "path_truncated": false,
		// From the record itself (LogonId, TerminalSessionId, the time in
		// LogonGuid); no session event names the client.
		"logon_id": "0x7ab733", "session_id": 2.0, "client_name": "", "client_address": "", "logon_time": 1710369424.0, "attribution": "",
		// Logs carry no size and scan keeps no copies (docs/evidence.md).
		"size": nil, "evidence_path": "",
	}
	if !reflect.DeepEqual(recs[0], want) {
		t.Fatalf("first detection\n got %v\nwant %v", recs[0], want)
	}
}

// TestScanPositives runs scan over every reader's positive fixtures.
func TestScanPositives(t *testing.T) {
	t.Parallel()
	for _, sub := range []string{"evtx", "xml", "json", "ecs"} {
		t.Run(sub, func(t *testing.T) {
			t.Parallel()
			dir := testdir.Testdata(t, sub)
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatalf("fixtures missing: %v", err)
			}
			for _, e := range entries {
				if strings.Contains(e.Name(), "benign") || strings.HasSuffix(e.Name(), ".md") {
					continue
				}
				p := filepath.Join(dir, e.Name())
				r := runCLI(t, nil, "scan", "--format=ndjson", "--fail-on-detection", p)
				if r.code != exitDetection {
					t.Errorf("%s: code %d, want %d; stderr %q", e.Name(), r.code, exitDetection, r.stderr)
					continue
				}
				for _, rec := range ndjsonLines(t, r.stdout) {
					if rec["rule_id"] != detector.RuleID || rec["path"] == "" || rec["form"] == "" {
						t.Errorf("%s: incomplete detection %v", e.Name(), rec)
					}
				}
			}
		})
	}
}

func TestScanTable(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "scan", testdir.Testdata(t, "xml"), positiveEVTX(t))
	if r.code != exitOK {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "TIME ") {
		t.Fatalf("table %q", r.stdout)
	}
	// Aligned: PATH starts in the same column on every line.
	col := strings.Index(lines[0], "PATH")
	for _, l := range lines[1:] {
		if len(l) <= col || l[col-1] != ' ' || l[col] != '\\' {
			t.Fatalf("PATH column %d not aligned in %q", col, l)
		}
	}
	if !strings.Contains(r.stderr, "detections, 0 errors") {
		t.Fatalf("summary %q", r.stderr)
	}
}

func TestCell(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                 "-",
		`C:\a b.exe`:       `C:\a b.exe`,
		"a\tb":             `a\tb`,
		"evil\x1b[2Jclear": `evil\x1b[2Jclear`,
		"line1\nline2":     `line1\nline2`,
		"caf\u00e9 \u65e5": "caf\u00e9 \u65e5",
		"c1\u009b2Jcsi":    `c1\u009b2Jcsi`,
		"bad\xffutf8":      `bad\xffutf8`,
	} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestScanCorruptAmongGood: a broken input is reported by name, the good
// inputs' detections are still printed, and the exit code is 2 even with
// --fail-on-detection.
func TestScanCorruptAmongGood(t *testing.T) {
	t.Parallel()
	good := positiveEVTX(t)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.evtx")
	if err := os.WriteFile(garbage, []byte("MZ this is not a log"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A chunk with its signature destroyed: the file opens, the records
	// in it cannot be read.
	damaged := filepath.Join(dir, "damaged.evtx")
	bad := bytes.Clone(data)
	copy(bad[4096:], "XXXXXXXX")
	if err := os.WriteFile(damaged, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	clean := runCLI(t, nil, "scan", "--format=ndjson", good)
	r := runCLI(t, nil, "scan", "--format=ndjson", "--fail-on-detection", garbage, good, damaged)
	if r.code != exitError {
		t.Fatalf("code %d, want %d; stderr %q", r.code, exitError, r.stderr)
	}
	if got, want := len(ndjsonLines(t, r.stdout)), len(ndjsonLines(t, clean.stdout)); got != want || got == 0 {
		t.Fatalf("%d detections, want %d from the good file", got, want)
	}
	for _, w := range []string{garbage + ": not an EVTX file", damaged, "2 errors"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q does not mention %q", r.stderr, w)
		}
	}
}

func TestScanManyBadRecordsAreCapped(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(p, []byte(strings.Repeat("{not json\n", 30)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "scan", p)
	if r.code != exitError {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	if n := strings.Count(r.stderr, p+": line "); n != maxErrorsPerFile {
		t.Errorf("%d record errors printed, want %d:\n%s", n, maxErrorsPerFile, r.stderr)
	}
	for _, w := range []string{p + ": line 1", "more bad records", "30 bad records in all", "(30 bad)", "30 errors"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr does not mention %q:\n%s", w, r.stderr)
		}
	}
}

func TestScanStdin(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(positiveEVTX(t))
	if err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, bytes.NewReader(data), "scan", "--format=ndjson", "--fail-on-detection", "-")
	if r.code != exitDetection || len(ndjsonLines(t, r.stdout)) == 0 {
		t.Fatalf("code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, strings.NewReader("garbage"), "scan", "-")
	if r.code != exitError || !strings.Contains(r.stderr, "<stdin>: unknown format") {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
}

func TestScanDetectorFlags(t *testing.T) {
	t.Parallel()
	p := positiveEVTX(t)
	count := func(args ...string) int {
		t.Helper()
		r := runCLI(t, nil, append([]string{"scan", "--format=ndjson"}, append(args, p)...)...)
		if r.code != exitOK {
			t.Fatalf("%q: code %d stderr %q", args, r.code, r.stderr)
		}
		return len(ndjsonLines(t, r.stdout))
	}
	all := count()
	if strict := count("--strict"); strict == 0 || strict >= all {
		t.Errorf("--strict found %d of %d (it should keep only the kernel form)", strict, all)
	}
	if n := count("--extensions=.com,.scr"); n != 0 {
		t.Errorf("--extensions=.com,.scr found %d .exe executions", n)
	}
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte("detector:\n  strict: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n := count("--config", cfg); n >= all {
		t.Errorf("strict from the file found %d of %d", n, all)
	}
	if n := count("--config", cfg, "--strict=false"); n != all {
		t.Errorf("--strict=false over the file found %d of %d", n, all)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"scan"}, "no input given"},
		{[]string{"scan", "--format=xml", "x"}, `--format "xml" is not an output format`},
		{[]string{"scan", "--bogus", "x"}, "unknown flag: --bogus"},
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"config", "extra"}, "unknown command"},
		{[]string{"scan", "--log-level=loud", "x"}, `log.level: "loud" is not a log level`},
		{[]string{"scan", "--extensions=exe", "x"}, `detector.extensions[0]: "exe" is not a file extension`},
		{[]string{"scan", "--plugin=/nonexistent/plugin", "x"}, "required when plugin.path is set"},
		{[]string{"scan", "--plugin-sha256=xyz", "x"}, `plugin.sha256: "xyz" is not a SHA-256 checksum`},
		{[]string{"config", "--config=/nonexistent/c.yaml"}, "/nonexistent/c.yaml"},
		{[]string{"scan", "--strict=maybe", "x"}, "invalid argument"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, nil, tt.args...)
			if r.code != exitError || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("code %d stderr %q, want 2 and %q", r.code, r.stderr, tt.want)
			}
		})
	}
	if r := runCLI(t, nil, "--help"); r.code != exitOK || !strings.Contains(r.stdout, "scan") {
		t.Fatalf("--help: code %d stdout %q", r.code, r.stdout)
	}
}

// TestConfigPrecedence goes through the CLI: file < environment < flag.
// Not parallel: it sets environment variables.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(file, []byte("[log]\nlevel = \"warn\"\n[store]\nmax_events = 10\nexpiry = \"5m\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "config")
	if r.code != exitOK || !strings.Contains(r.stdout, "# no configuration file") || !strings.Contains(r.stdout, "max_events: 50000") {
		t.Fatalf("defaults: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}

	t.Setenv("TSCLIENTWATCH_CONFIG", file)
	t.Setenv("TSCLIENTWATCH_STORE_MAX_EVENTS", "20")
	r = runCLI(t, nil, "config", "--log-level=debug")
	if r.code != exitOK {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	for _, w := range []string{"# configuration file: " + file, "level: debug", "max_events: 20", "expiry: 5m0s"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("config output lacks %q:\n%s", w, r.stdout)
		}
	}

	t.Setenv("TSCLIENTWATCH_STORE_MAX_EVENTS", "many")
	r = runCLI(t, nil, "config")
	if r.code != exitError || !strings.Contains(r.stderr, `store.max_events: "many" is not a whole number (from environment TSCLIENTWATCH_STORE_MAX_EVENTS)`) {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
}

// TestConfigOutputLoads checks that what "config" prints is a valid
// configuration file giving the same output again.
func TestConfigOutputLoads(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "config", "--log-level=error")
	p := filepath.Join(t.TempDir(), "saved.yaml")
	if err := os.WriteFile(p, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	again := runCLI(t, nil, "config", "--config", p)
	_, body, _ := strings.Cut(again.stdout, "\n")
	_, want, _ := strings.Cut(r.stdout, "\n")
	if again.code != exitOK || body != want {
		t.Fatalf("code %d stderr %q\n%s\nvs\n%s", again.code, again.stderr, body, want)
	}
}

// TestConsole checks that a message erases the progress line first, so
// the two never share a line.
func TestConsole(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	c := newConsole(&buf)
	var counters file.Counters
	counters.FilesTotal.Store(3)
	counters.Files.Store(1)
	counters.Records.Store(1234)
	counters.Bytes.Store(3 << 20)
	c.drawProgress(&counters, "attribution: ", 2*time.Second)
	line := "attribution: 1/3 files, 1234 records, 3.0 MB, 1.5 MB/s"
	if got := buf.String(); got != "\r"+line {
		t.Fatalf("progress %q", got)
	}
	buf.Reset()
	c.printf("x.evtx: bad\n")
	if got, want := buf.String(), "\r"+strings.Repeat(" ", len(line))+"\rx.evtx: bad\n"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
	buf.Reset()
	c.printf("next\n")
	if buf.String() != "next\n" {
		t.Fatalf("second message %q", buf.String())
	}
	// Not a terminal: no progress at all.
	stop := c.startProgress(&counters, "")
	stop()
	if buf.String() != "next\n" {
		t.Fatalf("progress drawn on a non-terminal: %q", buf.String())
	}
}

func TestScanDebugLog(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "scan", "--log-level=debug", testdir.ThirdParty(t, "sigma", "sigma_regression_chcp_sysmon1.evtx"))
	if r.code != exitOK || !strings.Contains(r.stderr, "level=DEBUG msg=scan rule="+detector.RuleID) {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
}

// BenchmarkScan runs the whole scan command over the evtx-rs samples.
func BenchmarkScan(b *testing.B) {
	dir := testdir.ThirdParty(b, "evtx-rs")
	var size int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			size += info.Size()
		}
	}
	b.SetBytes(size)
	for b.Loop() {
		var out, errOut bytes.Buffer
		if code := runContext(context.Background(), []string{"scan", "--format=ndjson", dir}, nil, &out, &errOut); code == exitDetection {
			b.Fatalf("code %d: %s", code, errOut.String())
		}
	}
}

// BenchmarkScanDetections runs scan over the evtx-rs samples with the
// project's positive EVTX beside them: its two detections name their logon
// and session, so scan reads the inputs a second time for session events
// (the attribution pass), which BenchmarkScan, finding nothing, never does.
func BenchmarkScanDetections(b *testing.B) {
	dir := b.TempDir()
	var size int64
	for _, src := range []string{testdir.ThirdParty(b, "evtx-rs"), testdir.Testdata(b, "evtx")} {
		entries, _ := os.ReadDir(src)
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".evtx") {
				continue
			}
			data, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				b.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, e.Name()), data, 0o600)
			size += int64(len(data))
		}
	}
	b.SetBytes(size)
	for b.Loop() {
		var out, errOut bytes.Buffer
		if code := runContext(context.Background(), []string{"scan", "--format=ndjson", dir}, nil, &out, &errOut); code != exitOK {
			b.Fatalf("code %d: %s", code, errOut.String())
		}
		if n := strings.Count(out.String(), "\n"); n != 2 {
			b.Fatalf("%d detections", n)
		}
	}
}

func TestScanInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	code := runContext(ctx, []string{"scan", testdir.ThirdParty(t, "sigma")}, nil, &out, &errOut)
	if code != exitError || !strings.Contains(errOut.String(), "scan interrupted") {
		t.Fatalf("code %d stderr %q", code, errOut.String())
	}
}

// TestScanRecordCap: input.max_record_bytes bounds one NDJSON line; a longer
// line is reported by file and line and skipped, the lines around it are
// still read, and scan exits 2.
func TestScanRecordCap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	line := func(pid int, exe string) string {
		return fmt.Sprintf(`{"@timestamp":"2024-03-12T09:41:07Z","event":{"type":["start"]},"host":{"os":{"type":"windows"}},"process":{"pid":%d,"executable":%q}}`+"\n", pid, exe)
	}
	long := `{"event":{"type":["start"]},"process":{"executable":"\\\\tsclient\\c\\big.exe","command_line":"` + strings.Repeat("A", 10000) + `"}}` + "\n"
	logPath := filepath.Join(dir, "capped.ndjson")
	os.WriteFile(logPath, []byte(line(1, `\\tsclient\c\a.exe`)+long+line(3, `\Device\Mup\tsclient\C\b.exe`)), 0o600)
	cfgPath := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfgPath, []byte("input:\n  max_record_bytes: 4096\n"), 0o600)

	r := runCLI(t, nil, "--config", cfgPath, "scan", "--format", "ndjson", logPath)
	if r.code != exitError {
		t.Fatalf("code %d, want %d; stderr %q", r.code, exitError, r.stderr)
	}
	if recs := ndjsonLines(t, r.stdout); len(recs) != 2 {
		t.Errorf("%d detections, want the 2 lines around the long one: %q", len(recs), r.stdout)
	}
	if !strings.Contains(r.stderr, "capped.ndjson: line 2") {
		t.Errorf("stderr %q does not name the file and line of the long record", r.stderr)
	}
	// Without the cap (default 16 MiB) the long line is an ordinary detection.
	if r := runCLI(t, nil, "scan", "--format", "ndjson", logPath); r.code != exitOK || len(ndjsonLines(t, r.stdout)) != 3 {
		t.Errorf("default cap: code %d, stdout %q", r.code, r.stdout)
	}
}

// TestVersion: "tsclientwatch version" and --version print the build's
// version line (the stamp of a release build, "dev" under go test).
func TestVersion(t *testing.T) {
	want := version.Get().String() + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := runCLI(t, nil, args...)
		if r.code != 0 || r.stdout != want || r.stderr != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 0 and %q", args, r.code, r.stdout, r.stderr, want)
		}
	}
	if r := runCLI(t, nil, "version", "extra"); r.code != exitError {
		t.Errorf("version with an argument: exit %d, want %d", r.code, exitError)
	}
}

// TestScanReadsNoProgram: scan takes sha256 from the log only. A record
// whose executable exists on this host (an xrdp path under the test's
// directory) is reported without reading it: no sha256, no size, no copy,
// even with evidence.dir configured.
func TestScanReadsNoProgram(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	exe := filepath.Join(dir, "home", "alice", "thinclient_drives", "C:", "tool")
	if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	logged := strings.Repeat("ab", 32)
	rec := func(pid int, exe, sum string) string {
		hash := ""
		if sum != "" {
			hash = fmt.Sprintf(`,"hash":{"sha256":%q}`, sum)
		}
		return fmt.Sprintf(`{"@timestamp":"2024-03-12T09:41:07Z","event":{"type":["start"],"category":["process"]},"host":{"os":{"type":"linux"}},"process":{"pid":%d,"executable":%q%s}}`+"\n", pid, exe, hash)
	}
	logPath := filepath.Join(dir, "x.ndjson")
	os.WriteFile(logPath, []byte(rec(1, exe, "")+rec(2, exe, logged)), 0o600)
	evDir := filepath.Join(dir, "evidence")
	cfgPath := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfgPath, []byte("evidence:\n  dir: "+evDir+"\n"), 0o600)
	r := runCLI(t, nil, "--config", cfgPath, "scan", "--format", "ndjson", logPath)
	recs := ndjsonLines(t, r.stdout)
	if r.code != exitOK || len(recs) != 2 {
		t.Fatalf("code %d, %d detections; stderr %q", r.code, len(recs), r.stderr)
	}
	for i, want := range []string{"", logged} {
		if recs[i]["sha256"] != want || recs[i]["size"] != nil || recs[i]["evidence_path"] != "" {
			t.Errorf("detection %d: sha256 %v size %v evidence_path %v; want the log's sha256 %q and nothing read", i, recs[i]["sha256"], recs[i]["size"], recs[i]["evidence_path"], want)
		}
	}
	if _, err := os.Stat(evDir); !os.IsNotExist(err) {
		t.Errorf("scan touched evidence.dir: %v", err)
	}
}
