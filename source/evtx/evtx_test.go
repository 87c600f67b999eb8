package evtx

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source"
)

// result is everything one Read produced.
type result struct {
	events []detector.Event
	bad    []*source.RecordError
	stats  source.Stats
	err    error
}

func readBytes(t testing.TB, ctx context.Context, name string, b []byte) result {
	t.Helper()
	var res result
	sink := source.Sink{
		Event: func(ev *detector.Event) error { res.events = append(res.events, *ev); return nil },
		Bad:   func(e *source.RecordError) { res.bad = append(res.bad, e) },
	}
	res.stats, res.err = Read(ctx, bytes.NewReader(b), int64(len(b)), name, sink)
	return res
}

func readFile(t testing.TB, path string) result {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return readBytes(t, context.Background(), filepath.Base(path), b)
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestRealFiles checks counts and exact field values against what Windows
// logged (cross-checked with the evtx_dump JSON of the Sigma record).
func TestRealFiles(t *testing.T) {
	tests := []struct {
		dir      string // under testdata/thirdparty
		file     string
		records  int
		byID     map[string]int // "type/eventSource" counts are too coarse; count by Type
		starts   int
		check    int // index of the event compared with want
		want     detector.Event
		wantTrim bool // compare CommandLine after trimming (evtx_dump trims)
	}{
		{
			dir: "evtx-to-mitre-attack", file: "ID4688-4778_RDP_hijack_command_execution.evtx",
			// 21 x 4688 + 1 x 4778 (libyal's evtxexport agrees).
			records: 22, starts: 21, check: 0,
			want: detector.Event{
				Time: utc("2021-05-14T20:40:16.839115Z"), Type: detector.TypeStart,
				PID: 5264, ParentPID: 3008,
				Executable:       `C:\Windows\System32\sc.exe`,
				CommandLine:      "sc.exe  start hijackservice",
				ParentExecutable: `C:\Windows\System32\cmd.exe`,
				User:             `OFFSEC\admmig`, Host: "fs01.offsec.lan", HostOS: detector.OSWindows,
				Source: "Security", RecordID: 1829536,
				LogonID: 0x13b593d, // SubjectLogonId 20666685: TargetLogonId is 0
			},
		},
		{
			dir: "sigma", file: "sigma_regression_chcp_sysmon1.evtx",
			records: 1, starts: 1, check: 0,
			want: detector.Event{
				// Sysmon events carry the process creation time (UtcTime).
				Time: utc("2025-10-25T17:27:26.974Z"), Type: detector.TypeStart,
				PID: 6788, ParentPID: 8248,
				Executable:       `C:\Windows\System32\chcp.com`,
				CommandLine:      "chcp",
				WorkingDirectory: `C:\Users\Administrator\Downloads\`,
				ParentExecutable: `C:\Windows\System32\cmd.exe`,
				User:             `ATTACKRANGE\Administrator`, Host: "ar-win-dc.attackrange.local",
				HostOS: detector.OSWindows, Source: "Microsoft-Windows-Sysmon/Operational",
				SHA256:   "a807b535f7176642fc87911d185c10b00981388cda68f5b8e2ff4c73ff514352",
				RecordID: 11886324,
				LogonID:  0x529ae3, SessionID: detector.SessionOf(2), LogonTime: 1761302159,
			},
			wantTrim: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			res := readFile(t, testdir.ThirdParty(t, tc.dir, tc.file))
			if res.err != nil || len(res.bad) > 0 {
				t.Fatalf("err %v, bad %v", res.err, res.bad)
			}
			if len(res.events) != tc.records || res.stats.Records != int64(tc.records) || res.stats.Bad != 0 {
				t.Fatalf("%d events, stats %+v; want %d records", len(res.events), res.stats, tc.records)
			}
			starts := 0
			for _, ev := range res.events {
				if ev.Type == detector.TypeStart {
					starts++
				}
			}
			if starts != tc.starts {
				t.Errorf("%d process starts, want %d", starts, tc.starts)
			}
			got := res.events[tc.check]
			if tc.wantTrim {
				// The record holds "chcp  "; the JSON export trimmed it.
				got.CommandLine = strings.TrimSpace(got.CommandLine)
			}
			if got != tc.want {
				t.Errorf("event %d:\n got %+v\nwant %+v", tc.check, got, tc.want)
			}
		})
	}
}

// Test4688And4778 pins the split of the RDP hijack log by event id: the
// one 4778 (session reconnected) is not a process start.
func Test4778NotAStart(t *testing.T) {
	res := readFile(t, testdir.ThirdParty(t, "evtx-to-mitre-attack", "ID4688-4778_RDP_hijack_command_execution.evtx"))
	others := 0
	for _, ev := range res.events {
		if ev.Type == detector.TypeOther {
			others++
			if ev.Source != "Security" || ev.Host != "fs01.offsec.lan" {
				t.Errorf("4778 mapped to %+v", ev)
			}
		}
	}
	if others != 1 {
		t.Errorf("%d non-start events, want 1 (the 4778)", others)
	}
}

// TestCorpus reads every file of the real EVTX corpora, the evtx-rs
// samples in the repository and the EVTX-ATTACK-SAMPLES kept outside it:
// no fatal error, records from every file, zero detections in default and
// strict mode, and every damaged record or chunk reported with the file
// name and an offset.
func TestCorpus(t *testing.T) {
	for _, c := range []struct {
		name     string
		root     func(t *testing.T) string
		minFiles int
	}{
		{"evtx-rs", func(t *testing.T) string { return testdir.ThirdParty(t, "evtx-rs") }, 7},
		{"attack-samples", func(t *testing.T) string { return testdir.Shared(t, testdir.AttackSamples) }, 275},
	} {
		t.Run(c.name, func(t *testing.T) {
			var files []string
			err := filepath.WalkDir(c.root(t), func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".evtx") {
					files = append(files, p)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(files) < c.minFiles {
				t.Fatalf("found %d corpus files, want %d", len(files), c.minFiles)
			}
			readCorpus(t, files)
		})
	}
}

func readCorpus(t *testing.T, files []string) {
	matchers := map[string]*detector.Matcher{
		"default": detector.MustNew(detector.DefaultConfig()),
		"strict":  detector.MustNew(detector.Config{Strict: true}),
	}
	var total, bad int64
	for _, p := range files {
		name := filepath.Base(p)
		res := readFile(t, p)
		if res.err != nil {
			t.Errorf("%s: %v", name, res.err)
			continue
		}
		total += res.stats.Records
		bad += res.stats.Bad
		if len(res.events) == 0 {
			t.Errorf("%s: no records", name)
		}
		if res.stats.Records-int64(len(res.events)) > res.stats.Bad {
			t.Errorf("%s: stats %+v but %d events", name, res.stats, len(res.events))
		}
		for _, e := range res.bad {
			if e.File != name || e.Offset < 0 || !strings.Contains(e.Error(), name) {
				t.Errorf("%s: bad-record error without file and offset: %v", name, e)
			}
		}
		if len(res.bad) > 0 {
			t.Logf("%s: %d records, %d bad; first: %v", name, res.stats.Records, res.stats.Bad, res.bad[0])
		}
		for mode, m := range matchers {
			if d, _ := m.Detect(context.Background(), res.events, nil); len(d) != 0 {
				t.Errorf("%s: %d detections in %s mode, first %+v", name, len(d), mode, d[0])
			}
		}
	}
	t.Logf("%d files, %d records, %d bad", len(files), total, bad)
	// Issue 2: every corpus file reads with no error at all.
	if bad != 0 {
		t.Errorf("%d bad records or chunks across the corpus, want none", bad)
	}
}

// TestCorpusUnallocatedTail: the evtx-rs sysmon.evtx has 9 chunks, a stale
// header that declares 1, and then 8 chunk-sized blocks that never were
// chunks (no signature). That tail is unallocated space, not damage: no
// error, and every record of the real chunks is read (libyal's evtxexport
// finds 358 records, including some it recovers from slack).
func TestCorpusUnallocatedTail(t *testing.T) {
	res := readFile(t, testdir.ThirdParty(t, "evtx-rs", "sysmon.evtx"))
	if res.err != nil {
		t.Fatal(res.err)
	}
	if len(res.bad) != 0 {
		t.Errorf("unallocated tail reported as damage: %v", res.bad)
	}
	if len(res.events) < 340 {
		t.Errorf("%d events, want the 9 real chunks' records (at least 340)", len(res.events))
	}
}

// TestUnallocatedTailPolicy: bytes without a chunk signature are damage
// when a real chunk follows them or the header counts them, and unallocated
// space only after the last real chunk and beyond the header's count.
func TestUnallocatedTailPolicy(t *testing.T) {
	orig, err := os.ReadFile(testdir.ThirdParty(t, "evtx-rs", "security.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	chunks := (len(orig) - fileBlockSize) / chunkSize
	if chunks < 3 || (len(orig)-fileBlockSize)%chunkSize != 0 {
		t.Fatalf("security.evtx: %d bytes of chunks, want a whole number >= 3", len(orig)-fileBlockSize)
	}
	// withCount sets the header's chunk count (its checksum then no longer
	// matches, which is reported and does not matter here).
	withCount := func(b []byte, n int) []byte {
		b = slices.Clone(b)
		binary.LittleEndian.PutUint16(b[42:], uint16(n))
		return b
	}
	clean := readBytes(t, context.Background(), "security.evtx", orig)
	garbage := bytes.Repeat([]byte{0xA5, 0x00, 0x17, 0x3C}, chunkSize/4)

	tail := append(slices.Clone(garbage), garbage...)

	// Two garbage blocks appended after the last chunk, beyond the count.
	appended := withCount(append(slices.Clone(orig), tail...), chunks)
	if res := readBytes(t, context.Background(), "appended.evtx", appended); hasError(res.bad, "signature") || len(res.events) != len(clean.events) {
		t.Errorf("appended tail: %d events (want %d), bad %v (want no signature error)", len(res.events), len(clean.events), res.bad)
	}

	// The same tail, but the header counts one of the blocks: damage.
	counted := withCount(append(slices.Clone(orig), tail...), chunks+1)
	if res := readBytes(t, context.Background(), "counted.evtx", counted); !hasError(res.bad, fmt.Sprintf("chunk %d: bad chunk signature", chunks)) {
		t.Errorf("a counted block without a signature must be reported, got %v", res.bad)
	}

	// The last real chunk overwritten, within the header's count: damage.
	last := withCount(orig, chunks)
	copy(last[fileBlockSize+(chunks-1)*chunkSize:], garbage)
	if res := readBytes(t, context.Background(), "last.evtx", last); !hasError(res.bad, fmt.Sprintf("chunk %d: bad chunk signature", chunks-1)) {
		t.Errorf("an overwritten last chunk must be reported, got %v", res.bad)
	}

	// A garbage block between real chunks is damage whatever the header says.
	middle := withCount(orig, 1)
	copy(middle[fileBlockSize+chunkSize:], garbage)
	if res := readBytes(t, context.Background(), "middle.evtx", middle); !hasError(res.bad, "chunk 1: bad chunk signature") {
		t.Errorf("a garbage block before a real chunk must be reported, got %v", res.bad)
	}
}

func hasError(bad []*source.RecordError, substr string) bool {
	for _, e := range bad {
		if strings.Contains(e.Error(), substr) {
			return true
		}
	}
	return false
}

func TestSniff(t *testing.T) {
	tests := []struct {
		head []byte
		want bool
	}{
		{[]byte("ElfFile\x00\x00\x00"), true},
		{[]byte("ElfFile\x00"), true},
		{[]byte("ElfFile"), false},
		{[]byte("ElfChnk\x00"), false},
		{[]byte(`<Event xmlns=`), false},
		{nil, false},
	}
	for _, tc := range tests {
		if got := Sniff(tc.head); got != tc.want {
			t.Errorf("Sniff(%q) = %v, want %v", tc.head, got, tc.want)
		}
	}
}

// TestDamagedInput builds broken files from a real multi-chunk log.
func TestDamagedInput(t *testing.T) {
	orig, err := os.ReadFile(testdir.ThirdParty(t, "evtx-rs", "security.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	clean := readBytes(t, context.Background(), "security.evtx", orig)
	if clean.err != nil || len(clean.bad) != 0 {
		t.Fatalf("clean file: %v %v", clean.err, clean.bad)
	}
	perChunk := countPerChunk(t, orig)
	if len(perChunk) < 3 {
		t.Fatalf("security.evtx has %d chunks with records, want a multi-chunk file", len(perChunk))
	}
	chunkOff := func(i int) int { return fileBlockSize + i*chunkSize }

	tests := []struct {
		name       string
		mutate     func([]byte) []byte
		wantEvents int
		wantBad    []string // substrings of the reported errors, in order
		wantOffset int64    // of the first reported error
	}{
		{
			name:       "chunk 1 overwritten with garbage",
			mutate:     func(b []byte) []byte { fill(b[chunkOff(1):chunkOff(2)], 0xA5); return b },
			wantEvents: len(clean.events) - perChunk[1],
			wantBad:    []string{"chunk 1: bad chunk signature"},
			wantOffset: int64(chunkOff(1)),
		},
		{
			name: "records of chunk 2 overwritten behind a valid header",
			mutate: func(b []byte) []byte {
				fill(b[chunkOff(2)+chunkHeaderSize:chunkOff(2)+chunkHeaderSize+4096], 0x5A)
				return b
			},
			wantEvents: len(clean.events) - perChunk[2],
			wantBad:    []string{"chunk 2: event records checksum", "chunk 2: no event record signature"},
			wantOffset: int64(chunkOff(2) + chunkDataSumOff),
		},
		{
			name:       "truncated in the middle of chunk 2",
			mutate:     func(b []byte) []byte { return b[:chunkOff(2)+20000] },
			wantEvents: -1, // counted below: chunks 0-1 plus part of 2
			wantBad:    []string{"chunk 2: file ends 20000 bytes into the chunk", "cut off by end of file"},
			wantOffset: int64(chunkOff(2) + 20000),
		},
		{
			name: "one record's size field broken",
			mutate: func(b []byte) []byte {
				// The third record of chunk 0: its size no longer matches
				// the trailing copy, so the rest of that chunk is lost.
				off := chunkOff(0) + chunkHeaderSize
				for range 2 {
					off += int(le32(b[off+4:]))
				}
				b[off+4]++
				return b
			},
			wantEvents: len(clean.events) - perChunk[0] + 2,
			wantBad:    []string{"chunk 0: event records checksum", "does not match its trailing copy"},
			wantOffset: int64(chunkOff(0) + chunkDataSumOff),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mutate(bytes.Clone(orig))
			res := readBytes(t, context.Background(), "damaged.evtx", b)
			if res.err != nil {
				t.Fatalf("fatal error %v; damage must be reported, not fatal", res.err)
			}
			want := tc.wantEvents
			if want < 0 {
				want = perChunk[0] + perChunk[1]
				if len(res.events) <= want || len(res.events) >= len(clean.events) {
					t.Errorf("%d events, want more than the %d of the whole chunks before the cut and fewer than %d",
						len(res.events), want, len(clean.events))
				}
			} else if len(res.events) != want {
				t.Errorf("%d events, want %d", len(res.events), want)
			}
			if len(res.bad) != len(tc.wantBad) {
				t.Fatalf("reported %d errors %v, want %d", len(res.bad), res.bad, len(tc.wantBad))
			}
			for i, sub := range tc.wantBad {
				e := res.bad[i]
				if !strings.Contains(e.Error(), sub) || !strings.HasPrefix(e.Error(), "damaged.evtx") {
					t.Errorf("error %d = %q, want it to name the file and contain %q", i, e, sub)
				}
			}
			if res.bad[0].Offset != tc.wantOffset {
				t.Errorf("first error at offset %d, want %d", res.bad[0].Offset, tc.wantOffset)
			}
			// Events that remain are the clean file's, unchanged.
			seen := make(map[detector.Event]bool, len(clean.events))
			for _, ev := range clean.events {
				seen[ev] = true
			}
			for _, ev := range res.events {
				if !seen[ev] {
					t.Fatalf("event not in the clean file: %+v", ev)
				}
			}
		})
	}
}

// countPerChunk returns the number of records in each chunk of b.
func countPerChunk(t *testing.T, b []byte) []int {
	t.Helper()
	var n []int
	for off := fileBlockSize; off+chunkSize <= len(b); off += chunkSize {
		c := b[off : off+chunkSize]
		spans := walkRecords(bytes.Clone(c), chunkSize, int(le32(c[chunkFreeSpaceOff:])), func(int, uint64, error) {
			t.Fatal("clean file has a bad record")
		})
		n = append(n, len(spans))
	}
	return n
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func TestFatalErrors(t *testing.T) {
	real, err := os.ReadFile(testdir.ThirdParty(t, "sigma", "sigma_regression_chcp_sysmon1.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		data    []byte
		is      error
		message string
	}{
		{"not evtx", context.Background(), []byte(`{"Event":{"System":{}}}` + strings.Repeat(" ", 5000)), ErrNotEVTX, "notes.json: not an EVTX file"},
		{"empty", context.Background(), nil, ErrNotEVTX, "notes.json: not an EVTX file"},
		{"header cut", context.Background(), real[:60], nil, "notes.json: truncated EVTX file header"},
		{"cancelled", cancelled, real, context.Canceled, "read notes.json: context canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := readBytes(t, tc.ctx, "notes.json", tc.data)
			if res.err == nil || !strings.Contains(res.err.Error(), tc.message) {
				t.Fatalf("err = %v, want %q", res.err, tc.message)
			}
			if tc.is != nil && !errors.Is(res.err, tc.is) {
				t.Errorf("err = %v, want errors.Is %v", res.err, tc.is)
			}
			if len(res.events) != 0 {
				t.Errorf("%d events after a fatal error", len(res.events))
			}
		})
	}
}

// TestSinkError stops the read at the first event the sink refuses.
func TestSinkError(t *testing.T) {
	b, err := os.ReadFile(testdir.ThirdParty(t, "evtx-rs", "security.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("enough")
	n := 0
	_, err = Read(context.Background(), bytes.NewReader(b), int64(len(b)), "security.evtx", source.Sink{
		Event: func(*detector.Event) error {
			n++
			if n == 3 {
				return stop
			}
			return nil
		},
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("err %v after %d events, want %v after 3", err, n, stop)
	}
}

// TestCancelBetweenChunks cancels from the sink: the chunk in progress is
// finished, the next is not started.
func TestCancelBetweenChunks(t *testing.T) {
	b, err := os.ReadFile(testdir.ThirdParty(t, "evtx-rs", "security.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	_, err = Read(ctx, bytes.NewReader(b), int64(len(b)), "security.evtx", source.Sink{
		Event: func(*detector.Event) error { n++; cancel(); return nil },
	})
	first := countPerChunk(t, b)[0]
	if !errors.Is(err, context.Canceled) || n != first {
		t.Errorf("err %v after %d events, want context.Canceled after the %d of chunk 0", err, n, first)
	}
}

func ExampleRead() {
	f, err := os.Open("../../testdata/evtx/tsclient_positive.evtx")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	fi, _ := f.Stat()
	m := detector.MustNew(detector.DefaultConfig())
	_, err = Read(context.Background(), f, fi.Size(), f.Name(), source.Sink{
		Event: func(ev *detector.Event) error {
			if d, ok := m.Match(ev); ok {
				fmt.Println(d.Form, d.ClientDrive, d.SharePath)
			}
			return nil
		},
	})
	fmt.Println(err)
	// Output:
	// unc c \temp\stack\a.exe
	// kernel C \Tools\mimikatz.exe
	// <nil>
}
