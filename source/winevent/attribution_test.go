package winevent

import (
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// attribution is the part of an Event the attribution mapping fills.
type attribution struct {
	LogonID       detector.LogonID
	SessionID     detector.SessionID
	ClientName    string
	ClientAddress string
	LogonTime     int64
	Attribution   string
	Change        detector.SessionChange
	Linked        detector.LogonID
	User          string
}

func attributionOf(ev *detector.Event) attribution {
	return attribution{ev.LogonID, ev.SessionID, ev.ClientName, ev.ClientAddress, ev.LogonTime,
		ev.Attribution, ev.SessionChange, ev.LinkedLogonID, ev.User}
}

func TestAttribute(t *testing.T) {
	at := time.Date(2020, 7, 10, 10, 20, 0, 0, time.UTC)
	sysmon := func(data map[string]string) Record {
		return Record{Provider: ProviderSysmon, Channel: ChannelSysmon, EventID: 1, Computer: "ws1", Time: at, Data: data}
	}
	sec := func(id int, data map[string]string) Record {
		return Record{Provider: ProviderSecurity, Channel: ChannelSecurity, EventID: id, Computer: "FS01.offsec.lan", Time: at, Data: data}
	}
	lsm := func(id int, data map[string]string) Record {
		return Record{Provider: ProviderLSM, Channel: ChannelLSM, EventID: id, Computer: "FS01", Time: at, Data: data}
	}
	tests := []struct {
		name string
		rec  Record
		want attribution
	}{
		{
			// The research's example (EVTX-ATTACK-SAMPLES SharpRdp): the
			// GUID embeds 0x3bfab and 2020-07-09T22:06:05Z.
			name: "sysmon 1 with LogonGuid",
			rec: sysmon(map[string]string{"LogonId": "0x3bfab", "TerminalSessionId": "1",
				"LogonGuid": "{747f3d96-94cd-5f07-0000-0020abbf0300}", "User": `CORP\a`}),
			want: attribution{LogonID: 0x3bfab, SessionID: detector.SessionOf(1), LogonTime: 1594332365, User: `CORP\a`},
		},
		{
			name: "sysmon 1 decoded EVTX spelling (decimal id, GUID without braces)",
			rec: sysmon(map[string]string{"LogonId": "245675", "TerminalSessionId": "0",
				"LogonGuid": "747F3D96-94CD-5F07-0000-0020ABBF0300"}),
			want: attribution{LogonID: 0x3bfab, SessionID: detector.SessionOf(0), LogonTime: 1594332365, User: ""},
		},
		{
			// Newer Sysmon (OTRF data): the low dword at [8:12], zero after.
			name: "sysmon 1 with the other GUID layout",
			rec: func() Record {
				r := sysmon(map[string]string{"LogonId": "0x10ac67", "TerminalSessionId": "2",
					"LogonGuid": "{b34bc01c-22a8-5f69-67ac-100000000000}"})
				r.Time = time.Date(2020, 9, 22, 8, 38, 3, 0, time.UTC)
				return r
			}(),
			want: attribution{LogonID: 0x10ac67, SessionID: detector.SessionOf(2), LogonTime: 0x5f6922a8},
		},
		{
			name: "sysmon 1 whose GUID names another logon: no time",
			rec: sysmon(map[string]string{"LogonId": "0x3bfac", "TerminalSessionId": "1",
				"LogonGuid": "{747f3d96-94cd-5f07-0000-0020abbf0300}"}),
			want: attribution{LogonID: 0x3bfac, SessionID: detector.SessionOf(1)},
		},
		{
			name: "sysmon 1 whose GUID time is after the process: no time",
			rec: sysmon(map[string]string{"LogonId": "0x3bfab",
				"LogonGuid": "{747f3d96-ffff-7f07-0000-0020abbf0300}"}),
			want: attribution{LogonID: 0x3bfab},
		},
		{
			name: "sysmon 1 with garbage",
			rec:  sysmon(map[string]string{"LogonId": "x", "TerminalSessionId": "-1", "LogonGuid": "{zz}"}),
			want: attribution{},
		},
		{
			name: "4688 TargetLogonId wins when set",
			rec:  sec(4688, map[string]string{"SubjectLogonId": "0x3e7", "TargetLogonId": "0x6a423", "SubjectUserName": "FS01$", "SubjectDomainName": "OFFSEC"}),
			want: attribution{LogonID: 0x6a423, User: `OFFSEC\FS01$`},
		},
		{
			name: "4688 TargetLogonId 0x0 falls back to SubjectLogonId",
			rec:  sec(4688, map[string]string{"SubjectLogonId": "0x6a423", "TargetLogonId": "0x0"}),
			want: attribution{LogonID: 0x6a423},
		},
		{
			name: "4688 version 1 has no TargetLogonId",
			rec:  sec(4688, map[string]string{"SubjectLogonId": "0x2ed80"}),
			want: attribution{LogonID: 0x2ed80},
		},
		{
			name: "4624 type 10: the WorkstationName that is the host's own is not the client",
			rec: sec(4624, map[string]string{"LogonType": "10", "TargetLogonId": "0x1a2b3", "TargetLinkedLogonId": "0x1a2c0",
				"IpAddress": "::ffff:10.23.23.9", "WorkstationName": "FS01", "TargetUserName": "admmig", "TargetDomainName": "OFFSEC"}),
			want: attribution{LogonID: 0x1a2b3, Linked: 0x1a2c0, ClientAddress: "10.23.23.9", LogonTime: at.Unix(),
				Attribution: "4624", Change: detector.SessionLogon, User: `OFFSEC\admmig`},
		},
		{
			name: "4624 type 12 with another WorkstationName",
			rec: sec(4624, map[string]string{"LogonType": "12", "TargetLogonId": "0x1a2b3",
				"IpAddress": "127.0.0.1", "WorkstationName": "JUMP01"}),
			want: attribution{LogonID: 0x1a2b3, ClientName: "JUMP01", ClientAddress: "127.0.0.1", LogonTime: at.Unix(),
				Attribution: "4624", Change: detector.SessionLogon},
		},
		{
			name: "4624 keeps the - placeholder address",
			rec:  sec(4624, map[string]string{"LogonType": "10", "TargetLogonId": "0x5", "IpAddress": "-", "WorkstationName": "-"}),
			want: attribution{LogonID: 5, ClientAddress: "-", LogonTime: at.Unix(), Attribution: "4624", Change: detector.SessionLogon},
		},
		{
			name: "4624 NLA type 3 owns no processes",
			rec:  sec(4624, map[string]string{"LogonType": "3", "TargetLogonId": "0x5", "IpAddress": "10.1.1.1", "WorkstationName": "PC02"}),
			want: attribution{},
		},
		{
			name: "4624 reconnect types 7 and 11 own no processes",
			rec:  sec(4624, map[string]string{"LogonType": "7", "TargetLogonId": "0x5", "IpAddress": "10.1.1.1"}),
			want: attribution{},
		},
		{
			name: "4624 type 10 without a logon id",
			rec:  sec(4624, map[string]string{"LogonType": "10", "TargetLogonId": "0x0", "IpAddress": "10.1.1.1"}),
			want: attribution{},
		},
		{
			name: "4778 reconnect",
			rec: sec(4778, map[string]string{"LogonID": "435235", "ClientName": "JUMP01", "ClientAddress": "10.23.23.9",
				"AccountName": "admmarsid", "AccountDomain": "OFFSEC", "SessionName": "RDP-Tcp#8"}),
			want: attribution{LogonID: 0x6a423, ClientName: "JUMP01", ClientAddress: "10.23.23.9", Attribution: "4778",
				Change: detector.SessionReconnect, User: `OFFSEC\admmarsid`},
		},
		{
			name: "4778 console",
			rec:  sec(4778, map[string]string{"LogonID": "0x1", "ClientName": "Unknown", "ClientAddress": "LOCAL"}),
			want: attribution{LogonID: 1, ClientName: "Unknown", ClientAddress: "LOCAL", Attribution: "4778", Change: detector.SessionReconnect},
		},
		{
			name: "4779 disconnect",
			rec:  sec(4779, map[string]string{"LogonID": "0x13b5e1e", "ClientName": "JUMP01", "ClientAddress": "10.23.23.9"}),
			want: attribution{LogonID: 0x13b5e1e, ClientName: "JUMP01", ClientAddress: "10.23.23.9", Attribution: "4779", Change: detector.SessionDisconnect},
		},
		{
			name: "4634 of a type 10 logon",
			rec:  sec(4634, map[string]string{"LogonType": "10", "TargetLogonId": "0x1a2b3"}),
			want: attribution{LogonID: 0x1a2b3, Attribution: "4634", Change: detector.SessionLogoff},
		},
		{
			name: "4634 of a network logon is not a session event",
			rec:  sec(4634, map[string]string{"LogonType": "3", "TargetLogonId": "0x1a2b3"}),
			want: attribution{},
		},
		{
			name: "4608 boot",
			rec:  sec(4608, map[string]string{}),
			want: attribution{Attribution: "4608", Change: detector.SessionBoot},
		},
		{
			name: "LSM 21 logon",
			rec:  lsm(21, map[string]string{"User": `FS01\admmig`, "SessionID": "3", "Address": "10.23.23.9"}),
			want: attribution{SessionID: detector.SessionOf(3), ClientAddress: "10.23.23.9", LogonTime: at.Unix(),
				Attribution: "lsm", Change: detector.SessionLogon, User: `FS01\admmig`},
		},
		{
			name: "LSM 25 reconnect, console",
			rec:  lsm(25, map[string]string{"User": `FS01\a`, "SessionID": "1", "Address": "LOCAL"}),
			want: attribution{SessionID: detector.SessionOf(1), ClientAddress: "LOCAL", Attribution: "lsm", Change: detector.SessionReconnect, User: `FS01\a`},
		},
		{
			name: "LSM 24 disconnect and 23 logoff",
			rec:  lsm(24, map[string]string{"SessionID": "1", "Address": "10.1.1.1"}),
			want: attribution{SessionID: detector.SessionOf(1), ClientAddress: "10.1.1.1", Attribution: "lsm", Change: detector.SessionDisconnect},
		},
		{
			name: "LSM 23 logoff",
			rec:  lsm(23, map[string]string{"SessionID": "1"}),
			want: attribution{SessionID: detector.SessionOf(1), Attribution: "lsm", Change: detector.SessionLogoff},
		},
		{
			name: "LSM 22 shell start is not used",
			rec:  lsm(22, map[string]string{"SessionID": "1", "Address": "10.1.1.1"}),
			want: attribution{},
		},
		{
			name: "LSM without a session id",
			rec:  lsm(21, map[string]string{"SessionID": "", "Address": "10.1.1.1"}),
			want: attribution{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev detector.Event
			tt.rec.Event(&ev)
			if got := attributionOf(&ev); got != tt.want {
				t.Errorf("got\n%+v\nwant\n%+v", got, tt.want)
			}
			if tt.want.Change != detector.SessionNone && ev.Type != detector.TypeOther {
				t.Errorf("a session event is a %v, must never be a process start", ev.Type)
			}
		})
	}
}

func TestLogonGUIDTime(t *testing.T) {
	tests := []struct {
		guid  string
		logon detector.LogonID
		want  int64
		ok    bool
	}{
		{"{747f3d96-94cd-5f07-0000-0020abbf0300}", 0x3bfab, 1594332365, true},
		{"747F3D96-1B6A-5D69-0000-0020E5810E00", 950757, 0x5d691b6a, true},
		{"{b34bc01c-226a-5f69-e703-000000000000}", 0x3e7, 0x5f69226a, true},
		// A high dword: 0x1_0003bfab.
		{"{747f3d96-94cd-5f07-0100-0020abbf0300}", 0x10003bfab, 1594332365, true},
		{"{747f3d96-94cd-5f07-0000-0020abbf0300}", 0, 0, false},
		{"{00000000-0000-0000-0000-000000000000}", 0x3e7, 0, false},
		{"{747f3d96-0000-0000-0000-0020abbf0300}", 0x3bfab, 0, false}, // time 0
		{"{747f3d96-94cd-f007-0000-0020abbf0300}", 0x3bfab, 0, false}, // negative time
		{"747f3d96-94cd-5f07-0000-0020abbf030", 0x3bfab, 0, false},
		{"{747f3d96x94cd-5f07-0000-0020abbf0300}", 0x3bfab, 0, false},
		{"", 0x3bfab, 0, false},
	}
	for _, tt := range tests {
		got, ok := LogonGUIDTime(tt.guid, tt.logon)
		if got != tt.want || ok != tt.ok {
			t.Errorf("LogonGUIDTime(%q, %#x) = %d, %v; want %d, %v", tt.guid, uint64(tt.logon), got, ok, tt.want, tt.ok)
		}
	}
}
