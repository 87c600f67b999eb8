package evtx

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source"
)

// benchModes are the ways of reading compared by the benchmarks: the full
// parse (what Read does) and the prefiltered read scan uses, each on one
// goroutine and on every core.
var benchModes = []struct {
	name string
	opt  Options
}{
	{"full/seq", Options{Workers: 1}},
	{"full/par", Options{}},
	{"prefilter/seq", Options{Prefilter: true, Config: detector.DefaultConfig(), Workers: 1}},
	{"prefilter/par", Options{Prefilter: true, Config: detector.DefaultConfig()}},
}

func benchModesFiles(b *testing.B, files [][]byte) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) { benchFiles(b, files, m.opt) })
	}
}

func benchFiles(b *testing.B, files [][]byte, opt Options) {
	var records int64
	var size int64
	for _, f := range files {
		size += int64(len(f))
	}
	sink := source.Sink{Event: func(*detector.Event) error { return nil }}
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, f := range files {
			st, err := ReadWith(context.Background(), bytes.NewReader(f), int64(len(f)), "bench.evtx", sink, opt)
			if err != nil {
				b.Fatal(err)
			}
			records += st.Records + st.RecordsSkipped
		}
	}
	// Skipped records count: they were examined (framed and searched).
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(records)/float64(b.N), "records/op")
}

// BenchmarkSecurity reads evtx-rs security.evtx (2,261 records, 33 chunks).
func BenchmarkSecurity(b *testing.B) {
	f, err := os.ReadFile(testdir.ThirdParty(b, "evtx-rs", "security.evtx"))
	if err != nil {
		b.Fatal(err)
	}
	benchModesFiles(b, [][]byte{f})
}

// BenchmarkCorpus reads every file of the EVTX corpus: EVTX-ATTACK-SAMPLES
// (from ../shared/data) and the evtx-rs samples, 282 files.
func BenchmarkCorpus(b *testing.B) {
	var files [][]byte
	for _, root := range []string{testdir.Shared(b, testdir.AttackSamples), testdir.ThirdParty(b, "evtx-rs")} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.EqualFold(filepath.Ext(p), ".evtx") {
				return err
			}
			f, err := os.ReadFile(p)
			files = append(files, f)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	benchModesFiles(b, files)
}
