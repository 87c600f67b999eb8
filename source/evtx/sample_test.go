package evtx

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/evtxwrite"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
)

// TestSlackNotRead: an exported log whose chunk holds one live record and,
// past the free space offset, 120 stale records of the original log. Only
// the live one is an event (libyal's evtxinfo: 1 record, 137 recovered).
func TestSlackNotRead(t *testing.T) {
	res := readFile(t, testdir.Shared(t, testdir.AttackSamples, "Lateral_Movement_sysmon_1_exec_via_sql_xpcmdshell.evtx"))
	if res.err != nil || len(res.bad) != 0 || len(res.events) != 1 {
		t.Fatalf("err %v, bad %v, %d events; want 1 event", res.err, res.bad, len(res.events))
	}
}

// TestSample reads the project's generated positive sample.
func TestSample(t *testing.T) {
	res := readFile(t, testdir.Testdata(t, "evtx", "tsclient_positive.evtx"))
	if res.err != nil || len(res.bad) != 0 {
		t.Fatalf("err %v, bad %v", res.err, res.bad)
	}
	samples := evtxwrite.TSClientSamples()
	if len(res.events) != len(samples) {
		t.Fatalf("%d events, want %d", len(res.events), len(samples))
	}
	// Each event equals what winevent makes of the sample as written.
	for i, s := range samples {
		var want detector.Event
		rec := winevent.Record{Provider: s.Provider, Channel: s.Channel, EventID: s.EventID, Computer: s.Computer,
			Time: s.TimeCreated, RecordID: s.RecordID, UserSID: s.UserID, Data: map[string]string{}}
		for _, d := range s.Data {
			rec.Data[d.Name] = d.Value
		}
		rec.Event(&want)
		if res.events[i] != want {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, res.events[i], want)
		}
	}

	tests := []struct {
		name string
		cfg  detector.Config
		want []detector.Detection // Event filled from the read events below
	}{
		{"default", detector.DefaultConfig(), []detector.Detection{
			{Form: detector.FormUNC, ClientDrive: "c", SharePath: `\temp\stack\a.exe`},
			{Form: detector.FormKernel, ClientDrive: "C", SharePath: `\Tools\mimikatz.exe`},
		}},
		// The upstream query only knows the kernel form.
		{"strict", detector.Config{Strict: true}, []detector.Detection{
			{Form: detector.FormKernel, ClientDrive: "C", SharePath: `\Tools\mimikatz.exe`},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := detector.MustNew(tc.cfg).Detect(context.Background(), res.events, nil)
			if len(got) != len(tc.want) {
				t.Fatalf("%d detections %+v, want %d", len(got), got, len(tc.want))
			}
			for i, d := range got {
				w := tc.want[i]
				if d.Form != w.Form || d.ClientDrive != w.ClientDrive || d.SharePath != w.SharePath || d.RuleID != detector.RuleID {
					t.Errorf("detection %d: %s %q %q %s, want %s %q %q", i, d.Form, d.ClientDrive, d.SharePath, d.RuleID,
						w.Form, w.ClientDrive, w.SharePath)
				}
			}
			uncs := got[0]
			if tc.name == "default" {
				if uncs.Executable != evtxwrite.SampleSysmonImage || uncs.PID != 4242 || uncs.ParentPID != 3100 ||
					uncs.SHA256 != evtxwrite.SampleSysmonSHA256 || uncs.WorkingDirectory != `\\tsclient\c\temp\stack\` ||
					uncs.User != `CORP\alice` || uncs.ParentExecutable != `C:\Windows\explorer.exe` {
					t.Errorf("Sysmon positive: %+v", uncs)
				}
				k := got[1]
				if k.Executable != evtxwrite.SampleKernelImage || k.PID != 0x1f90 || k.ParentPID != 0x13a4 || k.User != `CORP\alice` {
					t.Errorf("4688 positive: %+v", k)
				}
			}
		})
	}
}

// TestWriterRoundTrip writes random events (unicode names and values,
// empty values, enough of them for several chunks) and decodes them back
// to the same records.
func TestWriterRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("abcXYZ019 _-.:\\/\"'<>&=,%éßøΩжд中文字😀𝄞\t")
	text := func(min, max int) string {
		var sb strings.Builder
		for range min + rng.IntN(max-min+1) {
			sb.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		return sb.String()
	}
	t0 := time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)
	var events []evtxwrite.Event
	for i := range 400 {
		ev := evtxwrite.Event{
			Provider: "Prov-" + text(1, 12), Channel: "Chan/" + text(1, 20), EventID: rng.IntN(65536),
			Computer: text(1, 30), TimeCreated: t0.Add(time.Duration(rng.Int64N(1e15)) * 100),
			RecordID: uint64(1000 + i),
		}
		if i%3 == 0 {
			ev.UserID = fmt.Sprintf("S-1-5-21-%d", rng.IntN(1e9))
		}
		used := map[string]bool{}
		for range rng.IntN(12) {
			name := text(1, 16)
			if used[name] {
				continue
			}
			used[name] = true
			value := ""
			if rng.IntN(5) > 0 {
				value = text(1, 200)
			}
			ev.Data = append(ev.Data, evtxwrite.Data{Name: name, Value: value})
		}
		events = append(events, ev)
	}
	var file bytes.Buffer
	if err := evtxwrite.Write(&file, events); err != nil {
		t.Fatal(err)
	}
	b := file.Bytes()
	chunks := (len(b) - fileBlockSize) / chunkSize
	if chunks < 2 {
		t.Fatalf("wrote %d chunks, want a multi-chunk file", chunks)
	}
	// Whole-file read: checksums and framing are right.
	res := readBytes(t, context.Background(), "roundtrip.evtx", b)
	if res.err != nil || len(res.bad) != 0 || len(res.events) != len(events) {
		t.Fatalf("err %v, bad %v, %d events; want %d", res.err, res.bad, len(res.events), len(events))
	}
	// Chunk by chunk, the records themselves.
	var got []winevent.Record
	for i := range chunks {
		off := fileBlockSize + i*chunkSize
		decodeChunk(bytes.Clone(b[off:off+chunkSize]), chunkSize, i, int64(off), "roundtrip.evtx",
			func(r *winevent.Record) bool { got = append(got, *r); return true },
			func(e *source.RecordError) { t.Errorf("bad: %v", e) })
	}
	if len(got) != len(events) {
		t.Fatalf("%d records, want %d", len(got), len(events))
	}
	for i, ev := range events {
		want := winevent.Record{Provider: ev.Provider, Channel: ev.Channel, EventID: ev.EventID, Computer: ev.Computer,
			Time: ev.TimeCreated, RecordID: ev.RecordID, Number: ev.RecordID, UserSID: ev.UserID, Data: map[string]string{}}
		for _, d := range ev.Data {
			want.Data[d.Name] = d.Value
		}
		g := got[i]
		if !maps.Equal(g.Data, want.Data) || !g.Time.Equal(want.Time) {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, g, want)
		}
		g.Data, want.Data, g.Time, want.Time = nil, nil, time.Time{}, time.Time{}
		if fmt.Sprint(g) != fmt.Sprint(want) {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, g, want)
		}
	}
}
