package evtx

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"go.uber.org/goleak"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/evtxwrite"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source"
)

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

func TestNeedleSetContains(t *testing.T) {
	noise := bytes.Repeat([]byte("l\x00L\x00tsclien\x00t\x00s\x00c\x00l\x00"), 50)
	tests := []struct {
		name    string
		needles []string
		hay     []byte
		want    bool
	}{
		{"utf16 kernel form", []string{"tsclient"}, utf16le(`\Device\Mup\tsclient\C\a.exe`), true},
		{"utf16 upper case", []string{"tsclient"}, utf16le(`\\TSCLIENT\C\a.exe`), true},
		{"utf16 mixed case", []string{"tsclient"}, utf16le(`\\TsClIeNt\C\a.exe`), true},
		{"ansi", []string{"tsclient"}, []byte(`\\tsClient\c\a.exe`), true},
		{"whole buffer", []string{"tsclient"}, []byte("tsclient"), true},
		{"utf16 whole buffer", []string{"tsclient"}, utf16le("tsclient"), true},
		{"at the end after noise", []string{"tsclient"}, append(bytes.Clone(noise), utf16le("TSCLIENT")...), true},
		{"noise only", []string{"tsclient"}, noise, false},
		{"cut short", []string{"tsclient"}, utf16le("tsclien"), false},
		{"nonzero high bytes", []string{"tsclient"}, []byte("t\x01s\x01c\x01l\x01i\x01e\x01n\x01t\x01"), false},
		{"anchor at offset 0 without room before", []string{"tsclient"}, []byte("lient"), false},
		{"mount name utf16", detector.Needles(detector.DefaultConfig()), utf16le("/home/a/THINCLIENT_DRIVES/x"), true},
		{"mount name with hyphen", detector.Needles(detector.DefaultConfig()), []byte("/root/xrdp-client/c/a"), true},
		{"hyphen is not underscore", []string{"xrdp_client"}, []byte("/root/xrdp-client/c/a"), false},
		{"non-ASCII needle", []string{"clé"}, utf16le("/mnt/CLé/x"), true},
		{"empty haystack", []string{"tsclient"}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := newNeedleSet(tc.needles).contains(tc.hay); got != tc.want {
				t.Errorf("contains(%q) = %v, want %v", tc.hay, got, tc.want)
			}
		})
	}
}

// run is one way of reading a file.
type run struct {
	events []detector.Event
	bad    []string
	stats  Stats
	err    error
}

func readWith(t testing.TB, b []byte, name string, opt Options) run {
	t.Helper()
	var r run
	r.stats, r.err = ReadWith(context.Background(), bytes.NewReader(b), int64(len(b)), name, source.Sink{
		Event: func(ev *detector.Event) error { r.events = append(r.events, *ev); return nil },
		Bad:   func(e *source.RecordError) { r.bad = append(r.bad, e.Error()) },
	}, opt)
	return r
}

// isXMLDamage tells the reports only a decode can produce: the binary
// XML of a record, as opposed to chunk and record framing.
func isXMLDamage(msg string) bool {
	return strings.Contains(msg, "binary XML") || strings.Contains(msg, "decoder") ||
		strings.Contains(msg, "no Event element") || strings.Contains(msg, "no System element") ||
		strings.Contains(msg, "EventID") || strings.Contains(msg, "no XML document")
}

// checkParity compares a full sequential parse of b with the prefiltered
// parallel read and the full parallel read.
func checkParity(t *testing.T, name string, b []byte) (full, pre run) {
	t.Helper()
	matchers := map[string]*detector.Matcher{
		"default": detector.MustNew(detector.DefaultConfig()),
		"strict":  detector.MustNew(detector.Config{Strict: true}),
	}
	full = readWith(t, b, name, Options{Workers: 1})
	// The full parallel read is the same read, only faster: every event
	// and report, in order.
	for _, w := range []int{2, 5} {
		par := readWith(t, b, name, Options{Workers: w})
		if fmt.Sprint(par.err) != fmt.Sprint(full.err) || !slices.Equal(par.events, full.events) ||
			!slices.Equal(par.bad, full.bad) || par.stats != full.stats {
			t.Errorf("%s: %d workers differ from sequential: err %v/%v, %d/%d events, bad %q/%q, stats %+v/%+v",
				name, w, par.err, full.err, len(par.events), len(full.events), par.bad, full.bad, par.stats, full.stats)
		}
	}
	for mode, m := range matchers {
		cfg := detector.DefaultConfig()
		if mode == "strict" {
			cfg = detector.Config{Strict: true}
		}
		for _, w := range []int{1, 2, 5} {
			pre = readWith(t, b, name, Options{Prefilter: true, Config: cfg, Workers: w})
			if fmt.Sprint(pre.err) != fmt.Sprint(full.err) {
				t.Errorf("%s: prefilter err %v, full %v", name, pre.err, full.err)
			}
			want, _ := m.Detect(context.Background(), full.events, nil)
			got, _ := m.Detect(context.Background(), pre.events, nil)
			if !slices.Equal(got, want) {
				t.Errorf("%s %s, %d workers: prefilter detections %+v, full parse %+v", name, mode, w, got, want)
			}
			// Every report of the prefiltered read is one the full parse
			// makes too, and only binary XML damage goes unseen.
			var unseen []string
			for _, msg := range full.bad {
				if !slices.Contains(pre.bad, msg) && !isXMLDamage(msg) {
					unseen = append(unseen, msg)
				}
			}
			for _, msg := range pre.bad {
				if !slices.Contains(full.bad, msg) {
					t.Errorf("%s: prefilter reported %q, the full parse did not", name, msg)
				}
			}
			if len(unseen) > 0 {
				t.Errorf("%s: chunk or framing damage not reported with the prefilter: %q", name, unseen)
			}
			if got, want := pre.stats.Records+pre.stats.RecordsSkipped, full.stats.Records; got != want &&
				!slices.ContainsFunc(full.bad, isXMLDamage) {
				t.Errorf("%s: prefilter records %d + skipped %d != full %d", name, pre.stats.Records, pre.stats.RecordsSkipped, want)
			}
			if pre.stats.Chunks != full.stats.Chunks || pre.stats.Bytes != full.stats.Bytes {
				t.Errorf("%s: prefilter stats %+v, full %+v", name, pre.stats, full.stats)
			}
		}
	}
	return full, pre
}

// TestPrefilterParity proves the fast path changes nothing the rule can
// see: on every EVTX file of testdata (recursively: the project's samples
// and the third-party logs) and of EVTX-ATTACK-SAMPLES, the detections of
// the prefiltered parallel read equal those of a full sequential parse, in
// default and strict mode.
func TestPrefilterParity(t *testing.T) {
	for _, c := range []struct {
		name       string
		root       func(t *testing.T) string
		minFiles   int
		detections bool // the set holds positives
	}{
		{"testdata", func(t *testing.T) string { return testdir.Testdata(t) }, 12, true},
		{"attack-samples", func(t *testing.T) string { return testdir.Shared(t, testdir.AttackSamples) }, 275, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			prefilterParity(t, c.root(t), c.minFiles, c.detections)
		})
	}
}

func prefilterParity(t *testing.T, root string, minFiles int, positives bool) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".evtx") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < minFiles {
		t.Fatalf("found %d EVTX files under %s, want at least %d", len(files), root, minFiles)
	}
	var chunks, skipped, records, skippedRecords, detections int64
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		full, pre := checkParity(t, filepath.Base(p), b)
		d, _ := detector.MustNew(detector.DefaultConfig()).Detect(context.Background(), full.events, nil)
		detections += int64(len(d))
		chunks += pre.stats.Chunks
		skipped += pre.stats.ChunksSkipped
		records += full.stats.Records
		skippedRecords += pre.stats.RecordsSkipped
	}
	t.Logf("%d files, %d chunks (%d skipped by the strict prefilter), %d records (%d skipped), %d detections",
		len(files), chunks, skipped, records, skippedRecords, detections)
	if positives && detections == 0 {
		t.Error("no detections at all: the testdata positives must be among the files")
	}
}

// TestPrefilterSyntheticMultiChunk writes a log of many chunks with
// positives scattered in a few of them, and look-alikes (tsclient in a
// command line, another MUP server) in others, so candidate and skipped
// chunks alternate and the parallel order matters.
func TestPrefilterSyntheticMultiChunk(t *testing.T) {
	samples := evtxwrite.TSClientSamples()
	benign := samples[0]
	benign.Data = slices.Clone(benign.Data)
	for i, d := range benign.Data {
		if strings.Contains(strings.ToLower(d.Value), "tsclient") {
			benign.Data[i].Value = `C:\Windows\System32\cmd.exe`
		}
	}
	var events []evtxwrite.Event
	for i := range 3000 {
		ev := benign
		switch {
		case i%701 == 5:
			ev = samples[i%2]
		case i%503 == 7:
			ev = samples[2+i%(len(samples)-2)]
		}
		ev.RecordID = uint64(i + 1)
		ev.Data = slices.Clone(ev.Data)
		ev.Data = append(ev.Data, evtxwrite.Data{Name: "Pad", Value: strings.Repeat("x", i%300)})
		events = append(events, ev)
	}
	var file bytes.Buffer
	if err := evtxwrite.Write(&file, events); err != nil {
		t.Fatal(err)
	}
	full, pre := checkParity(t, "synthetic.evtx", file.Bytes())
	if len(full.events) != len(events) || len(full.bad) != 0 {
		t.Fatalf("full parse: %d events, bad %q; want %d", len(full.events), full.bad, len(events))
	}
	d, _ := detector.MustNew(detector.DefaultConfig()).Detect(context.Background(), full.events, nil)
	if len(d) < 4 {
		t.Errorf("%d detections, want the scattered positives", len(d))
	}
	if pre.stats.ChunksSkipped == 0 || pre.stats.ChunksSkipped == pre.stats.Chunks {
		t.Errorf("stats %+v: want some chunks skipped and some decoded", pre.stats)
	}
	if pre.stats.Records+pre.stats.RecordsSkipped != int64(len(events)) {
		t.Errorf("stats %+v: decoded + skipped records != %d", pre.stats, len(events))
	}
}

// putSlack writes s (UTF-16LE) into the slack of the chunk at off, just
// past its free space offset, where no record is. Neither checksum covers
// slack, so the file stays clean.
func putSlack(t *testing.T, b []byte, off int, s string) {
	t.Helper()
	c := b[off : off+chunkSize]
	free := int(binary.LittleEndian.Uint32(c[chunkFreeSpaceOff:]))
	u := utf16le(s)
	if free+len(u) > chunkSize {
		t.Fatalf("chunk at %d has %d bytes of slack, need %d", off, chunkSize-free, len(u))
	}
	copy(c[free:], u)
}

// TestPrefilterSlack: a needle in slack only, as real exported logs have
// (left-overs of SMB client records), is no detection, whether the chunk
// is skipped or decoded.
func TestPrefilterSlack(t *testing.T) {
	b, err := os.ReadFile(testdir.ThirdParty(t, "sigma", "sigma_regression_chcp_sysmon1.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	putSlack(t, b, fileBlockSize, `\Device\Mup\tsclient\C\Tools\mimikatz.exe`)
	if !newNeedleSet([]string{"tsclient"}).contains(b[fileBlockSize : fileBlockSize+chunkSize]) {
		t.Fatal("needle not in the chunk")
	}
	full, pre := checkParity(t, "slack.evtx", b)
	if len(full.events) != 1 || len(full.bad) != 0 {
		t.Fatalf("full parse: %d events, bad %q; want the one record", len(full.events), full.bad)
	}
	if pre.stats.ChunksSkipped != 1 || len(pre.events) != 0 || pre.stats.RecordsSkipped != 1 {
		t.Errorf("prefilter stats %+v, %d events: the chunk's records hold no needle, want it skipped", pre.stats, len(pre.events))
	}

	// A damaged header: records are walked to the chunk's end, so slack is
	// searched too and the chunk is decoded; still nothing detected.
	binary.LittleEndian.PutUint32(b[fileBlockSize+chunkHeaderSumOff:], 0xdeadbeef)
	_, pre = checkParity(t, "slack-bad-header.evtx", b)
	if pre.stats.ChunksSkipped != 0 || len(pre.bad) == 0 || !strings.Contains(pre.bad[0], "header checksum") {
		t.Errorf("prefilter stats %+v, bad %q: want the chunk decoded and the header reported", pre.stats, pre.bad)
	}
}

// TestPrefilterReportsSkippedDamage: chunk and framing damage in chunks
// the prefilter skips is reported exactly as a full parse reports it.
func TestPrefilterReportsSkippedDamage(t *testing.T) {
	orig, err := os.ReadFile(testdir.ThirdParty(t, "evtx-rs", "security.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	chunkOff := func(i int) int { return fileBlockSize + i*chunkSize }
	refreshHeaderSum := func(c []byte) {
		sum := crc32.ChecksumIEEE(c[:120])
		sum = crc32.Update(sum, crc32.IEEETable, c[128:chunkHeaderSize])
		binary.LittleEndian.PutUint32(c[chunkHeaderSumOff:], sum)
	}
	tests := []struct {
		name   string
		mutate func([]byte) []byte
		want   []string
	}{
		{"bad signature", func(b []byte) []byte { fill(b[chunkOff(1):chunkOff(2)], 0xA5); return b },
			[]string{"chunk 1: bad chunk signature"}},
		{"header checksum", func(b []byte) []byte { b[chunkOff(3)+chunkHeaderSumOff]++; return b },
			[]string{"chunk 3: header checksum"}},
		{"records checksum and framing", func(b []byte) []byte {
			fill(b[chunkOff(2)+chunkHeaderSize:chunkOff(2)+chunkHeaderSize+4096], 0x5A)
			return b
		}, []string{"chunk 2: event records checksum", "chunk 2: no event record signature"}},
		{"free space offset", func(b []byte) []byte {
			c := b[chunkOff(4):chunkOff(5)]
			binary.LittleEndian.PutUint32(c[chunkFreeSpaceOff:], 7)
			refreshHeaderSum(c)
			return b
		}, []string{"chunk 4: free space offset 7 out of range"}},
		{"truncated", func(b []byte) []byte { return b[:chunkOff(2)+20000] },
			[]string{"chunk 2: file ends 20000 bytes into the chunk", "cut off by end of file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mutate(bytes.Clone(orig))
			full, pre := checkParity(t, "damaged.evtx", b)
			if pre.stats.ChunksSkipped < 2 || len(pre.events) != 0 {
				t.Errorf("stats %+v, %d events: security.evtx holds no needle, want its chunks skipped", pre.stats, len(pre.events))
			}
			if !slices.Equal(pre.bad, full.bad) {
				t.Errorf("prefilter reported %q, full parse %q", pre.bad, full.bad)
			}
			if len(pre.bad) < len(tc.want) {
				t.Fatalf("reported %q, want %d reports", pre.bad, len(tc.want))
			}
			for i, sub := range tc.want {
				if !strings.Contains(pre.bad[i], sub) {
					t.Errorf("report %d = %q, want %q", i, pre.bad[i], sub)
				}
			}
		})
	}
}

// TestPrefilterNeedleOutsideExecutable: a chunk whose records mention
// tsclient in a field the rule does not read is decoded (the prefilter
// cannot tell fields apart) and the rule decides: no detection.
func TestPrefilterNeedleOutsideExecutable(t *testing.T) {
	samples := evtxwrite.TSClientSamples()
	ev := samples[len(samples)-1]
	ev.Data = slices.Clone(ev.Data)
	for i := range ev.Data {
		if ev.Data[i].Name == "CommandLine" {
			ev.Data[i].Value = `cmd /c copy \\tsclient\c\a.exe C:\temp\`
		}
	}
	var file bytes.Buffer
	if err := evtxwrite.Write(&file, []evtxwrite.Event{ev}); err != nil {
		t.Fatal(err)
	}
	full, pre := checkParity(t, "cmdline.evtx", file.Bytes())
	if pre.stats.ChunksSkipped != 0 || len(pre.events) != 1 || len(full.events) != 1 {
		t.Errorf("stats %+v, %d events: want the chunk decoded", pre.stats, len(pre.events))
	}
	if d, _ := detector.MustNew(detector.DefaultConfig()).Detect(context.Background(), pre.events, nil); len(d) != 0 {
		t.Errorf("detections %+v, want none", d)
	}
}

// TestCustomNeedles: explicit needles replace the configuration's.
func TestCustomNeedles(t *testing.T) {
	b, err := os.ReadFile(testdir.ThirdParty(t, "sigma", "sigma_regression_chcp_sysmon1.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		needles []string
		events  int
	}{{[]string{"CHCP.com"}, 1}, {[]string{"tsclient"}, 0}, {[]string{}, 0}} {
		r := readWith(t, b, "chcp.evtx", Options{Prefilter: true, Needles: tc.needles})
		if r.err != nil || len(r.events) != tc.events {
			t.Errorf("needles %q: err %v, %d events, want %d", tc.needles, r.err, len(r.events), tc.events)
		}
	}
}

// failingReaderAt fails every read that reaches past limit.
type failingReaderAt struct {
	b     []byte
	limit int64
}

var errDisk = errors.New("disk on fire")

func (f failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.limit {
		n := max(0, int(f.limit-off))
		copy(p[:n], f.b[off:])
		return n, errDisk
	}
	return copy(p, f.b[off:]), nil
}

// TestParallelStops: a sink error, a cancelled context and a read error
// each end a parallel read promptly, with the events before them in file
// order, and leave no goroutine behind.
func TestParallelStops(t *testing.T) {
	b, err := os.ReadFile(testdir.ThirdParty(t, "evtx-rs", "security.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	all := readWith(t, b, "security.evtx", Options{Workers: 1})
	perChunk := countPerChunk(t, b)
	stop := errors.New("enough")
	for _, workers := range []int{2, 3, 8} {
		t.Run(fmt.Sprint(workers, " workers"), func(t *testing.T) {
			defer goleak.VerifyNone(t)
			// Sink error at the 100th event.
			var got []detector.Event
			_, err := ReadWith(context.Background(), bytes.NewReader(b), int64(len(b)), "security.evtx", source.Sink{
				Event: func(ev *detector.Event) error {
					got = append(got, *ev)
					if len(got) == 100 {
						return stop
					}
					return nil
				},
			}, Options{Workers: workers})
			if !errors.Is(err, stop) || !slices.Equal(got, all.events[:100]) {
				t.Errorf("sink error: err %v after %d events (in order: %v)", err, len(got), slices.Equal(got, all.events[:len(got)]))
			}

			// Cancelled from the sink during chunk 1: chunks 0 and 1 only.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			n := 0
			_, err = ReadWith(ctx, bytes.NewReader(b), int64(len(b)), "security.evtx", source.Sink{
				Event: func(*detector.Event) error {
					n++
					if n > perChunk[0] {
						cancel()
					}
					return nil
				},
			}, Options{Workers: workers})
			if !errors.Is(err, context.Canceled) || n != perChunk[0]+perChunk[1] {
				t.Errorf("cancel: err %v after %d events, want context.Canceled after %d", err, n, perChunk[0]+perChunk[1])
			}

			// The disk fails inside chunk 20: chunks 0-19 are read.
			limit := int64(fileBlockSize + 20*chunkSize + 100)
			r := run{}
			_, r.err = ReadWith(context.Background(), failingReaderAt{b, limit}, int64(len(b)), "security.evtx", source.Sink{
				Event: func(ev *detector.Event) error { r.events = append(r.events, *ev); return nil },
			}, Options{Workers: workers})
			want := 0
			for _, c := range perChunk[:20] {
				want += c
			}
			if !errors.Is(r.err, errDisk) || !strings.Contains(r.err.Error(), "security.evtx chunk 20") ||
				!slices.Equal(r.events, all.events[:want]) {
				t.Errorf("read error: err %v, %d events, want %v naming chunk 20 after %d", r.err, len(r.events), errDisk, want)
			}
		})
	}
}
