package eventxml

import (
	"bytes"
	"fmt"
	"testing"
	"testing/iotest"

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
