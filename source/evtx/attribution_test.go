package evtx

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
)

// records returns every record of an EVTX file as the decoder gives it.
func records(t *testing.T, path string) []winevent.Record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []winevent.Record
	for off := fileBlockSize; off < len(b); off += chunkSize {
		buf := make([]byte, chunkSize)
		n := copy(buf, b[off:])
		decodeChunk(buf, n, (off-fileBlockSize)/chunkSize, int64(off), filepath.Base(path), func(r *winevent.Record) bool {
			c := *r
			c.Data = make(map[string]string, len(r.Data))
			for k, v := range r.Data {
				c.Data[k] = v
			}
			out = append(out, c)
			return true
		}, func(*source.RecordError) {})
	}
	return out
}

// TestSysmonLogonGUIDCorpus checks the LogonGuid layout against every
// Sysmon EID 1 of the real corpora: the logon id the GUID embeds must equal
// the LogonId field in each (in one layout or the other), and the logon
// time it embeds becomes Event.LogonTime unless it is after the process
// start or missing, which happens only for the system's own logons.
func TestSysmonLogonGUIDCorpus(t *testing.T) {
	var files []string
	for _, root := range []string{
		testdir.ThirdParty(t, "evtx-rs"), testdir.ThirdParty(t, "sigma"), testdir.Shared(t, testdir.AttackSamples),
	} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".evtx") {
				files = append(files, p)
			}
			return nil
		})
	}
	system := map[detector.LogonID]bool{0x3e7: true, 0x3e4: true, 0x3e5: true}
	var checked, late, withTime, noTime int
	for _, p := range files {
		for _, r := range records(t, p) {
			if !r.IsSysmon() || r.EventID != 1 || r.Data["LogonGuid"] == "" {
				continue
			}
			id, ok := detector.ParseLogonID(r.Data["LogonId"])
			if !ok || id == 0 {
				t.Errorf("%s record %d: LogonId %q", filepath.Base(p), r.RecordID, r.Data["LogonId"])
				continue
			}
			checked++
			g, ok := winevent.ParseLogonGUID(r.Data["LogonGuid"])
			if !ok || !g.Embeds(id) {
				t.Errorf("%s record %d: LogonGuid %s does not embed LogonId %s", filepath.Base(p), r.RecordID, r.Data["LogonGuid"], id)
				continue
			}
			logon := g.Time
			var ev detector.Event
			r.Event(&ev)
			switch {
			case logon <= 0:
				noTime++
				if !system[id] || ev.LogonTime != 0 {
					t.Errorf("%s record %d: logon %s, GUID %s without a time, LogonTime %d", filepath.Base(p), r.RecordID, id, r.Data["LogonGuid"], ev.LogonTime)
				}
			case logon > ev.Time.Unix()+1:
				late++
				if !system[id] {
					t.Errorf("%s record %d: logon %s began at %d, after its process (%v)", filepath.Base(p), r.RecordID, id, logon, ev.Time)
				}
				if ev.LogonTime != 0 {
					t.Errorf("%s record %d: LogonTime %d kept though after the process", filepath.Base(p), r.RecordID, ev.LogonTime)
				}
			case ev.LogonTime != logon:
				t.Errorf("%s record %d: LogonTime %d, want %d", filepath.Base(p), r.RecordID, ev.LogonTime, logon)
			default:
				withTime++
			}
		}
	}
	t.Logf("%d files, %d Sysmon 1 events checked: %d with a logon time; system logons: %d whose GUID time is after the process, %d without a time",
		len(files), checked, withTime, late, noTime)
	if checked < 200 {
		t.Errorf("only %d Sysmon 1 events with a LogonGuid found; the corpus holds more", checked)
	}
}

// TestRealSecurityAttribution: on the CC0 RDP-hijack Security logs, every
// 4688's logon is TargetLogonId when set and not 0, else SubjectLogonId,
// and the 4778 / 4779 become the session events the tracker reads.
func TestRealSecurityAttribution(t *testing.T) {
	for _, name := range []string{"ID4688-4778_RDP_hijack_command_execution.evtx", "ID4688-4778-4779_RDP_hijack_direct.evtx"} {
		t.Run(name, func(t *testing.T) {
			var starts, sessions int
			for _, r := range records(t, testdir.ThirdParty(t, "evtx-to-mitre-attack", name)) {
				var ev detector.Event
				r.Event(&ev)
				switch r.EventID {
				case 4688:
					starts++
					target, _ := detector.ParseLogonID(r.Data["TargetLogonId"])
					subject, _ := detector.ParseLogonID(r.Data["SubjectLogonId"])
					want := target
					if target == 0 {
						want = subject
					}
					if want == 0 || ev.LogonID != want {
						t.Errorf("record %d (%s): LogonID %s, want %s (Subject %s, Target %s)", r.RecordID,
							ev.Executable, ev.LogonID, want, r.Data["SubjectLogonId"], r.Data["TargetLogonId"])
					}
					if ev.SessionChange != detector.SessionNone || ev.ClientName != "" || ev.ClientAddress != "" {
						t.Errorf("record %d: a process start with session fields %+v", r.RecordID, ev)
					}
				case 4778, 4779:
					sessions++
					want := detector.Event{LogonID: 0x6a423, ClientName: "JUMP01", ClientAddress: "10.23.23.9",
						SessionChange: detector.SessionReconnect, Attribution: "4778"}
					if r.EventID == 4779 {
						want.LogonID, want.SessionChange, want.Attribution = 0x13b5e1e, detector.SessionDisconnect, "4779"
					}
					if ev.LogonID != want.LogonID || ev.ClientName != want.ClientName || ev.ClientAddress != want.ClientAddress ||
						ev.SessionChange != want.SessionChange || ev.Attribution != want.Attribution || ev.Type != detector.TypeOther {
						t.Errorf("record %d: %d mapped to %+v", r.RecordID, r.EventID, ev)
					}
				}
			}
			if starts < 12 || sessions < 1 {
				t.Errorf("%d starts, %d session events", starts, sessions)
			}
		})
	}
	// Named cases from the research: rdpclip started by the network
	// service (Subject 0x3e4) into the session's logon; rdpinput started
	// by the user's own rdpclip (Target 0x0); mmc elevated into the
	// linked logon 0x6a3f3.
	want := map[string]detector.LogonID{`C:\Windows\System32\rdpclip.exe`: 0x6a423, `C:\Windows\System32\mmc.exe`: 0x6a423}
	seen := map[detector.LogonID]bool{}
	for _, r := range records(t, testdir.ThirdParty(t, "evtx-to-mitre-attack", "ID4688-4778_RDP_hijack_command_execution.evtx")) {
		var ev detector.Event
		r.Event(&ev)
		if w, ok := want[ev.Executable]; ok && r.Data["SubjectLogonId"] != "435235" && ev.LogonID == w {
			seen[ev.LogonID] = true
		}
		if ev.Executable == `C:\Windows\System32\mmc.exe` && r.Data["TargetLogonId"] == "435187" && ev.LogonID != 0x6a3f3 {
			t.Errorf("elevated mmc: LogonID %s, want 0x6a3f3", ev.LogonID)
		}
	}
	if !seen[0x6a423] {
		t.Error("rdpclip started by another logon was not given the session's logon 0x6a423")
	}
}
