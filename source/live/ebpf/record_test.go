package ebpf

import (
	"encoding/binary"
	"strings"
	"testing"
	"unsafe"
)

// recordedSample builds, byte by byte, the record the program sends for
// `cd <tmp>/home/u/thinclient_drives/C: && ./tools/tool a b` on a bindfs
// mount: header, path components leaf first, then argv. (Real records from
// the kernel are decoded by the FUSE tests in source/live.)
func recordedSample() []byte {
	b := make([]byte, headerSize)
	le := binary.LittleEndian
	le.PutUint64(b[0:], 123456789)
	le.PutUint32(b[8:], 4242)
	le.PutUint32(b[12:], 4200)
	le.PutUint32(b[16:], 1000)
	le.PutUint32(b[20:], 0)
	path := "tool\x00tools\x00C:\x00thinclient_drives\x00u\x00home\x00tmp\x00"
	argv := "./tools/tool\x00a\x00b\x00"
	le.PutUint32(b[24:], uint32(len(path)))
	le.PutUint32(b[28:], uint32(len(argv)))
	le.PutUint32(b[32:], 7)
	copy(b[40:], "fuse.bindfs")
	copy(b[72:], "tool")
	return append(append(b, path...), argv...)
}

func TestDecode(t *testing.T) {
	r, err := Decode(recordedSample())
	if err != nil {
		t.Fatal(err)
	}
	if r.Path != "/tmp/home/u/thinclient_drives/C:/tools/tool" {
		t.Errorf("Path = %q", r.Path)
	}
	if r.PID != 4242 || r.PPID != 4200 || r.UID != 1000 || r.BootNS != 123456789 {
		t.Errorf("ids = %+v", r)
	}
	if r.FSType != "fuse.bindfs" || r.Comm != "tool" {
		t.Errorf("FSType %q Comm %q", r.FSType, r.Comm)
	}
	if got := r.CommandLine(); got != "./tools/tool a b" {
		t.Errorf("CommandLine = %q", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := recordedSample()
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "shorter than its header"},
		{"header only cut", good[:headerSize-1], "shorter than its header"},
		{"data cut", good[:len(good)-3], "record truncated"},
		{"path too long", func() []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint32(b[24:], pathBuf+nameMax+1)
			return b
		}(), "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.b)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDecodeEdges(t *testing.T) {
	b := recordedSample()[:headerSize]
	// No path (FLAG_NO_FILE) and no argv.
	binary.LittleEndian.PutUint32(b[24:], 0)
	binary.LittleEndian.PutUint32(b[28:], 0)
	r, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Path != "/" || r.Argv != nil {
		t.Errorf("Path %q Argv %q", r.Path, r.Argv)
	}
	// argv cut by the bound has no final NUL.
	b = append(b[:headerSize:headerSize], "x\x00abc"...)
	binary.LittleEndian.PutUint32(b[28:], 5)
	binary.LittleEndian.PutUint32(b[24:], 0)
	r, err = Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.CommandLine() != "x abc" {
		t.Errorf("CommandLine %q", r.CommandLine())
	}
}

// TestLayout pins the Go constants to the struct bpf2go generated from the C
// source, so a change on one side only fails here.
func TestLayout(t *testing.T) {
	var e execEvent
	if off := unsafe.Offsetof(e.Data); off != headerSize {
		t.Errorf("data offset %d, headerSize %d", off, headerSize)
	}
	if n := len(e.Data); n != maxData {
		t.Errorf("data size %d, want %d", n, maxData)
	}
	if unsafe.Offsetof(e.Fstype) != 40 || unsafe.Offsetof(e.Comm) != 72 || unsafe.Offsetof(e.PathLen) != 24 {
		t.Error("header field offsets moved")
	}
}

func BenchmarkDecode(b *testing.B) {
	s := recordedSample()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(s); err != nil {
			b.Fatal(err)
		}
	}
}
