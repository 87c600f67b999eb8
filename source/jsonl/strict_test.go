package jsonl_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source/jsonl"
)

// Strict mode reproduces `host.os.type == "windows"`: an ECS document that
// does not carry host.os.type is not a strict detection, whatever its
// family, platform or data source imply. Default mode still infers.
func TestStrictNeedsDeclaredHostOS(t *testing.T) {
	res := readFile(t, testdir.Testdata(t, "ecs", "no_host_os_type_tsclient.ndjson"))
	if len(res.events) != 4 {
		t.Fatalf("%d events, want 4", len(res.events))
	}
	for _, ev := range res.events {
		if ev.HostOS != detector.OSWindows || ev.Inferred&detector.InferredHostOS == 0 {
			t.Errorf("%s: host os %q inferred %q, want windows, inferred", ev.Executable, ev.HostOS, ev.Inferred)
		}
	}
	if n := len(detect(t, detector.DefaultConfig(), res.events)); n != 4 {
		t.Errorf("default mode: %d detections, want 4", n)
	}
	if d := detect(t, strict(), res.events); len(d) != 0 {
		t.Errorf("strict mode detected %d documents without host.os.type: %+v", len(d), d)
	}
}

// TestStrictOnSharedECS mutates Elastic's own pipeline outputs (winlogbeat
// Sysmon 1 and 4688 golden files, the Elastic Defend sample) so the process
// ran from \Device\Mup\tsclient\, with and without host.os.type.
func TestStrictOnSharedECS(t *testing.T) {
	for _, name := range []string{
		"winlogbeat_sysmon-12-processcreate.evtx.golden.json",
		"winlogbeat_security-windows2019_4688_Process_Created.golden.json",
		"elastic_defend_process_sample_event.json",
	} {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(testdir.Shared(t, "ecs", name))
			if err != nil {
				t.Fatal(err)
			}
			doc := firstDocument(t, raw)
			proc := doc["process"].(map[string]any)
			proc["executable"] = `\Device\Mup\tsclient\C\Tools\a.exe`
			host, _ := doc["host"].(map[string]any)
			if host == nil {
				host = map[string]any{}
				doc["host"] = host
			}
			hostOS, _ := host["os"].(map[string]any)
			if hostOS == nil {
				hostOS = map[string]any{}
				host["os"] = hostOS
			}
			for _, tc := range []struct {
				hostOSType any // nil: removed
				strict     int
			}{
				{nil, 0},
				{"windows", 1},
				{"Windows", 0}, // EQL's == is case-sensitive
				{[]any{"windows"}, 1},
			} {
				if tc.hostOSType == nil {
					delete(hostOS, "type")
				} else {
					hostOS["type"] = tc.hostOSType
				}
				b, err := json.Marshal(doc)
				if err != nil {
					t.Fatal(err)
				}
				res := read(t, bytes.NewReader(b), name, jsonl.Options{})
				if res.err != nil || len(res.bad) > 0 || len(res.events) != 1 {
					t.Fatalf("host.os.type %v: read %d events, err %v, bad %v", tc.hostOSType, len(res.events), res.err, res.bad)
				}
				if n := len(detect(t, detector.DefaultConfig(), res.events)); n != 1 {
					t.Errorf("host.os.type %v: default mode %d detections, want 1", tc.hostOSType, n)
				}
				if n := len(detect(t, strict(), res.events)); n != tc.strict {
					t.Errorf("host.os.type %v: strict mode %d detections, want %d", tc.hostOSType, n, tc.strict)
				}
			}
		})
	}
}

// firstDocument returns the object itself or the first element of an array.
func firstDocument(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if a, ok := v.([]any); ok && len(a) > 0 {
		v = a[0]
	}
	doc, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("not a JSON object: %.80s", raw)
	}
	return doc
}
