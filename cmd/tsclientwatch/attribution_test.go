package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/evtxwrite"
)

// The scenario of the end-to-end attribution tests, on host SRV1: alice
// logs on over RDP (4624 type 10, logon 0x6a423, with the elevated half
// 0x6a3f3 of her split token) from 10.23.23.9, disconnects (4779),
// reconnects from JUMP01 at 192.168.50.7 (4778). Programs run from her
// client drive before the logon, during each tenure, under the elevated
// logon, and under another logon (0x99) that no session event names.
var (
	scenarioStart = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	scenarioHost  = "SRV1.corp.example"
)

const (
	aliceLogon    detector.LogonID = 0x6a423
	aliceElevated detector.LogonID = 0x6a3f3
	otherLogon    detector.LogonID = 0x99
)

func minute(m int) time.Time { return scenarioStart.Add(time.Duration(m) * time.Minute) }

// wantClient is what each execution of the scenario (by pid) resolves to.
var wantClient = map[int]struct{ name, address, attribution string }{
	100: {},                                 // before the logon: unknown
	101: {"", "10.23.23.9", "4624"},         // 4624's address; its WorkstationName is the host's own
	102: {},                                 // disconnected
	103: {"JUMP01", "192.168.50.7", "4778"}, // reconnected
	104: {"JUMP01", "192.168.50.7", "4778"}, // the elevated logon, linked by 4624
	105: {},                                 // another logon
	106: {"", "10.99.0.1", "lsm"},           // by terminal session only
}

// logonGUID builds a Sysmon LogonGuid that embeds logon and its time.
func logonGUID(logon detector.LogonID, t time.Time) string {
	u := uint32(t.Unix())
	lo := uint32(logon)
	return fmt.Sprintf("{747f3d96-%04x-%04x-0000-0020%02x%02x%02x%02x}", u&0xffff, u>>16, lo&0xff, lo>>8&0xff, lo>>16&0xff, lo>>24)
}

func securityEvents() []evtxwrite.Event {
	sec := func(id int, m int, rec uint64, data ...evtxwrite.Data) evtxwrite.Event {
		return evtxwrite.Event{Provider: "Microsoft-Windows-Security-Auditing", Channel: "Security", EventID: id,
			Computer: scenarioHost, TimeCreated: minute(m), RecordID: rec, Data: data}
	}
	d := func(n, v string) evtxwrite.Data { return evtxwrite.Data{Name: n, Value: v} }
	return []evtxwrite.Event{
		// NLA's network logon comes first and owns nothing.
		sec(4624, 0, 1, d("TargetUserName", "alice"), d("TargetDomainName", "CORP"), d("TargetLogonId", "0x6a400"),
			d("LogonType", "3"), d("IpAddress", "10.23.23.9"), d("WorkstationName", "LAPTOP1")),
		sec(4624, 0, 2, d("TargetUserName", "alice"), d("TargetDomainName", "CORP"), d("TargetLogonId", "0x6a423"),
			d("TargetLinkedLogonId", "0x6a3f3"), d("LogonType", "10"), d("IpAddress", "10.23.23.9"), d("IpPort", "50112"),
			d("WorkstationName", "SRV1"), d("LogonProcessName", "User32 ")),
		sec(4624, 0, 3, d("TargetUserName", "alice"), d("TargetDomainName", "CORP"), d("TargetLogonId", "0x6a3f3"),
			d("TargetLinkedLogonId", "0x6a423"), d("LogonType", "10"), d("IpAddress", "10.23.23.9"), d("WorkstationName", "SRV1")),
		sec(4779, 10, 4, d("AccountName", "alice"), d("AccountDomain", "CORP"), d("LogonID", "0x6a423"),
			d("SessionName", "RDP-Tcp#3"), d("ClientName", "LAPTOP1"), d("ClientAddress", "10.23.23.9")),
		sec(4778, 20, 5, d("AccountName", "alice"), d("AccountDomain", "CORP"), d("LogonID", "0x6a423"),
			d("SessionName", "RDP-Tcp#5"), d("ClientName", "JUMP01"), d("ClientAddress", "::ffff:192.168.50.7")),
	}
}

func lsmEvents() []evtxwrite.Event {
	return []evtxwrite.Event{{
		Provider: "Microsoft-Windows-TerminalServices-LocalSessionManager", EventID: 21, RecordID: 40,
		Channel: "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational", Computer: scenarioHost,
		TimeCreated: minute(1),
		UserData: &evtxwrite.UserData{Element: "EventXML", Namespace: "Event_NS", Values: []evtxwrite.Data{
			{Name: "User", Value: `CORP\bob`}, {Name: "SessionID", Value: "7"}, {Name: "Address", Value: "10.99.0.1"}}},
	}}
}

// execution is one program run from the client drive.
type execution struct {
	pid     int
	m       int
	logon   detector.LogonID
	session int
}

var executions = []execution{
	{100, -5, aliceLogon, 3}, {101, 5, aliceLogon, 3}, {102, 15, aliceLogon, 3}, {103, 25, aliceLogon, 3},
	{104, 26, aliceElevated, 3}, {105, 27, otherLogon, 4}, {106, 30, 0x7777, 7},
}

func sysmonEvents() []evtxwrite.Event {
	var out []evtxwrite.Event
	for i, x := range executions {
		d := func(n, v string) evtxwrite.Data { return evtxwrite.Data{Name: n, Value: v} }
		out = append(out, evtxwrite.Event{
			Provider: "Microsoft-Windows-Sysmon", Channel: "Microsoft-Windows-Sysmon/Operational", EventID: 1,
			Computer: scenarioHost, TimeCreated: minute(x.m).Add(time.Second), RecordID: uint64(1000 + i),
			Data: []evtxwrite.Data{
				d("UtcTime", minute(x.m).Format("2006-01-02 15:04:05.000")), d("ProcessId", fmt.Sprint(x.pid)),
				d("Image", `\\tsclient\c\tools\x.exe`), d("CommandLine", `x.exe`), d("User", `CORP\alice`),
				d("LogonGuid", logonGUID(x.logon, minute(-60))), d("LogonId", x.logon.String()),
				d("TerminalSessionId", fmt.Sprint(x.session)), d("ParentProcessId", "1"), d("ParentImage", `C:\Windows\explorer.exe`),
			},
		})
	}
	return out
}

func writeEVTX(t *testing.T, path string, evs []evtxwrite.Event) {
	t.Helper()
	var b bytes.Buffer
	if err := evtxwrite.Write(&b, evs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkScenario checks every execution's client in scan's NDJSON output.
func checkScenario(t *testing.T, r result, pids ...int) {
	t.Helper()
	if r.code != exitOK {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
	recs := ndjsonLines(t, r.stdout)
	if len(recs) != len(pids) {
		t.Fatalf("%d detections, want %d:\n%s", len(recs), len(pids), r.stdout)
	}
	attributed := 0
	for _, rec := range recs {
		pid := int(rec["pid"].(float64))
		want, ok := wantClient[pid]
		if !ok {
			t.Fatalf("unexpected detection %v", rec)
		}
		if rec["client_name"] != want.name || rec["client_address"] != want.address || rec["attribution"] != want.attribution {
			t.Errorf("pid %d: client %q %q (%q), want %q %q (%q)", pid, rec["client_name"], rec["client_address"],
				rec["attribution"], want.name, want.address, want.attribution)
		}
		if want.attribution != "" {
			attributed++
		}
	}
	if !strings.Contains(r.stderr, fmt.Sprintf("(%d with its RDP client)", attributed)) {
		t.Errorf("summary %q does not count %d attributed", r.stderr, attributed)
	}
}

// TestScanAttributionEVTX: a directory holding a Security log, a
// LocalSessionManager log and a Sysmon log, in either file order: every
// execution gets the client connected to its logon (or session) at its
// time, and nothing else.
func TestScanAttributionEVTX(t *testing.T) {
	t.Parallel()
	pids := []int{100, 101, 102, 103, 104, 105, 106}
	for _, order := range [][3]string{
		{"a-Sysmon.evtx", "b-Security.evtx", "c-LSM.evtx"},
		{"c-Sysmon.evtx", "b-Security.evtx", "a-LSM.evtx"},
	} {
		t.Run(order[0], func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeEVTX(t, filepath.Join(dir, order[0]), sysmonEvents())
			writeEVTX(t, filepath.Join(dir, order[1]), securityEvents())
			writeEVTX(t, filepath.Join(dir, order[2]), lsmEvents())
			r := runCLI(t, nil, "scan", "--format", "ndjson", dir)
			checkScenario(t, r, pids...)
			// The elevated logon's own record says when it began.
			for _, rec := range ndjsonLines(t, r.stdout) {
				if rec["logon_time"] != float64(minute(-60).Unix()) || rec["session_id"] == nil {
					t.Errorf("pid %v: logon_time %v session_id %v", rec["pid"], rec["logon_time"], rec["session_id"])
				}
			}
		})
	}
}

// TestScanAttributionTable: the table output shows the client in one
// column.
func TestScanAttributionTable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeEVTX(t, filepath.Join(dir, "Sysmon.evtx"), sysmonEvents())
	writeEVTX(t, filepath.Join(dir, "Security.evtx"), securityEvents())
	r := runCLI(t, nil, "scan", dir)
	if r.code != exitOK {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 8 || !strings.Contains(lines[0], "CLIENT") {
		t.Fatalf("table:\n%s", r.stdout)
	}
	for _, want := range []string{"JUMP01 (192.168.50.7)", "10.23.23.9"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestScanNoAttributionPass: without a detection that waits for a client,
// the inputs are read once (the debug log names the second pass when it
// runs).
func TestScanNoAttributionPass(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeEVTX(t, filepath.Join(dir, "Security.evtx"), securityEvents())
	r := runCLI(t, nil, "--log-level=debug", "scan", dir)
	if r.code != exitOK || strings.Contains(r.stderr, "attribution pass") {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
	writeEVTX(t, filepath.Join(dir, "Sysmon.evtx"), sysmonEvents())
	r = runCLI(t, nil, "--log-level=debug", "scan", dir)
	if r.code != exitOK || !strings.Contains(r.stderr, "attribution pass") {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
}

// ecsLines renders the scenario as winlogbeat/Agent ECS documents: 4624
// with the subject's logon in winlog.logon.id (the ingest pipelines' trap),
// 4779/4778 with their client in source.*, Sysmon 1 with its logon in
// winlog.event_data.
func ecsLines() []string {
	var out []string
	add := func(doc map[string]any) {
		b, _ := json.Marshal(doc)
		out = append(out, string(b))
	}
	sec := func(id int, m int, data map[string]any, extra map[string]any) {
		doc := map[string]any{"@timestamp": minute(m).Format(time.RFC3339Nano), "host": map[string]any{"name": "srv1"},
			"event": map[string]any{"code": fmt.Sprint(id), "category": []string{"authentication"}, "type": []string{"start"}},
			"winlog": map[string]any{"channel": "Security", "provider_name": "Microsoft-Windows-Security-Auditing",
				"event_id": fmt.Sprint(id), "computer_name": scenarioHost, "logon": map[string]any{"id": "0x3e7"}, "event_data": data}}
		for k, v := range extra {
			doc[k] = v
		}
		add(doc)
	}
	src := func(ip, domain string) map[string]any {
		return map[string]any{"source": map[string]any{"ip": ip, "domain": domain}}
	}
	sec(4624, 0, map[string]any{"TargetLogonId": "0x6a423", "TargetLinkedLogonId": "0x6a3f3", "LogonType": "10"}, src("10.23.23.9", "SRV1"))
	sec(4624, 0, map[string]any{"TargetLogonId": "0x6a3f3", "TargetLinkedLogonId": "0x6a423", "LogonType": "10"}, src("10.23.23.9", "SRV1"))
	l := func(id int, m int, client string, ip string) {
		doc := map[string]any{"@timestamp": minute(m).Format(time.RFC3339Nano), "host": map[string]any{"name": "srv1"},
			"source": map[string]any{"ip": ip, "domain": client},
			"winlog": map[string]any{"channel": "Security", "provider_name": "Microsoft-Windows-Security-Auditing",
				"event_id": id, "logon": map[string]any{"id": "0x6a423"}, "event_data": map[string]any{"SessionName": "RDP-Tcp#5"}}}
		add(doc)
	}
	l(4779, 10, "LAPTOP1", "10.23.23.9")
	l(4778, 20, "JUMP01", "192.168.50.7")
	for _, x := range executions[:6] {
		add(map[string]any{"@timestamp": minute(x.m).Format(time.RFC3339Nano), "host": map[string]any{"name": "srv1", "os": map[string]any{"type": "windows"}},
			"event":   map[string]any{"category": []string{"process"}, "type": []string{"start"}},
			"process": map[string]any{"pid": x.pid, "executable": `\\tsclient\c\tools\x.exe`},
			"winlog": map[string]any{"channel": "Microsoft-Windows-Sysmon/Operational", "provider_name": "Microsoft-Windows-Sysmon",
				"event_id": "1", "event_data": map[string]any{"LogonId": x.logon.String(), "TerminalSessionId": fmt.Sprint(x.session)}}})
	}
	return out
}

// TestScanAttributionECS: the same scenario as winlogbeat ECS, from files
// in either order and from standard input (read once, so its session
// events are taken in the first pass).
func TestScanAttributionECS(t *testing.T) {
	t.Parallel()
	lines := ecsLines()
	sessions, processes := strings.Join(lines[:4], "\n")+"\n", strings.Join(lines[4:], "\n")+"\n"
	pids := []int{100, 101, 102, 103, 104, 105}
	for _, names := range [][2]string{{"a.ndjson", "b.ndjson"}, {"b.ndjson", "a.ndjson"}} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, names[0]), []byte(sessions), 0o600)
		os.WriteFile(filepath.Join(dir, names[1]), []byte(processes), 0o600)
		checkScenario(t, runCLI(t, nil, "scan", "--format", "ndjson", dir), pids...)
	}
	// Processes first, session events after them, on one stream.
	checkScenario(t, runCLI(t, strings.NewReader(processes+sessions), "scan", "--format", "ndjson", "-"), pids...)
	// Standard input with the processes, a file with the sessions.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s.ndjson"), []byte(sessions), 0o600)
	checkScenario(t, runCLI(t, strings.NewReader(processes), "scan", "--format", "ndjson", "-", dir), pids...)
}

// TestScanAttributionWindowsJSON: the scenario as an NXLog flat export
// (Windows JSON), the Security events after the Sysmon ones.
func TestScanAttributionWindowsJSON(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for _, evs := range [][]evtxwrite.Event{sysmonEvents()[:6], securityEvents()} {
		for _, ev := range evs {
			doc := map[string]any{"EventID": ev.EventID, "SourceName": ev.Provider, "Channel": ev.Channel, "Hostname": ev.Computer,
				"@timestamp": ev.TimeCreated.Format(time.RFC3339Nano), "RecordNumber": ev.RecordID}
			for _, d := range ev.Data {
				doc[d.Name] = d.Value
			}
			line, _ := json.Marshal(doc)
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	path := filepath.Join(t.TempDir(), "nxlog.json")
	os.WriteFile(path, []byte(b.String()), 0o600)
	checkScenario(t, runCLI(t, nil, "scan", "--format", "ndjson", path), 100, 101, 102, 103, 104, 105)
}

// TestPendingSpool: detections beyond what scan holds in memory go to a
// temporary file and come back whole, in order, attributed.
func TestPendingSpool(t *testing.T) {
	old := pendingInMemory
	pendingInMemory = 2
	defer func() { pendingInMemory = old }()
	p := pending{dir: t.TempDir()}
	defer p.close()
	for i := range 7 {
		d := detector.Detection{Event: detector.Event{PID: int64(i), Time: time.Unix(int64(1000+i), 5), LogonID: detector.LogonID(i),
			Executable: `\\tsclient\c\a.exe`}, Form: detector.FormUNC, RuleID: detector.RuleID}
		if i%2 == 0 {
			d.SessionID = detector.SessionOf(uint32(i))
		}
		if err := p.add(&d); err != nil {
			t.Fatal(err)
		}
	}
	if p.file == nil {
		t.Fatal("nothing spooled")
	}
	var got []detector.Detection
	if err := p.each(func(d *detector.Detection) error { got = append(got, *d); return nil }); err != nil {
		t.Fatal(err)
	}
	for i, d := range got {
		if d.PID != int64(i) || !d.Time.Equal(time.Unix(int64(1000+i), 5)) || d.LogonID != detector.LogonID(i) ||
			d.SessionID.Known() != (i%2 == 0) || d.Form != detector.FormUNC {
			t.Errorf("detection %d came back as %+v", i, d)
		}
	}
	if len(got) != 7 || p.unattributed != 7 { // each names a logon or session (session 0 too)
		t.Errorf("%d back, %d unattributed", len(got), p.unattributed)
	}
	name := p.file.Name()
	p.close()
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Errorf("spool file left behind: %v", err)
	}
}

// TestQueryAttribution: query --replay joins the same way, whatever order
// the files replay in, and the table keeps an unknown session NULL apart
// from session 0.
func TestQueryAttribution(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeEVTX(t, filepath.Join(dir, "a-Sysmon.evtx"), sysmonEvents())
	writeEVTX(t, filepath.Join(dir, "b-Security.evtx"), securityEvents())
	writeEVTX(t, filepath.Join(dir, "c-LSM.evtx"), lsmEvents())
	r := runCLI(t, nil, "query", "--replay", dir, "--format", "json",
		"SELECT pid, logon_id, session_id, client_name, client_address, attribution, logon_time FROM tsclient_executions ORDER BY pid")
	if r.code != exitOK {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if len(rows) != len(wantClient) {
		t.Fatalf("%d rows: %s", len(rows), r.stdout)
	}
	for _, row := range rows {
		pid := int(row["pid"].(float64))
		w := wantClient[pid]
		if row["client_name"] != w.name || row["client_address"] != w.address || row["attribution"] != w.attribution {
			t.Errorf("pid %d: %v, want %+v", pid, row, w)
		}
		if row["session_id"] == nil || row["logon_id"] == "" || row["logon_time"] != float64(minute(-60).Unix()) {
			t.Errorf("pid %d: %v", pid, row)
		}
	}
	// A process with no session id: NULL, not 0.
	dir2 := t.TempDir()
	os.WriteFile(filepath.Join(dir2, "x.ndjson"), []byte(`{"@timestamp":"2024-05-01T10:00:00Z","event":{"category":["process"],"type":["start"]},`+
		`"host":{"os":{"type":"windows"}},"process":{"pid":1,"executable":"\\\\tsclient\\c\\a.exe","Ext":{"session_info":{"id":0}}}}`+"\n"+
		`{"@timestamp":"2024-05-01T10:00:00Z","event":{"category":["process"],"type":["start"]},`+
		`"host":{"os":{"type":"windows"}},"process":{"pid":2,"executable":"\\\\tsclient\\c\\a.exe"}}`+"\n"), 0o600)
	r = runCLI(t, nil, "query", "--replay", dir2, "--format", "csv",
		"SELECT pid, session_id IS NULL AS unknown, session_id, logon_time IS NULL AS no_time FROM tsclient_executions ORDER BY pid")
	if want := "pid,unknown,session_id,no_time\n1,0,0,1\n2,1,,1\n"; r.code != exitOK || r.stdout != want {
		t.Errorf("code %d, csv %q, want %q (stderr %q)", r.code, r.stdout, want, r.stderr)
	}
}
