package ebpf

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// builtSample builds, byte by byte, the record the program sends for
// `cd <tmp>/home/u/thinclient_drives/C: && ./tools/tool a b` on a bindfs
// mount: header, path components leaf first, the cwd's the same way, the
// execve path, then argv. testdata/script_exec.bin is a real one.
func builtSample() []byte {
	b := make([]byte, headerSize)
	le := binary.LittleEndian
	le.PutUint64(b[0:], 123456789)
	le.PutUint32(b[8:], 4242)
	le.PutUint32(b[12:], 4200)
	le.PutUint32(b[16:], 1000)
	le.PutUint32(b[20:], 0)
	path := "tool\x00tools\x00C:\x00thinclient_drives\x00u\x00home\x00tmp\x00"
	cwd := "C:\x00thinclient_drives\x00u\x00home\x00tmp\x00"
	file := "./tools/tool\x00"
	argv := "./tools/tool\x00a\x00b\x00"
	le.PutUint32(b[24:], uint32(len(path)))
	le.PutUint32(b[28:], uint32(len(argv)))
	le.PutUint32(b[32:], 7)
	le.PutUint32(b[36:], uint32(len(cwd)))
	le.PutUint32(b[40:], uint32(len(file)))
	copy(b[48:], "fuse.bindfs")
	copy(b[80:], "tool")
	return append(append(append(append(b, path...), cwd...), file...), argv...)
}

func TestDecode(t *testing.T) {
	r, err := Decode(builtSample())
	if err != nil {
		t.Fatal(err)
	}
	if r.Path != "/tmp/home/u/thinclient_drives/C:/tools/tool" {
		t.Errorf("Path = %q", r.Path)
	}
	if r.Cwd != "/tmp/home/u/thinclient_drives/C:" || r.Filename != "./tools/tool" || r.Interpreted() {
		t.Errorf("Cwd %q Filename %q Flags %#x", r.Cwd, r.Filename, r.Flags)
	}
	var ev detector.Event
	fillEvent(&r, &ev)
	if ev.Executable != r.Path || ev.WorkingDirectory != r.Cwd {
		t.Errorf("event %+v", ev)
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

// TestDecodeRecorded decodes a record the kernel sent (Linux 6.18, see
// TestRecordSample): `./run.sh a b`, a #!/bin/sh script, run from its
// directory on a bindfs mount at /tmp/tswrec/home/u/thinclient_drives. The
// program found the script's own file: the path and filesystem type are
// the script's.
func TestDecodeRecorded(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "script_exec.bin"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	const dir = "/tmp/tswrec/home/u/thinclient_drives/C:/tools"
	if r.Path != dir+"/run.sh" || r.Cwd != dir || r.Filename != "./run.sh" || !r.Interpreted() || r.Flags&FlagScript == 0 {
		t.Errorf("Path %q Cwd %q Filename %q Flags %#x", r.Path, r.Cwd, r.Filename, r.Flags)
	}
	if r.CommandLine() != "/bin/sh ./run.sh a b" || r.FSType != "fuse" || r.PID == 0 || r.PPID == 0 {
		t.Errorf("record %+v", r)
	}
	var ev detector.Event
	fillEvent(&r, &ev)
	if ev.Executable != dir+"/run.sh" || ev.FSType != "fuse" || ev.PathTruncated {
		t.Errorf("event %+v", ev)
	}
}

// TestDecodeRecordedLexical decodes a record of the same exec sent before
// the program could find a script's own file (as it still sends when
// /proc/kallsyms hides ____fput): the path is the interpreter's, and the
// script is named from the execve path and the cwd, with no filesystem
// type (the record's is the interpreter's).
func TestDecodeRecordedLexical(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "script_exec_lexical.bin"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	const dir = "/tmp/tswrec/home/u/thinclient_drives/C:/tools"
	if r.Path != "/usr/bin/dash" || r.Cwd != dir || r.Filename != "./run.sh" || !r.Interpreted() {
		t.Errorf("Path %q Cwd %q Filename %q Flags %#x", r.Path, r.Cwd, r.Filename, r.Flags)
	}
	if r.CommandLine() != "/bin/sh ./run.sh a b" || r.Comm != "run.sh" || r.FSType != "ext4" || r.PID == 0 || r.PPID == 0 {
		t.Errorf("record %+v", r)
	}
	var ev detector.Event
	fillEvent(&r, &ev)
	if ev.Executable != dir+"/run.sh" || ev.WorkingDirectory != dir || ev.CommandLine != "/bin/sh ./run.sh a b" || ev.FSType != "" {
		t.Errorf("event %+v", ev)
	}
	var m []detector.Detection
	ev.Type, ev.HostOS = detector.TypeStart, detector.OSLinux
	m, _ = detector.MustNew(detector.DefaultConfig()).Detect(t.Context(), []detector.Event{ev}, m)
	if len(m) != 1 || m[0].Form != detector.FormXrdp || m[0].SharePath != "/tools/run.sh" {
		t.Errorf("detections %+v", m)
	}
}

// TestScript covers how the script of an interpreted exec is named.
func TestScript(t *testing.T) {
	tests := []struct {
		name   string
		r      Record
		want   string
		wantOK bool
	}{
		{"absolute", Record{Flags: FlagInterp, Filename: "/m/C:/run.sh", Cwd: "/"}, "/m/C:/run.sh", true},
		{"relative", Record{Flags: FlagInterp, Filename: "./run.sh", Cwd: "/m/C:/tools"}, "/m/C:/tools/run.sh", true},
		{"relative up", Record{Flags: FlagInterp, Filename: "../tools//run.sh", Cwd: "/m/C:/bin"}, "/m/C:/tools/run.sh", true},
		{"bare name", Record{Flags: FlagInterp, Filename: "run.sh", Cwd: "/m"}, "/m/run.sh", true},
		{"not interpreted", Record{Filename: "/m/C:/tool", Cwd: "/"}, "", false},
		{"fexecve", Record{Flags: FlagInterp, Filename: "/dev/fd/3", Cwd: "/m"}, "", false},
		{"execveat dirfd", Record{Flags: FlagInterp, Filename: "/dev/fd/3/run.sh", Cwd: "/m"}, "", false},
		{"proc fd", Record{Flags: FlagInterp, Filename: "/proc/self/fd/3", Cwd: "/m"}, "", false},
		{"relative, no cwd", Record{Flags: FlagInterp | FlagNoCwd, Filename: "./run.sh"}, "", false},
		{"relative, cwd cut", Record{Flags: FlagInterp | FlagCwdTruncated, Filename: "./run.sh", Cwd: "/a"}, "", false},
		{"absolute, cwd cut", Record{Flags: FlagInterp | FlagCwdTruncated, Filename: "/m/run.sh", Cwd: "/a"}, "/m/run.sh", true},
		{"filename cut", Record{Flags: FlagInterp | FlagFilenameTruncated, Filename: "/m/ru", Cwd: "/"}, "", false},
		{"empty filename", Record{Flags: FlagInterp, Cwd: "/"}, "", false},
		{"own file", Record{Flags: FlagInterp | FlagScript, Path: "/m/C:/tools/run.sh", Filename: "./c/run.sh", Cwd: "/h"}, "/m/C:/tools/run.sh", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.r.Script()
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Script() = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
			ev := detector.Event{}
			r := tt.r
			if r.Flags&FlagScript == 0 {
				r.Path = "/usr/bin/dash"
			}
			fillEvent(&r, &ev)
			want := r.Path
			if tt.wantOK {
				want = tt.want
			}
			if ev.Executable != want {
				t.Errorf("Executable = %q, want %q", ev.Executable, want)
			}
		})
	}
}

// TestDecodeCutPath: a path too long for the walk carries an empty
// component where the walk skipped; it is shown as "…", the event says the
// path was cut, and the rule still finds the mount and the drive.
func TestDecodeCutPath(t *testing.T) {
	b := builtSample()
	le := binary.LittleEndian
	path := "tool\x00d\x00d\x00\x00C:\x00thinclient_drives\x00u\x00home\x00"
	cwd := "d\x00\x00C:\x00thinclient_drives\x00u\x00home\x00"
	file := "./tool\x00"
	b = b[:headerSize:headerSize]
	le.PutUint32(b[20:], FlagPathTruncated|FlagCwdTruncated)
	le.PutUint32(b[24:], uint32(len(path)))
	le.PutUint32(b[28:], 0)
	le.PutUint32(b[36:], uint32(len(cwd)))
	le.PutUint32(b[40:], uint32(len(file)))
	b = append(append(append(b, path...), cwd...), file...)
	r, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Path != "/home/u/thinclient_drives/C:/…/d/d/tool" || r.Cwd != "/home/u/thinclient_drives/C:/…/d" {
		t.Errorf("Path %q Cwd %q", r.Path, r.Cwd)
	}
	var ev detector.Event
	fillEvent(&r, &ev)
	ev.Type, ev.HostOS = detector.TypeStart, detector.OSLinux
	if !ev.PathTruncated || ev.FSType != "fuse.bindfs" {
		t.Errorf("event %+v", ev)
	}
	d, ok := detector.MustNew(detector.DefaultConfig()).Match(&ev)
	if !ok || d.ClientDrive != "C:" || d.SharePath != "/…/d/d/tool" {
		t.Errorf("detection %v %+v", ok, d)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := builtSample()
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
		{"cwd too long", func() []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint32(b[36:], walkMax)
			return b
		}(), "out of range"},
		{"filename too long", func() []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint32(b[40:], fnameMax+1)
			return b
		}(), "out of range"},
		{"cwd past the end", func() []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint32(b[36:], 200)
			return b
		}(), "record truncated"},
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
	b := builtSample()[:headerSize]
	// No path (FLAG_NO_FILE), no cwd (FLAG_NO_CWD), no filename, no argv.
	for _, off := range []int{24, 28, 36, 40} {
		binary.LittleEndian.PutUint32(b[off:], 0)
	}
	binary.LittleEndian.PutUint32(b[20:], FlagNoFile|FlagNoCwd)
	r, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Path != "/" || r.Argv != nil || r.Cwd != "" || r.Filename != "" {
		t.Errorf("Path %q Argv %q Cwd %q Filename %q", r.Path, r.Argv, r.Cwd, r.Filename)
	}
	// argv cut by the bound has no final NUL.
	b = append(b[:headerSize:headerSize], "x\x00abc"...)
	binary.LittleEndian.PutUint32(b[28:], 5)
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
	if unsafe.Offsetof(e.Fstype) != 48 || unsafe.Offsetof(e.Comm) != 80 || unsafe.Offsetof(e.PathLen) != 24 ||
		unsafe.Offsetof(e.ArgvLen) != 28 || unsafe.Offsetof(e.CwdLen) != 36 || unsafe.Offsetof(e.FilenameLen) != 40 {
		t.Error("header field offsets moved")
	}
}

func BenchmarkDecode(b *testing.B) {
	s := builtSample()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(s); err != nil {
			b.Fatal(err)
		}
	}
}
