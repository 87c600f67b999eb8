package wts

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// The byte layouts below are built as the SDK documents the structures
// (wtsapi32.h; WTS_CLIENT_ADDRESS and WTSINFOW pages); no Windows host was
// available to record them from a live call.

// clientAddress lays out a WTS_CLIENT_ADDRESS.
func clientAddress(family uint32, addr ...byte) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b, family)
	copy(b[4:], addr)
	return b
}

// utf16z is a NUL-terminated UTF-16LE string, as WTSClientName returns it.
func utf16z(s string) []byte {
	var b []byte
	for _, u := range append(utf16.Encode([]rune(s)), 0) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

func ft(t time.Time) uint64 { return uint64(t.UnixNano()/100) + 116444736000000000 }

// sessionInfo lays out a WTSINFOW.
func sessionInfo(state, id uint32, connect, logon time.Time) []byte {
	b := make([]byte, wtsinfoSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], state)
	le.PutUint32(b[4:], id)
	copy(b[32:], utf16z("RDP-Tcp#5")) // WinStationName[32]
	copy(b[96:], utf16z("CORP"))      // Domain[17]
	copy(b[130:], utf16z("alice"))    // UserName[21]
	le.PutUint64(b[176:], ft(connect))
	le.PutUint64(b[184:], 0) // DisconnectTime
	le.PutUint64(b[192:], ft(connect.Add(time.Minute)))
	le.PutUint64(b[200:], ft(logon))
	le.PutUint64(b[208:], ft(connect.Add(time.Hour)))
	return b
}

func TestDecodeClientAddress(t *testing.T) {
	tests := []struct {
		b    []byte
		want string
		err  bool
	}{
		// The documentation's example: 192.168.0.1 as 00 00 C0 A8 00 01.
		{clientAddress(2, 0x00, 0x00, 0xC0, 0xA8, 0x00, 0x01), "192.168.0.1", false},
		// Its IPv6 example: FFFF::1.
		{clientAddress(23, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01), "ffff::1", false},
		{clientAddress(23, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 23, 23, 9), "10.23.23.9", false}, // mapped IPv4
		{clientAddress(2, 0xd, 0x3d, 127, 0, 0, 1), "127.0.0.1", false},                                   // a tunnel, kept
		{clientAddress(0), "", false}, // AF_UNSPEC: RD Gateway, Store app
		{clientAddress(6), "", true},  // AF_IPX
		{make([]byte, 10), "", true},
	}
	for _, tt := range tests {
		got, err := DecodeClientAddress(tt.b)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("% x: %q, %v; want %q (error %v)", tt.b, got, err, tt.want, tt.err)
		}
	}
}

func TestDecodeSessionInfo(t *testing.T) {
	connect := time.Date(2024, 5, 1, 10, 20, 0, 0, time.UTC)
	logon := time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)
	got, err := DecodeSessionInfo(sessionInfo(StateActive, 3, connect, logon))
	if err != nil || got != (Info{State: StateActive, SessionID: 3, ConnectTime: connect, LogonTime: logon}) {
		t.Fatalf("%+v, %v", got, err)
	}
	if _, err := DecodeSessionInfo(make([]byte, 215)); err == nil {
		t.Error("short WTSINFOW accepted")
	}
	b := sessionInfo(StateActive, 3, connect, logon)
	binary.LittleEndian.PutUint64(b[176:], 0)
	if got, _ := DecodeSessionInfo(b); !got.ConnectTime.IsZero() {
		t.Errorf("zero FILETIME read as %v", got.ConnectTime)
	}
}

func TestDecodeClientName(t *testing.T) {
	for in, want := range map[string][]byte{"JUMP01": utf16z("JUMP01"), "": {}, "Ünïcode": utf16z("Ünïcode"), "X": append(utf16z("X"), 'Y', 0)} {
		if got := DecodeClientName(want); got != in {
			t.Errorf("DecodeClientName(% x) = %q, want %q", want, got, in)
		}
	}
}

// fakeAPI answers from a table and counts the calls.
type fakeAPI struct {
	answers map[uint32]Answers
	err     error
	calls   int
}

func (f *fakeAPI) Query(id uint32) (Answers, error) {
	f.calls++
	if f.err != nil {
		return Answers{}, f.err
	}
	a, ok := f.answers[id]
	if !ok {
		return Answers{}, errors.New("no such session")
	}
	return a, nil
}

func TestAttribute(t *testing.T) {
	logon := time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)
	connect := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	api := &fakeAPI{answers: map[uint32]Answers{
		2: {ClientName: utf16z("JUMP01"), ClientAddress: clientAddress(2, 0, 0, 10, 23, 23, 9), SessionInfo: sessionInfo(StateActive, 2, connect, logon)},
		3: {ClientName: utf16z("LAPTOP7"), ClientAddress: clientAddress(2, 0, 0, 10, 1, 1, 1), SessionInfo: sessionInfo(4, 3, connect, logon)}, // disconnected
		4: {ClientName: utf16z("GWCLIENT"), ClientAddress: clientAddress(0), SessionInfo: sessionInfo(StateActive, 4, connect, logon)},         // through RD Gateway
		1: {ClientName: nil, ClientAddress: clientAddress(0), SessionInfo: sessionInfo(StateActive, 1, connect, logon)},                        // the console
	}}
	now := connect.Add(time.Hour)
	c := NewCache(api, time.Second, func() time.Time { return now })
	ev := func(session int, at time.Time) *detector.Event {
		e := &detector.Event{Time: at, Type: detector.TypeStart, Executable: `\Device\Mup\tsclient\C\a.exe`}
		if session >= 0 {
			e.SessionID = detector.SessionOf(uint32(session))
		}
		return e
	}
	tests := []struct {
		name  string
		ev    *detector.Event
		want  string // "name address attribution logon"
		found bool
	}{
		{"active session", ev(2, connect.Add(time.Minute)), "JUMP01 10.23.23.9 wts 1714550400", true},
		{"client connected after the process started", ev(2, connect.Add(-time.Minute)), "   1714550400", false},
		{"disconnected session", ev(3, connect.Add(time.Minute)), "   1714550400", false},
		{"RD Gateway: a name, no address", ev(4, connect.Add(time.Minute)), "GWCLIENT  wts 1714550400", true},
		{"console: nothing", ev(1, connect.Add(time.Minute)), "   1714550400", false},
		{"unknown session", ev(-1, connect), "   0", false},
		{"session the API does not know", ev(9, connect.Add(time.Minute)), "   0", false},
		{"the event named its client already", func() *detector.Event {
			e := ev(2, connect.Add(time.Minute))
			e.ClientAddress, e.Attribution = "1.2.3.4", "event"
			return e
		}(), " 1.2.3.4 event 0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			found := c.Attribute(tt.ev)
			got := tt.ev.ClientName + " " + tt.ev.ClientAddress + " " + tt.ev.Attribution + " " + itoa(tt.ev.LogonTime)
			if found != tt.found || got != tt.want {
				t.Errorf("got %q, %v; want %q, %v", got, found, tt.want, tt.found)
			}
		})
	}
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestCacheRefresh: one query per session and TTL; after the TTL a
// reconnect (new client, new ConnectTime) is seen.
func TestCacheRefresh(t *testing.T) {
	logon := time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)
	first := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	api := &fakeAPI{answers: map[uint32]Answers{
		2: {ClientName: utf16z("JUMP01"), ClientAddress: clientAddress(2, 0, 0, 10, 23, 23, 9), SessionInfo: sessionInfo(StateActive, 2, first, logon)},
	}}
	now := first.Add(time.Minute)
	c := NewCache(api, time.Second, func() time.Time { return now })
	for range 100 {
		if cl, err := c.Lookup(2); err != nil || cl.Name != "JUMP01" {
			t.Fatalf("%+v, %v", cl, err)
		}
	}
	if api.calls != 1 {
		t.Fatalf("%d queries within the TTL", api.calls)
	}
	// The session reconnects from another client.
	second := first.Add(2 * time.Minute)
	api.answers[2] = Answers{ClientName: utf16z("LAPTOP7"), ClientAddress: clientAddress(2, 0, 0, 192, 168, 5, 5), SessionInfo: sessionInfo(StateActive, 2, second, logon)}
	now = second.Add(time.Second)
	e := &detector.Event{Time: second.Add(500 * time.Millisecond), SessionID: detector.SessionOf(2)}
	if !c.Attribute(e) || e.ClientName != "LAPTOP7" || e.ClientAddress != "192.168.5.5" {
		t.Errorf("after the reconnect: %+v", e)
	}
	// A process of the first tenure looked up now is not given the new
	// client.
	e = &detector.Event{Time: first.Add(time.Minute), SessionID: detector.SessionOf(2)}
	if c.Attribute(e) || e.ClientName != "" {
		t.Errorf("first tenure's process: %+v", e)
	}
	// Errors are cached too, for the TTL.
	api.err = errors.New("access denied")
	now = now.Add(2 * time.Second)
	calls := api.calls
	for range 10 {
		if _, err := c.Lookup(2); err == nil {
			t.Fatal("no error")
		}
	}
	if api.calls != calls+1 {
		t.Errorf("%d queries for a failing session within the TTL", api.calls-calls)
	}
}
