package collect

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/internal/evtxwrite"
)

var logonAt = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func writeLog(t *testing.T, path string, evs ...evtxwrite.Event) {
	t.Helper()
	var b bytes.Buffer
	if err := evtxwrite.Write(&b, evs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// rdpLogon is a 4624 type 10 of logon 0x6a423 from 10.23.23.9.
func rdpLogon() evtxwrite.Event {
	return evtxwrite.Event{Provider: "Microsoft-Windows-Security-Auditing", Channel: "Security", EventID: 4624,
		Computer: "srv1", TimeCreated: logonAt, RecordID: 1, Data: []evtxwrite.Data{
			{Name: "TargetLogonId", Value: "0x6a423"}, {Name: "LogonType", Value: "10"}, {Name: "IpAddress", Value: "10.23.23.9"},
			{Name: "WorkstationName", Value: "JUMP01"}}}
}

// clientExec is a Sysmon 1 of a program run from the client drive by
// logon, a minute after the logon.
func clientExec(pid int, logon string) evtxwrite.Event {
	at := logonAt.Add(time.Minute)
	return evtxwrite.Event{Provider: "Microsoft-Windows-Sysmon", Channel: "Microsoft-Windows-Sysmon/Operational", EventID: 1,
		Computer: "srv1", TimeCreated: at, RecordID: uint64(pid), Data: []evtxwrite.Data{
			{Name: "UtcTime", Value: at.Format("2006-01-02 15:04:05.000")}, {Name: "ProcessId", Value: fmt.Sprint(pid)},
			{Name: "Image", Value: `\\tsclient\c\x.exe`}, {Name: "LogonId", Value: logon}, {Name: "TerminalSessionId", Value: "2"}}}
}

// TestReplayAttribution: replays find the sessions of every file source,
// whichever is configured or sorted first.
func TestReplayAttribution(t *testing.T) {
	dir := t.TempDir()
	sysmon, security := filepath.Join(dir, "a-sysmon.evtx"), filepath.Join(dir, "b-security.evtx")
	writeLog(t, sysmon, clientExec(7, "0x6a423"), clientExec(8, "0x99"))
	writeLog(t, security, rdpLogon())
	for name, sources := range map[string][]config.SourceConfig{
		"sysmon first":    {fileSource(sysmon, false), fileSource(security, false)},
		"security first":  {fileSource(security, false), fileSource(sysmon, false)},
		"one directory":   {fileSource(dir, false)},
		"sysmon followed": {fileSource(security, false), fileSource(sysmon, true)},
	} {
		t.Run(name, func(t *testing.T) {
			h := start(t, Options{Sources: sources})
			<-h.c.Ready()
			waitFor(t, "two detections", func() bool { return h.count() == 2 })
			for _, r := range h.rows(t) {
				want := ""
				if r.PID == 7 {
					want = "JUMP01/10.23.23.9/4624"
				}
				if got := r.ClientName + "/" + r.ClientAddress + "/" + r.Attribution; (want == "" && got != "//") || (want != "" && got != want) {
					t.Errorf("pid %d: client %s, want %q", r.PID, got, want)
				}
				if r.LogonID.String() == "0x6a423" && r.LogonTime != logonAt.Unix() {
					t.Errorf("pid %d: logon time %d", r.PID, r.LogonTime)
				}
			}
			if st := h.c.Sessions(); st.Events != 1 {
				t.Errorf("tracker holds %+v, want the one 4624 (read twice, kept once)", st)
			}
		})
	}
}

// TestFollowAttribution: a followed log joins as events arrive: a
// detection finds the session event that came before it, as on a live
// host, and never one written after it.
func TestFollowAttribution(t *testing.T) {
	p := filepath.Join(t.TempDir(), "winlogbeat.ndjson")
	h := start(t, Options{Sources: []config.SourceConfig{fileSource(p, true)}})
	<-h.c.Ready()
	reconnect := `{"@timestamp":"2024-05-01T10:00:00Z","host":{"name":"srv1"},"source":{"ip":"10.23.23.9","domain":"JUMP01"},` +
		`"winlog":{"channel":"Security","provider_name":"Microsoft-Windows-Security-Auditing","event_id":"4778","logon":{"id":"0x6a423"},"event_data":{"SessionName":"RDP-Tcp#5"}}}` + "\n"
	exec := func(pid int, at string) string {
		return fmt.Sprintf(`{"@timestamp":"2024-05-01T%sZ","host":{"name":"srv1","os":{"type":"windows"}},"event":{"category":["process"],"type":["start"]},`+
			`"process":{"pid":%d,"executable":"\\\\tsclient\\c\\x.exe"},"winlog":{"channel":"Microsoft-Windows-Sysmon/Operational",`+
			`"provider_name":"Microsoft-Windows-Sysmon","event_id":"1","event_data":{"LogonId":"0x6a423"}}}`+"\n", at, pid)
	}
	appendFile(t, p, exec(1, "09:59:00")+reconnect)
	waitFor(t, "first detection", func() bool { return h.count() == 1 })
	appendFile(t, p, exec(2, "10:01:00"))
	waitFor(t, "second detection", func() bool { return h.count() == 2 })
	for _, r := range h.rows(t) {
		got := r.ClientName + "/" + r.ClientAddress
		if (r.PID == 1 && got != "/") || (r.PID == 2 && (got != "JUMP01/10.23.23.9" || r.Attribution != "4778")) {
			t.Errorf("pid %d: client %s (%s)", r.PID, got, r.Attribution)
		}
	}
}
