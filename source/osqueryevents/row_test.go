package osqueryevents

import (
	"strings"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

func TestWindowsImage(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`\Device\Mup\tsclient\C\Tools\a.exe`, `\Device\Mup\tsclient\C\Tools\a.exe`}, // kernel form, unchanged
		{`\\tsclient\c\a.exe`, `\\tsclient\c\a.exe`},
		{`C:\Windows\notepad.exe`, `C:\Windows\notepad.exe`},
		{`\Device\HarddiskVolume3\x.exe`, `\Device\HarddiskVolume3\x.exe`},
		{`\Device\RdpDr\;Z:2\tsclient\D\x.exe`, `\\tsclient\D\x.exe`},
		{`\Device\Mup\;RdpDr\;Z:2\tsclient\D\x.exe`, `\\tsclient\D\x.exe`},
		{`\device\mup\;LanmanRedirector\;Z:0000000000012345\host\share\x.exe`, `\\host\share\x.exe`},
		{`\Device\RdpDr\;Z:2`, `\Device\RdpDr\;Z:2`}, // nothing after the mapping
		{`\Device\RdpDr\;Z:2\`, `\Device\RdpDr\;Z:2\`},
		{`\Device`, `\Device`},
		{``, ``},
	} {
		if got := windowsImage(tt.in); got != tt.want {
			t.Errorf("windowsImage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMapRow(t *testing.T) {
	m := detector.MustNew(detector.DefaultConfig())
	strict := detector.MustNew(detector.Config{Strict: true})
	tests := []struct {
		name    string
		table   string
		row     map[string]string
		typ     detector.EventType
		want    detector.Event
		form    detector.Form // "" no detection
		strictO bool          // the strict (Elastic) rule matches too
		err     string
	}{
		{"etw kernel form", TableETW, map[string]string{"eid": "1", "time": "1714564800", "time_windows": "133590384001234567", "type": "ProcessStart",
			"pid": "4242", "ppid": "600", "path": `\Device\Mup\tsclient\C\Tools\a.exe`, "cmdline": "a", "username": `CORP\alice`}, detector.TypeStart,
			detector.Event{Time: time.Date(2024, 5, 1, 12, 0, 0, 123456700, time.UTC), Type: detector.TypeStart, PID: 4242, ParentPID: 600,
				Executable: `\Device\Mup\tsclient\C\Tools\a.exe`, CommandLine: "a", User: `CORP\alice`, HostOS: detector.OSWindows, Source: "osquery:process_etw_events"},
			detector.FormKernel, true, ""},
		{"etw mapped drive", TableETW, map[string]string{"eid": "2", "time": "1714564800", "type": "ProcessStart", "pid": "1", "ppid": "2",
			"path": `\Device\RdpDr\;Z:2\tsclient\D\x.exe`}, detector.TypeStart,
			detector.Event{Time: time.Unix(1714564800, 0).UTC(), Type: detector.TypeStart, PID: 1, ParentPID: 2, Executable: `\\tsclient\D\x.exe`,
				HostOS: detector.OSWindows, Source: "osquery:process_etw_events"},
			detector.FormUNC, false, ""},
		{"etw stop", TableETW, map[string]string{"eid": "3", "time": "1", "type": "ProcessStop", "pid": "1", "path": `\Device\Mup\tsclient\C\a.exe`},
			detector.TypeOther, detector.Event{}, "", false, ""},
		{"etw bad pid", TableETW, map[string]string{"eid": "3", "time": "1", "type": "ProcessStart", "pid": "x", "path": `a`},
			0, detector.Event{}, "", false, `column pid: "x" is not a number`},
		{"no path", TableETW, map[string]string{"eid": "3", "time": "1", "type": "ProcessStart", "pid": "1"},
			0, detector.Event{}, "", false, "row without a path"},
		{"bpf xrdp", TableBPF, map[string]string{"eid": "7", "time": "1714564900", "pid": "9001", "parent": "8000", "uid": "1000",
			"path": "/home/alice/thinclient_drives/C:/tools/run", "cwd": "/home/alice", "cmdline": "./run", "exit_code": "0"}, detector.TypeStart,
			detector.Event{Time: time.Unix(1714564900, 0).UTC(), Type: detector.TypeStart, PID: 9001, ParentPID: 8000, Executable: "/home/alice/thinclient_drives/C:/tools/run",
				CommandLine: "./run", WorkingDirectory: "/home/alice", User: "1000", HostOS: detector.OSLinux, Source: "osquery:bpf_process_events"},
			detector.FormXrdp, false, ""},
		{"bpf failed exec", TableBPF, map[string]string{"eid": "8", "time": "1", "pid": "1", "path": "/x", "exit_code": "-2"},
			detector.TypeOther, detector.Event{}, "", false, ""},
		{"audit fork", TableProcess, map[string]string{"eid": "9", "time": "1", "pid": "1", "path": "/x", "syscall": "clone"},
			detector.TypeOther, detector.Event{}, "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev detector.Event
			err := mapRow(tt.table, tt.row, &ev)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.Type != tt.typ {
				t.Fatalf("type %v", ev.Type)
			}
			if tt.typ == detector.TypeOther {
				return
			}
			if ev != tt.want {
				t.Errorf("event\n%+v\nwant\n%+v", ev, tt.want)
			}
			d, ok := m.Match(&ev)
			if ok != (tt.form != "") || ok && d.Form != tt.form {
				t.Errorf("match %v %q, want %q", ok, d.Form, tt.form)
			}
			if _, ok := strict.Match(&ev); ok != tt.strictO {
				t.Errorf("strict match %v", ok)
			}
		})
	}
}

func TestCursorString(t *testing.T) {
	c := cursor{table: TableETW, time: 17, eid: 42, valid: true}
	got, err := parseCursor(c.String())
	if err != nil || got != c {
		t.Fatalf("%q -> %+v %v", c.String(), got, err)
	}
	for _, bad := range []string{"", "osquery:x:1", "osquery:t:-1:2", "osquery:t:1:x", "etw:t:1:2"} {
		if _, err := parseCursor(bad); err == nil {
			t.Errorf("parseCursor(%q) succeeded", bad)
		}
	}
}
