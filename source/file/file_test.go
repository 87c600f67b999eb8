package file

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source"
)

// result is what a ReadPaths run delivered.
type result struct {
	events   []detector.Event
	bad      []*source.RecordError
	inputErr []*InputError
	counters *Counters
	err      error
}

func (r *result) detections() []string {
	m := detector.MustNew(detector.DefaultConfig())
	var out []string
	for i := range r.events {
		if d, ok := m.Match(&r.events[i]); ok {
			out = append(out, d.Executable)
		}
	}
	return out
}

func run(t *testing.T, paths []string, opts Options) *result {
	t.Helper()
	res := &result{counters: new(Counters)}
	var mu sync.Mutex // the sink is called from one goroutine; this keeps -race honest if that changes
	opts.Sink = source.Sink{
		Event: func(ev *detector.Event) error {
			mu.Lock()
			defer mu.Unlock()
			res.events = append(res.events, *ev)
			return nil
		},
		Bad: func(re *source.RecordError) { res.bad = append(res.bad, re) },
	}
	opts.Error = func(e *InputError) { res.inputErr = append(res.inputErr, e) }
	opts.Counters = res.counters
	if opts.TempDir == "" {
		opts.TempDir = t.TempDir()
	}
	res.err = ReadPaths(context.Background(), paths, opts)
	return res
}

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// needTestdata returns the path of a reader's fixtures, failing when they
// are missing.
func needTestdata(t *testing.T, elem ...string) string {
	t.Helper()
	p := testdir.Testdata(t, elem...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("reader fixtures missing: %v", err)
	}
	return p
}

func TestSniff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		head string
		want Format
	}{
		{"evtx", "ElfFile\x00\x00\x00", EVTX},
		{"evtx chunk only", "ElfChnk\x00", Unknown},
		{"gzip", "\x1f\x8b\x08\x00", Gzip},
		{"xml declaration", "<?xml version=\"1.0\"?><Events>", EventXML},
		{"xml event", "  <Event xmlns='x'>", EventXML},
		{"xml utf16le bom", "\xff\xfe<\x00E\x00v\x00e\x00n\x00t\x00 \x00", EventXML},
		{"html is not event xml", "<html><body>", Unknown},
		{"ndjson", "{\"a\":1}\n", JSON},
		{"array", "\xef\xbb\xbf [\n{", JSON},
		{"evtx_dump", "Record 41\n{\n  \"Event\"", JSON},
		{"evtx_dump crlf", "Record 7\r\n{", JSON},
		{"record without number", "Record \n{", Unknown},
		{"text", "hello world", Unknown},
		{"pe", "MZ\x90\x00", Unknown},
		{"empty", "", Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Sniff([]byte(tt.head)); got != tt.want {
				t.Fatalf("Sniff(%q) = %v, want %v", tt.head, got, tt.want)
			}
		})
	}
}

// TestThirdPartyData reads each real third-party file on its own: those
// in the repository, and the Elastic-licensed ECS documents kept outside
// it. None holds a tsclient execution.
func TestThirdPartyData(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, p string, minRecords int) {
		res := run(t, []string{p}, Options{})
		if res.err != nil || len(res.inputErr) > 0 || len(res.bad) > 0 {
			t.Fatalf("err=%v input errors=%v bad=%v", res.err, res.inputErr, res.bad)
		}
		if len(res.events) < minRecords {
			t.Fatalf("%d events, want at least %d", len(res.events), minRecords)
		}
		if d := res.detections(); len(d) != 0 {
			t.Fatalf("unexpected detections %q", d)
		}
		c := res.counters
		size := int64(len(read(t, p)))
		if c.Files.Load() != 1 || c.FilesTotal.Load() != 1 || c.Records.Load() != int64(len(res.events)) ||
			c.Bytes.Load() != size || c.BytesTotal.Load() != size || c.Failed.Load() != 0 {
			t.Fatalf("counters files=%d/%d records=%d bytes=%d/%d failed=%d (size %d)", c.Files.Load(), c.FilesTotal.Load(),
				c.Records.Load(), c.Bytes.Load(), c.BytesTotal.Load(), c.Failed.Load(), size)
		}
	}
	for _, tt := range []struct {
		path       []string // under testdata/thirdparty
		minRecords int
	}{
		{[]string{"evtx-to-mitre-attack", "ID4688-4778_RDP_hijack_command_execution.evtx"}, 22},
		{[]string{"evtx-to-mitre-attack", "ID4688-4778-4779_RDP_hijack_direct.evtx"}, 14},
		{[]string{"evtx-to-mitre-attack", "ID1149_RDP_success_logins_multiple_hosts.evtx"}, 11},
		{[]string{"sigma", "sigma_regression_chcp_sysmon1.evtx"}, 1},
		{[]string{"sigma", "sigma_regression_chcp_sysmon1.json"}, 1},
		{[]string{"otrf-security-datasets", "otrf_rdp_interactive_taskmanager_proc_logon_subset.jsonl"}, 53},
	} {
		t.Run(tt.path[1], func(t *testing.T) {
			t.Parallel()
			check(t, testdir.ThirdParty(t, tt.path...), tt.minRecords)
		})
	}
	t.Run("ecs", func(t *testing.T) {
		t.Parallel()
		dir := testdir.Shared(t, testdir.ECS)
		for _, name := range []string{
			"elastic_defend_process_sample_event.json",
			"winlogbeat_sysmon-12-processcreate.evtx.golden.json",
			"winlogbeat_security-windows2019_4688_Process_Created.golden.json",
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				check(t, filepath.Join(dir, name), 1)
			})
		}
	})
}

// TestDirectoryWalk checks the walk order, then walks directories of real
// third-party logs: every file looked at (13 logs and 4 licence texts,
// skipped as not logs), no error.
func TestDirectoryWalk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"b/2.json", "a.json", "b/1.json", "c/d/e.json"} {
		write(t, dir, name, []byte(`{"process":{"executable":"\\Device\\Mup\\tsclient\\C\\`+name+`.exe"},"event":{"type":["start"]}}`+"\n"))
	}
	res := run(t, []string{dir}, Options{})
	if res.err != nil || len(res.inputErr) > 0 {
		t.Fatalf("err=%v input errors=%v", res.err, res.inputErr)
	}
	var got []string
	for _, ev := range res.events {
		got = append(got, ev.Executable)
	}
	want := []string{`\Device\Mup\tsclient\C\a.json.exe`, `\Device\Mup\tsclient\C\b/1.json.exe`,
		`\Device\Mup\tsclient\C\b/2.json.exe`, `\Device\Mup\tsclient\C\c/d/e.json.exe`}
	if !slices.Equal(got, want) {
		t.Fatalf("order %q, want %q", got, want)
	}

	for _, tc := range []struct {
		name           string
		dirs           func(t *testing.T) []string
		files, skipped int64
	}{
		{"thirdparty", func(t *testing.T) []string {
			return []string{testdir.ThirdParty(t, "evtx-to-mitre-attack"), testdir.ThirdParty(t, "sigma"),
				testdir.ThirdParty(t, "otrf-security-datasets"), testdir.ThirdParty(t, "evtx-rs")}
		}, 17, 4},
		{"ecs", func(t *testing.T) []string { return []string{testdir.Shared(t, testdir.ECS)} }, 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, tc.dirs(t), Options{})
			c := res.counters
			if res.err != nil || len(res.inputErr) > 0 || len(res.bad) > 0 || c.Files.Load() != tc.files || c.Skipped.Load() != tc.skipped {
				t.Fatalf("err=%v input errors=%v bad=%v files=%d skipped=%d, want %d files and %d skipped",
					res.err, res.inputErr, res.bad, c.Files.Load(), c.Skipped.Load(), tc.files, tc.skipped)
			}
		})
	}
}

// TestPositives reads the readers' fixtures, every one of which holds at
// least one tsclient execution.
func TestPositives(t *testing.T) {
	t.Parallel()
	for _, sub := range []string{"evtx", "xml", "json", "ecs"} {
		t.Run(sub, func(t *testing.T) {
			t.Parallel()
			dir := needTestdata(t, sub)
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if strings.Contains(e.Name(), "benign") || strings.Contains(e.Name(), "near_miss") || strings.HasSuffix(e.Name(), ".md") {
					continue
				}
				p := filepath.Join(dir, e.Name())
				res := run(t, []string{p}, Options{})
				if res.err != nil || len(res.inputErr) > 0 {
					t.Errorf("%s: err=%v input errors=%v", e.Name(), res.err, res.inputErr)
					continue
				}
				if len(res.detections()) == 0 {
					t.Errorf("%s: no detection among %d events", e.Name(), len(res.events))
				}
			}
		})
	}
}

func TestGzip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, src := range [][]string{
		{"evtx-to-mitre-attack", "ID4688-4778_RDP_hijack_command_execution.evtx"},
		{"otrf-security-datasets", "otrf_rdp_interactive_taskmanager_proc_logon_subset.jsonl"},
	} {
		p := testdir.ThirdParty(t, src...)
		plain := run(t, []string{p}, Options{})
		zipped := write(t, dir, src[1]+".gz", gz(t, read(t, p)))
		res := run(t, []string{zipped}, Options{})
		if res.err != nil || len(res.inputErr) > 0 {
			t.Fatalf("%s: err=%v input errors=%v", zipped, res.err, res.inputErr)
		}
		if len(res.events) != len(plain.events) || len(res.events) == 0 {
			t.Fatalf("%s: %d events, uncompressed %d", zipped, len(res.events), len(plain.events))
		}
		if got, want := res.counters.Bytes.Load(), int64(len(read(t, zipped))); got != want {
			t.Errorf("%s: counted %d bytes, compressed size %d", zipped, got, want)
		}
	}
	// A truncated gzip stream fails that input only.
	p := testdir.ThirdParty(t, "otrf-security-datasets", "otrf_rdp_interactive_taskmanager_proc_logon_subset.jsonl")
	z := gz(t, read(t, p))
	cut := write(t, dir, "cut.jsonl.gz", z[:len(z)/2])
	res := run(t, []string{cut}, Options{})
	if len(res.inputErr) != 1 || !strings.Contains(res.inputErr[0].Error(), "cut.jsonl.gz") {
		t.Fatalf("input errors %v", res.inputErr)
	}
	// A compressed EVTX larger than the spool cap is refused, not copied
	// to disk whole (a decompression bomb).
	evtxPath := testdir.ThirdParty(t, "evtx-to-mitre-attack", "ID4688-4778_RDP_hijack_command_execution.evtx")
	bomb := write(t, dir, "bomb.evtx.gz", gz(t, read(t, evtxPath)))
	spool := t.TempDir()
	res = run(t, []string{bomb}, Options{MaxSpool: 4096, TempDir: spool})
	if len(res.inputErr) != 1 || !strings.Contains(res.inputErr[0].Error(), "larger than 4096 bytes") || len(res.events) != 0 {
		t.Fatalf("over the spool cap: input errors %v, %d events", res.inputErr, len(res.events))
	}
	if left, _ := os.ReadDir(spool); len(left) != 0 {
		t.Errorf("spool file left behind: %v", left)
	}
	// Nested gzip is refused, not unpacked forever.
	nested := write(t, dir, "twice.gz", gz(t, gz(t, []byte("{}"))))
	res = run(t, []string{nested}, Options{})
	if len(res.inputErr) != 1 || !strings.Contains(res.inputErr[0].Error(), "gzip inside gzip") {
		t.Fatalf("input errors %v", res.inputErr)
	}
}

func TestStdin(t *testing.T) {
	t.Parallel()
	for _, src := range [][]string{
		{"evtx-to-mitre-attack", "ID4688-4778_RDP_hijack_command_execution.evtx"},
		{"sigma", "sigma_regression_chcp_sysmon1.json"},
	} {
		p := testdir.ThirdParty(t, src...)
		want := run(t, []string{p}, Options{})
		tmp := t.TempDir()
		got := run(t, []string{Stdin}, Options{Stdin: bytes.NewReader(read(t, p)), TempDir: tmp})
		if got.err != nil || len(got.inputErr) > 0 {
			t.Fatalf("stdin %s: err=%v input errors=%v", src[1], got.err, got.inputErr)
		}
		if len(got.events) != len(want.events) {
			t.Fatalf("stdin %s: %d events, file gave %d", src[1], len(got.events), len(want.events))
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Fatalf("spool files left behind: %v", left)
		}
	}
	res := run(t, []string{Stdin}, Options{Stdin: strings.NewReader("not a log")})
	if len(res.inputErr) != 1 || !strings.Contains(res.inputErr[0].Error(), StdinName+": unknown format") {
		t.Fatalf("input errors %v", res.inputErr)
	}
}

// TestBadInputs puts broken inputs among good ones: each broken one is
// reported by name and the good ones are still read.
func TestBadInputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := testdir.ThirdParty(t, "sigma", "sigma_regression_chcp_sysmon1.evtx")
	evtxHead := read(t, good)[:4096]
	tests := []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"garbage evtx", "garbage.evtx", []byte("MZ\x90\x00this is a program"), `garbage.evtx: not an EVTX file (it holds a Windows program (MZ);`},
		{"text xml", "notes.xml", []byte("just notes"), `notes.xml: not Windows event XML (it holds text;`},
		{"html xml", "page.xml", []byte("<html></html>"), "page.xml: not Windows event XML"},
		{"text json", "x.jsonl", []byte("hello"), `x.jsonl: not JSON (it holds text;`},
		{"unknown", "README", []byte("read me"), "README: unknown format"},
		{"empty evtx", "empty.evtx", nil, "empty.evtx: empty file"},
		{"truncated evtx", "short.evtx", evtxHead[:64], "short.evtx"},
	}
	var paths []string
	for _, tt := range tests {
		paths = append(paths, write(t, dir, tt.file, tt.data))
	}
	empty := write(t, dir, "empty.jsonl", nil)
	paths = append([]string{good}, paths...)
	paths = append(paths, empty, filepath.Join(dir, "missing.evtx"), good)

	res := run(t, paths, Options{})
	if res.err != nil {
		t.Fatal(res.err)
	}
	msgs := make([]string, len(res.inputErr))
	for i, e := range res.inputErr {
		msgs[i] = e.Error()
	}
	for _, tt := range tests {
		if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, tt.want) }) {
			t.Errorf("%s: no error containing %q in %q", tt.name, tt.want, msgs)
		}
	}
	if !slices.ContainsFunc(res.inputErr, func(e *InputError) bool { return errors.Is(e, os.ErrNotExist) }) {
		t.Errorf("missing file not reported: %q", msgs)
	}
	if len(res.inputErr) != len(tests)+1 {
		t.Errorf("%d input errors, want %d: %q", len(res.inputErr), len(tests)+1, msgs)
	}
	if c := res.counters; c.Failed.Load() != int64(len(res.inputErr)) || c.Files.Load() != int64(len(paths)-1) {
		t.Errorf("failed=%d files=%d", c.Failed.Load(), c.Files.Load())
	}
	if len(res.events) != 2 {
		t.Errorf("good file read %d times, want 2", len(res.events))
	}
}

func TestWalkReportsOddEntries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := write(t, dir, "a.json", []byte(`{"process":{"executable":"x"}}`))
	other := t.TempDir()
	if err := os.Symlink(other, filepath.Join(dir, "linkdir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(good, filepath.Join(dir, "linkfile.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "broken")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub", filepath.Join(dir, "linksub")); err != nil {
		t.Fatal(err)
	}
	want := []string{"broken: broken symbolic link", "linkdir: symbolic link that leads out of", "linksub: symbolic link to a directory, not followed"}
	if ok, err := mkfifo(filepath.Join(dir, "fifo")); err != nil {
		t.Fatal(err)
	} else if ok {
		want = []string{want[0], "fifo: not a regular file", want[1], want[2]}
	}
	res := run(t, []string{dir}, Options{})
	if len(res.inputErr) != len(want) {
		t.Fatalf("input errors %v", res.inputErr)
	}
	for i, w := range want {
		if !strings.Contains(res.inputErr[i].Error(), w) {
			t.Errorf("error %d = %q, want %q", i, res.inputErr[i], w)
		}
	}
	if len(res.events) != 2 {
		t.Errorf("%d events, want 2 (file and link to it)", len(res.events))
	}
}

func TestSinkErrorStops(t *testing.T) {
	t.Parallel()
	p := testdir.ThirdParty(t, "otrf-security-datasets", "otrf_rdp_interactive_taskmanager_proc_logon_subset.jsonl")
	stop := errors.New("detector unreachable")
	n := 0
	err := ReadPaths(context.Background(), []string{p, p}, Options{Sink: source.Sink{Event: func(*detector.Event) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	}}})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("err=%v after %d events", err, n)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	p := testdir.ThirdParty(t, "evtx-to-mitre-attack", "ID4688-4778_RDP_hijack_command_execution.evtx")
	var failed []*InputError
	err := ReadPaths(ctx, []string{p, p, p}, Options{
		Sink:  source.Sink{Event: func(*detector.Event) error { cancel(); return nil }},
		Error: func(e *InputError) { failed = append(failed, e) },
	})
	if !errors.Is(err, context.Canceled) || len(failed) != 0 {
		t.Fatalf("err=%v input errors=%v", err, failed)
	}
}

// BenchmarkReadPaths reads the evtx-rs samples (several multi-chunk logs)
// through the dispatcher, events discarded.
func BenchmarkReadPaths(b *testing.B) {
	dir := testdir.ThirdParty(b, "evtx-rs")
	var c Counters
	for b.Loop() {
		c = Counters{}
		err := ReadPaths(context.Background(), []string{dir}, Options{
			Sink:     source.Sink{Event: func(*detector.Event) error { return nil }},
			Counters: &c,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(c.BytesTotal.Load())
	b.ReportMetric(float64(c.Records.Load())*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkReadPathsJSON reads the NDJSON sample through the dispatcher.
func BenchmarkReadPathsJSON(b *testing.B) {
	p := testdir.ThirdParty(b, "otrf-security-datasets", "otrf_rdp_interactive_taskmanager_proc_logon_subset.jsonl")
	var c Counters
	for b.Loop() {
		c = Counters{}
		if err := ReadPaths(context.Background(), []string{p}, Options{
			Sink: source.Sink{Event: func(*detector.Event) error { return nil }}, Counters: &c,
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(c.BytesTotal.Load())
}

// TestWalkSkipsFilesThatAreNotLogs: a README or config beside the logs is
// skipped and counted when a directory is walked, but a file named on the
// command line, or one whose extension promises a log, is an error.
func TestWalkSkipsFilesThatAreNotLogs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "logs/a.ndjson", []byte(`{"process":{"executable":"\\\\tsclient\\c\\a.exe"},"event":{"type":"start"}}`+"\n"))
	write(t, dir, "logs/README.md", []byte("# notes about these logs\n"))
	write(t, dir, "logs/config.yaml", []byte("detector:\n  strict: true\n"))
	write(t, dir, "logs/broken.evtx", []byte("this is not an EVTX file"))
	write(t, dir, "logs/broken.json", []byte("not json at all"))

	var skipped []string
	res := run(t, []string{filepath.Join(dir, "logs")}, Options{Skipped: func(path string, reason error) {
		if !errors.Is(reason, ErrNotLog) || !strings.Contains(reason.Error(), path) {
			t.Errorf("skip reason %v does not name %s or wrap ErrNotLog", reason, path)
		}
		skipped = append(skipped, filepath.Base(path))
	}})
	if res.err != nil || len(res.events) != 1 {
		t.Fatalf("err=%v events=%d", res.err, len(res.events))
	}
	if want := []string{"README.md", "config.yaml"}; !slices.Equal(skipped, want) || res.counters.Skipped.Load() != 2 {
		t.Errorf("skipped %q (counter %d), want %q", skipped, res.counters.Skipped.Load(), want)
	}
	var failed []string
	for _, e := range res.inputErr {
		failed = append(failed, filepath.Base(e.Path))
	}
	if want := []string{"broken.evtx", "broken.json"}; !slices.Equal(failed, want) {
		t.Errorf("input errors for %q, want %q", failed, want)
	}

	named := run(t, []string{filepath.Join(dir, "logs", "README.md")}, Options{})
	if len(named.inputErr) != 1 || named.counters.Skipped.Load() != 0 || !strings.Contains(named.inputErr[0].Error(), "unknown format") {
		t.Errorf("a file named explicitly must be an error, got errors=%v skipped=%d", named.inputErr, named.counters.Skipped.Load())
	}
}

// TestPrefilterChangesNothing (issue 6): over every file of the project's
// testdata (the third-party logs in testdata/thirdparty included), and
// again with the outside data sets added, the detections with the readers'
// prefilters on equal those of a full parse, in default and strict mode and
// with configured mount names, and no record goes uncounted.
func TestPrefilterChangesNothing(t *testing.T) {
	t.Parallel()
	for _, set := range []struct {
		name  string
		paths func(t *testing.T) []string
	}{
		{"testdata", func(t *testing.T) []string { return []string{testdir.Testdata(t)} }},
		{"with outside data", func(t *testing.T) []string {
			return []string{testdir.Testdata(t), testdir.Shared(t, testdir.AttackSamples), testdir.Shared(t, testdir.ECS)}
		}},
	} {
		t.Run(set.name, func(t *testing.T) {
			t.Parallel()
			prefilterChangesNothing(t, set.paths(t))
		})
	}
}

func prefilterChangesNothing(t *testing.T, paths []string) {
	custom := detector.DefaultConfig()
	custom.XrdpMountNames = []string{"rdp_drives"}
	for name, cfg := range map[string]detector.Config{
		"default": detector.DefaultConfig(),
		"strict":  {Strict: true, Extensions: []string{".exe"}},
		"custom":  custom,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := detector.MustNew(cfg)
			detect := func(res *result) []detector.Detection {
				var out []detector.Detection
				for i := range res.events {
					if d, ok := m.Match(&res.events[i]); ok {
						out = append(out, d)
					}
				}
				return out
			}
			full := run(t, paths, Options{Detector: cfg})
			fast := run(t, paths, Options{Detector: cfg, Prefilter: true})
			if full.err != nil || fast.err != nil {
				t.Fatalf("errors: full %v, prefilter %v", full.err, fast.err)
			}
			want, got := detect(full), detect(fast)
			if len(want) == 0 && name != "custom" {
				t.Fatal("no detections in the full parse: the comparison would prove nothing")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("prefilter detections differ: %d vs %d full", len(got), len(want))
			}
			fc, pc := full.counters, fast.counters
			if pc.Records.Load()+pc.RecordsSkipped.Load() != fc.Records.Load() || pc.RecordsSkipped.Load() == 0 {
				t.Errorf("records: prefilter %d decoded + %d passed over, full parse %d", pc.Records.Load(), pc.RecordsSkipped.Load(), fc.Records.Load())
			}
			if len(fast.inputErr) != len(full.inputErr) || len(fast.bad) != len(full.bad) {
				t.Errorf("errors differ: prefilter %d input / %d bad, full %d / %d", len(fast.inputErr), len(fast.bad), len(full.inputErr), len(full.bad))
			}
		})
	}
}

// TestNeedleOptions: Needles replaces the rule's needles; OnceNeedles adds
// to them only on inputs that cannot be read twice; SkipOnce passes over
// those inputs without a word.
func TestNeedleOptions(t *testing.T) {
	t.Parallel()
	p := testdir.ThirdParty(t, "evtx-to-mitre-attack", "ID4688-4778_RDP_hijack_command_execution.evtx")
	b := read(t, p)
	count := func(r *result) (starts, other int) {
		for _, ev := range r.events {
			if ev.Type == detector.TypeStart {
				starts++
			} else {
				other++
			}
		}
		return
	}
	// The rule's needles: the log holds no tsclient, nothing is decoded.
	if s, o := count(run(t, []string{p}, Options{Prefilter: true})); s+o != 0 {
		t.Errorf("rule needles: %d starts, %d others", s, o)
	}
	// A needle of the 4778 only ("ClientAddress"), on the file.
	if s, o := count(run(t, []string{p}, Options{Prefilter: true, Needles: []string{"ClientAddress"}})); o != 1 {
		t.Errorf("Needles: %d starts, %d others, want the 4778", s, o)
	}
	// OnceNeedles do nothing for a file, and work on standard input.
	if s, o := count(run(t, []string{p}, Options{Prefilter: true, OnceNeedles: []string{"ClientAddress"}})); s+o != 0 {
		t.Errorf("OnceNeedles on a file: %d starts, %d others", s, o)
	}
	if s, o := count(run(t, []string{Stdin}, Options{Prefilter: true, OnceNeedles: []string{"ClientAddress"}, Stdin: bytes.NewReader(b)})); o != 1 {
		t.Errorf("OnceNeedles on stdin: %d starts, %d others, want the 4778", s, o)
	}
	// SkipOnce: standard input is not read; the file is.
	res := run(t, []string{Stdin, p}, Options{SkipOnce: true, Stdin: bytes.NewReader(b)})
	if s, o := count(res); s != 21 || o != 1 || len(res.inputErr) != 0 || res.counters.Files.Load() != 2 {
		t.Errorf("SkipOnce: %d starts, %d others, errors %v, %d files", s, o, res.inputErr, res.counters.Files.Load())
	}
}
