package session_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/session"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/file"
)

// readAll reads paths with every record decoded, feeds the session events
// to a tracker and returns it with the process starts. These real logs
// hold no tsclient execution, so the starts are attributed through the
// tracker directly, as a detection would be.
func readAll(t *testing.T, paths ...string) (*session.Tracker, []detector.Event) {
	tr, starts, _ := readSessions(t, paths...)
	return tr, starts
}

// readSessions is readAll that also returns the session events.
func readSessions(t *testing.T, paths ...string) (tr *session.Tracker, starts, sessions []detector.Event) {
	t.Helper()
	tr = session.New(session.Options{})
	err := file.ReadPaths(context.Background(), paths, file.Options{
		Sink: source.Sink{Event: func(ev *detector.Event) error {
			if tr.Add(ev) {
				sessions = append(sessions, *ev)
			}
			if ev.Type == detector.TypeStart {
				starts = append(starts, *ev)
			}
			return nil
		}, Bad: func(e *source.RecordError) { t.Errorf("bad record: %v", e) }},
		Error: func(e *file.InputError) { t.Errorf("input: %v", e) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr, starts, sessions
}

func attribute(tr *session.Tracker, ev detector.Event) detector.Detection {
	d := detector.Detection{Event: ev}
	tr.Attribute(&d)
	return d
}

// TestRDPHijackCommandExecution: the CC0 Security log of fs01 holds a 4778
// (LogonID 0x6a423 reconnected from JUMP01, 10.23.23.9) among 21 x 4688.
// Every process of that logon after the 4778 resolves to JUMP01 and
// 10.23.23.9; those before it, and those of other logons (the elevated
// 0x6a3f3, whose linking 4624 is not in the file; SYSTEM), resolve to none.
func TestRDPHijackCommandExecution(t *testing.T) {
	tr, starts, sessions := readSessions(t, testdir.ThirdParty(t, "evtx-to-mitre-attack", "ID4688-4778_RDP_hijack_command_execution.evtx"))
	if len(sessions) != 1 || sessions[0].SessionChange != detector.SessionReconnect || sessions[0].LogonID != 0x6a423 {
		t.Fatalf("session events %+v, want the one 4778", sessions)
	}
	reconnect := sessions[0].Time // 20:40:17.4
	var after, before, others int
	for _, ev := range starts {
		d := attribute(tr, ev)
		switch {
		case ev.LogonID == 0x6a423 && ev.Time.After(reconnect):
			after++
			if d.ClientName != "JUMP01" || d.ClientAddress != "10.23.23.9" || d.Attribution != "4778" {
				t.Errorf("%s at %v under 0x6a423: client %q %q (%s), want JUMP01 10.23.23.9 (4778)",
					ev.Executable, ev.Time, d.ClientName, d.ClientAddress, d.Attribution)
			}
		case ev.LogonID == 0x6a423 && ev.Time.Before(reconnect):
			before++
			fallthrough
		case ev.LogonID != 0x6a423:
			if ev.LogonID != 0x6a423 {
				others++
			}
			if d.ClientName != "" || d.ClientAddress != "" || d.Attribution != "" {
				t.Errorf("%s at %v under %s: client %q %q, want none", ev.Executable, ev.Time, ev.LogonID, d.ClientName, d.ClientAddress)
			}
		}
	}
	// rdpclip, AtBroker, rdpinput (twice), dllhost, mmc (Subject 0x6a423)
	// and backgroundTaskHost follow the 4778; TSTheme precedes it by 0.1 s.
	if after != 7 || before != 1 || others != 13 {
		t.Errorf("%d starts of 0x6a423 after the 4778, %d before, %d of other logons", after, before, others)
	}
}

// TestRDPHijackDirect: in the CC0 tscon hijack log, 4779 disconnects
// admmig's logon 0x13b5e1e from RDP-Tcp#8 (client JUMP01), then 4778
// reconnects admmarsid's 0x6a423 to it from JUMP01. 0x13b5e1e has no
// client at any time of the file (nothing connects it before the 4779, and
// it is disconnected after); 0x6a423 has none before its 4778 and JUMP01
// after.
func TestRDPHijackDirect(t *testing.T) {
	tr, starts := readAll(t, testdir.ThirdParty(t, "evtx-to-mitre-attack", "ID4688-4778-4779_RDP_hijack_direct.evtx"))
	reconnect := time.Date(2021, 5, 14, 21, 1, 5, 831e6, time.UTC)
	seen := map[string]int{}
	for _, ev := range starts {
		d := attribute(tr, ev)
		client := d.ClientName + "/" + d.ClientAddress
		switch {
		case ev.LogonID == 0x6a423 && ev.Time.After(reconnect):
			seen["0x6a423 after"]++
			if client != "JUMP01/10.23.23.9" || d.Attribution != "4778" {
				t.Errorf("%s at %v under 0x6a423: %s (%s)", ev.Executable, ev.Time, client, d.Attribution)
			}
		case ev.LogonID == 0x6a423:
			seen["0x6a423 before"]++
			if client != "/" {
				t.Errorf("%s at %v under 0x6a423 before the 4778: %s", ev.Executable, ev.Time, client)
			}
		case ev.LogonID == 0x13b5e1e:
			seen["0x13b5e1e"]++
			if client != "/" {
				t.Errorf("%s at %v under the disconnected 0x13b5e1e: %s", ev.Executable, ev.Time, client)
			}
		default:
			if client != "/" {
				t.Errorf("%s under %s: %s", ev.Executable, ev.LogonID, client)
			}
		}
	}
	// TSTheme (before), AtBroker and rdpclip (after) of 0x6a423; TSTheme
	// and two dllhost of 0x13b5e1e after its 4779.
	if seen["0x6a423 after"] != 2 || seen["0x6a423 before"] != 1 || seen["0x13b5e1e"] != 3 {
		t.Errorf("starts seen: %v", seen)
	}
	// The disconnect is what ends 0x13b5e1e's client: a lookup just
	// before it, had the logon started in the file, would be unknown too.
	if c := tr.Lookup(session.Query{Host: "fs01", Logon: 0x13b5e1e, Time: reconnect}); c.Connected() {
		t.Errorf("0x13b5e1e after its 4779: %+v", c)
	}
}

// TestOTRFRDPSession: the OTRF NXLog export (Windows JSON, flat) of an RDP
// session on WORKSTATION5 holds a 4778 (0x10ac67 from robertos-mbp,
// 1.2.3.4) among Sysmon 1 and 4688. The export's @timestamp is when
// Logstash received each event, up to 5 s after the fact, while Sysmon
// carries the exact UtcTime: the 4688s after the 4778 resolve, the Sysmon
// starts of the same processes (stamped earlier) do not.
func TestOTRFRDPSession(t *testing.T) {
	tr, starts := readAll(t, testdir.ThirdParty(t, "otrf-security-datasets", "otrf_rdp_interactive_taskmanager_proc_logon_subset.jsonl"))
	reconnect := time.Date(2020, 9, 22, 8, 38, 5, 699e6, time.UTC)
	var resolved int
	for _, ev := range starts {
		d := attribute(tr, ev)
		want := ev.LogonID == 0x10ac67 && !ev.Time.Before(reconnect)
		if got := d.ClientName == "robertos-mbp" && d.ClientAddress == "1.2.3.4" && d.Attribution == "4778"; got != want {
			t.Errorf("%s (%s) at %v under %s: client %q %q, want resolved %v", ev.Executable, ev.Source, ev.Time, ev.LogonID, d.ClientName, d.ClientAddress, want)
		}
		if want {
			resolved++
		}
	}
	// rdpclip, taskhostw, backgroundTaskHost, smartscreen, Taskmgr.
	if resolved < 5 {
		t.Errorf("%d starts resolved, want 5", resolved)
	}
}

// TestRemoteConnectionManager1149 reads the CC0 1149 log (records stored
// without a template, Param2 empty and dropped by the decoder): no error,
// and no session event, since 1149 names neither a logon nor a session
// and is logged at authentication, before the logon exists.
func TestRemoteConnectionManager1149(t *testing.T) {
	tr, starts, sessions := readSessions(t, testdir.ThirdParty(t, "evtx-to-mitre-attack", "ID1149_RDP_success_logins_multiple_hosts.evtx"))
	if len(starts) != 0 || len(sessions) != 0 || tr.Stats().Events != 0 {
		t.Errorf("%d starts, %d session events from 1149 records", len(starts), len(sessions))
	}
}

// TestNeedlesFindEverySessionEvent: a read prefiltered on Needles yields
// every session event a full read does, over the project's samples, the
// third-party logs and the outside corpora (EVTX, event XML, ECS and
// Windows JSON): scan's attribution pass loses nothing to its prefilter.
func TestNeedlesFindEverySessionEvent(t *testing.T) {
	for _, set := range []struct {
		name  string
		paths func(t *testing.T) []string
	}{
		{"testdata", func(t *testing.T) []string { return []string{testdir.Testdata(t)} }},
		{"outside", func(t *testing.T) []string {
			return []string{testdir.Shared(t, testdir.AttackSamples), testdir.Shared(t, testdir.ECS)}
		}},
	} {
		t.Run(set.name, func(t *testing.T) {
			paths := set.paths(t)
			collect := func(opts file.Options) map[string]int {
				got := map[string]int{}
				opts.Sink = source.Sink{Event: func(ev *detector.Event) error {
					if ev.SessionChange != detector.SessionNone {
						got[fmt.Sprintf("%s %v %s %s %s %s %s", ev.Host, ev.Time, ev.SessionChange, ev.LogonID, ev.SessionID, ev.ClientName, ev.ClientAddress)]++
					}
					return nil
				}}
				if err := file.ReadPaths(context.Background(), paths, opts); err != nil {
					t.Fatal(err)
				}
				return got
			}
			full := collect(file.Options{})
			filtered := collect(file.Options{Prefilter: true, Needles: session.Needles()})
			for k, n := range full {
				if filtered[k] != n {
					t.Errorf("full read has %d x %s, prefiltered %d", n, k, filtered[k])
				}
			}
			if len(filtered) != len(full) {
				t.Errorf("%d distinct session events prefiltered, %d in full", len(filtered), len(full))
			}
			t.Logf("%d distinct session events", len(full))
		})
	}
}
