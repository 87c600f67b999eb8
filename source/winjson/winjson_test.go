package winjson_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source/winjson"
	"github.com/valyala/fastjson"
)

func parse(t *testing.T, doc string) *fastjson.Value {
	t.Helper()
	v, err := fastjson.Parse(doc)
	if err != nil {
		t.Fatalf("test document: %v", err)
	}
	return v
}

func TestDetect(t *testing.T) {
	tests := []struct {
		doc  string
		want winjson.Kind
	}{
		{`{"Event":{"System":{"EventID":1}}}`, winjson.KindEvtxDump},
		{`{"Event":{"System":null}}`, winjson.KindNone},
		{`{"Event":"x"}`, winjson.KindNone},
		{`{"EventID":1,"Channel":"Security"}`, winjson.KindFlat},
		{`{"EventID":4688,"SourceName":"Microsoft-Windows-Security-Auditing"}`, winjson.KindFlat},
		{`{"EventID":1}`, winjson.KindNone},
		{`{"event":{"code":"1"},"winlog":{"channel":"Security","event_id":1}}`, winjson.KindNone},
		{`[1]`, winjson.KindNone},
	}
	for _, tt := range tests {
		if got := winjson.Detect(parse(t, tt.doc)); got != tt.want {
			t.Errorf("Detect(%s) = %v, want %v", tt.doc, got, tt.want)
		}
	}
}

func TestRecordEvtxDump(t *testing.T) {
	doc := `{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Security-Auditing"}},
		"EventID":{"#attributes":{"Qualifiers":""},"#text":"4688"},"Channel":"Security","Computer":"pc1",
		"TimeCreated":{"#attributes":{"SystemTime":"2024-03-12T09:41:07.520331Z"}},"EventRecordID":"77",
		"Security":{"#attributes":{"UserID":"S-1-5-18"}}},
		"EventData":{"NewProcessName":"\\Device\\Mup\\tsclient\\C\\a.exe","NewProcessId":"0x1a84","ProcessId":5512,
		"SubjectUserName":"alice","SubjectDomainName":"CORP","Flag":true,"Empty":null,
		"Elem":{"#attributes":{"x":"y"}},"#attributes":{"Name":"ignored"},"Blob":{"nested":{"x":1}},"List":[1,2]}}}`
	var m winjson.Mapper
	r, err := m.Record(parse(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	if r.Provider != "Microsoft-Windows-Security-Auditing" || r.EventID != 4688 || r.Channel != "Security" ||
		r.Computer != "pc1" || r.RecordID != 77 || r.UserSID != "S-1-5-18" ||
		!r.Time.Equal(time.Date(2024, 3, 12, 9, 41, 7, 520331000, time.UTC)) {
		t.Errorf("header: %+v", r)
	}
	for k, want := range map[string]string{"NewProcessId": "0x1a84", "ProcessId": "5512", "Flag": "true", "Empty": "", "Elem": ""} {
		if r.Data[k] != want {
			t.Errorf("Data[%s] = %q, want %q", k, r.Data[k], want)
		}
	}
	for _, k := range []string{"#attributes", "Blob", "List"} {
		if _, ok := r.Data[k]; ok {
			t.Errorf("Data holds %s", k)
		}
	}
	var ev detector.Event
	if err := m.Map(parse(t, doc), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != detector.TypeStart || ev.PID != 6788 || ev.ParentPID != 5512 || ev.User != `CORP\alice` || ev.HostOS != "windows" {
		t.Errorf("event: %+v", ev)
	}
}

func TestRecordDataArray(t *testing.T) {
	doc := `{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":1},
		"EventData":{"Data":[{"#attributes":{"Name":"Image"},"#text":"\\\\tsclient\\c\\a.exe"},{"#attributes":{"Name":"ProcessId"},"#text":42},{"#text":"nameless"}]}}}`
	var m winjson.Mapper
	r, err := m.Record(parse(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	if r.Data["Image"] != `\\tsclient\c\a.exe` || r.Data["ProcessId"] != "42" || len(r.Data) != 2 {
		t.Errorf("Data = %v", r.Data)
	}
}

func TestRecordFlat(t *testing.T) {
	doc := `{"EventID":"1","SourceName":"Microsoft-Windows-Sysmon","Channel":"Microsoft-Windows-Sysmon/Operational",
		"Hostname":"pc1.corp","host":"collector","EventTime":"2024-03-12 05:41:07","@timestamp":"2024-03-12T09:41:08.002Z",
		"RecordNumber":883412,"UserID":"S-1-5-18","Image":"C:\\a.exe","ProcessId":6788,"Message":"long text",
		"tags":["x"],"nested":{"a":1}}`
	var m winjson.Mapper
	r, err := m.Record(parse(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	if r.EventID != 1 || r.Provider != "Microsoft-Windows-Sysmon" || r.Computer != "pc1.corp" || r.RecordID != 883412 ||
		r.UserSID != "S-1-5-18" || !r.Time.Equal(time.Date(2024, 3, 12, 9, 41, 8, 2e6, time.UTC)) {
		t.Errorf("header: %+v", r)
	}
	if r.Data["Image"] != `C:\a.exe` || r.Data["ProcessId"] != "6788" {
		t.Errorf("Data = %v", r.Data)
	}
	for _, k := range []string{"Message", "tags", "nested"} {
		if _, ok := r.Data[k]; ok {
			t.Errorf("Data holds %s", k)
		}
	}
	// The map is reused: keys of the previous record must not leak.
	r, err = m.Record(parse(t, `{"EventID":4624,"Channel":"Security","host":{"name":"collector-host"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Data["Image"]; ok || r.Computer != "collector-host" || r.Provider != "" {
		t.Errorf("second record: %+v", r)
	}
}

func TestRecordErrors(t *testing.T) {
	tests := []struct{ doc, want string }{
		{`{"a":1}`, "not a Windows event export"},
		{`{"Event":{"System":{"Channel":"Security"}}}`, "Event.System.EventID: missing"},
		{`{"Event":{"System":{"EventID":"x"}}}`, `Event.System.EventID: "x" is not an event id`},
		{`{"Event":{"System":{"EventID":[1]}}}`, "Event.System.EventID: want a string or number, got array"},
		{`{"Event":{"System":{"EventID":1,"Computer":{"a":1}}}}`, "Event.System.Computer: want a string or number, got object"},
		{`{"Event":{"System":{"EventID":1,"EventRecordID":"r"}}}`, `EventRecordID: "r" is not a number`},
		{`{"Event":{"System":{"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"soon"}}}}}`, `TimeCreated.SystemTime: "soon" is not a time`},
		{`{"Event":{"System":{"EventID":1},"EventData":"x"}}`, "Event.EventData: want an object, got string"},
		{`{"Event":{"System":{"EventID":1},"EventData":{"Image":["a"]}}}`, "Event.EventData.Image: want a string or number, got array"},
		{`{"EventID":-4,"Channel":"Security"}`, `EventID: "-4" is not an event id`},
		{`{"EventID":1.5,"Channel":"Security"}`, `EventID: "1.5" is not an event id`},
		{`{"EventID":1,"Channel":["Security"]}`, "Channel: want a string or number, got array"},
		{`{"EventID":1,"Channel":"Security","EventTime":"noon"}`, `EventTime: "noon" is not a time`},
		{`{"EventID":1,"Channel":"Security","RecordNumber":"n"}`, `RecordNumber: "n" is not a number`},
		{`{"EventID":1,"Channel":"Security","Image":{"a":1}}`, "Image: want a string or number, got object"},
	}
	var m winjson.Mapper
	for _, tt := range tests {
		_, err := m.Record(parse(t, tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.doc, err, tt.want)
		}
	}
}
