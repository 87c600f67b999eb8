// Command compare times tsclientwatch against what a responder would
// otherwise use, on the same files in one invocation, and prints a
// Markdown table (bench/compare.sh drives it; docs/performance.md holds
// the latest output).
//
// Rows:
//   - tsclientwatch EVTX: source/evtx.ReadWith with the chunk prefilter and
//     every core, detections by the default rule.
//   - Velocidex full parse: www.velocidex.com/golang/evtx GetChunks and
//     chunk.Parse on every chunk, every record decoded into its tree; the
//     records are not serialized (the cheapest full parse), and Image /
//     NewProcessName of Sysmon 1 / 4688 are handed to the same rule.
//   - libyal evtxexport -f xml, one process per file, its output parsed
//     after timing for the same two fields.
//   - NDJSON: `tsclientwatch scan --format ndjson` (the binary, if built)
//     against decoding every line with encoding/json into a map.
//   - Scaling: the EVTX rows on one file of 10 MB, 100 MB and 1 GB built
//     from the corpus's chunks.
//
// Every measured run is a child process (this program re-executed, or the
// tool itself), so wall time and peak RSS (getrusage of the child) are
// per row; each is the best of -repeat runs, on a warm page cache.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Velocidex/ordereddict"
	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/evtx"
	vevtx "www.velocidex.com/golang/evtx"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "child" {
		if err := child(os.Args[2], os.Args[3:]); err != nil {
			fmt.Fprintln(os.Stderr, "compare child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

// result is what one child run reports on stdout.
type result struct {
	Records    int64    `json:"records"`
	Bytes      int64    `json:"bytes"`
	Detections []string `json:"detections"` // sorted keys: file|executable
	Note       string   `json:"note,omitempty"`
}

// row is one line of the table.
type row struct {
	tool, input string
	res         result
	secs        float64 // best wall time
	cpu         float64 // user+system CPU seconds of the best run
	rssMB       float64 // peak RSS of the best run's process(es)
	base        *row    // the tsclientwatch row it is compared with
	skipped     string
}

func run() error {
	corpus := flag.String("evtx", "../shared/data/evtx-corpus", "EVTX corpus directory")
	positive := flag.String("positive", "testdata/evtx/tsclient_positive.evtx", "EVTX file with known detections, added to the corpus")
	out := flag.String("out", "bench/out", "directory for generated data (gitignored)")
	tsw := flag.String("tsclientwatch", "bench/out/tsclientwatch", "tsclientwatch binary for the NDJSON rows (skipped if missing)")
	repeat := flag.Int("repeat", 3, "runs per measurement; the best is kept")
	ndjsonMB := flag.Int("ndjson-mb", 200, "size of the generated NDJSON file")
	scale := flag.String("scale", "10,100,1000", "sizes in MB of the single-file EVTX scaling inputs (empty: none)")
	flag.Parse()

	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	files, err := evtxFiles(*corpus)
	if err != nil {
		return err
	}
	if *positive != "" {
		files = append(files, *positive)
	}
	var size int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return err
		}
		size += fi.Size()
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	m := &measurer{self: self, repeat: *repeat}
	corpusName := fmt.Sprintf("evtx-corpus (%d files)", len(files))

	var rows []*row
	base := m.child("tsclientwatch EVTX (prefilter, parallel)", corpusName, size, "evtx", files)
	rows = append(rows, base,
		m.child("tsclientwatch EVTX (full parse, parallel)", corpusName, size, "evtx-full", files),
		m.child("Velocidex evtx full parse", corpusName, size, "velocidex", files),
		m.evtxexport(corpusName, size, files))
	for _, r := range rows[1:] {
		r.base = base
	}

	// NDJSON.
	nd := filepath.Join(*out, "ecs.ndjson")
	ndSize, err := generateNDJSON(nd, int64(*ndjsonMB)<<20)
	if err != nil {
		return err
	}
	ndName := fmt.Sprintf("generated ECS NDJSON (%d MB)", ndSize>>20)
	var ndBase *row
	if _, err := os.Stat(*tsw); err == nil {
		ndBase = m.scan(*tsw, ndName, ndSize, nd)
	} else {
		ndBase = &row{tool: "tsclientwatch scan --format ndjson", input: ndName, skipped: fmt.Sprintf("no binary at %s (build ./cmd/tsclientwatch)", *tsw)}
	}
	dec := m.child("encoding/json decode every line (map)", ndName, ndSize, "jsondecode", []string{nd})
	if ndBase.skipped == "" {
		dec.base = ndBase
	}
	rows = append(rows, ndBase, dec)

	// Scaling: one growing file, so memory must stay flat per file.
	for _, s := range strings.Split(*scale, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		mb, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("-scale %q: %w", s, err)
		}
		p := filepath.Join(*out, fmt.Sprintf("scale-%dMB.evtx", mb))
		n, err := buildScaled(p, files, int64(mb)<<20)
		if err != nil {
			return err
		}
		in := fmt.Sprintf("one file, %d MB", mb)
		sb := m.child("tsclientwatch EVTX (prefilter, parallel)", in, n, "evtx", []string{p})
		rows = append(rows, sb)
		if mb <= 100 {
			v := m.child("Velocidex evtx full parse", in, n, "velocidex", []string{p})
			v.base = sb
			rows = append(rows, v)
		}
	}
	noop := m.child("noop", "", 0, "noop", nil)
	printTable(os.Stdout, rows)
	fmt.Printf("Starting a child that does nothing takes %.3f s (best of %d); it is included in every child row above.\n", noop.secs, *repeat)
	return nil
}

// measurer runs the children.
type measurer struct {
	self   string
	repeat int
}

// child times this program's child mode over files.
func (m *measurer) child(tool, input string, size int64, mode string, files []string) *row {
	r := &row{tool: tool, input: input}
	args := append([]string{"child", mode}, files...)
	for range m.repeat {
		var stdout bytes.Buffer
		secs, cpu, rss, err := timed(exec.Command(m.self, args...), &stdout)
		if err != nil {
			r.skipped = err.Error()
			return r
		}
		if r.secs == 0 || secs < r.secs {
			r.secs, r.cpu, r.rssMB = secs, cpu, rss
			if err := json.Unmarshal(stdout.Bytes(), &r.res); err != nil {
				r.skipped = fmt.Sprintf("child output: %v", err)
				return r
			}
		}
	}
	r.res.Bytes = size
	return r
}

// evtxexport times libyal's evtxexport, one process per file, as a user
// would run it; the XML goes to a file read after timing.
func (m *measurer) evtxexport(input string, size int64, files []string) *row {
	r := &row{tool: "libyal evtxexport -f xml (libevtx-utils)", input: input}
	bin, err := exec.LookPath("evtxexport")
	if err != nil {
		r.skipped = "evtxexport not installed (apt-get install -y libevtx-utils)"
		return r
	}
	outs := make([]*os.File, len(files))
	for i := range files {
		f, err := os.CreateTemp("", "evtxexport-*.xml")
		if err != nil {
			r.skipped = err.Error()
			return r
		}
		defer os.Remove(f.Name())
		defer f.Close()
		outs[i] = f
	}
	for range m.repeat {
		var total, cpuTotal, peak float64
		for i, f := range files {
			outs[i].Truncate(0)
			outs[i].Seek(0, io.SeekStart)
			secs, cpu, rss, err := timed(exec.Command(bin, "-f", "xml", f), outs[i])
			if err != nil {
				// evtxexport exits non-zero on damaged files after
				// exporting what it could; keep its output.
				r.res.Note = "non-zero exit on some files"
			}
			total += secs
			cpuTotal += cpu
			peak = max(peak, rss)
		}
		if r.secs == 0 || total < r.secs {
			r.secs, r.cpu, r.rssMB = total, cpuTotal, peak
		}
	}
	m2 := detector.MustNew(detector.DefaultConfig())
	for i, f := range files {
		b, err := os.ReadFile(outs[i].Name())
		if err != nil {
			r.skipped = err.Error()
			return r
		}
		n, dets := parseExportXML(b, filepath.Base(f), m2)
		r.res.Records += n
		r.res.Detections = append(r.res.Detections, dets...)
	}
	slices.Sort(r.res.Detections)
	r.res.Bytes = size
	return r
}

// scan times `tsclientwatch scan --format ndjson FILE`.
func (m *measurer) scan(bin, input string, size int64, file string) *row {
	r := &row{tool: "tsclientwatch scan --format ndjson", input: input}
	for range m.repeat {
		var stdout bytes.Buffer
		cmd := exec.Command(bin, "scan", "--format", "ndjson", file)
		secs, cpu, rss, err := timed(cmd, &stdout)
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 2) {
			r.skipped = err.Error()
			return r
		}
		if r.secs == 0 || secs < r.secs {
			r.secs, r.cpu, r.rssMB = secs, cpu, rss
			r.res = result{}
			if err != nil {
				r.res.Note = "exit 2: some records unreadable"
			}
			sc := bufio.NewScanner(&stdout)
			for sc.Scan() {
				var d struct {
					Path string `json:"path"`
					PID  int64  `json:"pid"`
				}
				if json.Unmarshal(sc.Bytes(), &d) == nil {
					r.res.Detections = append(r.res.Detections, fmt.Sprintf("%s|%s|%d", filepath.Base(file), d.Path, d.PID))
				}
			}
			slices.Sort(r.res.Detections)
		}
	}
	r.res.Bytes = size
	// The scan reports no record count; the generator knows it.
	r.res.Records = ndjsonLines
	return r
}

// timed runs cmd with stdout to w and returns its wall time, CPU time and
// peak RSS. The RSS comes from /usr/bin/time (0 without it): Go starts children
// with vfork, and Linux carries the parent's RSS high-water mark into a
// child's until exec, so the child's own rusage would include this
// program's memory. time(1) is a small process whose children start
// clean.
func timed(cmd *exec.Cmd, w io.Writer) (secs, cpu, rssMB float64, err error) {
	var stderr bytes.Buffer
	var rssFile string
	name := filepath.Base(cmd.Path)
	if timeBin, lerr := exec.LookPath("/usr/bin/time"); lerr == nil {
		f, ferr := os.CreateTemp("", "compare-rss-*")
		if ferr == nil {
			f.Close()
			rssFile = f.Name()
			defer os.Remove(rssFile)
			cmd = exec.Command(timeBin, append([]string{"-f", "%M", "-o", rssFile, cmd.Path}, cmd.Args[1:]...)...)
		}
	}
	cmd.Stdout, cmd.Stderr = w, &stderr
	start := time.Now()
	err = cmd.Run()
	secs = time.Since(start).Seconds()
	if rssFile != "" {
		b, _ := os.ReadFile(rssFile)
		// time(1) may print a status line first; the last line is ours.
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if f := strings.Fields(lines[len(lines)-1]); len(f) >= 1 {
			kb, _ := strconv.ParseFloat(f[0], 64)
			rssMB = kb / 1024
		}
	}
	// wait4's times include the reaped grandchild under time(1), to the
	// microsecond (time(1)'s own %U/%S have 10 ms steps).
	if cmd.ProcessState != nil {
		cpu = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 300 {
			msg = msg[:300]
		}
		return secs, cpu, rssMB, fmt.Errorf("%s: %w: %s", name, err, msg)
	}
	return secs, cpu, rssMB, nil
}

func evtxFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".evtx") {
			files = append(files, p)
		}
		return err
	})
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("no .evtx files under %s", root)
	}
	return files, err
}

// child runs one measured workload and prints its result as JSON.
func child(mode string, files []string) error {
	var res result
	var err error
	switch mode {
	case "evtx", "evtx-full":
		res, err = childEVTX(files, mode == "evtx")
	case "velocidex":
		res, err = childVelocidex(files)
	case "jsondecode":
		res, err = childJSONDecode(files)
	case "noop":
		// Measures starting this program: the floor under every row.
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return err
	}
	slices.Sort(res.Detections)
	return json.NewEncoder(os.Stdout).Encode(res)
}

func childEVTX(files []string, prefilter bool) (result, error) {
	var res result
	cfg := detector.DefaultConfig()
	m := detector.MustNew(cfg)
	opt := evtx.Options{Prefilter: prefilter, Config: cfg}
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return res, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return res, err
		}
		name := filepath.Base(p)
		st, err := evtx.ReadWith(context.Background(), f, fi.Size(), name, source.Sink{
			Event: func(ev *detector.Event) error {
				if d, ok := m.Match(ev); ok {
					res.Detections = append(res.Detections, name+"|"+d.Executable)
				}
				return nil
			},
		}, opt)
		f.Close()
		if err != nil {
			return res, err
		}
		res.Records += st.Records + st.RecordsSkipped
	}
	return res, nil
}

// childVelocidex is the straightforward Velocidex loop: every chunk,
// every record decoded. A decoder panic (it indexes file data unchecked)
// loses that chunk, as it would for a user.
func childVelocidex(files []string) (result, error) {
	var res result
	m := detector.MustNew(detector.DefaultConfig())
	panics := 0
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return res, err
		}
		name := filepath.Base(p)
		chunks, err := vevtx.GetChunks(f)
		if err != nil {
			f.Close()
			continue // not readable as EVTX by this library
		}
		for _, c := range chunks {
			func() {
				defer func() {
					if recover() != nil {
						panics++
					}
				}()
				recs, _ := c.Parse(0)
				for _, r := range recs {
					res.Records++
					if exe, ok := velocidexStart(r.Event); ok {
						if d, ok := m.Match(&detector.Event{Type: detector.TypeStart, HostOS: detector.OSWindows, Executable: exe}); ok {
							res.Detections = append(res.Detections, name+"|"+d.Executable)
						}
					}
				}
			}()
		}
		f.Close()
	}
	if panics > 0 {
		res.Note = fmt.Sprintf("%d chunks lost to decoder panics", panics)
	}
	return res, nil
}

// velocidexStart returns the executable of a Sysmon 1 or Security 4688
// record as the Velocidex decoder renders it.
func velocidexStart(tree any) (string, bool) {
	d, _ := tree.(*ordereddict.Dict)
	if d == nil {
		return "", false
	}
	ev := sub(d, "Event")
	sys, data := sub(ev, "System"), sub(ev, "EventData")
	if sys == nil || data == nil {
		return "", false
	}
	id, _ := sys.Get("EventID")
	if q := toDict(id); q != nil {
		id, _ = q.Get("Value")
	}
	var field string
	switch fmt.Sprint(id) {
	case "1":
		field = "Image"
	case "4688":
		field = "NewProcessName"
	default:
		return "", false
	}
	// Templated records give EventData as name -> value; plain binary XML
	// keeps the <Data Name="...">value</Data> shape.
	if v, ok := data.Get(field); ok {
		s, _ := v.(string)
		return s, true
	}
	items, _ := data.Get("Data")
	list, ok := items.([]any)
	if !ok {
		list = []any{items}
	}
	for _, it := range list {
		if d := toDict(it); d != nil {
			if n, _ := d.Get("Name"); n == field {
				v, _ := d.Get("Value")
				s, _ := v.(string)
				return s, true
			}
		}
	}
	return "", false
}

func toDict(v any) *ordereddict.Dict { d, _ := v.(*ordereddict.Dict); return d }

func sub(d *ordereddict.Dict, k string) *ordereddict.Dict {
	if d == nil {
		return nil
	}
	v, _ := d.Get(k)
	return toDict(v)
}

var (
	exportEvent = regexp.MustCompile(`(?s)<Event[ >].*?</Event>`)
	exportID    = regexp.MustCompile(`<EventID[^>]*>(\d+)</EventID>`)
	exportData  = regexp.MustCompile(`<Data Name="(Image|NewProcessName)">([^<]*)</Data>`)
)

// parseExportXML counts evtxexport's records and applies the rule to
// Sysmon 1 / 4688 executables.
func parseExportXML(b []byte, name string, m *detector.Matcher) (int64, []string) {
	var n int64
	var dets []string
	for _, ev := range exportEvent.FindAll(b, -1) {
		n++
		id := exportID.FindSubmatch(ev)
		if id == nil || (string(id[1]) != "1" && string(id[1]) != "4688") {
			continue
		}
		for _, d := range exportData.FindAllSubmatch(ev, -1) {
			if (string(id[1]) == "1") != (string(d[1]) == "Image") {
				continue
			}
			exe := html.UnescapeString(string(d[2]))
			if det, ok := m.Match(&detector.Event{Type: detector.TypeStart, HostOS: detector.OSWindows, Executable: exe}); ok {
				dets = append(dets, name+"|"+det.Executable)
			}
		}
	}
	return n, dets
}

func childJSONDecode(files []string) (result, error) {
	var res result
	m := detector.MustNew(detector.DefaultConfig())
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return res, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var doc map[string]any
			if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
				continue
			}
			res.Records++
			proc, _ := doc["process"].(map[string]any)
			evt, _ := doc["event"].(map[string]any)
			host, _ := doc["host"].(map[string]any)
			if proc == nil || evt == nil {
				continue
			}
			ev := detector.Event{Type: detector.TypeOther}
			if types, _ := evt["type"].([]any); slices.Contains(types, any("start")) {
				ev.Type = detector.TypeStart
			}
			ev.Executable, _ = proc["executable"].(string)
			if hos, _ := host["os"].(map[string]any); hos != nil {
				ev.HostOS, _ = hos["type"].(string)
			}
			pid, _ := proc["pid"].(float64)
			if _, ok := m.Match(&ev); ok {
				res.Detections = append(res.Detections, fmt.Sprintf("%s|%s|%d", filepath.Base(p), ev.Executable, int64(pid)))
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return res, err
		}
	}
	return res, nil
}

// ndjsonLines is set by generateNDJSON.
var ndjsonLines int64

// generateNDJSON writes about size bytes of ECS process, network and file
// events (seeded, so every run makes the same file), with a few positives:
// Windows kernel and UNC forms, one xrdp path, and one whose executable
// hides "tsclient" behind JSON \u escapes.
func generateNDJSON(path string, size int64) (int64, error) {
	if fi, err := os.Stat(path); err == nil && fi.Size() >= size && fi.Size() < size+4096 {
		n, err := countLines(path)
		ndjsonLines = n
		return fi.Size(), err
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(6, 2026))
	exes := []string{`C:\Windows\System32\svchost.exe`, `C:\Windows\System32\cmd.exe`, `C:\Program Files\Google\Chrome\Application\chrome.exe`,
		`C:\Windows\System32\conhost.exe`, `C:\Windows\explorer.exe`, `\Device\Mup\fileserver\deploy\setup.exe`, `\\VBoxSvr\share\tool.exe`,
		`C:\Users\alice\AppData\Local\Temp\TSClient.exe`}
	linux := []string{"/usr/bin/bash", "/usr/sbin/sshd", "/home/bob/thinclient_drives.bak/run.sh", "/usr/bin/python3"}
	// Positives at fixed fractions of the file, so every size holds all four.
	positives := []struct {
		at  float64
		exe string
	}{
		{0.001, `\Device\Mup\tsclient\C\Tools\mimikatz.exe`},
		{0.25, `\\tsclient\c\temp\stack\a.exe`},
		{0.5, "/home/alice/thinclient_drives/media/payload"},
		{0.75, `\\\\\u0074sclient\\d\\x.exe`}, // raw JSON for \\tsclient\d\x.exe with 't' escaped
	}
	var written, line int64
	for written < size {
		line++
		var b []byte
		if len(positives) > 0 && float64(written) >= positives[0].at*float64(size) {
			p := positives[0].exe
			positives = positives[1:]
			hostOS := "windows"
			if p[0] == '/' {
				hostOS = "linux"
			}
			exe := mustJSON(p)
			if strings.Contains(p, `\u`) {
				exe = `"` + p + `"`
			}
			b = fmt.Appendf(nil, `{"@timestamp":"2024-03-14T09:%02d:%02d.000Z","event":{"kind":"event","category":["process"],"type":["start"],"action":"start","dataset":"endpoint.events.process","module":"endpoint"},"host":{"name":"ws-%03d","os":{"type":%q,"family":%q}},"process":{"pid":%d,"executable":%s,"command_line":%s,"parent":{"pid":%d,"executable":"C:\\Windows\\explorer.exe"}},"user":{"name":"alice","domain":"CORP"},"ecs":{"version":"8.11.0"}}`+"\n",
				line%60, line%60, line%200, hostOS, hostOS, 5000+line, exe, exe, 4000+line)
		} else {
			b = benignECS(rng, line, exes, linux)
		}
		n, err := w.Write(b)
		if err != nil {
			return 0, err
		}
		written += int64(n)
	}
	ndjsonLines = line
	if err := w.Flush(); err != nil {
		return 0, err
	}
	return written, f.Close()
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func benignECS(rng *rand.Rand, line int64, exes, linux []string) []byte {
	ts := time.Date(2024, 3, 14, 0, 0, 0, 0, time.UTC).Add(time.Duration(line) * 37 * time.Millisecond).Format(time.RFC3339Nano)
	hostOS, exe := "windows", exes[rng.IntN(len(exes))]
	if rng.IntN(5) == 0 {
		hostOS, exe = "linux", linux[rng.IntN(len(linux))]
	}
	user := []string{"alice", "bob", "SYSTEM", "svc_backup", "zoë"}[rng.IntN(5)]
	switch rng.IntN(3) {
	case 0:
		return fmt.Appendf(nil, `{"@timestamp":%q,"event":{"kind":"event","category":["process"],"type":["start"],"action":"start","dataset":"endpoint.events.process","module":"endpoint","id":"%016x"},"host":{"name":"ws-%03d","hostname":"ws-%03d","os":{"type":%q,"family":%q,"name":"Windows 10 Pro","version":"22H2"},"id":"%032x"},"process":{"pid":%d,"entity_id":"%024x","executable":%s,"name":%s,"command_line":%s,"working_directory":"C:\\Windows\\system32\\","parent":{"pid":%d,"executable":"C:\\Windows\\System32\\services.exe","name":"services.exe"},"hash":{"sha256":"%064x"}},"user":{"name":%q,"domain":"CORP"},"agent":{"type":"endpoint","version":"8.11.0","id":"%032x"},"data_stream":{"dataset":"endpoint.events.process","namespace":"default","type":"logs"},"ecs":{"version":"8.11.0"}}`+"\n",
			ts, rng.Uint64(), line%200, line%200, hostOS, hostOS, rng.Uint64(), 1000+rng.IntN(60000), rng.Uint64(), mustJSON(exe), mustJSON(filepath.Base(exe)),
			mustJSON(exe+" -k netsvcs -p"), 600+rng.IntN(100), rng.Uint64(), user, rng.Uint64())
	case 1:
		return fmt.Appendf(nil, `{"@timestamp":%q,"event":{"kind":"event","category":["network"],"type":["connection","start"],"action":"connection_attempted","dataset":"endpoint.events.network","module":"endpoint"},"host":{"name":"ws-%03d","os":{"type":%q}},"process":{"pid":%d,"executable":%s},"source":{"ip":"10.0.%d.%d","port":%d},"destination":{"ip":"192.0.2.%d","port":443},"network":{"transport":"tcp","direction":"egress"},"user":{"name":%q},"ecs":{"version":"8.11.0"}}`+"\n",
			ts, line%200, hostOS, 1000+rng.IntN(60000), mustJSON(exe), rng.IntN(256), rng.IntN(256), 49152+rng.IntN(16000), rng.IntN(256), user)
	default:
		return fmt.Appendf(nil, `{"@timestamp":%q,"event":{"kind":"event","category":["file"],"type":["creation"],"action":"creation","dataset":"endpoint.events.file","module":"endpoint"},"host":{"name":"ws-%03d","os":{"type":%q}},"process":{"pid":%d,"executable":%s},"file":{"path":"C:\\Users\\%s\\AppData\\Local\\Temp\\%08x.tmp","extension":"tmp","size":%d},"user":{"name":%q},"ecs":{"version":"8.11.0"}}`+"\n",
			ts, line%200, hostOS, 1000+rng.IntN(60000), mustJSON(exe), user, rng.Uint32(), rng.IntN(1<<20), user)
	}
}

func countLines(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	buf := make([]byte, 1<<20)
	for {
		k, err := f.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// buildScaled writes one EVTX file of about size bytes: the first
// corpus file's header block, then the chunks of every corpus file
// (repeated) and, last, those of the positive sample, so each size has the
// same detections. Chunks are self-contained, so the result is a valid
// log to any reader that walks chunks (its header's chunk count is stale,
// which readers report or ignore).
func buildScaled(path string, files []string, size int64) (int64, error) {
	if fi, err := os.Stat(path); err == nil && fi.Size() >= size {
		return fi.Size(), nil
	}
	var chunks [][]byte
	var head []byte
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			return 0, err
		}
		if len(b) < 4096+0x10000 || string(b[:8]) != "ElfFile\x00" || le16(b[40:]) != 4096 {
			continue
		}
		if head == nil {
			head = b[:4096]
		}
		for off := 4096; off+0x10000 <= len(b); off += 0x10000 {
			chunks = append(chunks, b[off:off+0x10000])
		}
	}
	if head == nil {
		return 0, errors.New("no multi-chunk EVTX file to scale from")
	}
	last := chunks[len(chunks)-1] // the positive sample is the last file
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	w.Write(head)
	n := int64(len(head))
	for i := 0; n+0x10000 < size; i++ {
		w.Write(chunks[i%(len(chunks)-1)])
		n += 0x10000
	}
	w.Write(last)
	n += 0x10000
	if err := w.Flush(); err != nil {
		return 0, err
	}
	return n, f.Close()
}

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }

func printTable(w io.Writer, rows []*row) {
	fmt.Fprintf(w, "| tool | input | MB | seconds (best run) | CPU s (that run) | MB/s | records/s | tsclientwatch speed-up, wall (CPU) | peak RSS MB | detections | same detections |\n")
	fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		if r.skipped != "" {
			fmt.Fprintf(w, "| %s | %s | | | | | | | | | skipped: %s |\n", r.tool, r.input, r.skipped)
			continue
		}
		mb := float64(r.res.Bytes) / 1e6
		ratio, same := "(baseline)", "-"
		if r.base != nil && r.base.skipped == "" {
			ratio = fmt.Sprintf("%.1fx (%.1fx)", r.secs/r.base.secs, r.cpu/r.base.cpu)
			same = "yes"
			if !slices.Equal(r.res.Detections, r.base.res.Detections) {
				same = fmt.Sprintf("NO: %q vs %q", r.res.Detections, r.base.res.Detections)
			}
		}
		if r.res.Note != "" {
			same += " (" + r.res.Note + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %.1f | %.3f | %.3f | %.0f | %.0f | %s | %.0f | %d | %s |\n",
			r.tool, r.input, mb, r.secs, r.cpu, mb/r.secs, float64(r.res.Records)/r.secs, ratio, r.rssMB, len(r.res.Detections), same)
	}
	fmt.Fprintf(w, "\nGOMAXPROCS %d, %s\n", runtime.GOMAXPROCS(0), runtime.Version())
}
