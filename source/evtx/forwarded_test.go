package evtx

import (
	"bytes"
	"context"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
)

// Records stored without a template (forwarded events, and the real
// TerminalServices-RemoteConnectionManager log below) hold plain elements
// whose starts have no dependency identifier. Velocidex v0.2.0 and the
// guard read one everywhere, so such records came out as "name ... lies
// outside the chunk" or "record has no Event element".

// TestRemoteConnectionManager1149 reads the CC0 RDP log from
// mdecrevoisier/EVTX-to-MITRE-Attack: eleven 1149 events ("User
// authentication succeeded") from eleven hosts, every record stored
// without a template. Expected values are those the record bytes hold
// (strings and hex dump of the file); Param2, the domain, is empty in all
// of them (<Param2></Param2>) and the decoder drops empty elements.
func TestRemoteConnectionManager1149(t *testing.T) {
	path := testdir.ThirdParty(t, "evtx-to-mitre-attack", "ID1149_RDP_success_logins_multiple_hosts.evtx")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		recordID uint64 // System/EventRecordID, from the host that logged it
		computer string
		time     string
	}{
		{6433, "rootdc1.offsec.lan", "2021-12-16T10:25:32.3518358Z"},
		{99456, "fs03vuln.offsec.lan", "2021-12-16T10:25:30.4156379Z"},
		{318, "FS03.offsec.lan", "2021-12-16T10:25:32.5949636Z"},
		{2858, "mssql01.offsec.lan", "2021-12-16T10:25:32.367518Z"},
		{6067, "dhcp01.offsec.lan", "2021-12-16T10:25:32.4073206Z"},
		{1860, "webiis01.offsec.lan", "2021-12-16T10:25:32.4731205Z"},
		{1813, "prtg-mon.offsec.lan", "2021-12-16T10:25:32.782376Z"},
		{6783, "exchange01.offsec.lan", "2021-12-16T10:25:32.6481991Z"},
		{1831, "pki01.offsec.lan", "2021-12-16T10:25:32.7946839Z"},
		{6126, "wsus01.offsec.lan", "2021-12-16T10:25:32.7267188Z"},
		{1801, "adfs01.offsec.lan", "2021-12-16T10:25:32.6732145Z"},
	}

	// The records themselves, with every field the reader maps.
	var got []winevent.Record
	var headerIDs []uint64
	f := frameChunk(bytes.Clone(b[fileBlockSize:fileBlockSize+chunkSize]), chunkSize, 0, fileBlockSize, "rcm.evtx",
		func(e *source.RecordError) { t.Errorf("framing: %v", e) })
	for _, s := range f.spans {
		headerIDs = append(headerIDs, s.id)
	}
	decodeChunk(bytes.Clone(b[fileBlockSize:fileBlockSize+chunkSize]), chunkSize, 0, fileBlockSize, "rcm.evtx",
		func(r *winevent.Record) bool { got = append(got, *r); return true },
		func(e *source.RecordError) { t.Errorf("bad record: %v", e) })
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i, w := range want {
		r := got[i]
		if headerIDs[i] != uint64(i+1) {
			t.Errorf("record %d: header id %d", i+1, headerIDs[i])
		}
		if r.RecordID != w.recordID || r.Computer != w.computer || !r.Time.Equal(utc(w.time)) ||
			r.EventID != 1149 || r.Provider != "Microsoft-Windows-TerminalServices-RemoteConnectionManager" ||
			r.Channel != "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational" ||
			r.UserSID != "S-1-5-20" {
			t.Errorf("record %d: got %+v, want %+v", i+1, r, w)
		}
		if d := map[string]string{"Param1": "admmig", "Param3": "10.23.123.11"}; !maps.Equal(r.Data, d) {
			t.Errorf("record %d: UserData %v, want %v", i+1, r.Data, d)
		}
	}

	// The whole file, with and without the prefilter: nothing reported,
	// nothing detected, every record accounted for.
	res := readBytes(t, context.Background(), "rcm.evtx", b)
	if res.err != nil || len(res.bad) != 0 || len(res.events) != len(want) || res.stats.Records != int64(len(want)) {
		t.Fatalf("full parse: err %v, bad %v, %d events, stats %+v", res.err, res.bad, len(res.events), res.stats)
	}
	for i, ev := range res.events {
		if ev.RecordID != want[i].recordID || ev.Host != want[i].computer {
			t.Errorf("event %d: record id %d, host %q; want %d, %q", i+1, ev.RecordID, ev.Host, want[i].recordID, want[i].computer)
		}
	}
	if d, _ := detector.MustNew(detector.DefaultConfig()).Detect(context.Background(), res.events, nil); len(d) != 0 {
		t.Errorf("%d detections in a log without process starts", len(d))
	}
	pre := readWith(t, b, "rcm.evtx", Options{Prefilter: true, Config: detector.DefaultConfig()})
	if pre.err != nil || len(pre.bad) != 0 || pre.stats.Records+pre.stats.RecordsSkipped != int64(len(want)) {
		t.Errorf("prefilter: err %v, bad %v, stats %+v", pre.err, pre.bad, pre.stats)
	}
}

// TestPlainRecords: records without a template, as a synthetic chunk, are
// decoded field for field and reach the rule; the prefilter keeps their
// chunk. Written with dependency identifiers (a layout no Windows writes
// outside templates), every record is refused with a report instead of
// being decoded into something else.
func TestPlainRecords(t *testing.T) {
	events, bad, skip := decodeOnce(plainChunk(t, 3, false), chunkSize)
	if len(bad) != 0 || len(events) != 3 || skip {
		t.Fatalf("bad %v, %d events, skip %v", bad, len(events), skip)
	}
	for _, ev := range events {
		if ev.Type != detector.TypeStart || ev.Executable != `\Device\Mup\tsclient\C\Tools\x.exe` ||
			ev.CommandLine != `"\\tsclient\C\Tools\x.exe" -run` || ev.Host != "ws01" || ev.Source != "Security" {
			t.Fatalf("event %+v", ev)
		}
	}
	if d, _ := fuzzMatcher.Detect(context.Background(), events, nil); len(d) != 3 {
		t.Errorf("%d detections, want 3", len(d))
	}
	var ids []uint64
	decodeChunk(plainChunk(t, 3, false), chunkSize, 0, fileBlockSize, "plain.evtx",
		func(r *winevent.Record) bool { ids = append(ids, r.RecordID); return true },
		func(e *source.RecordError) { t.Errorf("bad: %v", e) })
	if len(ids) != 3 || ids[0] != 5000 || ids[2] != 5002 {
		t.Errorf("record ids %v, want the EventRecordIDs 5000..5002", ids)
	}

	events, bad, _ = decodeOnce(plainChunk(t, 3, true), chunkSize)
	if len(events) != 0 || len(bad) != 3 {
		t.Fatalf("with dependency identifiers: %d events, bad %v; want 3 records refused", len(events), bad)
	}
	for _, e := range bad {
		if !strings.Contains(e.Error(), "binary XML") {
			t.Errorf("report %q", e)
		}
	}
}

// TestAfterByFileNumber: a follower reads a log again after the records it
// delivered. In the real forwarded log above, System/EventRecordID goes up
// and down (each host's own counter), so "after the highest id" would drop
// most records; After counts the records' numbers in the file, which Seen
// reports in order.
func TestAfterByFileNumber(t *testing.T) {
	b, err := os.ReadFile(testdir.ThirdParty(t, "evtx-to-mitre-attack", "ID1149_RDP_success_logins_multiple_hosts.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	read := func(after uint64) (ids, numbers []uint64) {
		sink := source.Sink{
			Event: func(ev *detector.Event) error { ids = append(ids, ev.RecordID); return nil },
			Bad:   func(e *source.RecordError) { t.Errorf("after %d: bad record %v", after, e) },
		}
		for _, workers := range []int{1, 4} {
			ids, numbers = nil, nil
			_, err := ReadWith(context.Background(), bytes.NewReader(b), int64(len(b)), "rcm.evtx", sink,
				Options{After: after, Workers: workers, Seen: func(n uint64) { numbers = append(numbers, n) }})
			if err != nil {
				t.Fatal(err)
			}
		}
		return ids, numbers
	}
	allIDs, allNumbers := read(0)
	if len(allIDs) != 11 || len(allNumbers) != 11 {
		t.Fatalf("whole file: %d events, %d numbers; want 11", len(allIDs), len(allNumbers))
	}
	for i, n := range allNumbers {
		if n != uint64(i+1) {
			t.Fatalf("numbers %v, want 1..11", allNumbers)
		}
	}
	// The log holds the trap: a later record with a lower EventRecordID.
	if allIDs[2] >= allIDs[1] {
		t.Fatalf("record ids %v: expected a forwarded log's ids to go down", allIDs)
	}
	for _, after := range []uint64{1, 2, 5, 10, 11, 100} {
		ids, numbers := read(after)
		k := min(int(after), 11)
		if !slices.Equal(ids, allIDs[k:]) || !slices.Equal(numbers, allNumbers[k:]) {
			t.Errorf("after %d: ids %v numbers %v; want %v %v", after, ids, numbers, allIDs[k:], allNumbers[k:])
		}
	}
}
