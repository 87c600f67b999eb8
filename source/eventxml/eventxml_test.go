package eventxml

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
)

// result is everything one Read call produced.
type result struct {
	events []detector.Event
	recs   []winevent.Record
	bad    []*source.RecordError
	stats  source.Stats
	skip   int64 // events the prefilter skipped
	err    error
}

// read runs Read over data and collects events and reports.
func read(t testing.TB, data []byte, name string, opts Options) result {
	t.Helper()
	var res result
	sink := source.Sink{
		Event: func(ev *detector.Event) error { res.events = append(res.events, *ev); return nil },
		Bad:   func(e *source.RecordError) { res.bad = append(res.bad, e) },
	}
	st, err := ReadWith(context.Background(), bytes.NewReader(data), name, sink, opts)
	res.stats, res.skip, res.err = st.Stats, st.Skipped, err
	return res
}

// readRecords is read, keeping the Records instead of mapped events.
func readRecords(t testing.TB, r io.Reader, name string) result {
	t.Helper()
	return readRecordsOpts(t, r, name, Options{})
}

func readRecordsOpts(t testing.TB, r io.Reader, name string, opts Options) result {
	t.Helper()
	var res result
	sink := source.Sink{Bad: func(e *source.RecordError) { res.bad = append(res.bad, e) }}
	var st Stats
	st, res.err = opts.read(context.Background(), r, name, sink, func(rec *winevent.Record) error {
		c := *rec
		c.Data = make(map[string]string, len(rec.Data))
		for k, v := range rec.Data {
			c.Data[k] = v
		}
		res.recs = append(res.recs, c)
		return nil
	})
	res.stats, res.skip = st.Stats, st.Skipped
	return res
}

func mustRead(t *testing.T, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(testdir.Testdata(t, elem...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// The two positives, field by field, as Records and as mapped Events.
var (
	sysmonPositive = winevent.Record{
		Provider: winevent.ProviderSysmon,
		Channel:  winevent.ChannelSysmon,
		EventID:  1,
		Computer: "WS-FIN-07.corp.example.com",
		Time:     ts("2026-03-14T09:26:53.6461234Z"),
		RecordID: 48213,
		UserSID:  "S-1-5-18",
	}
	sysmonPositiveData = map[string]string{
		"Image":            `\\tsclient\c\temp\stack\a.exe`,
		"CommandLine":      `"\\tsclient\c\temp\stack\a.exe" --out "r&d.txt" <in.txt \x`,
		"CurrentDirectory": `\\tsclient\c\temp\stack\`,
		"User":             `CORP\j.doe`,
		"ProcessId":        "7412",
		"ParentProcessId":  "5120",
		"ParentImage":      `C:\Windows\explorer.exe`,
		"UtcTime":          "2026-03-14 09:26:53.641",
		"RuleName":         "-",
		"Hashes":           "SHA1=3F786850E387550FDAB836ED7E6DC881DE23001B,MD5=D41D8CD98F00B204E9800998ECF8427E,SHA256=9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08,IMPHASH=F34D5F2D4577ED6D9CEEC516C1F5A744",
	}
	sysmonPositiveEvent = detector.Event{
		Time:             ts("2026-03-14T09:26:53.641Z"),
		Type:             detector.TypeStart,
		PID:              7412,
		ParentPID:        5120,
		Executable:       `\\tsclient\c\temp\stack\a.exe`,
		CommandLine:      `"\\tsclient\c\temp\stack\a.exe" --out "r&d.txt" <in.txt \x`,
		WorkingDirectory: `\\tsclient\c\temp\stack\`,
		ParentExecutable: `C:\Windows\explorer.exe`,
		User:             `CORP\j.doe`,
		Host:             "WS-FIN-07.corp.example.com",
		HostOS:           detector.OSWindows,
		Source:           winevent.ChannelSysmon,
		RecordID:         48213,
		SHA256:           "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		LogonID:          0xd3c8f,
		SessionID:        detector.SessionOf(2),
		LogonTime:        0x65f21a2b, // from LogonGuid {6f1c2a3b-1a2b-65f2-8f3c-0d0000000000}
	}
	securityPositive = winevent.Record{
		Provider: winevent.ProviderSecurity,
		Channel:  winevent.ChannelSecurity,
		EventID:  4688,
		Computer: "WS-FIN-07.corp.example.com",
		Time:     ts("2026-03-14T09:31:07.5318702Z"),
		RecordID: 913554,
	}
	securityPositiveData = map[string]string{
		"NewProcessName":     `\Device\Mup\tsclient\C\Tools\mimikatz.exe`,
		"NewProcessId":       "0x1f90",
		"ProcessId":          "0x2a4",
		"ParentProcessName":  `C:\Windows\System32\cmd.exe`,
		"SubjectUserName":    "j.doe",
		"SubjectDomainName":  "CORP",
		"CommandLine":        `"\\tsclient\C\Tools\mimikatz.exe" "privilege::debug" exit`,
		"TokenElevationType": "%%1938",
		"MandatoryLabel":     "S-1-16-8192",
	}
	securityPositiveEvent = detector.Event{
		Time:             ts("2026-03-14T09:31:07.5318702Z"),
		Type:             detector.TypeStart,
		PID:              0x1f90,
		ParentPID:        0x2a4,
		Executable:       `\Device\Mup\tsclient\C\Tools\mimikatz.exe`,
		CommandLine:      `"\\tsclient\C\Tools\mimikatz.exe" "privilege::debug" exit`,
		ParentExecutable: `C:\Windows\System32\cmd.exe`,
		User:             `CORP\j.doe`,
		Host:             "WS-FIN-07.corp.example.com",
		HostOS:           detector.OSWindows,
		Source:           winevent.ChannelSecurity,
		RecordID:         913554,
		LogonID:          0x3e7a1, // SubjectLogonId: TargetLogonId is 0x0
	}
)

// checkRecord compares the System fields and the listed Data values.
func checkRecord(t *testing.T, got, want winevent.Record, data map[string]string, nData int) {
	t.Helper()
	g, w := got, want
	g.Data, w.Data = nil, nil
	if !g.Time.Equal(w.Time) {
		t.Errorf("Time = %v, want %v", g.Time, w.Time)
	}
	g.Time, w.Time = time.Time{}, time.Time{}
	if g.Provider != w.Provider || g.Channel != w.Channel || g.EventID != w.EventID || g.Computer != w.Computer ||
		g.RecordID != w.RecordID || g.UserSID != w.UserSID {
		t.Errorf("System fields = %+v\nwant %+v", g, w)
	}
	for k, v := range data {
		if got.Data[k] != v {
			t.Errorf("Data[%s] = %q, want %q", k, got.Data[k], v)
		}
	}
	if len(got.Data) != nData {
		t.Errorf("len(Data) = %d, want %d: %v", len(got.Data), nData, got.Data)
	}
}

func checkEvent(t *testing.T, got, want detector.Event) {
	t.Helper()
	if !got.Time.Equal(want.Time) {
		t.Errorf("Event.Time = %v, want %v", got.Time, want.Time)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("Event =\n %+v\nwant\n %+v", got, want)
	}
}

func TestSamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file      string
		ids       []int
		recordIDs []uint64
		positive  int // index of the positive
		want      winevent.Record
		data      map[string]string
		nData     int
		event     detector.Event
	}{
		{
			file:      "sysmon_tsclient.xml",
			ids:       []int{1, 1, 1, 1, 11, 1},
			recordIDs: []uint64{48213, 48214, 48215, 48216, 48217, 48218},
			want:      sysmonPositive, data: sysmonPositiveData, nData: 23, event: sysmonPositiveEvent,
		},
		{
			file:      "security_4688_tsclient.xml",
			ids:       []int{4688, 4688, 4688, 1102},
			recordIDs: []uint64{913554, 913560, 913571, 913600},
			want:      securityPositive, data: securityPositiveData, nData: 15, event: securityPositiveEvent,
		},
		{
			file:      "security_4688_tsclient_utf16le.xml",
			ids:       []int{4688, 4688, 4688, 1102},
			recordIDs: []uint64{913554, 913560, 913571, 913600},
			want:      securityPositive, data: securityPositiveData, nData: 15, event: securityPositiveEvent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			data := mustRead(t, "xml", tt.file)
			res := readRecords(t, bytes.NewReader(data), tt.file)
			if res.err != nil || len(res.bad) != 0 {
				t.Fatalf("err %v, bad %v", res.err, res.bad)
			}
			if len(res.recs) != len(tt.ids) {
				t.Fatalf("got %d records, want %d", len(res.recs), len(tt.ids))
			}
			for i, r := range res.recs {
				if r.EventID != tt.ids[i] || r.RecordID != tt.recordIDs[i] {
					t.Errorf("record %d: EventID %d RecordID %d, want %d %d", i+1, r.EventID, r.RecordID, tt.ids[i], tt.recordIDs[i])
				}
			}
			checkRecord(t, res.recs[tt.positive], tt.want, tt.data, tt.nData)
			if res.stats.Records != int64(len(tt.ids)) || res.stats.Bad != 0 || res.stats.Bytes != int64(len(data)) {
				t.Errorf("stats = %+v", res.stats)
			}

			ev := read(t, data, tt.file, Options{})
			if ev.err != nil || len(ev.events) != len(tt.ids) {
				t.Fatalf("Read: err %v, %d events", ev.err, len(ev.events))
			}
			checkEvent(t, ev.events[tt.positive], tt.event)

			// Reading in tiny pieces exercises every buffer boundary.
			small := readRecords(t, iotest.HalfReader(iotest.OneByteReader(bytes.NewReader(data))), tt.file)
			if small.err != nil || len(small.bad) != 0 || len(small.recs) != len(res.recs) {
				t.Fatalf("one-byte reads: err %v, bad %v, %d records", small.err, small.bad, len(small.recs))
			}
			for i := range res.recs {
				checkRecord(t, small.recs[i], res.recs[i], res.recs[i].Data, len(res.recs[i].Data))
			}
		})
	}
}

func TestUserData(t *testing.T) {
	t.Parallel()
	res := readRecords(t, bytes.NewReader(mustRead(t, "xml", "security_4688_tsclient.xml")), "s.xml")
	if res.err != nil || len(res.recs) != 4 {
		t.Fatalf("err %v, %d records", res.err, len(res.recs))
	}
	r := res.recs[3]
	want := map[string]string{
		"SubjectUserSid":    "S-1-5-21-3623811015-3361044348-30300820-500",
		"SubjectUserName":   "Administrator",
		"SubjectDomainName": "CORP",
		"SubjectLogonId":    "0x3e7a1",
	}
	checkRecord(t, r, winevent.Record{
		Provider: "Microsoft-Windows-Eventlog", Channel: "Security", EventID: 1102,
		Computer: "WS-FIN-07.corp.example.com", Time: ts("2026-03-14T09:40:00.0012345Z"), RecordID: 913600,
	}, want, len(want))
	var ev detector.Event
	r.Event(&ev)
	if ev.Type != detector.TypeOther {
		t.Errorf("1102 mapped to %v", ev.Type)
	}
}

func TestDetections(t *testing.T) {
	t.Parallel()
	type det struct {
		form        detector.Form
		drive, path string
		exe         string
	}
	sysmonHit := det{detector.FormUNC, "c", `\temp\stack\a.exe`, `\\tsclient\c\temp\stack\a.exe`}
	kernelHit := det{detector.FormKernel, "C", `\Tools\mimikatz.exe`, `\Device\Mup\tsclient\C\Tools\mimikatz.exe`}
	tests := []struct {
		file   string
		strict bool
		want   []det
	}{
		{"sysmon_tsclient.xml", false, []det{sysmonHit}},
		{"sysmon_tsclient.xml", true, nil},
		{"security_4688_tsclient.xml", false, []det{kernelHit}},
		{"security_4688_tsclient.xml", true, []det{kernelHit}},
		{"security_4688_tsclient_utf16le.xml", false, []det{kernelHit}},
		{"security_4688_tsclient_utf16le.xml", true, []det{kernelHit}},
	}
	for _, tt := range tests {
		cfg := detector.DefaultConfig()
		cfg.Strict = tt.strict
		m := detector.MustNew(cfg)
		res := read(t, mustRead(t, "xml", tt.file), tt.file, Options{})
		if res.err != nil || len(res.bad) > 0 {
			t.Fatalf("%s: err %v bad %v", tt.file, res.err, res.bad)
		}
		got, _ := m.Detect(context.Background(), res.events, nil)
		if len(got) != len(tt.want) {
			t.Errorf("%s strict=%v: %d detections, want %d: %+v", tt.file, tt.strict, len(got), len(tt.want), got)
			continue
		}
		for i, d := range got {
			w := tt.want[i]
			if d.Form != w.form || d.ClientDrive != w.drive || d.SharePath != w.path || d.Executable != w.exe || d.RuleID != detector.RuleID {
				t.Errorf("%s strict=%v: detection %+v, want %+v", tt.file, tt.strict, d, w)
			}
		}
	}
}

func TestSniff(t *testing.T) {
	t.Parallel()
	sec := mustRead(t, "xml", "security_4688_tsclient.xml")
	u16 := mustRead(t, "xml", "security_4688_tsclient_utf16le.xml")
	tests := []struct {
		name string
		head []byte
		want bool
	}{
		{"wevtutil", mustRead(t, "xml", "sysmon_tsclient.xml")[:4096], true},
		{"declaration and root", sec, true},
		{"utf16le bom", u16[:4096], true},
		{"utf16le no bom", u16[2:200], true},
		{"utf8 bom", append([]byte("\xEF\xBB\xBF\r\n"), sec[40:300]...), true},
		{"events root", []byte("  <Events>\n<Event xmlns='x'>"), true},
		{"cut tag", []byte("<Event"), true},
		{"event data only", []byte("<EventData><Data/></EventData>"), false},
		{"json", []byte(`{"Event":{"System":{}}}`), false},
		{"text", []byte("hello <Event>"), false},
		{"html", []byte("<html><body>Event</body></html>"), false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		if got := Sniff(tt.head); got != tt.want {
			t.Errorf("%s: Sniff = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSinkErrorStops(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	n := 0
	sink := source.Sink{Event: func(*detector.Event) error { n++; return stop }}
	_, err := Read(context.Background(), bytes.NewReader(mustRead(t, "xml", "sysmon_tsclient.xml")), "s.xml", sink)
	if err != stop || n != 1 {
		t.Errorf("err %v after %d events, want the sink's error after 1", err, n)
	}
}

func TestContextCancel(t *testing.T) {
	t.Parallel()
	input := generate(1000, 100)
	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Read(ctx, bytes.NewReader(input), "g.xml", source.Sink{Event: func(*detector.Event) error { return nil }})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("during", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		sink := source.Sink{Event: func(*detector.Event) error {
			if n++; n == 10 {
				cancel()
			}
			return nil
		}}
		st, err := Read(ctx, bytes.NewReader(input), "g.xml", sink)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if n >= 1000 || st.Records >= 1000 {
			t.Errorf("read %d events (%d records) after cancel", n, st.Records)
		}
	})
}

func TestEmptyAndRootOnly(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "  \r\n", "\xEF\xBB\xBF", `<?xml version="1.0"?><Events></Events>`, "<Events/>", "<!-- none --><Events>\n</Events>\n"} {
		res := read(t, []byte(in), "e.xml", Options{})
		if res.err != nil || len(res.bad) != 0 || len(res.events) != 0 {
			t.Errorf("%q: err %v, bad %v, %d events", in, res.err, res.bad, len(res.events))
		}
	}
}

func TestLongValues(t *testing.T) {
	t.Parallel()
	// A value far larger than one read, with entities across read
	// boundaries, still decodes exactly.
	long := strings.Repeat(`C:\a&amp;b\`, 30000)
	want := strings.Repeat(`C:\a&b\`, 30000)
	ev := sysmonEvent(1, 7, "<Data Name='CommandLine'>"+long+"</Data>")
	res := readRecords(t, iotest.HalfReader(strings.NewReader(ev+ev)), "l.xml")
	if res.err != nil || len(res.bad) != 0 || len(res.recs) != 2 {
		t.Fatalf("err %v bad %v records %d", res.err, res.bad, len(res.recs))
	}
	if res.recs[1].Data["CommandLine"] != want {
		t.Errorf("long value mangled (len %d, want %d)", len(res.recs[1].Data["CommandLine"]), len(want))
	}
}
