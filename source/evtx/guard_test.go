package evtx

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
)

// TestGuardHugeValueCount sets a template instance's value count to nearly
// 2^32 (the file's record header numbers its one record 1). The decoder alone would loop and append that many times; the
// record must be reported instead, naming it and its offset.
func TestGuardHugeValueCount(t *testing.T) {
	b, err := os.ReadFile(testdir.ThirdParty(t, "sigma", "sigma_regression_chcp_sysmon1.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	rec := fileBlockSize + chunkHeaderSize
	body := rec + recordHeaderSize
	// fragment header (4), 0x0C, 0x01, id (4), definition offset (4),
	// inline definition: next (4), GUID (16), body size (4), body.
	if b[body+4] != 0x0C || int(le.Uint32(b[body+10:]))+fileBlockSize != body+14 {
		t.Fatalf("record 1 does not start with an inline template definition")
	}
	defBody := body + 14 + 4 + 16
	countAt := defBody + 4 + int(le.Uint32(b[defBody:]))
	if n := le.Uint32(b[countAt:]); n == 0 || n > 100 {
		t.Fatalf("value count at %d reads %d; layout assumption wrong", countAt, n)
	}
	le.PutUint32(b[countAt:], 0xFFFFFFF0)

	res := readBytes(t, context.Background(), "crafted.evtx", b)
	if res.err != nil || len(res.events) != 0 {
		t.Fatalf("err %v, %d events", res.err, len(res.events))
	}
	var found bool
	for _, e := range res.bad {
		if e.Record == 1 && e.Offset == int64(rec) && strings.Contains(e.Error(), "declares 4294967280 values") &&
			strings.HasPrefix(e.Error(), "crafted.evtx: record 1 ") {
			found = true
		}
	}
	if !found {
		t.Errorf("crafted record not reported as expected: %v", res.bad)
	}
}

// TestDirtyFilesRead: the evtx-rs logs were copied from live systems with
// the dirty flag set; all their records are read without complaint.
func TestDirtyFilesRead(t *testing.T) {
	for _, name := range []string{"security.evtx", "system.evtx"} {
		p := testdir.ThirdParty(t, "evtx-rs", name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if parseFileHeader(b).flags&fileFlagDirty == 0 {
			t.Fatalf("%s: dirty flag not set; the test needs a dirty file", name)
		}
		res := readBytes(t, context.Background(), name, bytes.Clone(b))
		if res.err != nil || len(res.bad) != 0 || len(res.events) < 1000 {
			t.Errorf("%s: err %v, bad %v, %d events", name, res.err, res.bad, len(res.events))
		}
	}
}
