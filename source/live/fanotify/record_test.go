package fanotify

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// meta builds a struct fanotify_event_metadata followed by info.
func meta(mask uint64, fd, pid int32, info ...[]byte) []byte {
	ne := binary.NativeEndian
	b := make([]byte, metadataLen)
	rest := bytes.Join(info, nil)
	ne.PutUint32(b[0:], uint32(metadataLen+len(rest)))
	b[4] = metadataVer
	ne.PutUint16(b[6:], metadataLen)
	ne.PutUint64(b[8:], mask)
	ne.PutUint32(b[16:], uint32(fd))
	ne.PutUint32(b[20:], uint32(pid))
	return append(b, rest...)
}

func pidfdInfo(fd int32) []byte {
	b := []byte{infoPIDFD, 0, 8, 0, 0, 0, 0, 0}
	binary.NativeEndian.PutUint32(b[4:], uint32(fd))
	return b
}

// dfidName builds a DFID_NAME record padded to 4 bytes, as the kernel does.
func dfidName(fsid [8]byte, typ int32, handle []byte, name string) []byte {
	ne := binary.NativeEndian
	b := []byte{infoDFIDName, 0, 0, 0}
	b = append(b, fsid[:]...)
	b = ne.AppendUint32(b, uint32(len(handle)))
	b = ne.AppendUint32(b, uint32(typ))
	b = append(b, handle...)
	b = append(b, name...)
	b = append(b, 0)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	ne.PutUint16(b[2:], uint16(len(b)))
	return b
}

func TestParseRecords(t *testing.T) {
	fsid := [8]byte{0x5c, 0x39, 0x57, 0xfa, 0x82, 0x5a, 0xbb, 0x9e}
	handle := []byte{0x40, 0x62, 0x98, 0, 0x8f, 0x2f, 0x3d, 0x08}
	typ := []byte{1, 0, 0, 0} // FILEID_INO32_GEN, native little-endian here
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		typ = []byte{0, 0, 0, 1}
	}
	good := meta(maskOpenExec, 12, 4242, pidfdInfo(13))
	for _, tt := range []struct {
		name    string
		in      []byte
		want    []record
		wantErr string
	}{
		{"empty", nil, nil, ""},
		{"fd, no info", meta(maskOpenExec, 12, 4242), []record{{Mask: maskOpenExec, FD: 12, PID: 4242, PIDFD: noFD}}, ""},
		{"fd and pidfd", good, []record{{Mask: maskOpenExec, FD: 12, PID: 4242, PIDFD: 13}}, ""},
		{"process gone: FAN_NOPIDFD", meta(maskOpenExec, 12, 4242, pidfdInfo(-1)), []record{{Mask: maskOpenExec, FD: 12, PID: 4242, PIDFD: -1}}, ""},
		{"overflow", meta(maskOverflow, -1, 0), []record{{Mask: maskOverflow, FD: -1, PIDFD: noFD}}, ""},
		{"two events", append(append([]byte{}, good...), meta(maskOpenExec, 14, 7)...),
			[]record{{Mask: maskOpenExec, FD: 12, PID: 4242, PIDFD: 13}, {Mask: maskOpenExec, FD: 14, PID: 7, PIDFD: noFD}}, ""},
		{"handle and name", meta(maskOpenExec, -1, 9, dfidName(fsid, 1, handle, "tool"), pidfdInfo(-1)),
			[]record{{Mask: maskOpenExec, FD: -1, PID: 9, PIDFD: -1, FSID: fsid, Handle: append(append([]byte{}, typ...), handle...), Name: []byte("tool")}}, ""},
		{"unknown info type skipped", meta(maskOpenExec, 12, 1, []byte{99, 0, 8, 0, 1, 2, 3, 4}, pidfdInfo(5)),
			[]record{{Mask: maskOpenExec, FD: 12, PID: 1, PIDFD: 5}}, ""},
		{"truncated metadata", good[:20], nil, "offset 0: 20 bytes left"},
		{"second event truncated", append(append([]byte{}, good...), meta(maskOpenExec, 14, 7)[:10]...),
			[]record{{Mask: maskOpenExec, FD: 12, PID: 4242, PIDFD: 13}}, "offset 32"},
		{"event length past the buffer", good[:len(good)-1], nil, "length 32"},
		{"wrong version", func() []byte { b := meta(maskOpenExec, 1, 1); b[4] = 2; return b }(), nil, "metadata version 2"},
		{"info length zero", meta(maskOpenExec, 1, 1, []byte{infoPIDFD, 0, 0, 0}), nil, "length 0"},
		{"short pidfd record", meta(maskOpenExec, 1, 1, []byte{infoPIDFD, 0, 4, 0}), nil, "pidfd record of length 4"},
		{"stray bytes", meta(maskOpenExec, 1, 1, []byte{1, 2}), nil, "2 stray bytes"},
		{"handle longer than its record", meta(maskOpenExec, -1, 1, func() []byte {
			b := dfidName(fsid, 1, handle, "x")
			binary.NativeEndian.PutUint32(b[12:], 200)
			return b
		}()), nil, "file handle of 200 bytes"},
	} {
		got, err := parseRecords(tt.in, nil)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: %d records %+v, want %+v", tt.name, len(got), got, tt.want)
			continue
		}
		for i := range got {
			g, w := got[i], tt.want[i]
			if g.Mask != w.Mask || g.FD != w.FD || g.PID != w.PID || g.PIDFD != w.PIDFD || g.FSID != w.FSID ||
				!bytes.Equal(g.Handle, w.Handle) || !bytes.Equal(g.Name, w.Name) {
				t.Errorf("%s: record %d = %+v, want %+v", tt.name, i, g, w)
			}
		}
	}
}

// TestParseRecordsKernel decodes a read captured from Linux 6.18: one
// FAN_OPEN_EXEC in a FAN_REPORT_DFID_NAME|FAN_REPORT_PIDFD group, the
// process already gone (FAN_NOPIDFD).
func TestParseRecordsKernel(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("capture is little-endian")
	}
	raw := []byte{
		0x44, 0x00, 0x00, 0x00, 0x03, 0x00, 0x18, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0xff, 0xff, 0xff, 0xff, 0xdd, 0x7d, 0x00, 0x00, 0x02, 0x00, 0x24, 0x00, 0x5c, 0x39, 0x57, 0xfa,
		0x82, 0x5a, 0xbb, 0x9e, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x40, 0x62, 0x98, 0x00,
		0x8f, 0x2f, 0x3d, 0x08, 0x74, 0x6f, 0x6f, 0x6c, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x08, 0x00,
		0xff, 0xff, 0xff, 0xff,
	}
	got, err := parseRecords(raw, nil)
	if err != nil || len(got) != 1 {
		t.Fatalf("got %+v, %v", got, err)
	}
	r := got[0]
	if r.Mask != maskOpenExec || r.FD != noFD || r.PID != 0x7ddd || r.PIDFD != -1 || string(r.Name) != "tool" ||
		!bytes.Equal(r.Handle, []byte{1, 0, 0, 0, 0x40, 0x62, 0x98, 0, 0x8f, 0x2f, 0x3d, 0x08}) ||
		r.FSID != [8]byte{0x5c, 0x39, 0x57, 0xfa, 0x82, 0x5a, 0xbb, 0x9e} {
		t.Errorf("record %+v", r)
	}
}
