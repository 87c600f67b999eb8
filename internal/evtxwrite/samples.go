package evtxwrite

import "time"

//go:generate go run ./cmd/gensamples -o ../../testdata/evtx/tsclient_positive.evtx

// Values of the sample file's two positives, for tests that check them.
const (
	SampleSysmonImage  = `\\tsclient\c\temp\stack\a.exe`
	SampleSysmonSHA256 = "c513049c52e2932e2ffff8f19e5e94ff63746a5b7c92ed9256b00cc02a831ca4"
	SampleKernelImage  = `\Device\Mup\tsclient\C\Tools\mimikatz.exe`
)

// TSClientSamples returns the events of testdata/evtx/tsclient_positive.evtx:
// two executions from an RDP client drive as Sysmon and Security log them
// (the forms measured on real logs: Sysmon writes the UNC form, 4688 the
// kernel form with hex process ids), and three look-alikes that must not
// match (another MUP server, a file event naming a tsclient path, and a
// program merely named TSClient.exe).
func TSClientSamples() []Event {
	t0 := time.Date(2024, 3, 14, 9, 26, 53, 589793200, time.UTC)
	const (
		sysmonGUID   = "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"
		securityGUID = "{54849625-5478-4994-A5BA-3E3B0328C30D}"
		host         = "ws01.corp.example"
		sysmonChan   = "Microsoft-Windows-Sysmon/Operational"
		sysmonProv   = "Microsoft-Windows-Sysmon"
		securityProv = "Microsoft-Windows-Security-Auditing"
	)
	sysmon1 := func(id uint64, at time.Duration, image, cmd, cwd string, pid, ppid string, hashes string) Event {
		t := t0.Add(at)
		return Event{
			Provider: sysmonProv, ProviderGUID: sysmonGUID, Channel: sysmonChan, EventID: 1,
			Computer: host, TimeCreated: t, RecordID: id, UserID: "S-1-5-18",
			Data: []Data{
				{"RuleName", "-"},
				{"UtcTime", t.Add(-time.Millisecond).Format("2006-01-02 15:04:05.000")},
				{"ProcessGuid", "{8F6C6A4B-2B1D-65F2-4A01-000000000E00}"},
				{"ProcessId", pid},
				{"Image", image},
				{"FileVersion", "-"},
				{"Description", "-"},
				{"Product", "-"},
				{"Company", "-"},
				{"OriginalFileName", "-"},
				{"CommandLine", cmd},
				{"CurrentDirectory", cwd},
				{"User", `CORP\alice`},
				{"LogonGuid", "{8F6C6A4B-2A90-65F2-33B7-7A0000000000}"},
				{"LogonId", "0x7ab733"},
				{"TerminalSessionId", "2"},
				{"IntegrityLevel", "Medium"},
				{"Hashes", hashes},
				{"ParentProcessGuid", "{8F6C6A4B-2A93-65F2-7C00-000000000E00}"},
				{"ParentProcessId", ppid},
				{"ParentImage", `C:\Windows\explorer.exe`},
				{"ParentCommandLine", `C:\Windows\Explorer.EXE`},
				{"ParentUser", `CORP\alice`},
			},
		}
	}
	sec4688 := func(id uint64, at time.Duration, image, cmd, pid, ppid string) Event {
		return Event{
			Provider: securityProv, ProviderGUID: securityGUID, Channel: "Security", EventID: 4688,
			Computer: host, TimeCreated: t0.Add(at), RecordID: id,
			Data: []Data{
				{"SubjectUserSid", "S-1-5-21-1004336348-1177238915-682003330-1105"},
				{"SubjectUserName", "alice"},
				{"SubjectDomainName", "CORP"},
				{"SubjectLogonId", "0x7ab733"},
				{"NewProcessId", pid},
				{"NewProcessName", image},
				{"TokenElevationType", "%%1938"},
				{"ProcessId", ppid},
				{"CommandLine", cmd},
				{"TargetUserSid", "S-1-0-0"},
				{"TargetUserName", "-"},
				{"TargetDomainName", "-"},
				{"TargetLogonId", "0x0"},
				{"ParentProcessName", `C:\Windows\System32\cmd.exe`},
				{"MandatoryLabel", "S-1-16-8192"},
			},
		}
	}
	hashes := "SHA1=F6FC7E3418B6F81646732A2A8E2A88B535E435C7,MD5=C4C24B1329476A32B658D14E4D2537D3," +
		"SHA256=C513049C52E2932E2FFFF8F19E5E94FF63746A5B7C92ED9256B00CC02A831CA4,IMPHASH=00000000000000000000000000000000"
	fileCreate := Event{
		Provider: sysmonProv, ProviderGUID: sysmonGUID, Channel: sysmonChan, EventID: 11,
		Computer: host, TimeCreated: t0.Add(3 * time.Second), RecordID: 103, UserID: "S-1-5-18",
		Data: []Data{
			{"RuleName", "-"},
			{"UtcTime", t0.Add(3 * time.Second).Format("2006-01-02 15:04:05.000")},
			{"ProcessGuid", "{8F6C6A4B-2A93-65F2-7C00-000000000E00}"},
			{"ProcessId", "3100"},
			{"Image", `C:\Windows\explorer.exe`},
			{"TargetFilename", `\\tsclient\c\temp\stack\dropped.exe`},
			{"CreationUtcTime", t0.Add(3 * time.Second).Format("2006-01-02 15:04:05.000")},
			{"User", `CORP\alice`},
		},
	}
	return []Event{
		sysmon1(101, 0, SampleSysmonImage, `"\\tsclient\c\temp\stack\a.exe" --stage 2`,
			`\\tsclient\c\temp\stack\`, "4242", "3100", hashes),
		sec4688(102, 2*time.Second, SampleKernelImage, `"\\tsclient\C\Tools\mimikatz.exe" privilege::debug`,
			"0x1f90", "0x13a4"),
		fileCreate,
		sec4688(104, 4*time.Second, `\Device\Mup\VBoxSvr\share\x.exe`, `\\VBoxSvr\share\x.exe`, "0x1fa4", "0x13a4"),
		sysmon1(105, 5*time.Second, `C:\Program Files\Techinline\TSClient.exe`, `"C:\Program Files\Techinline\TSClient.exe"`,
			`C:\Program Files\Techinline\`, "5120", "3100",
			"SHA1=0000000000000000000000000000000000000000,MD5=00000000000000000000000000000000,"+
				"SHA256=0000000000000000000000000000000000000000000000000000000000000000,IMPHASH=00000000000000000000000000000000"),
	}
}
