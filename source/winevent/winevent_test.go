package winevent

import (
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

func TestRecordEvent(t *testing.T) {
	created := time.Date(2025, 10, 25, 17, 27, 26, 975358000, time.UTC)
	tests := []struct {
		name string
		rec  Record
		want detector.Event
	}{
		{
			name: "sysmon process create",
			rec: Record{
				Provider: ProviderSysmon, Channel: ChannelSysmon, EventID: 1, Computer: "ws1", Time: created, RecordID: 883412,
				Data: map[string]string{
					"Image": `\\tsclient\c\temp\a.exe`, "ProcessId": "6788", "CommandLine": `a.exe -x`,
					"CurrentDirectory": `\\tsclient\c\temp\`, "User": `CORP\alice`, "ParentProcessId": "8248",
					"ParentImage": `C:\Windows\explorer.exe`, "UtcTime": "2025-10-25 17:27:26.974",
					"Hashes": "SHA1=0489A9D0,MD5=0714C010,SHA256=A807B535F717,IMPHASH=75FA51C5",
				},
			},
			want: detector.Event{
				Time: time.Date(2025, 10, 25, 17, 27, 26, 974000000, time.UTC), Type: detector.TypeStart,
				PID: 6788, ParentPID: 8248, Executable: `\\tsclient\c\temp\a.exe`, CommandLine: `a.exe -x`,
				WorkingDirectory: `\\tsclient\c\temp\`, ParentExecutable: `C:\Windows\explorer.exe`,
				User: `CORP\alice`, Host: "ws1", HostOS: "windows", Source: ChannelSysmon, SHA256: "a807b535f717",
				RecordID: 883412,
			},
		},
		{
			name: "security 4688 with hex ids",
			rec: Record{
				Provider: ProviderSecurity, Channel: ChannelSecurity, EventID: 4688, Computer: "dc1", Time: created, RecordID: 7,
				Data: map[string]string{
					"NewProcessName": `\Device\Mup\tsclient\C\a.exe`, "NewProcessId": "0x1f90", "ProcessId": "0x2A4",
					"ParentProcessName": `C:\Windows\System32\cmd.exe`, "SubjectUserName": "bob",
					"SubjectDomainName": "CORP", "CommandLine": "a.exe",
				},
			},
			want: detector.Event{
				Time: created, Type: detector.TypeStart, PID: 0x1f90, ParentPID: 0x2a4,
				Executable: `\Device\Mup\tsclient\C\a.exe`, CommandLine: "a.exe",
				ParentExecutable: `C:\Windows\System32\cmd.exe`, User: `CORP\bob`, Host: "dc1",
				HostOS: "windows", Source: ChannelSecurity, RecordID: 7,
			},
		},
		{
			name: "4688 placeholders fall back to the record's SID",
			rec: Record{
				Channel: ChannelSecurity, EventID: 4688, UserSID: "S-1-5-18",
				Data: map[string]string{"NewProcessName": `C:\x.exe`, "SubjectUserName": "-", "SubjectDomainName": "-"},
			},
			want: detector.Event{Type: detector.TypeStart, Executable: `C:\x.exe`, User: "S-1-5-18", HostOS: "windows", Source: ChannelSecurity},
		},
		{
			name: "sysmon file create is not a start",
			rec: Record{
				Provider: ProviderSysmon, EventID: 11,
				Data: map[string]string{"Image": `\\tsclient\c\a.exe`, "ProcessId": "12", "TargetFilename": `C:\x`},
			},
			want: detector.Event{Type: detector.TypeOther, Executable: `\\tsclient\c\a.exe`, PID: 12, HostOS: "windows", Source: ProviderSysmon},
		},
		{
			name: "security logon is not a start",
			rec:  Record{Channel: ChannelSecurity, EventID: 4624, Data: map[string]string{"ProcessName": `C:\x.exe`}},
			want: detector.Event{Type: detector.TypeOther, Source: ChannelSecurity},
		},
		{
			name: "unknown provider with Image",
			rec:  Record{Provider: "Other", EventID: 1, Data: map[string]string{"Image": `\\tsclient\c\a.exe`}},
			want: detector.Event{Type: detector.TypeOther, Executable: `\\tsclient\c\a.exe`, Source: "Other"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got detector.Event
			tt.rec.Event(&got)
			if got != tt.want {
				t.Errorf("Event() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestParseInt(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "42": 42, " 7 ": 7, "0x1f90": 8080, "0X2A4": 676, "0xzz": 0, "abc": 0, "-1": -1} {
		if got := ParseInt(in); got != want {
			t.Errorf("ParseInt(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestSHA256FromHashes(t *testing.T) {
	for in, want := range map[string]string{
		"SHA1=AA,MD5=BB,SHA256=CCDD,IMPHASH=EE": "ccdd",
		"sha256=ABC":                            "abc",
		"MD5=BB":                                "",
		"":                                      "",
		"SHA256":                                "",
	} {
		if got := SHA256FromHashes(in); got != want {
			t.Errorf("SHA256FromHashes(%q) = %q, want %q", in, got, want)
		}
	}
}
