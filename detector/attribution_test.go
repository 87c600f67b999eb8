package detector

import "testing"

func TestParseLogonID(t *testing.T) {
	tests := []struct {
		in   string
		want LogonID
		ok   bool
	}{
		{"0x6a423", 0x6a423, true},
		{"0x6A423", 0x6a423, true},
		{"0X000000000006A423", 0x6a423, true}, // python-evtx pads to 16 digits
		{"435235", 0x6a423, true},             // decimal: MDE, decoded EVTX values
		{" 0x3e7 ", 0x3e7, true},
		{"0x0", 0, true},
		{"0", 0, true},
		{"0xffffffffffffffff", 0xffffffffffffffff, true},
		{"", 0, false},
		{"0x", 0, false},
		{"-1", 0, false},
		{"+5", 0, false},
		{"0x-5", 0, false},
		{"0x1g", 0, false},
		{"6a423", 0, false}, // hex without 0x is not guessed
		{"0x10000000000000000", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseLogonID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseLogonID(%q) = %#x, %v; want %#x, %v", tt.in, uint64(got), ok, uint64(tt.want), tt.ok)
		}
	}
}

func TestLogonIDString(t *testing.T) {
	for id, want := range map[LogonID]string{0: "", 0x6a423: "0x6a423", 0x3e7: "0x3e7", 0xABCDEF0123: "0xabcdef0123"} {
		if got := id.String(); got != want {
			t.Errorf("LogonID(%#x).String() = %q, want %q", uint64(id), got, want)
		}
	}
	// Every spelling of one logon compares equal once parsed.
	a, _ := ParseLogonID("0x000000000006A423")
	b, _ := ParseLogonID("435235")
	if a != b || a.String() != "0x6a423" {
		t.Errorf("%v != %v", a, b)
	}
}

func TestSessionID(t *testing.T) {
	var zero SessionID
	if zero.Known() || zero.String() != "" {
		t.Errorf("zero SessionID is %v %q, want unknown", zero.Known(), zero.String())
	}
	if id, ok := zero.Get(); id != 0 || ok {
		t.Errorf("zero.Get() = %d, %v", id, ok)
	}
	s0 := SessionOf(0)
	if !s0.Known() || s0.String() != "0" || s0 == zero {
		t.Errorf("SessionOf(0) = %+v %q: session 0 must be known and differ from unknown", s0, s0.String())
	}
	tests := []struct {
		in   string
		want SessionID
		ok   bool
	}{
		{"1", SessionOf(1), true},
		{" 2 ", SessionOf(2), true},
		{"0", SessionOf(0), true},
		{"0x10", SessionOf(16), true},
		{"4294967295", SessionOf(4294967295), true},
		{"4294967296", SessionID{}, false},
		{"", SessionID{}, false},
		{"-1", SessionID{}, false},
		{"one", SessionID{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseSessionID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseSessionID(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCanonicalAddress(t *testing.T) {
	for in, want := range map[string]string{
		"::ffff:10.23.23.9":      "10.23.23.9",
		"::FFFF:192.168.1.2":     "192.168.1.2",
		" 10.23.23.9 ":           "10.23.23.9",
		"LOCAL":                  "LOCAL",
		"-":                      "-",
		"127.0.0.1":              "127.0.0.1",
		"::1":                    "::1",
		"fe80::1":                "fe80::1",
		"::ffff:notanaddress":    "::ffff:notanaddress",
		"":                       "",
		"2001:db8::ffff:1.2.3.4": "2001:db8::ffff:1.2.3.4",
	} {
		if got := CanonicalAddress(in); got != want {
			t.Errorf("CanonicalAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSessionChange(t *testing.T) {
	for c, want := range map[SessionChange]struct {
		name     string
		connects bool
	}{
		SessionNone: {"none", false}, SessionLogon: {"logon", true}, SessionReconnect: {"reconnect", true},
		SessionDisconnect: {"disconnect", false}, SessionLogoff: {"logoff", false}, SessionBoot: {"boot", false},
	} {
		if c.String() != want.name || c.Connects() != want.connects {
			t.Errorf("%d: %q %v, want %q %v", c, c.String(), c.Connects(), want.name, want.connects)
		}
	}
}

func TestSessionIDBinary(t *testing.T) {
	for _, s := range []SessionID{{}, SessionOf(0), SessionOf(7), SessionOf(1<<32 - 1)} {
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back SessionID
		if err := back.UnmarshalBinary(b); err != nil || back != s {
			t.Errorf("%+v -> %x -> %+v, %v", s, b, back, err)
		}
	}
	var s SessionID
	if err := s.UnmarshalBinary([]byte{1, 2}); err == nil {
		t.Error("2 bytes accepted")
	}
}
