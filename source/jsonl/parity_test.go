package jsonl_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/jsonl"
)

// parityConfigs are the detector configurations the fast path is checked
// under: the needles follow the configuration.
func parityConfigs() map[string]detector.Config {
	custom := detector.DefaultConfig()
	custom.XrdpMountNames = []string{"rdp_mnt", "Drives", "LECTEURS_É"}
	hidden := detector.DefaultConfig()
	hidden.XrdpMountNames = []string{".thinclient_drives"}
	return map[string]detector.Config{"default": detector.DefaultConfig(), "strict": strict(), "custom mounts": custom, "hidden mount": hidden}
}

// outcome is what one read made of an input under one configuration.
type outcome struct {
	detections []detector.Detection
	stats      jsonl.Stats
	bad        []string
	told       int64 // sum of the Skipped callback
	err        error
}

func readDetect(in []byte, cfg detector.Config, prefilter bool) outcome {
	m := detector.MustNew(cfg)
	var o outcome
	sink := source.Sink{
		Event: func(e *detector.Event) error {
			if d, ok := m.Match(e); ok {
				o.detections = append(o.detections, d)
			}
			return nil
		},
		Bad: func(e *source.RecordError) { o.bad = append(o.bad, e.Error()) },
	}
	opt := jsonl.Options{Prefilter: prefilter, Config: cfg, Skipped: func(n int64) { o.told += n }}
	o.stats, o.err = jsonl.ReadWith(context.Background(), bytes.NewReader(in), "in.json", sink, opt)
	return o
}

// checkParity reads in with and without the prefilter under every
// configuration and returns the number of detections (default config).
func checkParity(t *testing.T, name string, in []byte) int {
	t.Helper()
	found := 0
	for cname, cfg := range parityConfigs() {
		full := readDetect(in, cfg, false)
		fast := readDetect(in, cfg, true)
		if (full.err == nil) != (fast.err == nil) || full.err != nil && full.err.Error() != fast.err.Error() {
			t.Errorf("%s (%s): fatal error %v with the prefilter, %v without", name, cname, fast.err, full.err)
		}
		if !reflect.DeepEqual(full.detections, fast.detections) {
			t.Errorf("%s (%s): detections differ\nfull parse: %+v\nprefilter:  %+v", name, cname, full.detections, fast.detections)
		}
		if got := fast.stats.Records + fast.stats.RecordsSkipped; got != full.stats.Records {
			t.Errorf("%s (%s): %d records decoded + %d skipped, full parse counts %d", name, cname, fast.stats.Records, fast.stats.RecordsSkipped, full.stats.Records)
		}
		if fast.told != fast.stats.RecordsSkipped || full.told != 0 || full.stats.RecordsSkipped != 0 {
			t.Errorf("%s (%s): Skipped callback told %d, stats say %d", name, cname, fast.told, fast.stats.RecordsSkipped)
		}
		if fast.stats.Bad > full.stats.Bad || fast.stats.Bytes != full.stats.Bytes {
			t.Errorf("%s (%s): prefilter stats %+v, full %+v", name, cname, fast.stats, full.stats)
		}
		if cname == "default" {
			found = len(full.detections)
		}
	}
	return found
}

// TestPrefilterParityFiles reads every JSON file of testdata (the
// third-party logs included) and of the ECS documents kept outside the
// repository with and without the prefilter: the detections must be the
// same under every configuration.
func TestPrefilterParityFiles(t *testing.T) {
	for _, c := range []struct {
		name                    string
		roots                   func(t *testing.T) []string
		minFiles, minDetections int
	}{
		// The testdata positives are at least 15.
		{"testdata", func(t *testing.T) []string { return []string{testdir.Testdata(t)} }, 15, 15},
		{"with ecs", func(t *testing.T) []string { return []string{testdir.Testdata(t), testdir.Shared(t, testdir.ECS)} }, 18, 15},
	} {
		t.Run(c.name, func(t *testing.T) {
			prefilterParityFiles(t, c.roots(t), c.minFiles, c.minDetections)
		})
	}
}

func prefilterParityFiles(t *testing.T, roots []string, minFiles, minDetections int) {
	var files []string
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			head := make([]byte, 4096)
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			n, _ := f.Read(head)
			f.Close()
			if jsonl.Sniff(head[:n]) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(files) < minFiles {
		t.Fatalf("found only %d JSON files, want %d: %q", len(files), minFiles, files)
	}
	total := 0
	for _, path := range files {
		in, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		total += checkParity(t, path, in)
	}
	// The check is only worth something if positives went through it.
	if total < minDetections {
		t.Errorf("%d detections over %d files, want the testdata positives (at least %d)", total, len(files), minDetections)
	}
}

// crafted are documents that try to get past the prefilter. Each line
// that is a process start from an RDP drive must still be detected.
var crafted = []string{
	// \u escapes spelling needle letters.
	`{"event":{"type":"start","category":"process"},"host":{"os":{"type":"windows"}},"process":{"pid":1,"executable":"\\Device\\Mup\\ts\u0063lient\\C\\a.exe"}}`,
	`{"event":{"type":"start","category":"process"},"host":{"os":{"type":"windows"}},"process":{"pid":2,"executable":"\u005c\u005c\u0074\u0073\u0063\u006c\u0069\u0065\u006e\u0074\u005cc\u005ca.exe"}}`,
	`{"event":{"type":"start"},"host":{"os":{"type":"linux"}},"process":{"pid":3,"executable":"/home/u/thinclient\u005fdrives/C:/a.sh"}}`,
	`{"event":{"type":"start"},"host":{"os":{"type":"linux"}},"process":{"pid":4,"executable":"/home/u/rdp\u005Fmnt/C:/a.sh"}}`,
	// Mixed case.
	`{"event":{"type":"start"},"host":{"os":{"type":"windows"}},"process":{"pid":5,"executable":"\\DEVICE\\MUP\\TsClIeNt\\c\\A.EXE"}}`,
	// Escaped solidus in an xrdp path, and the configured mount names.
	`{"event":{"type":"start"},"host":{"os":{"type":"linux"}},"process":{"pid":6,"executable":"\/home\/u\/thinclient_drives\/C:\/a.sh"}}`,
	`{"event":{"type":"start"},"host":{"os":{"type":"linux"}},"process":{"pid":7,"executable":"\/home\/u\/rdp_mnt\/C:\/a.sh"}}`,
	`{"event":{"type":"start"},"host":{"os":{"type":"linux"}},"process":{"pid":8,"executable":"/home/u/Drives/C:/a.sh"}}`,
	`{"event":{"type":"start"},"host":{"os":{"type":"linux"}},"process":{"pid":9,"executable":"/home/u/.thinclient_drives/C:/a.sh"}}`,
	// A non-ASCII upper case mount name: only ASCII case may be folded.
	`{"event":{"type":"start"},"host":{"os":{"type":"linux"}},"process":{"pid":24,"executable":"/home/u/LECTEURS_É/C:/a.sh"}}`,
	// Surrogate pair and Latin-1 bytes in the path.
	`{"event":{"type":"start"},"process":{"pid":10,"executable":"\\\\tsclient\\c\\\ud83d\ude00.exe"}}`,
	"{\"event\":{\"type\":\"start\"},\"process\":{\"pid\":11,\"executable\":\"\\\\\\\\tsclient\\\\c\\\\Jos\xe9\\\\a.exe\"}}",
	// Escaped backslashes that are not \u escapes next to a u.
	`{"event":{"type":"start"},"process":{"pid":12,"executable":"\\\\tsclient\\users\\a.exe"}}`,
	// Winlogbeat without the ingest pipeline; flat NXLog; evtx_dump.
	`{"winlog":{"channel":"Microsoft-Windows-Sysmon/Operational","event_id":1,"event_data":{"Image":"\\\\TSCLIENT\\c\\a.exe","ProcessId":"13"}}}`,
	`{"EventID":4688,"Channel":"Security","NewProcessName":"\\Device\\Mup\\tsclient\\C\\b.exe","NewProcessId":"0xe"}`,
	`{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational"},"EventData":{"Image":"\\\\tsclient\\c\\c.exe","ProcessId":15}}}`,
	// Elasticsearch hit with fields, and a search response.
	`{"_index":"i","_id":"1","fields":{"process.pid":[16],"event.type":["start"],"process.executable":["\\Device\\Mup\\tsclient\\C\\d.exe"]}}`,
	`{"hits":{"hits":[{"_index":"i","_source":{"event":{"type":"start"},"process":{"pid":17,"executable":"\\\\tsclient\\c\\e.exe"}}}]}}`,
	// Benign look-alikes that must stay undetected either way.
	`{"event":{"type":"start"},"process":{"pid":18,"executable":"\\Device\\Mup\\tscl\/ient\\C\\a.exe"}}`,
	`{"event":{"type":"start"},"process":{"pid":19,"executable":"C:\\Techinline\\TSClient.exe"}}`,
	`{"event":{"type":"start"},"process":{"pid":20,"executable":"\\\\tsclientx\\c\\a.exe"}}`,
	// UTF-16-ish content: NUL bytes between the letters.
	"{\x00\"\x00p\x00\"\x00:\x00\"\x00t\x00s\x00c\x00l\x00i\x00e\x00n\x00t\x00\"\x00}\x00",
	// Broken JSON that holds a needle, and broken JSON that does not.
	`{"event":{"type":"start"},"process":{"pid":21,"executable":"\\\\tsclient\\c\\a.exe"`,
	`{"event":{"type":"start"},"process":{"pid":22,"executable":"C:\\a.exe"}}}`,
	`{"event":{"type":"start"},"process":{"pid":23,"executable":"C:\\a.exe"` + "\x00" + `}}`,
	// A mapping error in a candidate, and one in a non-candidate.
	`{"event":{"type":"start"},"process":{"pid":{"x":1},"executable":"\\\\tsclient\\c\\a.exe"}}`,
	`{"event":{"type":"start"},"process":{"pid":{"x":1},"executable":"C:\\a.exe"}}`,
}

// TestPrefilterParityCrafted runs the crafted documents in each framing.
func TestPrefilterParityCrafted(t *testing.T) {
	ndjson := strings.Join(crafted, "\n") + "\n"
	var good []string
	for _, c := range crafted {
		// Leave out the broken ones (pids 21 to 23, UTF-16): they would
		// end an array or swallow the documents after them.
		broken := strings.Contains(c, "\x00") || strings.Contains(c, `"pid":21,`) || strings.Contains(c, `"pid":22,`)
		if !broken {
			good = append(good, c)
		}
	}
	framings := map[string]string{
		"ndjson":       ndjson,
		"crlf":         strings.ReplaceAll(ndjson, "\n", "\r\n"),
		"array":        "[\n" + strings.Join(good, ",\n") + "\n]\n",
		"concatenated": strings.Join(good, "\n\n  "),
	}
	for name, in := range framings {
		n := checkParity(t, name, []byte(in))
		// pids 1, 2, 3, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16, 17
		if n != 14 {
			o := readDetect([]byte(in), detector.DefaultConfig(), true)
			t.Errorf("%s: %d detections with the default config, want 14: %+v\nbad: %q", name, n, o.detections, o.bad)
		}
	}
	// The configured names are found only when configured.
	custom := parityConfigs()["custom mounts"]
	o := readDetect([]byte(ndjson), custom, true)
	var pids []int64
	for _, d := range o.detections {
		pids = append(pids, d.PID)
	}
	if want := []int64{1, 2, 4, 5, 7, 8, 24, 10, 11, 12, 13, 14, 15, 16, 17}; !equal(pids, want) {
		t.Errorf("custom mounts: detected pids %v, want %v", pids, want)
	}
}
