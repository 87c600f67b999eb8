package eventxml

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
)

func utf16LE(s string, bom bool) []byte {
	var b []byte
	if bom {
		b = []byte{0xFF, 0xFE}
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

func TestDecodeEvent(t *testing.T) {
	t.Parallel()
	ev := processEvent(42, `\\tsclient\c\temp\stack\a.exe`)
	nested := strings.Replace(ev, "</EventID>", "</Level>", 1)
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"rendered", []byte(ev), ""},
		{"utf8 bom and declaration", []byte("\xEF\xBB\xBF<?xml version='1.0' encoding='utf-8'?>\r\n" + ev + "\r\n"), ""},
		{"comment before", []byte("<!-- from EvtRender -->\n" + ev), ""},
		{"utf16le bom", utf16LE(ev, true), ""},
		{"trailing nul", []byte(ev + "\x00"), ""},
		{"two events", []byte(ev + ev), "after </Event>"},
		{"truncated", []byte(ev[:len(ev)-3]), "not closed"},
		{"not an event", []byte("<Events></Events>"), "no <Event>"},
		{"empty", nil, "no <Event>"},
		{"bad nesting", []byte(nested), fmt.Sprintf("byte %d: </Level> closes <EventID>", strings.Index(nested, "</Level>"))},
		{"unterminated declaration", []byte("<?xml version='1.0'"), "unterminated"},
	}
	for _, tt := range tests {
		rec, err := DecodeEvent(tt.data)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if rec.EventID != 1 || rec.RecordID != 42 || rec.Data["Image"] != `\\tsclient\c\temp\stack\a.exe` ||
			rec.Data["Product"] != "Microsoft® Windows® Operating System" || len(rec.Data) != 23 {
			t.Errorf("%s: record %+v", tt.name, rec)
		}
	}
}

func TestEntities(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw, want string
	}{
		{`a&amp;b`, `a&b`},
		{`&lt;script&gt;`, `<script>`},
		{`&quot;C:\x y\a.exe&quot;`, `"C:\x y\a.exe"`},
		{`it&apos;s`, `it's`},
		{`&#x5c;&#x5C;tsclient&#92;c`, `\\tsclient\c`},
		{`&#169;&#xe9;&#x1F600;`, "©é😀"},
		{`tab&#9;nl&#10;cr&#13;`, "tab\tnl\ncr\r"},
		{"crlf\r\nlone\rcr", "crlf\nlone\ncr"},
		{`&amp;amp;`, `&amp;`},
		{`<![CDATA[&amp;<>]]>`, `&amp;<>`},
		{`no entities at all`, `no entities at all`},
	}
	for _, tt := range tests {
		rec, err := DecodeEvent([]byte(sysmonEvent(1, 1, "<Data Name='v'>"+tt.raw+"</Data><Data Name='a&amp;&#x41;'/>")))
		if err != nil {
			t.Errorf("%q: %v", tt.raw, err)
			continue
		}
		if got := rec.Data["v"]; got != tt.want {
			t.Errorf("%q decoded to %q, want %q", tt.raw, got, tt.want)
		}
		if _, ok := rec.Data["a&A"]; !ok {
			t.Errorf("attribute entities not decoded: %v", rec.Data)
		}
	}
	for _, bad := range []string{`&nbsp;`, `&#0;`, `&#xD800;`, `&#x110000;`, `&#;`, `&#x;`, `&amp`, `& b`, `&#12a;`} {
		if _, err := DecodeEvent([]byte(sysmonEvent(1, 1, "<Data Name='v'>"+bad+"</Data>"))); err == nil ||
			!strings.Contains(err.Error(), "invalid entity") {
			t.Errorf("%q: err = %v, want invalid entity", bad, err)
		}
	}
}

func TestSystemTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2026-03-14T09:26:53Z", want},
		{"2026-03-14T09:26:53.6Z", want.Add(600 * time.Millisecond)},
		{"2026-03-14T09:26:53.646123Z", want.Add(646123 * time.Microsecond)},
		{"2026-03-14T09:26:53.6461234Z", want.Add(646123400)},
		{"2026-03-14T09:26:53.646123400Z", want.Add(646123400)},
		{"2026-03-14T10:26:53.5+01:00", want.Add(500 * time.Millisecond)},
		{"2026-03-14T09:26:53.25", want.Add(250 * time.Millisecond)},
	}
	for _, tt := range tests {
		got, ok := parseSystemTime([]byte(tt.in))
		if !ok || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("%s: %v %v, want %v", tt.in, got, ok, tt.want)
		}
	}
	for _, bad := range []string{"", "2026-03-14", "14/03/2026 09:26:53"} {
		if _, ok := parseSystemTime([]byte(bad)); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestQualifiers(t *testing.T) {
	t.Parallel()
	ev := strings.Replace(sysmonEvent(1, 1, ""), "<EventID>1</EventID>", "<EventID Qualifiers='16384'>7045</EventID>", 1)
	rec, err := DecodeEvent([]byte(ev))
	if err != nil || rec.EventID != 7045 {
		t.Errorf("EventID %d, err %v", rec.EventID, err)
	}
}

// chcpXML renders the shared evtx_dump JSON of a real Sysmon event as
// wevtutil would print it: System in schema order, EventData in the order
// the record holds it, values escaped as EvtRender escapes them.
func chcpXML(t *testing.T, raw []byte) (string, map[string]string) {
	t.Helper()
	var doc struct {
		Event struct {
			System struct {
				Provider struct {
					Attr struct{ Name, Guid string } `json:"#attributes"`
				}
				EventID, Version, Level, Task, Opcode int
				Keywords                              string
				TimeCreated                           struct {
					Attr struct{ SystemTime string } `json:"#attributes"`
				}
				EventRecordID uint64
				Execution     struct {
					Attr struct{ ProcessID, ThreadID int } `json:"#attributes"`
				}
				Channel, Computer string
				Security          struct {
					Attr struct{ UserID string } `json:"#attributes"`
				}
			}
			EventData json.RawMessage
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	s := doc.Event.System
	esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", `"`, "&quot;")
	var b strings.Builder
	fmt.Fprintf(&b, "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"+
		"<Provider Name='%s' Guid='{%s}'/><EventID>%d</EventID><Version>%d</Version><Level>%d</Level>"+
		"<Task>%d</Task><Opcode>%d</Opcode><Keywords>%s</Keywords><TimeCreated SystemTime='%s'/>"+
		"<EventRecordID>%d</EventRecordID><Correlation/><Execution ProcessID='%d' ThreadID='%d'/>"+
		"<Channel>%s</Channel><Computer>%s</Computer><Security UserID='%s'/></System><EventData>",
		s.Provider.Attr.Name, strings.ToLower(s.Provider.Attr.Guid), s.EventID, s.Version, s.Level, s.Task, s.Opcode,
		s.Keywords, s.TimeCreated.Attr.SystemTime, s.EventRecordID, s.Execution.Attr.ProcessID, s.Execution.Attr.ThreadID,
		s.Channel, s.Computer, s.Security.Attr.UserID)
	// Walk EventData in order; numbers print as Sysmon writes them.
	dec := json.NewDecoder(bytes.NewReader(doc.Event.EventData))
	dec.UseNumber()
	data := map[string]string{}
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		v, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		val := fmt.Sprint(v)
		data[k.(string)] = val
		fmt.Fprintf(&b, "<Data Name='%s'>%s</Data>", k, esc.Replace(val))
	}
	b.WriteString("</EventData></Event>")
	return b.String(), data
}

// TestRealSysmonEvent cross-checks against a real Sysmon EID 1 (SigmaHQ
// regression data in testdata/thirdparty/sigma).
func TestRealSysmonEvent(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(testdir.ThirdParty(t, "sigma", "sigma_regression_chcp_sysmon1.json"))
	if err != nil {
		t.Fatal(err)
	}
	xmlText, data := chcpXML(t, raw)
	if len(data) != 23 {
		t.Fatalf("JSON EventData has %d fields", len(data))
	}
	wantRec := winevent.Record{
		Provider: "Microsoft-Windows-Sysmon",
		Channel:  "Microsoft-Windows-Sysmon/Operational",
		EventID:  1,
		Computer: "ar-win-dc.attackrange.local",
		Time:     time.Date(2025, 10, 25, 17, 27, 26, 975358000, time.UTC),
		RecordID: 11886324,
		UserSID:  "S-1-5-18",
	}
	wantEv := detector.Event{
		Time:             time.Date(2025, 10, 25, 17, 27, 26, 974000000, time.UTC), // UtcTime
		Type:             detector.TypeStart,
		PID:              6788,
		ParentPID:        8248,
		Executable:       `C:\Windows\System32\chcp.com`,
		CommandLine:      "chcp",
		WorkingDirectory: `C:\Users\Administrator\Downloads\`,
		ParentExecutable: `C:\Windows\System32\cmd.exe`,
		User:             `ATTACKRANGE\Administrator`,
		Host:             "ar-win-dc.attackrange.local",
		HostOS:           detector.OSWindows,
		Source:           "Microsoft-Windows-Sysmon/Operational",
		SHA256:           "a807b535f7176642fc87911d185c10b00981388cda68f5b8e2ff4c73ff514352",
		RecordID:         11886324,
		LogonID:          0x529ae3,
		SessionID:        detector.SessionOf(2),
		LogonTime:        1761302159, // from LogonGuid: 2025-10-24T10:35:59Z
	}
	inputs := map[string][]byte{
		"DecodeEvent": []byte(xmlText),
		"Read utf8":   []byte(xmlText + xmlText),
		"Read utf16":  utf16LE("<Events>\r\n"+xmlText+"\r\n"+xmlText+"\r\n</Events>", true),
	}
	for name, in := range inputs {
		var recs []winevent.Record
		if name == "DecodeEvent" {
			rec, err := DecodeEvent(in)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			recs = append(recs, rec)
		} else {
			res := readRecords(t, bytes.NewReader(in), "chcp.xml")
			if res.err != nil || len(res.bad) != 0 || len(res.recs) != 2 {
				t.Fatalf("%s: err %v bad %v, %d records", name, res.err, res.bad, len(res.recs))
			}
			recs = res.recs
		}
		for _, rec := range recs {
			checkRecord(t, rec, wantRec, data, 23)
			if rec.Data["Product"] != "Microsoft® Windows® Operating System" || rec.Data["ParentCommandLine"] != "cmd.exe  /c chcp" {
				t.Errorf("%s: Product %q ParentCommandLine %q", name, rec.Data["Product"], rec.Data["ParentCommandLine"])
			}
			var ev detector.Event
			rec.Event(&ev)
			checkEvent(t, ev, wantEv)
			if _, hit := detector.MustNew(detector.DefaultConfig()).Match(&ev); hit {
				t.Errorf("%s: benign chcp.com detected", name)
			}
		}
	}
	// The pid in the JSON is a number; the XML carries it as text.
	if data["ProcessId"] != strconv.Itoa(6788) {
		t.Errorf("ProcessId %q", data["ProcessId"])
	}
}
