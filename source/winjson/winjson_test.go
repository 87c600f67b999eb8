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

// TestSessionEvents: LocalSessionManager events keep their values in
// UserData/EventXML (evtx_dump writes it nested, with the element's
// attributes); NXLog flattens them like EventData. Both reach the shared
// mapping as session events.
func TestSessionEvents(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want detector.Event
	}{
		{
			name: "evtx_dump LocalSessionManager 21",
			doc: `{"Event":{"#attributes":{"xmlns":"http://schemas.microsoft.com/win/2004/08/events/event"},
				"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-TerminalServices-LocalSessionManager","Guid":"5D896912-022D-40AA-A3A8-4FA5515C76D7"}},
				"EventID":21,"Channel":"Microsoft-Windows-TerminalServices-LocalSessionManager/Operational","Computer":"FS01.offsec.lan",
				"TimeCreated":{"#attributes":{"SystemTime":"2021-05-14T20:30:00.000000Z"}},"EventRecordID":310},
				"UserData":{"EventXML":{"#attributes":{"xmlns":"Event_NS"},"User":"OFFSEC\\admmig","SessionID":3,"Address":"10.23.23.9"}}}}`,
			want: detector.Event{Time: time.Date(2021, 5, 14, 20, 30, 0, 0, time.UTC), Host: "FS01.offsec.lan", User: `OFFSEC\admmig`,
				Source: "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational", RecordID: 310,
				SessionID: detector.SessionOf(3), ClientAddress: "10.23.23.9", LogonTime: 1621024200,
				Attribution: "lsm", SessionChange: detector.SessionLogon},
		},
		{
			name: "NXLog flat 4778",
			doc: `{"EventID":4778,"SourceName":"Microsoft-Windows-Security-Auditing","Channel":"Security","Hostname":"WORKSTATION5.theshire.local",
				"@timestamp":"2020-09-22T08:38:05.699Z","LogonID":"0x10ac67","ClientName":"robertos-mbp","ClientAddress":"1.2.3.4",
				"AccountName":"pgustavo","AccountDomain":"THESHIRE","SessionName":"RDP-Tcp#2"}`,
			want: detector.Event{Time: time.Date(2020, 9, 22, 8, 38, 5, 699e6, time.UTC), Host: "WORKSTATION5.theshire.local",
				User: `THESHIRE\pgustavo`, Source: "Security", LogonID: 0x10ac67, ClientName: "robertos-mbp", ClientAddress: "1.2.3.4",
				Attribution: "4778", SessionChange: detector.SessionReconnect},
		},
		{
			name: "NXLog flat LocalSessionManager 24",
			doc: `{"EventID":24,"SourceName":"Microsoft-Windows-TerminalServices-LocalSessionManager","Channel":"Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
				"Hostname":"pc1","@timestamp":"2020-09-22T08:40:00Z","User":"PC1\\bob","SessionID":"2","Address":"1.2.3.4"}`,
			want: detector.Event{Time: time.Date(2020, 9, 22, 8, 40, 0, 0, time.UTC), Host: "pc1", User: `PC1\bob`,
				Source:    "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
				SessionID: detector.SessionOf(2), ClientAddress: "1.2.3.4", Attribution: "lsm", SessionChange: detector.SessionDisconnect},
		},
	}
	var m winjson.Mapper
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev detector.Event
			if err := m.Map(parse(t, tt.doc), &ev); err != nil {
				t.Fatal(err)
			}
			if ev != tt.want {
				t.Errorf("got\n%+v\nwant\n%+v", ev, tt.want)
			}
		})
	}
}
