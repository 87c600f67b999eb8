package ecs_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source/ecs"
	"github.com/valyala/fastjson"
)

func mapDoc(t *testing.T, m *ecs.Mapper, doc string) (detector.Event, error) {
	t.Helper()
	var p fastjson.Parser
	v, err := p.Parse(doc)
	if err != nil {
		t.Fatalf("test document: %v", err)
	}
	var ev detector.Event
	err = m.Map(v, &ev)
	return ev, err
}

func TestMapFieldSpellings(t *testing.T) {
	want := detector.Event{
		Type: detector.TypeStart, PID: 10, ParentPID: 9,
		Executable: `C:\a.exe`, ParentExecutable: `C:\p.exe`, HostOS: "windows",
		// No event.category: a process start here, not to an ECS query.
		Inferred: detector.InferredType,
	}
	docs := map[string]string{
		"nested": `{"event":{"type":"start"},"host":{"os":{"type":"windows"}},"process":{"executable":"C:\\a.exe","pid":10,"parent":{"executable":"C:\\p.exe","pid":9}}}`,
		"dotted": `{"event.type":"start","host.os.type":"windows","process.executable":"C:\\a.exe","process.pid":10,"process.parent.executable":"C:\\p.exe","process.parent.pid":9}`,
		"mixed":  `{"event":{"type":"start"},"host.os":{"type":"windows"},"process":{"executable":"C:\\a.exe","pid":10,"parent.executable":"C:\\p.exe","parent":{"pid":9}}}`,
		"deep":   `{"event":{"type":"start"},"host":{"os.type":"windows"},"process.parent":{"executable":"C:\\p.exe"},"process":{"parent.pid":9,"executable":"C:\\a.exe","pid":10}}`,
		"arrays": `{"event.type":["start"],"host.os.type":["windows"],"process.executable":["C:\\a.exe"],"process.pid":[10],"process.parent.executable":["C:\\p.exe"],"process.parent.pid":["9"]}`,
	}
	var m ecs.Mapper // reused across documents on purpose
	for name, doc := range docs {
		got, err := mapDoc(t, &m, doc)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
		}
	}
}

func TestMapFields(t *testing.T) {
	tests := []struct {
		name, doc string
		check     func(e detector.Event) bool
	}{
		{"first spelling wins", `{"process.pid":1,"process":{"pid":2}}`, func(e detector.Event) bool { return e.PID == 1 }},
		{"hex pid string", `{"process":{"pid":"0x1a84"}}`, func(e detector.Event) bool { return e.PID == 6788 }},
		{"ppid fallback", `{"process":{"ppid":77}}`, func(e detector.Event) bool { return e.ParentPID == 77 }},
		{"parent.pid before ppid", `{"process":{"ppid":77,"parent":{"pid":78}}}`, func(e detector.Event) bool { return e.ParentPID == 78 }},
		{"user domain", `{"user":{"name":"bob","domain":"CORP"}}`, func(e detector.Event) bool { return e.User == `CORP\bob` }},
		{"user name already qualified", `{"user":{"name":"CORP\\bob","domain":"CORP"}}`, func(e detector.Event) bool { return e.User == `CORP\bob` }},
		{"user without domain", `{"user":{"name":"bob"}}`, func(e detector.Event) bool { return e.User == "bob" }},
		{"process.user fallback", `{"process":{"user":{"name":"NT AUTHORITY\\SYSTEM"}}}`, func(e detector.Event) bool { return e.User == `NT AUTHORITY\SYSTEM` }},
		{"host.hostname fallback", `{"host":{"hostname":"h1"}}`, func(e detector.Event) bool { return e.Host == "h1" }},
		{"host.name first", `{"host":{"hostname":"h1","name":"h2"}}`, func(e detector.Event) bool { return e.Host == "h2" }},
		{"args joined", `{"process":{"args":["C:\\Program Files\\a.exe","-x",""]}}`, func(e detector.Event) bool { return e.CommandLine == `"C:\Program Files\a.exe" -x ""` }},
		{"command_line over args", `{"process":{"command_line":"a b","args":["x"]}}`, func(e detector.Event) bool { return e.CommandLine == "a b" }},
		{"sha256 lower case", `{"process":{"hash":{"sha256":"ABCDEF"}}}`, func(e detector.Event) bool { return e.SHA256 == "abcdef" }},
		{"time", `{"@timestamp":"2024-01-02T03:04:05.123456789+02:00"}`, func(e detector.Event) bool {
			return e.Time.Equal(time.Date(2024, 1, 2, 1, 4, 5, 123456789, time.UTC))
		}},
		{"time without zone is UTC", `{"@timestamp":"2024-01-02T03:04:05.5"}`, func(e detector.Event) bool {
			return e.Time.Equal(time.Date(2024, 1, 2, 3, 4, 5, 5e8, time.UTC))
		}},
		{"epoch millis", `{"@timestamp":1704164645000}`, func(e detector.Event) bool { return e.Time.Equal(time.Unix(1704164645, 0)) }},
		{"epoch millis string", `{"@timestamp":"1704164645000"}`, func(e detector.Event) bool { return e.Time.Equal(time.Unix(1704164645, 0)) }},
		{"process.start fallback", `{"process":{"start":"2024-01-02T03:04:05Z"}}`, func(e detector.Event) bool { return e.Time.Equal(time.Unix(1704164645, 0)) }},
		{"event.created fallback", `{"event":{"created":"2024-01-02T03:04:05Z"}}`, func(e detector.Event) bool { return e.Time.Equal(time.Unix(1704164645, 0)) }},
		{"unicode escapes", `{"process":{"executable":"C:\\caf\u00e9\\\ud83d\ude00.exe"}}`, func(e detector.Event) bool { return e.Executable == `C:\café\😀.exe` }},
		{"record id string", `{"winlog":{"record_id":"883412"}}`, func(e detector.Event) bool { return e.RecordID == 883412 }},
		{"record id number", `{"winlog.record_id":120455}`, func(e detector.Event) bool { return e.RecordID == 120455 }},
		{"bad record id is absent", `{"winlog":{"record_id":"x1"},"process":{"pid":3}}`, func(e detector.Event) bool { return e.RecordID == 0 && e.PID == 3 }},
		{"record id object is absent", `{"winlog":{"record_id":{"a":1}},"process":{"pid":3}}`, func(e detector.Event) bool { return e.RecordID == 0 && e.PID == 3 }},
		{"nulls are absent", `{"process":{"executable":null,"pid":null},"user":{"name":null}}`, func(e detector.Event) bool { return e.Executable == "" && e.PID == 0 && e.User == "" }},
		{"unrelated objects skipped", `{"process":{"Ext":{"executable":"x"},"thread":{"pid":4}},"file":{"path":"\\\\tsclient\\c\\a.exe"}}`, func(e detector.Event) bool { return e.Executable == "" && e.PID == 0 }},
	}
	var m ecs.Mapper
	for _, tt := range tests {
		got, err := mapDoc(t, &m, tt.doc)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !tt.check(got) {
			t.Errorf("%s: got %+v", tt.name, got)
		}
	}
}

func TestMapType(t *testing.T) {
	tests := []struct {
		doc  string
		want detector.EventType
	}{
		{`{"event":{"type":"start"}}`, detector.TypeStart},
		{`{"event":{"type":["start","process_start"]}}`, detector.TypeStart},
		{`{"event":{"type":["change","START"]}}`, detector.TypeStart},
		{`{"event":{"type":"process_started"}}`, detector.TypeStartLegacy},
		{`{"event":{"type":["process_start"]}}`, detector.TypeStartLegacy},
		{`{"event":{"type":["end"]}}`, detector.TypeOther},
		{`{"event":{"type":[]}}`, detector.TypeOther},
		{`{}`, detector.TypeOther},
		{`{"event":{"type":["start"],"category":["process"]}}`, detector.TypeStart},
		{`{"event":{"type":["start"],"category":"process"}}`, detector.TypeStart},
		{`{"event":{"type":["start"],"category":["network"]}}`, detector.TypeOther},
		{`{"event":{"type":["start"],"category":["session","process"]}}`, detector.TypeStart},
		{`{"event":{"type":["creation"],"category":["file"]}}`, detector.TypeOther},
	}
	var m ecs.Mapper
	for _, tt := range tests {
		got, err := mapDoc(t, &m, tt.doc)
		if err != nil || got.Type != tt.want {
			t.Errorf("%s: type %v, err %v; want %v", tt.doc, got.Type, err, tt.want)
		}
	}
}

func TestMapHostOS(t *testing.T) {
	tests := []struct {
		doc  string
		want string
	}{
		{`{"host":{"os":{"type":"windows"}}}`, "windows"},
		{`{"host":{"os":{"type":"Linux"}}}`, "linux"},
		{`{"host":{"os":{"type":"macos"}}}`, "macos"},
		{`{"host":{"os":{"family":"debian","platform":"debian"}}}`, "linux"},
		{`{"host":{"os":{"platform":"darwin"}}}`, "macos"},
		{`{"host":{"os":{"platform":"windows"}}}`, "windows"},
		{`{"host":{"os":{"type":"windows"}},"data_stream":{"dataset":"endpoint.events.process"}}`, "windows"},
		{`{"host":{"os":{"type":"linux"}},"winlog":{"channel":"Security"}}`, "linux"}, // the document's word wins
		{`{"winlog":{"channel":"Security"}}`, "windows"},
		{`{"data_stream":{"dataset":"windows.sysmon_operational"}}`, "windows"},
		{`{"data_stream":{"dataset":"windows.forwarded"}}`, "windows"},
		{`{"data_stream":{"dataset":"system.security"}}`, "windows"},
		{`{"event":{"module":"sysmon"}}`, "windows"},
		{`{"event":{"module":"endgame","dataset":"esensor"}}`, "windows"},
		{`{"agent":{"type":"winlogbeat"}}`, "windows"},
		{`{"data_stream":{"dataset":"m365_defender.event"},"process":{"executable":"C:\\a.exe"}}`, "windows"},
		{`{"data_stream":{"dataset":"m365_defender.event"},"process":{"executable":"\\Device\\Mup\\tsclient\\c\\a.exe"}}`, "windows"},
		{`{"data_stream":{"dataset":"m365_defender.event"},"process":{"executable":"/usr/bin/id"}}`, ""},
		{`{"data_stream":{"dataset":"sentinel_one_cloud_funnel.event"},"process":{"executable":"/tmp/a"}}`, ""},
		{`{"data_stream":{"dataset":"endpoint.events.process"},"process":{"executable":"C:\\a.exe"}}`, ""},
		{`{"host":{"os":{"type":"plan9"}}}`, ""},
		{`{}`, ""},
	}
	var m ecs.Mapper
	for _, tt := range tests {
		got, err := mapDoc(t, &m, tt.doc)
		if err != nil || got.HostOS != tt.want {
			t.Errorf("%s: HostOS %q, err %v; want %q", tt.doc, got.HostOS, err, tt.want)
		}
	}
}

func TestMapSource(t *testing.T) {
	tests := []struct{ doc, want string }{
		{`{"data_stream":{"dataset":"endpoint.events.process"},"event":{"dataset":"x","module":"endpoint"}}`, "endpoint.events.process"},
		{`{"event":{"dataset":"esensor","module":"endgame"}}`, "esensor"},
		{`{"event":{"module":"sysmon"},"agent":{"type":"winlogbeat"}}`, "sysmon"},
		{`{"agent":{"type":"winlogbeat"},"winlog":{"channel":"Security"}}`, "winlogbeat"},
		{`{"winlog":{"channel":"Security"}}`, "Security"},
	}
	var m ecs.Mapper
	for _, tt := range tests {
		got, err := mapDoc(t, &m, tt.doc)
		if err != nil || got.Source != tt.want {
			t.Errorf("%s: Source %q, err %v; want %q", tt.doc, got.Source, err, tt.want)
		}
	}
}

func TestMapErrors(t *testing.T) {
	tests := []struct{ doc, want string }{
		{`[1,2]`, "document is not a JSON object: it is a JSON array"},
		{`"text"`, "it is a JSON string"},
		{`{"process":{"executable":{"path":"x"}}}`, "process.executable: want a string, got object"},
		{`{"process":{"executable":true}}`, "process.executable: want a string, got true"},
		{`{"process":{"executable":["a","b"]}}`, "process.executable: want one value, got an array of 2"},
		{`{"process":{"pid":"abc"}}`, `process.pid: "abc" is not an integer`},
		{`{"process":{"pid":1.5}}`, "process.pid: 1.5 is not an integer"},
		{`{"process":{"parent":{"pid":[]}}, "x":1}`, ""},
		{`{"process":{"parent":{"pid":{}}}}`, "process.parent.pid: want a number, got object"},
		{`{"@timestamp":"yesterday"}`, `@timestamp: "yesterday" is not a time`},
		{`{"@timestamp":{"a":1}}`, "@timestamp: want a time, got object"},
		{`{"event":{"type":{"a":1}}}`, "event.type: want a string, got object"},
		{`{"event":{"type":"start","category":[2]}}`, "event.category: want a string, got number"},
		{`{"user":{"name":"a","domain":{}}}`, "user.domain: want a string, got object"},
		{`{"process":{"args":[{}]}}`, "process.args: want a string, got object"},
	}
	var m ecs.Mapper
	for _, tt := range tests {
		_, err := mapDoc(t, &m, tt.doc)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v, want no error", tt.doc, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.doc, err, tt.want)
		}
	}
	_, err := mapDoc(t, &m, `1`)
	if !errors.Is(err, ecs.ErrNotObject) {
		t.Errorf("non-object: %v, want ErrNotObject", err)
	}
}

func TestParseInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", 0, true}, {"42", 42, true}, {" 42 ", 42, true}, {"0x1F90", 8080, true}, {"0X1f", 31, true},
		{"-1", -1, true}, {"0x", 0, false}, {"12ab", 0, false}, {"0xzz", 0, false},
	}
	for _, tt := range tests {
		got, ok := ecs.ParseInt(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseInt(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNormalizeOS(t *testing.T) {
	for in, want := range map[string]string{"Windows": "windows", "darwin": "macos", "ubuntu": "linux", "": "", "ios": "", " linux ": "linux"} {
		if got := ecs.NormalizeOS(in); got != want {
			t.Errorf("NormalizeOS(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMapAllocs(t *testing.T) {
	var p1, p2 fastjson.Parser
	const doc = `{"@timestamp":"2024-01-02T03:04:05Z","event":{"type":["start"],"category":["process"]},"host":{"name":"h","os":{"type":"windows"}},"process":{"executable":"C:\\%s.exe","pid":1,"parent":{"pid":2,"executable":"C:\\p.exe"},"Ext":{"big":{"nested":[1,2,3]}}},"user":{"name":"u","domain":"d"}}`
	a, err := p1.Parse(strings.Replace(doc, "%s", "a", 1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := p2.Parse(strings.Replace(doc, "%s", "b", 1))
	if err != nil {
		t.Fatal(err)
	}
	var m ecs.Mapper
	var ev detector.Event
	allocs := testing.AllocsPerRun(100, func() {
		for _, v := range []*fastjson.Value{a, b} {
			if err := m.Map(v, &ev); err != nil {
				t.Fatal(err)
			}
		}
	})
	// Only the executable differs between a and b: everything else is
	// interned from the previous document.
	if allocs > 2 {
		t.Errorf("%v allocations for two documents, want at most 2 (the executables)", allocs)
	}
	if ev.Executable != `C:\b.exe` || ev.User != `d\u` || ev.Host != "h" {
		t.Errorf("event %+v", ev)
	}
}

// TestMapWinlogRaw covers winlogbeat output that skipped the ingest
// pipeline: the process is only in winlog.event_data.
func TestMapWinlogRaw(t *testing.T) {
	tests := []struct {
		name, doc string
		want      detector.Event
	}{
		{"sysmon 1", `{"@timestamp":"2024-03-12T09:41:07.515Z","agent":{"type":"winlogbeat"},"host":{"name":"pc1"},
			"winlog":{"channel":"Microsoft-Windows-Sysmon/Operational","provider_name":"Microsoft-Windows-Sysmon","event_id":1,"computer_name":"pc1.corp",
			"event_data":{"Image":"\\\\tsclient\\c\\a.exe","ProcessId":"6788","ParentProcessId":"4212","ParentImage":"C:\\p.exe","User":"CORP\\alice","UtcTime":"2024-03-12 09:41:07.512","Hashes":"SHA256=AB"}}}`,
			detector.Event{Time: time.Date(2024, 3, 12, 9, 41, 7, 515e6, time.UTC), Type: detector.TypeStart, PID: 6788, ParentPID: 4212,
				Executable: `\\tsclient\c\a.exe`, ParentExecutable: `C:\p.exe`, User: `CORP\alice`, Host: "pc1", HostOS: "windows", Source: "winlogbeat", SHA256: "ab",
				Inferred: detector.InferredHostOS | detector.InferredType | detector.InferredExecutable}},
		{"4688 string id", `{"winlog":{"channel":"Security","event_id":"4688","computer_name":"pc1",
			"event_data":{"NewProcessName":"\\Device\\Mup\\tsclient\\C\\a.exe","NewProcessId":"0x1a84","ProcessId":"0x1588","SubjectUserName":"alice","SubjectDomainName":"CORP"}}}`,
			detector.Event{Type: detector.TypeStart, PID: 6788, ParentPID: 5512, Executable: `\Device\Mup\tsclient\C\a.exe`,
				User: `CORP\alice`, Host: "pc1", HostOS: "windows", Source: "Security",
				Inferred: detector.InferredHostOS | detector.InferredType | detector.InferredExecutable}},
		{"logon ignored", `{"winlog":{"channel":"Security","event_id":4624,"event_data":{"ProcessName":"C:\\a.exe"}}}`,
			detector.Event{HostOS: "windows", Source: "Security", Inferred: detector.InferredHostOS}},
		{"ecs fields win", `{"event":{"type":["info"]},"process":{"pid":1},"winlog":{"channel":"Security","event_id":4688,"event_data":{"NewProcessName":"C:\\a.exe","NewProcessId":"0x10"}}}`,
			detector.Event{PID: 1, Executable: `C:\a.exe`, HostOS: "windows", Source: "Security", Inferred: detector.InferredHostOS | detector.InferredExecutable}},
	}
	var m ecs.Mapper
	for _, tt := range tests {
		got, err := mapDoc(t, &m, tt.doc)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
}
