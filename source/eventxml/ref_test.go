package eventxml

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/source/winevent"
)

// sysmonEvent renders a Sysmon event the way wevtutil does, with the
// given EventData content.
func sysmonEvent(eid int, rid uint64, eventData string) string {
	return fmt.Sprintf("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"+
		"<Provider Name='Microsoft-Windows-Sysmon' Guid='{5770385f-c22a-43e0-bf4c-06f5698ffbd9}'/>"+
		"<EventID>%d</EventID><Version>5</Version><Level>4</Level><Task>%d</Task><Opcode>0</Opcode>"+
		"<Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime='2026-03-14T09:26:53.6461234Z'/>"+
		"<EventRecordID>%d</EventRecordID><Correlation/><Execution ProcessID='3044' ThreadID='4212'/>"+
		"<Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>WS-FIN-07.corp.example.com</Computer>"+
		"<Security UserID='S-1-5-18'/></System><EventData>%s</EventData></Event>", eid, eid, rid, eventData)
}

// processEvent is a full Sysmon EID 1 for image.
func processEvent(rid uint64, image string) string {
	var b strings.Builder
	for _, kv := range [][2]string{
		{"RuleName", "-"}, {"UtcTime", "2026-03-14 09:26:53.641"}, {"ProcessGuid", "{6f1c2a3b-4d5e-65f2-1c02-000000000e00}"},
		{"ProcessId", strconv.FormatUint(rid%60000, 10)}, {"Image", image}, {"FileVersion", "10.0.22621.1 (WinBuild.160101.0800)"},
		{"Description", "Windows Command Processor"}, {"Product", "Microsoft&#174; Windows&#174; Operating System"},
		{"Company", "Microsoft Corporation"}, {"OriginalFileName", "Cmd.Exe"},
		{"CommandLine", "&quot;" + image + "&quot; /c echo hello &amp;&amp; exit"}, {"CurrentDirectory", `C:\Users\j.doe\`},
		{"User", `CORP\j.doe`}, {"LogonGuid", "{6f1c2a3b-1a2b-65f2-8f3c-0d0000000000}"}, {"LogonId", "0xd3c8f"},
		{"TerminalSessionId", "2"}, {"IntegrityLevel", "Medium"},
		{"Hashes", "SHA1=3F786850E387550FDAB836ED7E6DC881DE23001B,MD5=D41D8CD98F00B204E9800998ECF8427E,SHA256=9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08,IMPHASH=F34D5F2D4577ED6D9CEEC516C1F5A744"},
		{"ParentProcessGuid", "{6f1c2a3b-4d20-65f2-1a02-000000000e00}"}, {"ParentProcessId", "5120"},
		{"ParentImage", `C:\Windows\explorer.exe`}, {"ParentCommandLine", `C:\Windows\Explorer.EXE`}, {"ParentUser", `CORP\j.doe`},
	} {
		fmt.Fprintf(&b, "<Data Name='%s'>%s</Data>", kv[0], kv[1])
	}
	return sysmonEvent(1, rid, b.String())
}

// generate returns n wevtutil-style events with no root, one in every
// `every` executed from \\tsclient.
func generate(n, every int) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		img := `C:\Windows\System32\cmd.exe`
		if i%every == 0 {
			img = `\\tsclient\c\temp\stack\a.exe`
		}
		b.WriteString(processEvent(uint64(i), img))
		if i%8 == 0 {
			b.WriteString("\r\n")
		}
	}
	return b.Bytes()
}

// refEvent is the encoding/xml view of an event, the reference the
// hand-written scanner is checked against.
type refEvent struct {
	XMLName xml.Name `xml:"Event"`
	System  struct {
		Provider struct {
			Name string `xml:"Name,attr"`
		} `xml:"Provider"`
		EventID     string `xml:"EventID"`
		TimeCreated struct {
			SystemTime string `xml:"SystemTime,attr"`
		} `xml:"TimeCreated"`
		EventRecordID string `xml:"EventRecordID"`
		Channel       string `xml:"Channel"`
		Computer      string `xml:"Computer"`
		Security      struct {
			UserID string `xml:"UserID,attr"`
		} `xml:"Security"`
	} `xml:"System"`
	Data []struct {
		Name  string `xml:"Name,attr"`
		Value string `xml:",chardata"`
	} `xml:"EventData>Data"`
}

func (e *refEvent) record() (winevent.Record, error) {
	r := winevent.Record{
		Provider: e.System.Provider.Name,
		Channel:  e.System.Channel,
		Computer: e.System.Computer,
		UserSID:  e.System.Security.UserID,
		Data:     make(map[string]string, len(e.Data)),
	}
	var err error
	if r.EventID, err = strconv.Atoi(strings.TrimSpace(e.System.EventID)); err != nil {
		return r, err
	}
	if s := strings.TrimSpace(e.System.EventRecordID); s != "" {
		if r.RecordID, err = strconv.ParseUint(s, 10, 64); err != nil {
			return r, err
		}
	}
	if s := e.System.TimeCreated.SystemTime; s != "" {
		t, ok := parseSystemTime([]byte(s))
		if !ok {
			return r, fmt.Errorf("bad time %q", s)
		}
		r.Time = t
	}
	for _, d := range e.Data {
		if d.Name != "" {
			r.Data[d.Name] = d.Value
		}
	}
	return r, nil
}

// refRead decodes every event of r with encoding/xml, as a baseline for
// correctness and speed. It stops at the first error.
func refRead(r io.Reader, fn func(*winevent.Record)) error {
	dec := xml.NewDecoder(r)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "Event" {
			continue
		}
		var e refEvent
		if err := dec.DecodeElement(&e, &se); err != nil {
			return err
		}
		rec, err := e.record()
		if err != nil {
			return err
		}
		fn(&rec)
	}
}

// TestCrossCheck decodes tricky but valid events with both the scanner and
// encoding/xml and requires the same Record.
func TestCrossCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		eventData string
	}{
		{"plain", `<Data Name='Image'>C:\x.exe</Data>`},
		{"double quotes", `<Data Name="Image">C:\x.exe</Data><Data Name="q">it's</Data>`},
		{"quote chars inside other quotes", `<Data Name="a'b">1</Data><Data Name='c"d'>2</Data>`},
		{"entities", `<Data Name='CommandLine'>&quot;a&quot; &amp;&amp; b &lt;c&gt; &apos;d&apos;</Data>`},
		{"char refs", `<Data Name='p'>&#x5c;&#92;tsclient&#x5C;c &#233; &#x1F600; &#13;&#10;</Data>`},
		{"entity in name", `<Data Name='a&amp;b'>v</Data>`},
		{"cdata", `<Data Name='Image'><![CDATA[\\tsclient\c\<x>&amp;.exe]]></Data>`},
		{"cdata and text", `<Data Name='v'>a<![CDATA[<b>]]>c&amp;</Data>`},
		{"self-closing", `<Data Name='Empty'/><Data Name='Empty2' /><Data Name='x'>1</Data>`},
		{"empty element", `<Data Name='Empty'></Data>`},
		{"comment inside", `<Data Name='v'>a<!-- </Event> -->b</Data>`},
		{"cdata with end tag", `<Data Name='v'><![CDATA[</Data></Event>]]></Data>`},
		{"spaces in tags", "<Data   Name = 'v' >x</Data >\n<Data\tName\n=\"w\"\r\n/>"},
		{"newlines in value", "<Data Name='v'>line1\r\nline2\rline3\nline4</Data>"},
		{"unicode", `<Data Name='User'>CORP\Jürgen Ünal 日本</Data>`},
		{"unnamed data", `<Data>a</Data><Data Name='x'>b</Data>`},
		{"processing instruction", `<?pi data?><Data Name='x'>b</Data>`},
		{"binary sibling", `<Data Name='x'>b</Data><Binary>00FF</Binary>`},
		{"duplicate names", `<Data Name='x'>1</Data><Data Name='x'>2</Data>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := sysmonEvent(1, 99, tt.eventData)
			var want []winevent.Record
			if err := refRead(strings.NewReader(in), func(r *winevent.Record) { want = append(want, *r) }); err != nil {
				t.Fatalf("encoding/xml rejects the input: %v", err)
			}
			got, err := DecodeEvent([]byte(in))
			if err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			if len(want) != 1 {
				t.Fatalf("reference found %d events", len(want))
			}
			checkRecord(t, got, want[0], want[0].Data, len(want[0].Data))
		})
	}
}

// TestCrossCheckSamples compares the scanner with encoding/xml over the
// project samples and a generated stream.
func TestCrossCheckSamples(t *testing.T) {
	t.Parallel()
	inputs := map[string][]byte{
		"sysmon":    mustRead(t, "xml", "sysmon_tsclient.xml"),
		"security":  mustRead(t, "xml", "security_4688_tsclient.xml"),
		"generated": generate(200, 17),
	}
	for name, in := range inputs {
		var want []winevent.Record
		// encoding/xml wants a single root element.
		if err := refRead(io.MultiReader(strings.NewReader("<R>"), bytes.NewReader(bytes.TrimPrefix(skipDecl(in), nil)), strings.NewReader("</R>")),
			func(r *winevent.Record) { want = append(want, *r) }); err != nil {
			t.Fatalf("%s: reference: %v", name, err)
		}
		res := readRecords(t, bytes.NewReader(in), name)
		if res.err != nil || len(res.bad) != 0 {
			t.Fatalf("%s: err %v bad %v", name, res.err, res.bad)
		}
		if len(res.recs) != len(want) {
			t.Fatalf("%s: %d records, reference %d", name, len(res.recs), len(want))
		}
		for i := range want {
			g := res.recs[i]
			// The reference does not read UserData.
			if g.EventID == 1102 {
				g.Data = map[string]string{}
			}
			checkRecord(t, g, want[i], want[i].Data, len(want[i].Data))
		}
	}
}

// skipDecl drops an XML declaration, which may not follow the <R> wrapper.
func skipDecl(b []byte) []byte {
	if bytes.HasPrefix(b, []byte("<?xml")) {
		if k := bytes.Index(b, []byte("?>")); k >= 0 {
			return b[k+2:]
		}
	}
	return b
}
