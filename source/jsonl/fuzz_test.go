package jsonl

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source"
)

// fuzzSeeds are documents in every framing Read accepts, and the bad input
// it must survive. The testdata and shared files are added too, read in
// place.
var fuzzSeeds = []string{
	`{"event":{"type":["start"],"category":["process"]},"host":{"os":{"type":"windows"}},"process":{"pid":1,"executable":"\\Device\\Mup\\tsclient\\C\\a.exe"}}` + "\n" +
		`{"event":{"type":"start"},"process":{"pid":2,"executable":"C:\\b.exe"}}` + "\n",
	`[{"process":{"pid":1,"executable":"\\\\TSCLIENT\\c\\a.exe"},"event":{"type":"start"}},` + "\n" + `{"process":{"pid":2}}]`,
	"{\n  \"event\": {\"type\": \"start\"},\n  \"process\": {\"executable\": \"\\\\\\\\tsclient\\\\c\\\\x.exe\"}\n}\n{\n}\n",
	"Record 1\n{\"Event\":{\"System\":{\"EventID\":1,\"Channel\":\"Microsoft-Windows-Sysmon/Operational\"},\"EventData\":{\"Image\":\"\\\\\\\\tsclient\\\\c\\\\a.exe\"}}}\n",
	`{"_index":"i","_id":"1","_source":{"event":{"type":"start"},"process":{"executable":"\\\\tsclient\\c\\a.exe"}}}`,
	`{"hits":{"hits":[{"_index":"i","_source":{"event":{"type":"start"},"process":{"executable":"\\\\tsclient\\c\\a.exe"}}},{"_index":"i","fields":{"process.pid":[3]}}]}}`,
	`{"EventID":4688,"Channel":"Security","NewProcessName":"\\Device\\Mup\\ts\u0063lient\\C\\b.exe","NewProcessId":"0xe"}`,
	`{"event":{"type":"start"},"host":{"os":{"type":"linux"}},"process":{"executable":"\/home\/u\/thinclient_drives\/C:\/a.sh"}}`,
	`{"event":{"type":"start"},"host":{"os":{"type":"linux"}},"process":{"executable":"/home/u/rdp_mnt/C:/a.sh"}}`,
	"{\"a\":\"\x00\"}\n{\"process\":{\"pid\":1}}\n",
	"{\x00\"\x00a\x00\"\x00:\x001\x00}\x00\n\x00",
	"\xff\xfe{\x00}\x00",
	"{\"process\":{\"executable\":\"\\\\\\\\tsclient\\\\c\\\\Jos\xe9.exe\"},\"event\":{\"type\":\"start\"}}",
	strings.Repeat("[", 1000) + strings.Repeat("]", 1000),
	`{"a":` + strings.Repeat("[", 400) + strings.Repeat("]", 400) + `,"process":{"executable":"\\\\tsclient\\c\\a.exe"}}`,
	"{\"process\": {\"pid\": \nnot json\n{\"process\":{\"pid\":{\"a\":1}}}\n[1]\n\"s\"\n",
	"[" + `{"process":{"pid":1}}` + " " + `{"process":{"pid":2}}` + "]",
	`{"process":{"command_line":"` + strings.Repeat("x", 600) + `"}}` + "\n" + `{"process":{"pid":2}}`,
}

// FuzzRead feeds arbitrary input to ReadWith, in reads of a fuzzed size,
// with a small document cap, and checks that it never panics, keeps its
// buffer within the cap, accounts for every byte and every document, and
// finds the same detections with the prefilter as without it, under the
// default, strict and a custom configuration.
func FuzzRead(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(7))
	}
	dirs := []string{testdir.Testdata(f, "ecs"), testdir.Testdata(f, "json"), testdir.ThirdParty(f, "sigma"), testdir.ThirdParty(f, "otrf-security-datasets")}
	if ecs, ok := testdir.SharedOptional(f, testdir.ECS); ok {
		dirs = append(dirs, ecs)
	}
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, p := range files {
			// Small files only: the fuzzer minimizes every new
			// interesting input, which is slow on large ones.
			if b, err := os.ReadFile(p); err == nil && len(b) <= 8<<10 {
				f.Add(b, uint8(0))
			}
		}
	}
	custom := detector.DefaultConfig()
	custom.XrdpMountNames = []string{"rdp_mnt"}
	configs := []detector.Config{detector.DefaultConfig(), custom, {Strict: true}}
	matchers := make([]*detector.Matcher, len(configs))
	for i, c := range configs {
		matchers[i] = detector.MustNew(c)
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		// A cap small enough for the fuzzer to cross, large enough for
		// most seeds to fit.
		maxDoc := 512 + int(split)*8
		// One full parse gives the events every configuration matches.
		full := fuzzOnce(t, data, split, maxDoc, nil, Options{MaxDocument: maxDoc})
		for ci, cfg := range configs {
			var want []detector.Detection
			for i := range full.events {
				if d, ok := matchers[ci].Match(&full.events[i]); ok {
					want = append(want, d)
				}
			}
			fast := fuzzOnce(t, data, split, maxDoc, matchers[ci], Options{MaxDocument: maxDoc, Prefilter: true, Config: cfg})
			if !reflect.DeepEqual(want, fast.detections) {
				t.Fatalf("config %d: detections differ\nfull parse: %+v\nprefilter:  %+v", ci, want, fast.detections)
			}
			if errText(full.err) != errText(fast.err) {
				t.Fatalf("config %d: fatal error %q with the prefilter, %q without", ci, errText(fast.err), errText(full.err))
			}
			if full.stats.Bytes != fast.stats.Bytes || fast.stats.Bad > full.stats.Bad {
				t.Fatalf("config %d: prefilter stats %+v, full parse %+v", ci, fast.stats, full.stats)
			}
			if fast.stats.Records+fast.stats.RecordsSkipped != full.stats.Records {
				t.Fatalf("config %d: prefilter counts %d+%d documents, full parse %d", ci, fast.stats.Records, fast.stats.RecordsSkipped, full.stats.Records)
			}
		}
	})
}

type fuzzResult struct {
	events     []detector.Event // kept when no matcher is given
	detections []detector.Detection
	stats      Stats
	err        error
}

func fuzzOnce(t *testing.T, data []byte, split uint8, maxDoc int, m *detector.Matcher, opt Options) fuzzResult {
	t.Helper()
	var res fuzzResult
	events, bad := int64(0), int64(0)
	sink := source.Sink{
		Event: func(e *detector.Event) error {
			events++
			if m == nil {
				res.events = append(res.events, *e)
			} else if d, ok := m.Match(e); ok {
				res.detections = append(res.detections, d)
			}
			return nil
		},
		Bad: func(e *source.RecordError) {
			bad++
			if e.File != "fuzz.json" || e.Line < 1 || e.Offset < 0 || e.Offset > int64(len(data)) || e.Err == nil {
				t.Fatalf("bad record without a usable place: %+v", e)
			}
		},
	}
	var r io.Reader = bytes.NewReader(data)
	if split > 0 {
		r = &chopped{b: data, n: int(split)}
	}
	rd := newReader(context.Background(), r, "fuzz.json", sink, opt)
	res.stats, res.err = rd.read()
	if res.err != nil && strings.Contains(res.err.Error(), "internal error") {
		t.Fatalf("panic: %v", res.err)
	}
	if res.err != nil && !strings.HasPrefix(res.err.Error(), "fuzz.json") && !strings.HasPrefix(res.err.Error(), "read fuzz.json") {
		t.Fatalf("fatal error does not name the input: %v", res.err)
	}
	if len(rd.buf) > maxDoc+1+chunk {
		t.Fatalf("buffer grew to %d bytes with a %d byte cap", len(rd.buf), maxDoc)
	}
	if res.err == nil && res.stats.Bytes != int64(len(data)) {
		t.Fatalf("read %d of %d bytes without an error", res.stats.Bytes, len(data))
	}
	if res.stats.Bytes > int64(len(data)) {
		t.Fatalf("Stats.Bytes %d beyond the input's %d", res.stats.Bytes, len(data))
	}
	if events+bad != res.stats.Records || bad != res.stats.Bad {
		t.Fatalf("%d events and %d bad records delivered, stats say %+v", events, bad, res.stats)
	}
	return res
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// chopped returns its bytes n at a time, so documents cross reads at
// every place.
type chopped struct {
	b []byte
	n int
}

func (c *chopped) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[n:]
	return n, nil
}

// FuzzPrefilterMounts checks the needles derived from an arbitrary xrdp
// mount name: whatever the name (quotes, control characters, non-ASCII,
// case), a prefiltered read finds exactly the detections of a full parse.
func FuzzPrefilterMounts(f *testing.F) {
	doc := func(exe string) []byte {
		return []byte(`{"event":{"type":"start"},"host":{"os":{"type":"linux"}},"process":{"executable":` + exe + `}}` + "\n")
	}
	for _, s := range []struct{ mount, exe string }{
		{"thinclient_drives", `"/home/u/thinclient_drives/C:/a.sh"`},
		{`my"drives`, `"/home/u/my\"drives/C:/a.sh"`},
		{"tab\there", `"/home/u/tab\there/C:/a.sh"`},
		{"lecteurs_é", `"/home/u/lecteurs_\u00e9/C:/a.sh"`},
		{"lecteurs_é", `"/home/u/lecteurs_é/C:/a.sh"`},
		{"Drives", `"\/home\/u\/Drives\/C:\/a.sh"`},
		{"x", `"/x/y/z"`},
	} {
		f.Add(s.mount, doc(s.exe))
	}
	f.Fuzz(func(t *testing.T, mount string, data []byte) {
		cfg := detector.DefaultConfig()
		cfg.XrdpMountNames = []string{mount}
		if cfg.Validate() != nil {
			return
		}
		m := detector.MustNew(cfg)
		full := fuzzOnce(t, data, 0, 1<<16, m, Options{MaxDocument: 1 << 16})
		fast := fuzzOnce(t, data, 0, 1<<16, m, Options{MaxDocument: 1 << 16, Prefilter: true, Config: cfg})
		if !reflect.DeepEqual(full.detections, fast.detections) {
			t.Fatalf("mount %q, needles %q: detections differ\nfull parse: %+v\nprefilter:  %+v", mount, Needles(cfg), full.detections, fast.detections)
		}
	})
}
