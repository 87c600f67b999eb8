package eventxml

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
)

// cpuClock measures the CPU time a benchmark loop used, which the other
// processes on a shared machine disturb far less than wall time.
type cpuClock struct{ start float64 }

func startCPU() cpuClock { return cpuClock{cpuSeconds()} }

// report adds events/s, and MB and events per CPU second, for a loop that
// handled events events and size bytes per iteration.
func (c cpuClock) report(b *testing.B, events int, size int64) {
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if cpu := cpuSeconds() - c.start; cpu > 0 && c.start > 0 {
		b.ReportMetric(float64(size)*float64(b.N)/cpu/1e6, "MB/cpu-s")
		b.ReportMetric(float64(events)*float64(b.N)/cpu, "events/cpu-s")
	}
}

// BenchmarkScan compares, on one input of 20,000 Sysmon EID 1 events
// (~1.9 KB each, 20 positives), Read decoding every event, Read with the
// prefilter (default detector configuration), and encoding/xml decoding
// every event (the baseline); then the same input in UTF-16LE with a BOM.
// Every variant maps decoded records to Events; the prefilter variants
// emit only the candidates.
func BenchmarkScan(b *testing.B) {
	utf8In := generate(20000, 1000)
	utf16In := utf16LE(string(utf8In), true)
	needles := detector.Needles(detector.DefaultConfig())
	for _, bm := range []struct {
		name string
		in   []byte
		opts Options
		xml  bool
		emit int
	}{
		{"utf8/full", utf8In, Options{}, false, 20000},
		{"utf8/prefilter", utf8In, Options{Needles: needles}, false, 20},
		{"utf8/encoding-xml", utf8In, Options{}, true, 20000},
		{"utf16/full", utf16In, Options{}, false, 20000},
		{"utf16/prefilter", utf16In, Options{Needles: needles}, false, 20},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(bm.in)))
			b.ReportAllocs()
			clock := startCPU()
			for b.Loop() {
				n := 0
				var err error
				if bm.xml {
					var ev detector.Event
					err = refRead(io.MultiReader(strings.NewReader("<R>"), bytes.NewReader(bm.in), strings.NewReader("</R>")), func(r *winevent.Record) {
						r.Event(&ev)
						n++
					})
				} else {
					var st Stats
					st, err = ReadWith(context.Background(), bytes.NewReader(bm.in), "bench.xml", source.Sink{
						Event: func(*detector.Event) error { n++; return nil },
					}, bm.opts)
					if st.Records != 20000 {
						b.Fatalf("%d records", st.Records)
					}
				}
				if err != nil || n != bm.emit {
					b.Fatal(err, n)
				}
			}
			clock.report(b, 20000, int64(len(bm.in)))
		})
	}
}

// BenchmarkPrefilter measures the prefilter alone on one benign event.
func BenchmarkPrefilter(b *testing.B) {
	ev := []byte(processEvent(1, `C:\Windows\System32\cmd.exe`))
	f := newPrefilter(detector.Needles(detector.DefaultConfig()))
	b.SetBytes(int64(len(ev)))
	for b.Loop() {
		if !f.skippable(ev) {
			b.Fatal("benign event not skippable")
		}
	}
}

// BenchmarkDecodeEvent measures one rendered event, as the Event Log
// watcher uses it.
func BenchmarkDecodeEvent(b *testing.B) {
	ev := []byte(processEvent(1, `\\tsclient\c\temp\stack\a.exe`))
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	clock := startCPU()
	for b.Loop() {
		if _, err := DecodeEvent(ev); err != nil {
			b.Fatal(err)
		}
	}
	clock.report(b, 1, int64(len(ev)))
}
