package jsonl_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/jsonl"
)

// result is what one Read delivered.
type result struct {
	events  []detector.Event
	bad     []*source.RecordError
	stats   source.Stats
	skipped int64
	err     error
}

func read(t *testing.T, r io.Reader, name string, opt jsonl.Options) result {
	t.Helper()
	var res result
	sink := source.Sink{
		Event: func(e *detector.Event) error { res.events = append(res.events, *e); return nil },
		Bad:   func(e *source.RecordError) { res.bad = append(res.bad, e) },
	}
	var st jsonl.Stats
	st, res.err = jsonl.ReadWith(context.Background(), r, name, sink, opt)
	res.stats = st.Stats
	res.skipped = st.RecordsSkipped
	return res
}

func readFile(t *testing.T, path string) result {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res := read(t, f, path, jsonl.Options{})
	if res.err != nil {
		t.Fatalf("Read(%s): %v", path, res.err)
	}
	for _, b := range res.bad {
		t.Errorf("bad record: %v", b)
	}
	if fi, _ := f.Stat(); res.stats.Bytes != fi.Size() {
		t.Errorf("Stats.Bytes = %d, want file size %d", res.stats.Bytes, fi.Size())
	}
	return res
}

func detect(t *testing.T, cfg detector.Config, evs []detector.Event) []detector.Detection {
	t.Helper()
	out, err := detector.MustNew(cfg).Detect(context.Background(), evs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func strict() detector.Config {
	c := detector.DefaultConfig()
	c.Strict = true
	return c
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestSharedECS checks every mapped field of the real ECS documents (kept
// outside the repository for their licence).
func TestSharedECS(t *testing.T) {
	dir := testdir.Shared(t, testdir.ECS)
	tests := []struct {
		file string
		want detector.Event
	}{
		{"elastic_defend_process_sample_event.json", detector.Event{
			Time: ts("2022-04-04T18:53:08.6578986Z"), Type: detector.TypeStart,
			PID: 2772, ParentPID: 600,
			Executable:       `C:\Windows\System32\svchost.exe`,
			CommandLine:      `C:\Windows\System32\svchost.exe -k WerSvcGroup`,
			WorkingDirectory: `C:\Windows\system32\`,
			ParentExecutable: `C:\Windows\System32\services.exe`,
			User:             `NT AUTHORITY\SYSTEM`, Host: "data-viz-win-1", HostOS: "windows",
			Source: "endpoint.events.process",
			SHA256: "cb19fd67b1d028e01f54c426a0924528c4a8d8ed8996cfe0ee0c6e45285436a1",
			// process.Ext.authentication_id and session_info (id 1,
			// client_address 127.0.0.1, relative_logon_time 0.1 s).
			LogonID: 0x3e7, SessionID: detector.SessionOf(1), ClientAddress: "127.0.0.1",
			Attribution: detector.AttributionEvent, LogonTime: ts("2022-04-04T18:53:08Z").Unix(),
		}},
		{"winlogbeat_sysmon-12-processcreate.evtx.golden.json", detector.Event{
			Time: ts("2020-10-27T20:00:14.32Z"), Type: detector.TypeStart,
			PID: 3616, ParentPID: 4212,
			Executable:       `C:\Windows\System32\notepad.exe`,
			CommandLine:      `"C:\Windows\system32\notepad.exe" `,
			WorkingDirectory: `C:\Users\vagrant\`,
			ParentExecutable: `C:\Windows\explorer.exe`,
			User:             `VAGRANT\vagrant`, Host: "vagrant",
			HostOS: "windows", // implied by winlog.channel: the document has no host.os
			Source: "sysmon", RecordID: 20, Inferred: detector.InferredHostOS,
			// winlog.event_data LogonId, TerminalSessionId, LogonGuid.
			LogonID: 0x2c9e7, SessionID: detector.SessionOf(1), LogonTime: 1603825629,
		}},
		{"winlogbeat_security-windows2019_4688_Process_Created.golden.json", detector.Event{
			Time: ts("2019-11-14T17:10:15.1515514Z"), Type: detector.TypeStart,
			PID: 4556, ParentPID: 4652,
			Executable:       `C:\Windows\System32\wevtutil.exe`,
			CommandLine:      `"C:\Windows\system32\wevtutil.exe" cl Security`,
			ParentExecutable: `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`,
			User:             `VAGRANT\vagrant`, Host: "vagrant", HostOS: "windows",
			Source: "security", RecordID: 5010, Inferred: detector.InferredHostOS, // implied by winlog.channel
			LogonID: 0x274a2, // SubjectLogonId: TargetLogonId is 0x0
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			res := readFile(t, filepath.Join(dir, tt.file))
			if len(res.events) != 1 {
				t.Fatalf("got %d events, want 1", len(res.events))
			}
			if got := res.events[0]; got != tt.want {
				t.Errorf("event:\n got %+v\nwant %+v", got, tt.want)
			}
			if d := detect(t, detector.DefaultConfig(), res.events); len(d) != 0 {
				t.Errorf("benign event detected: %+v", d)
			}
		})
	}
}

func TestSigmaSysmon(t *testing.T) {
	res := readFile(t, testdir.ThirdParty(t, "sigma", "sigma_regression_chcp_sysmon1.json"))
	want := detector.Event{
		Time: ts("2025-10-25T17:27:26.974Z"), Type: detector.TypeStart,
		PID: 6788, ParentPID: 8248,
		Executable:       `C:\Windows\System32\chcp.com`,
		CommandLine:      "chcp",
		WorkingDirectory: `C:\Users\Administrator\Downloads\`,
		ParentExecutable: `C:\Windows\System32\cmd.exe`,
		User:             `ATTACKRANGE\Administrator`,
		Host:             "ar-win-dc.attackrange.local",
		HostOS:           "windows",
		Source:           "Microsoft-Windows-Sysmon/Operational",
		SHA256:           "a807b535f7176642fc87911d185c10b00981388cda68f5b8e2ff4c73ff514352",
		RecordID:         11886324,
		LogonID:          0x529ae3,
		SessionID:        detector.SessionOf(2),
		LogonTime:        1761302159,
	}
	if len(res.events) != 1 || res.events[0] != want {
		t.Fatalf("events:\n got %+v\nwant [%+v]", res.events, want)
	}
}

func TestOTRF(t *testing.T) {
	res := readFile(t, testdir.ThirdParty(t, "otrf-security-datasets", "otrf_rdp_interactive_taskmanager_proc_logon_subset.jsonl"))
	if len(res.events) != 53 || res.stats.Records != 53 || res.stats.Bad != 0 {
		t.Fatalf("events %d, stats %+v; want 53 events, 53 records, 0 bad", len(res.events), res.stats)
	}
	var sysmon, security []detector.Event
	for _, e := range res.events {
		if e.Type != detector.TypeStart {
			continue
		}
		switch e.Source {
		case "Microsoft-Windows-Sysmon/Operational":
			sysmon = append(sysmon, e)
		case "security":
			security = append(security, e)
		default:
			t.Errorf("start from unexpected source %q", e.Source)
		}
	}
	if len(sysmon) != 17 || len(security) != 17 {
		t.Fatalf("starts: %d Sysmon 1, %d 4688; want 17 and 17", len(sysmon), len(security))
	}
	// Line 2. NXLog kept no EventData ProcessId for Sysmon here, so PID is
	// unknown; UtcTime gives the time.
	wantSysmon := detector.Event{
		Time: ts("2020-09-22T08:38:02.639Z"), Type: detector.TypeStart,
		ParentPID:        908,
		Executable:       `C:\Windows\System32\TSTheme.exe`,
		CommandLine:      `C:\windows\system32\TSTheme.exe -Embedding`,
		WorkingDirectory: `C:\windows\system32\`,
		ParentExecutable: `C:\Windows\System32\svchost.exe`,
		User:             `THESHIRE\pgustavo`,
		Host:             "WORKSTATION5.theshire.local",
		HostOS:           "windows",
		Source:           "Microsoft-Windows-Sysmon/Operational",
		SHA256:           "3f9befad2fdad5d2dc4cebd61a909f45f5ef5e900256bba51fe30d8fe2d63cb6",
		RecordID:         3402903, // RecordNumber in the flat export
		LogonID:          0x10ac67,
		SessionID:        detector.SessionOf(2),
		LogonTime:        0x5f6922a8, // LogonGuid {b34bc01c-22a8-5f69-67ac-100000000000}
	}
	if sysmon[0] != wantSysmon {
		t.Errorf("first Sysmon 1:\n got %+v\nwant %+v", sysmon[0], wantSysmon)
	}
	// Line 4: hex pids, subject user, @timestamp (EventTime has no zone).
	wantSecurity := detector.Event{
		Time: ts("2020-09-22T08:38:05.692Z"), Type: detector.TypeStart,
		PID: 0x1d7c, ParentPID: 0x38c,
		Executable:       `C:\Windows\System32\TSTheme.exe`,
		CommandLine:      `C:\windows\system32\TSTheme.exe -Embedding`,
		ParentExecutable: `C:\Windows\System32\svchost.exe`,
		User:             `THESHIRE\WORKSTATION5$`,
		Host:             "WORKSTATION5.theshire.local",
		HostOS:           "windows",
		Source:           "security",
		RecordID:         821619,
		LogonID:          0x10ac67, // TargetLogonId over SubjectLogonId 0x3e7
	}
	if security[0] != wantSecurity {
		t.Errorf("first 4688:\n got %+v\nwant %+v", security[0], wantSecurity)
	}
	if d := detect(t, detector.DefaultConfig(), res.events); len(d) != 0 {
		t.Errorf("%d detections on a tsclient-free RDP session, want 0: %+v", len(d), d)
	}
}

// TestPositives reads the project's own documents, one per source the
// Elastic rule reads, and checks what the default and strict rule make of
// them.
func TestPositives(t *testing.T) {
	type want struct {
		form        detector.Form
		drive, path string
		ev          detector.Event // fields left zero are not compared
	}
	tests := []struct {
		file   string
		events int
		want   []want // default-mode detections, in order
		strict int
	}{
		{"ecs/elastic_defend_windows_tsclient.json", 1, []want{{detector.FormKernel, "C", `\Tools\a.exe`, detector.Event{
			Time: ts("2024-03-12T09:41:07.5121934Z"), Type: detector.TypeStart, PID: 7724, ParentPID: 5512,
			Executable: `\Device\Mup\tsclient\C\Tools\a.exe`, CommandLine: `"\\tsclient\C\Tools\a.exe" -q`,
			WorkingDirectory: `\Device\Mup\tsclient\C\Tools\`, ParentExecutable: `C:\Windows\explorer.exe`,
			User: `CORP\alice`, Host: "fin-ws-042", HostOS: "windows", Source: "endpoint.events.process",
			SHA256: "7e1c1c62c02e8a8f6fd3e6c1b0c3c4c1f3a9b2d3e4f5a6b7c8d9e0f1a2b3c4d5",
		}}}, 1},
		{"ecs/winlogbeat_sysmon_unc_tsclient.json", 1, []want{{detector.FormUNC, "c", `\temp\stack\a.exe`, detector.Event{
			Type: detector.TypeStart, PID: 6788, ParentPID: 4212, Executable: `\\tsclient\c\temp\stack\a.exe`,
			User: `CORP\alice`, Host: "fin-ws-042.corp.example", HostOS: "windows", Source: "sysmon",
			SHA256: "a807b535f7176642fc87911d185c10b00981388cda68f5b8e2ff4c73ff514352",
		}}}, 0},
		{"ecs/system_security_4688_tsclient.ndjson", 1, []want{{detector.FormKernel, "C", `\Tools\a.exe`, detector.Event{
			Type: detector.TypeStart, PID: 7724, ParentPID: 5512, User: `CORP\alice`, HostOS: "windows", Source: "system.security",
		}}}, 0}, // no host.os.type: the Elastic query does not match it
		{"ecs/endgame_process_tsclient.json", 1, []want{{detector.FormKernel, "C", `\Tools\a.exe`, detector.Event{
			Type: detector.TypeStart, PID: 7724, ParentPID: 5512, CommandLine: `\Device\Mup\tsclient\C\Tools\a.exe -q`,
			User: `CORP\alice`, Host: "FIN-WS-042", HostOS: "windows", Source: "esensor",
		}}}, 0}, // no host.os.type: the Elastic query does not match it
		{"ecs/m365_defender_process_tsclient.json", 1, []want{{detector.FormKernel, "C", `\Tools\a.exe`, detector.Event{
			Type: detector.TypeStart, PID: 7724, ParentPID: 5512, User: `corp\alice`, Host: "fin-ws-042",
			HostOS: "windows", Source: "m365_defender.event",
		}}}, 0}, // no host.os.type: the Elastic query does not match it
		{"ecs/sentinel_one_process_tsclient.json", 1, []want{{detector.FormKernel, "C", `\Tools\a.exe`, detector.Event{
			Type: detector.TypeStart, PID: 7724, ParentPID: 5512, User: `CORP\alice`, Host: "fin-ws-042",
			HostOS: "windows", Source: "sentinel_one_cloud_funnel.event",
		}}}, 0}, // no host.os.type: the Elastic query does not match it
		{"ecs/elastic_defend_linux_xrdp.json", 1, []want{{detector.FormXrdp, "C:", "/tools/run.sh", detector.Event{
			Type: detector.TypeStart, PID: 20377, ParentPID: 20311, Executable: "/home/alice/thinclient_drives/C:/tools/run.sh",
			CommandLine: "/bin/sh /home/alice/thinclient_drives/C:/tools/run.sh", WorkingDirectory: "/home/alice",
			ParentExecutable: "/usr/bin/bash", User: "alice", Host: "build-07", HostOS: "linux", Source: "endpoint.events.process",
		}}}, 0},
		{"ecs/legacy_process_started.json", 1, []want{{detector.FormKernel, "C", `\Tools\a.exe`, detector.Event{
			Type: detector.TypeStartLegacy, PID: 7724, ParentPID: 5512, HostOS: "windows", Source: "sysmon",
		}}}, 0},
		{"ecs/dotted_keys_tsclient.ndjson", 2, []want{
			{detector.FormKernel, "D", `\x\b.exe`, detector.Event{
				Type: detector.TypeStart, PID: 7724, ParentPID: 5512, ParentExecutable: `C:\Windows\explorer.exe`,
				CommandLine: `\Device\Mup\tsclient\D\x\b.exe /s "two words"`, User: `CORP\alice`, Host: "fin-ws-042",
				HostOS: "windows", Source: "endpoint.events.process",
			}},
			{detector.FormKernel, "D", `\x\c.exe`, detector.Event{
				Type: detector.TypeStart, PID: 7725, ParentPID: 5512, ParentExecutable: `C:\Windows\explorer.exe`,
				HostOS: "windows", SHA256: "ab12",
			}},
		}, 2},
		{"ecs/es_hits_tsclient.ndjson", 2, []want{{detector.FormKernel, "C", `\Tools\a.exe`, detector.Event{
			PID: 7724, User: `CORP\alice`, HostOS: "windows", Source: "endpoint.events.process",
		}}}, 1},
		{"ecs/es_search_response_tsclient.json", 2, []want{
			{detector.FormUNC, "c", `\temp\stack\a.exe`, detector.Event{
				PID: 6788, ParentPID: 4212, HostOS: "windows", Source: "windows.sysmon_operational",
			}},
			{detector.FormKernel, "C", `\Tools\a.exe`, detector.Event{
				Time: ts("2024-03-12T09:41:07.52Z"), PID: 7724, ParentPID: 5512, User: `CORP\alice`,
				Host: "fin-ws-042.corp.example", HostOS: "windows", Source: "windows.forwarded",
			}},
		}, 0}, // neither hit has host.os.type
		{"ecs/benign_near_misses.ndjson", 11, nil, 0},
		{"ecs/no_host_os_type_tsclient.ndjson", 4, []want{
			{detector.FormKernel, "C", `\Tools\w4688.exe`, detector.Event{PID: 8001, HostOS: "windows", Source: "security"}},
			{detector.FormKernel, "C", `\Tools\wsysmon.exe`, detector.Event{PID: 8002, HostOS: "windows", Source: "sysmon"}},
			{detector.FormKernel, "C", `\Tools\a4688.exe`, detector.Event{PID: 8003, HostOS: "windows", Source: "system.security"}},
			{detector.FormKernel, "C", `\Tools\endpoint1.exe`, detector.Event{PID: 8004, HostOS: "windows", Source: "endpoint.events.process"}},
		}, 0}, // no host.os.type: the Elastic query does not match them
		{"json/evtx_dump_tsclient.json", 2, []want{
			{detector.FormUNC, "c", `\temp\stack\a.exe`, detector.Event{
				Time: ts("2024-03-12T09:41:07.512Z"), Type: detector.TypeStart, PID: 6788, ParentPID: 4212,
				CommandLine: `\\tsclient\c\temp\stack\a.exe`, WorkingDirectory: `\\tsclient\c\temp\stack\`,
				ParentExecutable: `C:\Windows\System32\cmd.exe`, User: `CORP\alice`, Host: "fin-ws-042.corp.example",
				HostOS: "windows", Source: "Microsoft-Windows-Sysmon/Operational",
				SHA256: "a807b535f7176642fc87911d185c10b00981388cda68f5b8e2ff4c73ff514352",
			}},
			{detector.FormKernel, "C", `\Tools\a.exe`, detector.Event{
				Time: ts("2024-03-12T09:41:07.520331Z"), Type: detector.TypeStart, PID: 7724, ParentPID: 5512,
				CommandLine: `"\\tsclient\C\Tools\a.exe" -q`, ParentExecutable: `C:\Windows\explorer.exe`,
				User: `CORP\alice`, HostOS: "windows", Source: "Security",
			}},
		}, 1},
		{"json/nxlog_flat_tsclient.jsonl", 2, []want{
			{detector.FormUNC, "c", `\temp\stack\a.exe`, detector.Event{
				Time: ts("2024-03-12T09:41:07.512Z"), PID: 6788, ParentPID: 4212, User: `CORP\alice`,
				Host: "fin-ws-042.corp.example", HostOS: "windows", Source: "Microsoft-Windows-Sysmon/Operational",
			}},
			{detector.FormKernel, "C", `\Tools\a.exe`, detector.Event{
				Time: ts("2024-03-12T09:41:08.002Z"), PID: 6788, ParentPID: 5512, User: `CORP\alice`,
				Host: "fin-ws-042.corp.example", HostOS: "windows", Source: "Security",
			}},
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			res := readFile(t, testdir.Testdata(t, strings.Split(tt.file, "/")...))
			if len(res.events) != tt.events {
				t.Fatalf("got %d events, want %d", len(res.events), tt.events)
			}
			got := detect(t, detector.DefaultConfig(), res.events)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d detections, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				d := got[i]
				if d.Form != w.form || d.ClientDrive != w.drive || d.SharePath != w.path || d.RuleID != detector.RuleID {
					t.Errorf("detection %d: form %q drive %q path %q rule %q, want %q %q %q", i, d.Form, d.ClientDrive, d.SharePath, d.RuleID, w.form, w.drive, w.path)
				}
				checkFields(t, d.Event, w.ev)
			}
			if n := len(detect(t, strict(), res.events)); n != tt.strict {
				t.Errorf("strict mode: %d detections, want %d", n, tt.strict)
			}
		})
	}
}

// checkFields compares the non-zero fields of want.
func checkFields(t *testing.T, got, want detector.Event) {
	t.Helper()
	type f struct {
		name      string
		got, want any
		zero      bool
	}
	fields := []f{
		{"Time", got.Time, want.Time, want.Time.IsZero()},
		{"Type", got.Type, want.Type, want.Type == detector.TypeOther},
		{"PID", got.PID, want.PID, want.PID == 0},
		{"ParentPID", got.ParentPID, want.ParentPID, want.ParentPID == 0},
		{"Executable", got.Executable, want.Executable, want.Executable == ""},
		{"CommandLine", got.CommandLine, want.CommandLine, want.CommandLine == ""},
		{"WorkingDirectory", got.WorkingDirectory, want.WorkingDirectory, want.WorkingDirectory == ""},
		{"ParentExecutable", got.ParentExecutable, want.ParentExecutable, want.ParentExecutable == ""},
		{"User", got.User, want.User, want.User == ""},
		{"Host", got.Host, want.Host, want.Host == ""},
		{"HostOS", got.HostOS, want.HostOS, want.HostOS == ""},
		{"Source", got.Source, want.Source, want.Source == ""},
		{"SHA256", got.SHA256, want.SHA256, want.SHA256 == ""},
	}
	for _, x := range fields {
		if !x.zero && x.got != x.want {
			t.Errorf("%s = %v, want %v", x.name, x.got, x.want)
		}
	}
}

const (
	good1 = `{"event":{"type":["start"],"category":["process"]},"process":{"executable":"C:\\a.exe","pid":1}}`
	good2 = `{"event":{"type":["start"],"category":["process"]},"process":{"executable":"C:\\b.exe","pid":2}}`
	good3 = `{"event":{"type":["start"],"category":["process"]},"process":{"executable":"C:\\c.exe","pid":3}}`
)

// TestFraming feeds the same documents in every framing Read accepts.
func TestFraming(t *testing.T) {
	pretty := "{\n  \"event\": {\"type\": [\"start\"]},\n  \"process\": {\n    \"executable\": \"C:\\\\a.exe\",\n    \"pid\": 1\n  }\n}\n"
	tests := []struct {
		name, in string
		pids     []int64
	}{
		{"ndjson", good1 + "\n" + good2 + "\n" + good3 + "\n", []int64{1, 2, 3}},
		{"ndjson no final newline", good1 + "\n" + good2, []int64{1, 2}},
		{"ndjson crlf and blank lines", "\r\n" + good1 + "\r\n\r\n   \r\n" + good2 + "\r\n", []int64{1, 2}},
		{"bom", "\xEF\xBB\xBF" + good1 + "\n", []int64{1}},
		{"single line", good1, []int64{1}},
		{"pretty", pretty, []int64{1}},
		{"concatenated pretty", pretty + pretty + "\n" + pretty, []int64{1, 1, 1}},
		{"array", "[" + good1 + "," + good2 + "]", []int64{1, 2}},
		{"pretty array", "[\n  " + good1 + ",\n  " + good2 + "\n]\n", []int64{1, 2}},
		{"empty array", "[ ]", nil},
		{"empty input", "", nil},
		{"white space only", " \n\n\t", nil},
		{"es hit lines", `{"_index":"i","_id":"1","_source":` + good1 + "}\n" + `{"_index":"i","_id":"2","_source":` + good2 + "}\n", []int64{1, 2}},
		{"es search response", `{"took":1,"hits":{"hits":[{"_index":"i","_source":` + good1 + `},{"_index":"i","_source":` + good3 + `}]}}`, []int64{1, 3}},
		{"es fields", `{"_index":"i","_id":"1","fields":{"process.pid":[7],"event.type":["start"]}}`, []int64{7}},
		{"evtx_dump headers", "Record 1\n" + pretty + "Record 2\n" + pretty, []int64{1, 1}},
		{"braces in strings", `{"process":{"pid":5,"command_line":"a } ] { [ \" \\"}}` + "\n", []int64{5}},
		{"unicode escapes", `{"process":{"pid":6,"executable":"C:\\caf\u00e9\\\ud83d\ude00.exe"}}`, []int64{6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// One byte per Read call exercises every buffer boundary.
			for _, r := range []io.Reader{strings.NewReader(tt.in), &oneByte{s: tt.in}} {
				res := read(t, r, "in.json", jsonl.Options{})
				if res.err != nil || len(res.bad) != 0 {
					t.Fatalf("err %v, bad %v", res.err, res.bad)
				}
				var pids []int64
				for _, e := range res.events {
					pids = append(pids, e.PID)
				}
				if !equal(pids, tt.pids) {
					t.Fatalf("pids %v, want %v", pids, tt.pids)
				}
				if res.stats.Bytes != int64(len(tt.in)) {
					t.Errorf("Stats.Bytes = %d, want %d", res.stats.Bytes, len(tt.in))
				}
			}
		})
	}
}

func TestUnicodeEscapes(t *testing.T) {
	in := `{"process":{"pid":6,"executable":"C:\\caf\u00e9\\\ud83d\ude00\u0041.exe"}}`
	res := read(t, strings.NewReader(in), "u.json", jsonl.Options{})
	if len(res.events) != 1 || res.events[0].Executable != "C:\\café\\😀A.exe" {
		t.Fatalf("got %+v, bad %v", res.events, res.bad)
	}
}

type oneByte struct{ s string }

func (o *oneByte) Read(p []byte) (int, error) {
	if len(o.s) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = o.s[0]
	o.s = o.s[1:]
	return 1, nil
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBadInput checks that bad documents are reported with file, line or
// ordinal and offset, and that the good documents around them are read.
func TestBadInput(t *testing.T) {
	long := `{"process":{"pid":9,"command_line":"` + strings.Repeat("x", 300) + `"}}`
	tests := []struct {
		name, in string
		max      int
		pids     []int64
		bad      []string // substrings of each reported error, in order
		fatal    string   // substring of the fatal error, "" for none
	}{
		{"invalid lines among good", good1 + "\n{\"process\": {\"pid\": \n" + good2 + "\nnot json\n" + good3 + "\n", 0,
			[]int64{1, 2, 3}, []string{"in.json: line 2: record 2 (offset 97): invalid JSON", "in.json: line 4: record 4 (offset 215): invalid JSON"}, ""},
		{"broken first line", "{\"process\": {\"pid\": \n" + good1 + "\n", 0,
			[]int64{1}, []string{"in.json: line 1: record 1 (offset 0): invalid JSON"}, ""},
		{"wrong types", `{"process":{"pid":{"a":1}}}` + "\n" + `{"process":{"executable":["a","b"]}}` + "\n" + `{"event":{"type":[1]}}` + "\n" + `[1]` + "\n" + good1 + "\n", 0,
			[]int64{1}, []string{"line 1: record 1 (offset 0): process.pid: want a number, got object", "line 2: record 2 (offset 28): process.executable: want one value", "line 3: record 3 (offset 65): event.type: want a string, got number", "line 4: record 4 (offset 88): document is not a JSON object"}, ""},
		{"bad pid string", `{"process":{"pid":"12ab"}}` + "\n" + good1, 0, []int64{1}, []string{`process.pid: "12ab" is not an integer`}, ""},
		{"line over the cap", good1 + "\n" + long + "\n" + good2 + "\n", 200,
			[]int64{1, 2}, []string{"in.json: line 2: record 2 (offset 97): line longer than 200 bytes, skipped"}, ""},
		{"first line over the cap", long + "\n" + good2 + "\n", 200,
			[]int64{2}, []string{"in.json: line 1: record 1 (offset 0): line longer than 200 bytes, skipped"}, ""},
		{"last line over the cap", good1 + "\n" + long, 200,
			[]int64{1}, []string{"line 2: record 2 (offset 97): line longer than 200 bytes"}, ""},
		{"array element over the cap", "[" + good1 + ",\n" + long + ",\n" + good2 + "]", 200,
			[]int64{1, 2}, []string{"in.json: line 2: record 2 (offset 99): document longer than 200 bytes, skipped"}, ""},
		{"bad array element", "[\n" + good1 + ",\n{\"process\":{\"pid\":tru}},\n" + good2 + "\n]", 0,
			[]int64{1, 2}, []string{"in.json: line 3: record 2 (offset 100): invalid JSON"}, ""},
		{"broken array punctuation", "[" + good1 + " " + good2 + "]", 0,
			[]int64{1}, nil, "in.json: line 1 (offset 98): want ',' or ']'"},
		{"truncated array", "[" + good1 + ",\n{\"process\":", 0,
			[]int64{1}, nil, "in.json: line 2 (offset 110): unexpected end of input inside a JSON value"},
		{"garbage between pretty documents", "{\n\"process\":{\"pid\":1}\n}\ngarbage here\n{\n\"process\":{\"pid\":2}\n}\n", 0,
			[]int64{1, 2}, []string{"in.json: line 4: record 2 (offset 24): not a JSON object or array"}, ""},
		{"binary garbage", "\x00\x01\x02\xff\xfe garbage", 0, nil, nil, `in.json: not JSON: first byte '\x00' at offset 0`},
		{"binary garbage after good lines", good1 + "\n\x00\x01\x02\xff\xfe\n" + good2 + "\n", 0,
			[]int64{1, 2}, []string{"in.json: line 2: record 2 (offset 97): invalid JSON"}, ""},
		{"utf16 file", "\xff\xfe{\x00}\x00", 0, nil, nil, "in.json: not JSON: UTF-16 byte order mark at offset 0"},
		{"utf16 without bom", "{\x00\"\x00a\x00\"\x00:\x001\x00}\x00\n" + good1 + "\n", 0,
			[]int64{1}, []string{"in.json: line 1: record 1 (offset 0): invalid JSON: NUL byte at offset +1 in the document (UTF-16 without a byte order mark?)"}, ""},
		{"nul inside a string", good1 + "\n{\"process\":{\"pid\":5,\"command_line\":\"a\x00b\"}}\n" + good2 + "\n", 0,
			[]int64{1, 2}, []string{"in.json: line 2: record 2 (offset 97): invalid JSON: NUL byte at offset +37"}, ""},
		// Latin-1 is not UTF-8, but the decoder keeps the bytes and an
		// execution must not hide behind a bad-record report.
		{"latin-1 in a string", "{\"process\":{\"pid\":7,\"executable\":\"C:\\\\Jos\xe9.exe\"}}\n" + good2 + "\n", 0,
			[]int64{7, 2}, nil, ""},
		{"deep nesting line", good1 + "\n{\"a\":" + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "}\n" + good2 + "\n", 0,
			[]int64{1, 2}, []string{"in.json: line 2: record 2 (offset 97): invalid JSON: arrays and objects nested deeper than 64"}, ""},
		{"deep array element", "[" + good1 + ",\n" + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + ",\n" + good2 + "]", 0,
			[]int64{1, 2}, []string{"in.json: line 2: record 2 (offset 99): invalid JSON: arrays and objects nested deeper than 64"}, ""},
		{"depth 64 is fine", "{\"process\":{\"pid\":3},\"a\":" + strings.Repeat("[", 62) + strings.Repeat("]", 62) + "}\n", 0,
			[]int64{3}, nil, ""},
		{"depth 65 is not", "{\"process\":{\"pid\":3},\"a\":" + strings.Repeat("[", 64) + strings.Repeat("]", 64) + "}\n", 0,
			nil, []string{"nested deeper than 64"}, ""},
		{"unclosed nesting", strings.Repeat("[", 100000), 0, nil, nil, "in.json: line 1 (offset 100000): unexpected end of input inside a JSON value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, r := range []io.Reader{strings.NewReader(tt.in), &oneByte{s: tt.in}} {
				res := read(t, r, "in.json", jsonl.Options{MaxDocument: tt.max})
				var pids []int64
				for _, e := range res.events {
					pids = append(pids, e.PID)
				}
				if !equal(pids, tt.pids) {
					t.Errorf("pids %v, want %v", pids, tt.pids)
				}
				if tt.fatal == "" && res.err != nil {
					t.Fatalf("fatal error %v", res.err)
				}
				if tt.fatal != "" && (res.err == nil || !strings.Contains(res.err.Error(), tt.fatal)) {
					t.Fatalf("fatal error %v, want one containing %q", res.err, tt.fatal)
				}
				var msgs []string
				for _, b := range res.bad {
					msgs = append(msgs, b.Error())
				}
				all := strings.Join(msgs, "\n")
				for _, w := range tt.bad {
					if !strings.Contains(all, w) {
						t.Errorf("bad records:\n%s\nwant one containing %q", all, w)
					}
				}
				if int(res.stats.Bad) != len(res.bad) || len(res.bad) != len(tt.bad) {
					t.Errorf("Stats.Bad = %d, reported %d, want %d", res.stats.Bad, len(res.bad), len(tt.bad))
				}
			}
		})
	}
}

// TestOverCapNotHeld checks a huge line is skipped with bounded memory.
func TestOverCapNotHeld(t *testing.T) {
	const size = 64 << 20
	huge := io.MultiReader(
		strings.NewReader(good1+"\n"+`{"process":{"command_line":"`),
		io.LimitReader(repeatReader('x'), size),
		strings.NewReader(`"}}`+"\n"+good2+"\n"),
	)
	var before, after runtimeMem
	before.read()
	res := read(t, huge, "huge.json", jsonl.Options{MaxDocument: 1 << 20})
	after.read()
	if res.err != nil || len(res.events) != 2 || len(res.bad) != 1 {
		t.Fatalf("err %v, %d events, bad %v", res.err, len(res.events), res.bad)
	}
	if grown := after.totalAlloc - before.totalAlloc; grown > 8<<20 {
		t.Errorf("allocated %d MiB reading a 64 MiB line with a 1 MiB cap", grown>>20)
	}
}

type repeatReader byte

func (c repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

func TestContext(t *testing.T) {
	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := jsonl.Read(ctx, strings.NewReader(good1), "c.json", source.Sink{Event: func(*detector.Event) error { return nil }})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	})
	t.Run("cancelled while reading", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		n := 0
		sink := source.Sink{Event: func(*detector.Event) error {
			n++
			if n == 10 {
				cancel()
			}
			return nil
		}}
		in := strings.Repeat(good1+"\n", 100000)
		_, err := jsonl.Read(ctx, strings.NewReader(in), "c.json", sink)
		if !errors.Is(err, context.Canceled) || n >= 100000 {
			t.Fatalf("err %v after %d events, want context.Canceled well before the end", err, n)
		}
	})
	t.Run("sink error stops", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		sink := source.Sink{Event: func(*detector.Event) error { n++; return stop }}
		_, err := jsonl.Read(context.Background(), strings.NewReader(good1+"\n"+good2+"\n"), "c.json", sink)
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("err %v after %d events, want stop after 1", err, n)
		}
	})
}

type failReader struct{ n int }

func (f *failReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		f.n++
		return copy(p, good1+"\n"), nil
	}
	return 0, errors.New("disk on fire")
}

func TestReadError(t *testing.T) {
	res := read(t, &failReader{}, "f.json", jsonl.Options{})
	if res.err == nil || !strings.Contains(res.err.Error(), "read f.json: disk on fire") {
		t.Fatalf("err %v", res.err)
	}
}

func TestSniff(t *testing.T) {
	tests := []struct {
		head string
		want bool
	}{
		{`{"a":1}`, true},
		{"  \r\n\t[", true},
		{"\xEF\xBB\xBF{", true},
		{"", false},
		{"   ", false},
		{"<Event xmlns=", false},
		{"ElfFile\x00", false},
		{"Record 1\n{", true},
		{"Record 1\nRecord 2", false},
		{"\xff\xfe{\x00", false},
	}
	for _, tt := range tests {
		if got := jsonl.Sniff([]byte(tt.head)); got != tt.want {
			t.Errorf("Sniff(%q) = %v, want %v", tt.head, got, tt.want)
		}
	}
}

type runtimeMem struct{ totalAlloc uint64 }

func (m *runtimeMem) read() {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	m.totalAlloc = s.TotalAlloc
}

// replay yields block n times without holding more than one copy.
type replay struct {
	block []byte
	n     int
	off   int
}

func (r *replay) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	c := copy(p, r.block[r.off:])
	r.off += c
	if r.off == len(r.block) {
		r.off = 0
		r.n--
	}
	return c, nil
}

// TestMemoryFlat checks that what a prefiltered read allocates does not
// grow with the input: 20 times more benign events, the same memory.
func TestMemoryFlat(t *testing.T) {
	block := benchInput(1000, 1<<30) // no positives
	alloc := func(times int) uint64 {
		var before, after runtimeMem
		before.read()
		sink := source.Sink{Event: func(*detector.Event) error { return nil }}
		st, err := jsonl.ReadWith(context.Background(), &replay{block: block, n: times}, "flat.ndjson", sink,
			jsonl.Options{Prefilter: true, Config: detector.DefaultConfig()})
		after.read()
		if err != nil || st.RecordsSkipped != int64(1000*times) {
			t.Fatalf("err %v, stats %+v", err, st)
		}
		return after.totalAlloc - before.totalAlloc
	}
	small, large := alloc(2), alloc(40)
	t.Logf("allocated %d bytes for %d MB, %d bytes for %d MB", small, 2*len(block)>>20, large, 40*len(block)>>20)
	if large > small+64<<10 {
		t.Errorf("reading 20x more input allocated %d bytes instead of %d", large, small)
	}
}
