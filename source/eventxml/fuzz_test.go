package eventxml

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
)

// summary renders what a Read produced, to compare two reads of one input.
func summary(r result) string {
	var b bytes.Buffer
	for _, rec := range r.recs {
		fmt.Fprintf(&b, "rec %s %d %d %v %q\n", rec.Provider, rec.EventID, rec.RecordID, rec.Time, rec.Data)
	}
	for _, e := range r.bad {
		fmt.Fprintf(&b, "bad %v\n", e)
	}
	fmt.Fprintf(&b, "err %v stats %+v", r.err, r.stats)
	return b.String()
}

// FuzzRead checks that no input panics or hangs the reader, that reading in
// one-byte pieces gives exactly what one big read gives, and that every
// event Read accepts DecodeEvent accepts alone.
func FuzzRead(f *testing.F) {
	a := processEvent(1, `\\tsclient\c\a.exe`)
	for _, s := range []string{
		a, a + a, a[:500] + a, "<Events>" + a + "</Events>", "x" + a, a + "<!-- -->" + a,
		sysmonEvent(1, 2, "<Data Name='v'><![CDATA[</Event>]]></Data>"),
		"<?xml version='1.0'?><Event><System><EventID>1</EventID></System></Event>",
		"<Event><System><EventID>4</EventID></System><UserData><A><B>1</B><C/></A></UserData></Event>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := Options{MaxEventSize: 1 << 12}
		whole := readRecordsOpts(t, bytes.NewReader(data), "f.xml", opts)
		small := readRecordsOpts(t, iotest.OneByteReader(bytes.NewReader(data)), "f.xml", opts)
		if w, s := summary(whole), summary(small); w != s {
			t.Fatalf("whole and one-byte reads differ:\n%s\n---\n%s", w, s)
		}
		for _, e := range whole.bad {
			if e.File != "f.xml" || e.Offset < 0 || e.Offset > int64(len(data)) || e.Line < 1 {
				t.Fatalf("bad position in %v", e)
			}
		}
	})
}

// FuzzDecodeEvent checks that DecodeEvent never panics and that whatever
// it accepts, Read accepts too with the same record.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(processEvent(1, `\\tsclient\c\a.exe`)))
	f.Add([]byte(sysmonEvent(1, 2, "<Data Name='v'>&#x5c;<![CDATA[x]]></Data><Data Name='e'/>")))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := DecodeEvent(data)
		if err != nil {
			return
		}
		res := readRecords(t, bytes.NewReader(data), "f.xml")
		if res.err != nil || len(res.bad) != 0 || len(res.recs) != 1 {
			t.Fatalf("DecodeEvent accepted, Read: err %v bad %v records %d", res.err, res.bad, len(res.recs))
		}
		if a, b := summary(result{recs: []winevent.Record{rec}}), summary(result{recs: res.recs}); a != b {
			t.Fatalf("records differ:\n%s\n%s", a, b)
		}
	})
}

// FuzzPrefilter checks that the prefilter never changes a detection: on
// any input the full decode reads without a bad record, reading with the
// needles of the default, strict and a custom-mount configuration gives
// the same detections, records and bytes. (Where the full decode reports
// damage, its resynchronisation may legitimately differ from skipping a
// damaged event whole, as the package documentation says.) On every input
// the counts stay consistent and nothing panics.
func FuzzPrefilter(f *testing.F) {
	f.Add(generate(3, 2))
	f.Add([]byte(processEvent(1, `/home/u/RDP_Share/c/a`) + processEvent(2, `/x/thinclient_drives/c/a`)))
	f.Add([]byte("<Events>" + processEvent(1, `C:\a.exe`) + "<!-- c -->" + processEvent(2, `\\tsclient\c\a.exe`) + "</Events>"))
	for _, d := range disguised {
		f.Add([]byte(processEvent(1, `C:\a.exe`) + processEvent(2, d.image)))
	}
	configs := parityConfigs()
	f.Fuzz(func(t *testing.T, data []byte) {
		full := read(t, data, "f.xml", Options{MaxEventSize: 1 << 12})
		for cname, cfg := range configs {
			pf := read(t, data, "f.xml", Options{MaxEventSize: 1 << 12, Needles: detector.Needles(cfg)})
			if pf.skip < 0 || pf.skip > pf.stats.Records || int64(len(pf.events))+pf.skip > pf.stats.Records {
				t.Fatalf("%s: %d emitted, %d skipped, stats %+v", cname, len(pf.events), pf.skip, pf.stats)
			}
			if full.err != nil || full.stats.Bad != 0 {
				continue
			}
			m := detector.MustNew(cfg)
			want, got := detections(t, full, m), detections(t, pf, m)
			if !slices.Equal(got, want) || pf.err != nil || pf.stats != full.stats {
				t.Fatalf("%s: prefilter changed the result\nprefilter: %q %v %+v\nfull:      %q %v %+v",
					cname, got, pf.err, pf.stats, want, full.err, full.stats)
			}
		}
	})
}

// FuzzPrefilterImage is FuzzPrefilter aimed at the one value the rule
// reads: the fuzzer writes the raw XML of a Sysmon EID 1 Image value
// (references, tags, comments, CDATA and all) between two benign events,
// so most inputs stay well formed and the parity check applies.
func FuzzPrefilterImage(f *testing.F) {
	f.Add(`\\tsclient\c\a.exe`)
	f.Add(`/home/u/RDP_Share/c/a`)
	for _, d := range disguised {
		f.Add(d.image)
	}
	configs := parityConfigs()
	f.Fuzz(func(t *testing.T, image string) {
		data := []byte(processEvent(1, `C:\a.exe`) + processEvent(2, image) + processEvent(3, `C:\b.exe`))
		full := read(t, data, "f.xml", Options{})
		if full.err != nil || full.stats.Bad != 0 {
			return
		}
		for cname, cfg := range configs {
			pf := read(t, data, "f.xml", Options{Needles: detector.Needles(cfg)})
			m := detector.MustNew(cfg)
			want, got := detections(t, full, m), detections(t, pf, m)
			if !slices.Equal(got, want) || pf.err != nil || pf.stats != full.stats {
				t.Fatalf("%s: prefilter changed the result\nprefilter: %q %v %+v\nfull:      %q %v %+v",
					cname, got, pf.err, pf.stats, want, full.err, full.stats)
			}
		}
	})
}
