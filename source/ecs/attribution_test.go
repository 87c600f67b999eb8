package ecs_test

import (
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source/ecs"
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
}

// TestAttribution maps documents shaped as Elastic's pipelines write them
// (the beats and integrations test goldens the research quotes).
func TestAttribution(t *testing.T) {
	tests := []struct {
		name, doc string
		want      attribution
		start     bool // still a process start
	}{
		{
			// The ingest pipelines set winlog.logon.id from
			// SubjectLogonId for 4624: it must not be taken.
			name: "4624 type 10, system.security ingest",
			doc: `{"@timestamp":"2024-05-01T10:00:00Z","event":{"category":["authentication"],"type":["start"],"code":"4624"},
				"host":{"name":"srv1"},"source":{"ip":"10.1.2.3","domain":"CLIENT7"},
				"winlog":{"channel":"Security","provider_name":"Microsoft-Windows-Security-Auditing","event_id":"4624",
				"computer_name":"srv1.corp.example","logon":{"id":"0x3e7","type":"RemoteInteractive"},
				"event_data":{"TargetLogonId":"0x1008e","TargetLinkedLogonId":"0x1008f","LogonType":"10","TargetUserName":"bob"}}}`,
			want: attribution{LogonID: 0x1008e, Linked: 0x1008f, ClientName: "CLIENT7", ClientAddress: "10.1.2.3",
				LogonTime: 1714557600, Attribution: "4624", Change: detector.SessionLogon},
		},
		{
			name: "4624 whose event_data lost LogonType, the host's own name in source.domain",
			doc: `{"@timestamp":"2024-05-01T10:00:00Z","source":{"ip":"127.0.0.1","domain":"SRV1"},
				"winlog":{"channel":"Security","provider_name":"Microsoft-Windows-Security-Auditing","event_id":4624,
				"computer_name":"srv1.corp.example","logon":{"id":"0x3e7","type":"RemoteInteractive"},
				"event_data":{"TargetLogonId":"0x1008e"}}}`,
			want: attribution{LogonID: 0x1008e, ClientAddress: "127.0.0.1", LogonTime: 1714557600, Attribution: "4624", Change: detector.SessionLogon},
		},
		{
			name: "4624 network logon is not a session event",
			doc: `{"source":{"ip":"10.1.2.3"},"winlog":{"channel":"Security","provider_name":"Microsoft-Windows-Security-Auditing",
				"event_id":"4624","logon":{"id":"0x3e7","type":"Network"},"event_data":{"TargetLogonId":"0x1008e","LogonType":"3"}}}`,
			want: attribution{},
		},
		{
			// beats security-windows2012_4778.evtx.golden.json
			name: "4778 as source.domain, source.ip, winlog.logon.id",
			doc: `{"@timestamp":"2024-05-01T10:00:00Z","event":{"category":["authentication","session"],"type":["start"],"code":"4778"},
				"source":{"domain":"EQP01777","ip":"10.100.150.9"},"user":{"name":"bob","domain":"CORP"},
				"winlog":{"channel":"Security","provider_name":"Microsoft-Windows-Security-Auditing","event_id":"4778",
				"logon":{"id":"0x76fea87"},"event_data":{"SessionName":"RDP-Tcp#0"}}}`,
			want: attribution{LogonID: 0x76fea87, ClientName: "EQP01777", ClientAddress: "10.100.150.9", Attribution: "4778", Change: detector.SessionReconnect},
		},
		{
			name: "4779 disconnect",
			doc: `{"source":{"domain":"EQP01777","ip":"::ffff:10.100.150.9"},
				"winlog":{"channel":"Security","provider_name":"Microsoft-Windows-Security-Auditing","event_id":"4779",
				"logon":{"id":"0x76fea87"},"event_data":{"SessionName":"RDP-Tcp#0"}}}`,
			want: attribution{LogonID: 0x76fea87, ClientName: "EQP01777", ClientAddress: "10.100.150.9", Attribution: "4779", Change: detector.SessionDisconnect},
		},
		{
			name: "LocalSessionManager 25 through winlog.user_data",
			doc: `{"@timestamp":"2024-05-01T10:00:00Z","winlog":{"channel":"Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
				"provider_name":"Microsoft-Windows-TerminalServices-LocalSessionManager","event_id":25,
				"user_data":{"User":"SRV1\\bob","SessionID":"2","Address":"10.0.0.5","xml_name":"EventXML"}}}`,
			want: attribution{SessionID: detector.SessionOf(2), ClientAddress: "10.0.0.5", Attribution: "lsm", Change: detector.SessionReconnect},
		},
		{
			name: "Elastic Defend process start with session_info",
			doc: `{"@timestamp":"2024-05-01T10:00:00.5Z","event":{"category":["process"],"type":["start"]},"host":{"os":{"type":"windows"}},
				"process":{"executable":"\\Device\\Mup\\tsclient\\C\\a.exe","Ext":{"authentication_id":"0x6A423",
				"session_info":{"id":3,"client_address":"10.23.23.9","logon_type":"RemoteInteractive","relative_logon_time":3600.25}}}}`,
			want:  attribution{LogonID: 0x6a423, SessionID: detector.SessionOf(3), ClientAddress: "10.23.23.9", LogonTime: 1714554000, Attribution: "event"},
			start: true,
		},
		{
			name: "Defend relative_logon_time counts from process.start",
			doc: `{"@timestamp":"2024-05-01T11:00:00Z","event":{"type":"start"},"process":{"start":"2024-05-01T10:00:00Z",
				"executable":"C:\\a.exe","Ext":{"session_info":{"id":"0","relative_logon_time":"60"}}}}`,
			want:  attribution{SessionID: detector.SessionOf(0), LogonTime: 1714557540},
			start: true,
		},
		{
			name: "Defender for Endpoint writes the logon id in decimal",
			doc: `{"event":{"category":["process"],"type":["start"]},"process":{"executable":"C:\\a.exe"},
				"m365_defender":{"event":{"logon":{"id":"1431021"}}}}`,
			want:  attribution{LogonID: 1431021},
			start: true,
		},
		{
			name: "4688 through winlog: TargetLogonId over SubjectLogonId",
			doc: `{"event":{"category":["process"],"type":["start"]},"process":{"executable":"C:\\a.exe"},
				"winlog":{"channel":"Security","provider_name":"Microsoft-Windows-Security-Auditing","event_id":"4688",
				"logon":{"id":"0x3e7"},"event_data":{"SubjectLogonId":"0x3e7","TargetLogonId":"0x6a423"}}}`,
			want:  attribution{LogonID: 0x6a423},
			start: true,
		},
		{
			name: "4688 without event_data logon ids uses winlog.logon.id (the subject)",
			doc: `{"event":{"category":["process"],"type":["start"]},"process":{"executable":"C:\\a.exe"},
				"winlog":{"channel":"Security","provider_name":"Microsoft-Windows-Security-Auditing","event_id":"4688",
				"logon":{"id":"0x2ed80"},"event_data":{"NewProcessName":"C:\\a.exe"}}}`,
			want:  attribution{LogonID: 0x2ed80},
			start: true,
		},
		{
			name: "unusable attribution values cost nothing",
			doc: `{"event":{"type":"start"},"process":{"executable":"\\\\tsclient\\c\\a.exe","Ext":{"authentication_id":{"x":1},
				"session_info":{"id":"-4","client_address":["a","b"],"relative_logon_time":"soon"}}},
				"winlog":{"event_id":"x","event_data":{"LogonId":"0x1"}}}`,
			want:  attribution{},
			start: true,
		},
	}
	var m ecs.Mapper // reused on purpose: nothing may leak between documents
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := mapDoc(t, &m, tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			got := attribution{ev.LogonID, ev.SessionID, ev.ClientName, ev.ClientAddress, ev.LogonTime, ev.Attribution, ev.SessionChange, ev.LinkedLogonID}
			if got != tt.want {
				t.Errorf("got\n%+v\nwant\n%+v", got, tt.want)
			}
			if (ev.Type == detector.TypeStart) != tt.start {
				t.Errorf("Type = %v, want a start: %v", ev.Type, tt.start)
			}
		})
	}
}
