package eventlog

import (
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// sysmon1 is shaped as EvtRender(EvtRenderEventXml) returns a Sysmon EID 1,
// with the UNC path Sysmon writes for a client drive.
const sysmon1 = `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Sysmon' Guid='{5770385f-c22a-43e0-bf4c-06f5698ffbd9}'/><EventID>1</EventID><Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime='2024-05-01T12:00:01.1234567Z'/><EventRecordID>991</EventRecordID><Correlation/><Execution ProcessID='3012' ThreadID='4100'/><Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>WS01.corp.example</Computer><Security UserID='S-1-5-18'/></System><EventData><Data Name='RuleName'>-</Data><Data Name='UtcTime'>2024-05-01 12:00:00.987</Data><Data Name='ProcessGuid'>{a1b2c3d4-0000-0000-0000-000000000000}</Data><Data Name='ProcessId'>4242</Data><Data Name='Image'>\\tsclient\c\temp\a.exe</Data><Data Name='CommandLine'>"\\tsclient\c\temp\a.exe" -x</Data><Data Name='CurrentDirectory'>C:\Users\alice\</Data><Data Name='User'>CORP\alice</Data><Data Name='Hashes'>SHA1=AA,MD5=BB,SHA256=ABCDEF</Data><Data Name='ParentProcessId'>600</Data><Data Name='ParentImage'>C:\Windows\explorer.exe</Data></EventData></Event>`

const sec4688 = `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4688</EventID><Version>2</Version><TimeCreated SystemTime='2024-05-01T12:00:02Z'/><EventRecordID>77</EventRecordID><Channel>Security</Channel><Computer>WS01</Computer></System><EventData><Data Name='SubjectUserName'>alice</Data><Data Name='SubjectDomainName'>CORP</Data><Data Name='NewProcessId'>0x1092</Data><Data Name='NewProcessName'>\Device\Mup\tsclient\C\temp\a.exe</Data><Data Name='ProcessId'>0x258</Data><Data Name='CommandLine'></Data><Data Name='ParentProcessName'>C:\Windows\explorer.exe</Data></EventData></Event>`

func utf16le(s string) []byte {
	b := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

func TestDecode(t *testing.T) {
	m := detector.MustNew(detector.DefaultConfig())
	tests := []struct {
		name   string
		xml    []byte
		pid    int64
		ppid   int64
		user   string
		source string
		form   detector.Form
	}{
		{"sysmon 1", []byte(sysmon1), 4242, 600, `CORP\alice`, "eventlog:sysmon", detector.FormUNC},
		{"sysmon 1 as UTF-16", utf16le(sysmon1), 4242, 600, `CORP\alice`, "eventlog:sysmon", detector.FormUNC},
		{"4688", []byte(sec4688), 0x1092, 0x258, `CORP\alice`, "eventlog:security", detector.FormKernel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev detector.Event
			if err := Decode(tt.xml, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Type != detector.TypeStart || ev.PID != tt.pid || ev.ParentPID != tt.ppid || ev.User != tt.user || ev.Source != tt.source || ev.HostOS != detector.OSWindows {
				t.Errorf("%+v", ev)
			}
			d, ok := m.Match(&ev)
			if !ok || d.Form != tt.form || !strings.EqualFold(d.ClientDrive, "c") {
				t.Errorf("match %v %+v", ok, d)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	var ev detector.Event
	for _, in := range []string{"", "<Evnt/>", sysmon1[:200]} {
		if err := Decode([]byte(in), &ev); err == nil {
			t.Errorf("Decode(%.30q) succeeded", in)
		}
	}
	other := strings.Replace(sysmon1, "<EventID>1</EventID>", "<EventID>3</EventID>", 1)
	if err := Decode([]byte(other), &ev); err != nil || ev.Type != detector.TypeOther {
		t.Errorf("EID 3: %v %+v", err, ev)
	}
}
