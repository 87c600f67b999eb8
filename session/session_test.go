package session

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// at is t0 plus m minutes.
func at(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

// Session events as the readers map them.
func logon(m int, id, linked detector.LogonID, addr, name string) detector.Event {
	return detector.Event{Time: at(m), Host: "srv1.corp.example", SessionChange: detector.SessionLogon, Attribution: "4624",
		LogonID: id, LinkedLogonID: linked, ClientAddress: addr, ClientName: name, LogonTime: at(m).Unix()}
}

func reconnect(m int, id detector.LogonID, name, addr string) detector.Event {
	return detector.Event{Time: at(m), Host: "srv1.corp.example", SessionChange: detector.SessionReconnect, Attribution: "4778",
		LogonID: id, ClientName: name, ClientAddress: addr}
}

func disconnect(m int, id detector.LogonID) detector.Event {
	return detector.Event{Time: at(m), Host: "srv1.corp.example", SessionChange: detector.SessionDisconnect, Attribution: "4779",
		LogonID: id, ClientName: "JUMP01", ClientAddress: "10.0.0.9"}
}

func logoff(m int, id detector.LogonID) detector.Event {
	return detector.Event{Time: at(m), Host: "srv1.corp.example", SessionChange: detector.SessionLogoff, Attribution: "4634", LogonID: id}
}

func boot(m int) detector.Event {
	return detector.Event{Time: at(m), Host: "SRV1", SessionChange: detector.SessionBoot, Attribution: "4608"}
}

func lsm(m int, change detector.SessionChange, sid uint32, addr string) detector.Event {
	return detector.Event{Time: at(m), Host: "srv1", SessionChange: change, Attribution: "lsm",
		SessionID: detector.SessionOf(sid), ClientAddress: addr}
}

// process is the lookup for a process of logon id / session sid at minute m.
func process(m int, id detector.LogonID, sid int) Query {
	q := Query{Host: "SRV1.corp.example", Logon: id, Time: at(m)}
	if sid >= 0 {
		q.Session = detector.SessionOf(uint32(sid))
	}
	return q
}

func TestLookup(t *testing.T) {
	const L, L2, other detector.LogonID = 0x6a423, 0x6a3f3, 0x99
	tests := []struct {
		name   string
		events []detector.Event
		q      Query
		want   Client
	}{
		{"nothing known", nil, process(5, L, -1), Client{}},
		{"before the logon: unknown even though a later event names the client",
			[]detector.Event{logon(10, L, 0, "10.0.0.9", "JUMP01")}, process(5, L, -1), Client{}},
		{"after a type 10 logon",
			[]detector.Event{logon(10, L, 0, "10.0.0.9", "JUMP01")}, process(11, L, -1),
			Client{Name: "JUMP01", Address: "10.0.0.9", Attribution: "4624", LogonTime: at(10).Unix()}},
		{"at the very instant of the logon",
			[]detector.Event{logon(10, L, 0, "10.0.0.9", "")}, process(10, L, -1),
			Client{Address: "10.0.0.9", Attribution: "4624", LogonTime: at(10).Unix()}},
		{"a reconnect moves the logon to its new client",
			[]detector.Event{logon(10, L, 0, "10.0.0.9", ""), disconnect(20, L), reconnect(30, L, "LAPTOP7", "192.168.5.5")},
			process(31, L, -1), Client{Name: "LAPTOP7", Address: "192.168.5.5", Attribution: "4778", LogonTime: at(10).Unix()}},
		{"between disconnect and reconnect nobody is connected",
			[]detector.Event{logon(10, L, 0, "10.0.0.9", ""), disconnect(20, L), reconnect(30, L, "LAPTOP7", "192.168.5.5")},
			process(25, L, -1), Client{LogonTime: at(10).Unix()}},
		{"a reconnect alone (the logon is older than the log)",
			[]detector.Event{reconnect(30, L, "JUMP01", "10.23.23.9")}, process(31, L, -1),
			Client{Name: "JUMP01", Address: "10.23.23.9", Attribution: "4778"}},
		{"another logon gets nothing",
			[]detector.Event{logon(10, L, 0, "10.0.0.9", "JUMP01"), reconnect(30, L, "JUMP01", "10.0.0.9")}, process(31, other, -1), Client{}},
		{"after the logoff",
			[]detector.Event{logon(10, L, 0, "10.0.0.9", ""), logoff(40, L)}, process(41, L, -1), Client{}},
		{"the elevated half of a split-token pair: both 4624s name each other",
			[]detector.Event{logon(10, L, L2, "10.0.0.9", ""), logon(10, L2, L, "10.0.0.9", ""), reconnect(30, L, "LAPTOP7", "192.168.5.5")},
			process(31, L2, -1), Client{Name: "LAPTOP7", Address: "192.168.5.5", Attribution: "4778", LogonTime: at(10).Unix()}},
		{"the elevated half when only the limited logon's 4624 is there",
			[]detector.Event{logon(10, L, L2, "10.0.0.9", "")}, process(12, L2, -1),
			Client{Address: "10.0.0.9", Attribution: "4624", LogonTime: at(10).Unix()}},
		{"the limited half when only the elevated logon's 4624 is there",
			[]detector.Event{logon(10, L2, L, "10.0.0.9", "")}, process(12, L, -1),
			Client{Address: "10.0.0.9", Attribution: "4624", LogonTime: at(10).Unix()}},
		{"a boot ends every logon before it (ids are reused)",
			[]detector.Event{logon(10, L, 0, "10.0.0.9", ""), boot(50)}, process(60, L, -1), Client{}},
		{"a boot after the process changes nothing",
			[]detector.Event{logon(10, L, 0, "10.0.0.9", ""), boot(50)}, process(20, L, -1),
			Client{Address: "10.0.0.9", Attribution: "4624", LogonTime: at(10).Unix()}},
		{"another host's logon of the same id",
			[]detector.Event{func() detector.Event { e := logon(10, L, 0, "10.0.0.9", ""); e.Host = "srv2"; return e }()},
			process(20, L, -1), Client{}},
		{"by session: LocalSessionManager 21",
			[]detector.Event{lsm(10, detector.SessionLogon, 2, "10.0.0.9")}, process(12, 0, 2),
			Client{Address: "10.0.0.9", Attribution: "lsm", LogonTime: at(10).Unix()}},
		{"by session: 25 after 24",
			[]detector.Event{lsm(10, detector.SessionLogon, 2, "10.0.0.9"), lsm(20, detector.SessionDisconnect, 2, "10.0.0.9"),
				lsm(30, detector.SessionReconnect, 2, "172.16.0.3")},
			process(31, L, 2), Client{Address: "172.16.0.3", Attribution: "lsm", LogonTime: at(10).Unix()}},
		{"by session: a reused session id belongs to its new logon",
			[]detector.Event{lsm(10, detector.SessionLogon, 2, "10.0.0.9"), lsm(20, detector.SessionLogoff, 2, ""),
				lsm(30, detector.SessionLogon, 2, "172.16.0.3")},
			process(31, 0, 2), Client{Address: "172.16.0.3", Attribution: "lsm", LogonTime: at(30).Unix()}},
		{"by session: between logoff and the next logon",
			[]detector.Event{lsm(10, detector.SessionLogon, 2, "10.0.0.9"), lsm(20, detector.SessionLogoff, 2, "")},
			process(25, 0, 2), Client{}},
		{"by session: events before the process's logon time are another user's",
			[]detector.Event{lsm(10, detector.SessionLogon, 2, "10.0.0.9")},
			func() Query { q := process(40, L, 2); q.LogonTime = at(30).Unix(); return q }(), Client{}},
		{"by session: events before the logon's 4624 are another user's",
			[]detector.Event{lsm(10, detector.SessionReconnect, 2, "10.0.0.9"), logon(30, L, 0, "172.16.0.3", "")},
			process(40, L, 2), Client{Address: "172.16.0.3", Attribution: "4624", LogonTime: at(30).Unix()}},
		{"by logon time: a 4624 from a previous use of the id is not this logon's",
			[]detector.Event{logon(10, L, 0, "10.0.0.9", "")},
			func() Query { q := process(40, L, -1); q.LogonTime = at(30).Unix(); return q }(), Client{}},
		{"by logon time: the 4624 a few seconds after LSA's logon time is this logon's",
			[]detector.Event{func() detector.Event {
				e := logon(30, L, 0, "10.0.0.9", "")
				e.Time = e.Time.Add(2 * time.Second)
				return e
			}()},
			func() Query { q := process(40, L, -1); q.LogonTime = at(30).Unix(); return q }(),
			Client{Address: "10.0.0.9", Attribution: "4624", LogonTime: at(30).Unix() + 2}},
		{"logon and session both speak: the later event wins",
			[]detector.Event{logon(10, L, 0, "10.0.0.9", ""), lsm(30, detector.SessionReconnect, 2, "172.16.0.3")},
			process(31, L, 2), Client{Address: "172.16.0.3", Attribution: "lsm", LogonTime: at(10).Unix()}},
		{"logon and session at the same instant: the logon's event wins",
			[]detector.Event{lsm(10, detector.SessionLogon, 2, "10.0.0.9"), logon(10, L, 0, "10.0.0.9", "JUMP01")},
			process(31, L, 2), Client{Name: "JUMP01", Address: "10.0.0.9", Attribution: "4624", LogonTime: at(10).Unix()}},
		{"the session disconnected after the logon's reconnect",
			[]detector.Event{reconnect(10, L, "JUMP01", "10.0.0.9"), lsm(20, detector.SessionDisconnect, 2, "10.0.0.9")},
			process(31, L, 2), Client{}},
		{"kept as written: LOCAL and loopback",
			[]detector.Event{reconnect(10, L, "Unknown", "LOCAL"), reconnect(20, other, "PC02", "127.0.0.1")},
			process(11, L, -1), Client{Name: "Unknown", Address: "LOCAL", Attribution: "4778"}},
		{"no time: no answer",
			[]detector.Event{logon(10, L, 0, "10.0.0.9", "")}, Query{Host: "srv1", Logon: L}, Client{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Every order of arrival gives the same answer.
			for round := range 4 {
				tr := New(Options{})
				evs := append([]detector.Event(nil), tt.events...)
				r := rand.New(rand.NewPCG(uint64(round), 7))
				if round > 0 {
					r.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
				}
				for i := range evs {
					tr.Add(&evs[i])
				}
				if got := tr.Lookup(tt.q); got != tt.want {
					t.Fatalf("round %d: got %+v, want %+v", round, got, tt.want)
				}
			}
		})
	}
}

// TestSameInstant: a disconnect and a reconnect of one logon stamped with
// the same time are ordered by their record ids, as the log wrote them.
func TestSameInstant(t *testing.T) {
	for _, order := range [][2]uint64{{10, 11}, {11, 10}} {
		tr := New(Options{})
		d, r := disconnect(10, 5), reconnect(10, 5, "B", "10.0.0.2")
		d.RecordID, r.RecordID = order[0], order[1]
		tr.Add(&r)
		tr.Add(&d)
		got := tr.Lookup(process(10, 5, -1))
		if connected := order[0] < order[1]; got.Connected() != connected {
			t.Errorf("disconnect record %d, reconnect record %d: %+v", order[0], order[1], got)
		}
	}
}

func TestAddIgnores(t *testing.T) {
	tr := New(Options{})
	for _, ev := range []detector.Event{
		{Time: at(1), Type: detector.TypeStart, LogonID: 5, Executable: `\\tsclient\c\a.exe`}, // a process start
		{Time: at(1), SessionChange: detector.SessionLogon},                                   // no id
		{SessionChange: detector.SessionLogon, LogonID: 5},                                    // no time
	} {
		if tr.Add(&ev) {
			t.Errorf("stored %+v", ev)
		}
	}
	e := logon(1, 5, 0, "10.0.0.9", "")
	if !tr.Add(&e) || tr.Add(&e) {
		t.Error("an event read twice must be stored once")
	}
	e2 := e
	e2.RecordID = 99 // the same record from another export keeps its fields
	if tr.Add(&e2) {
		t.Error("the same event with another record id stored twice")
	}
	if s := tr.Stats(); s.Events != 1 || s.Dropped != 0 || !s.Horizon.IsZero() {
		t.Errorf("stats %+v", s)
	}
}

func TestHostKey(t *testing.T) {
	for in, want := range map[string]string{
		"WS1.corp.example": "ws1", "ws1": "ws1", " WS1 ": "ws1", "10.1.2.3": "10.1.2.3", "fe80::1": "fe80::1", "": "", ".x": ".x",
	} {
		if got := HostKey(in); got != want {
			t.Errorf("HostKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCap: past MaxEvents the oldest events go; answers that depended on
// them become unknown, never wrong, and recent answers stay right.
func TestCap(t *testing.T) {
	tr := New(Options{MaxEvents: 50})
	// Logon i connects from 10.0.0.i at minute 10*i, reconnects from
	// 10.1.0.i at 10*i+5.
	for i := 1; i <= 100; i++ {
		l := logon(10*i, detector.LogonID(i), 0, fmt.Sprintf("10.0.0.%d", i), "")
		r := reconnect(10*i+5, detector.LogonID(i), "", fmt.Sprintf("10.1.0.%d", i))
		tr.Add(&l)
		tr.Add(&r)
	}
	s := tr.Stats()
	if s.Events > 50 || s.Dropped == 0 || s.Dropped+uint64(s.Events) != 200 || s.Horizon.IsZero() {
		t.Fatalf("stats %+v", s)
	}
	for i := 1; i <= 100; i++ {
		got := tr.Lookup(process(10*i+3, detector.LogonID(i), -1))
		if !got.Connected() {
			if !at(10 * i).Before(s.Horizon) {
				t.Errorf("logon %d after the horizon %v lost its client", i, s.Horizon)
			}
			continue
		}
		if got.Address != fmt.Sprintf("10.0.0.%d", i) {
			t.Errorf("logon %d: %+v", i, got)
		}
	}
	// An event older than the horizon is not taken back in.
	old := logon(1, 1000, 0, "10.9.9.9", "")
	if tr.Add(&old) {
		t.Error("an event older than the horizon was stored")
	}
	// Recent logons keep both their events.
	if got := tr.Lookup(process(1010, 100, -1)); got.Address != "10.1.0.100" || got.LogonTime != at(1000).Unix() {
		t.Errorf("latest logon: %+v", got)
	}
}

func TestAttribute(t *testing.T) {
	tr := New(Options{})
	e := logon(10, 5, 0, "10.0.0.9", "JUMP01")
	tr.Add(&e)
	d := detector.Detection{Event: detector.Event{Time: at(12), Host: "srv1", LogonID: 5, Type: detector.TypeStart}}
	if !tr.Attribute(&d) || d.ClientName != "JUMP01" || d.ClientAddress != "10.0.0.9" || d.Attribution != "4624" || d.LogonTime != at(10).Unix() {
		t.Errorf("attributed %+v", d.Event)
	}
	// A client the event itself named is kept.
	d = detector.Detection{Event: detector.Event{Time: at(12), Host: "srv1", LogonID: 5, ClientAddress: "1.2.3.4",
		Attribution: detector.AttributionEvent, LogonTime: 77}}
	if tr.Attribute(&d) || d.ClientAddress != "1.2.3.4" || d.Attribution != "event" || d.LogonTime != 77 {
		t.Errorf("overrode the event's own client: %+v", d.Event)
	}
	// No client, but the logon time is learned.
	tr.Add(&detector.Event{Time: at(20), Host: "srv1", SessionChange: detector.SessionDisconnect, LogonID: 5, Attribution: "4779"})
	d = detector.Detection{Event: detector.Event{Time: at(25), Host: "srv1", LogonID: 5}}
	if tr.Attribute(&d) || d.ClientAddress != "" || d.Attribution != "" || d.LogonTime != at(10).Unix() {
		t.Errorf("disconnected: %+v", d.Event)
	}
}
