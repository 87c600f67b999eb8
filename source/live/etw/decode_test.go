package etw

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// payload builds a ProcessStart UserData buffer field by field, the way
// the kernel lays it out.
type payload []byte

func (p payload) u32(v uint32) payload { return binary.LittleEndian.AppendUint32(p, v) }
func (p payload) u64(v uint64) payload { return binary.LittleEndian.AppendUint64(p, v) }
func (p payload) str(s string) payload {
	for _, u := range utf16.Encode([]rune(s)) {
		p = binary.LittleEndian.AppendUint16(p, u)
	}
	return append(p, 0, 0)
}

// sidMedium is S-1-16-8192, the medium integrity label.
var sidMedium = []byte{1, 1, 0, 0, 0, 0, 0, 16, 0, 0x20, 0, 0}

const image = `\Device\Mup\tsclient\C\Tools\a.exe`

// 2024-05-01 12:00:00 UTC as FILETIME.
var created = uint64(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano()/100 + filetimeUnixDifference)

func TestDecodeProcessStart(t *testing.T) {
	v0 := payload{}.u32(4242).u64(created).u32(600).u32(2).str(image)
	v1 := payload{}.u32(4242).u64(created).u32(600).u32(2).u32(0x10).str(image)
	v2 := payload{}.u32(4242).u64(created).u32(600).u32(2).u32(0x10).str(image).u32(0xabc).u32(0x5f000000).str("Pkg_1.0").str("App")
	v3 := append(payload{}.u32(4242).u64(77).u64(created).u32(600).u64(76).u32(2).u32(0x10).u32(3).u32(0), sidMedium...)
	v3 = v3.str(image).u32(0xabc).u32(0x5f000000).str("").str("")
	v3cut := v3[:len(v3)-6] // trailing package fields cut: still good
	tests := []struct {
		name    string
		version uint8
		b       []byte
		label   string
		pkg     string
		flags   uint32
	}{
		{"v0", 0, v0, "", "", 0},
		{"v1", 1, v1, "", "", 0x10},
		{"v2", 2, v2, "", "Pkg_1.0", 0x10},
		{"v3", 3, v3, "S-1-16-8192", "", 0x10},
		{"v3 trailing cut", 3, v3cut, "S-1-16-8192", "", 0x10},
		{"v4 read as v3", 4, v3, "S-1-16-8192", "", 0x10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := DecodeProcessStart(tt.version, tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if p.PID != 4242 || p.ParentPID != 600 || p.SessionID != 2 || p.ImageName != image || p.Flags != tt.flags || p.MandatoryLabel != tt.label || p.PackageFullName != tt.pkg {
				t.Errorf("%+v", p)
			}
			if !p.CreateTime.Equal(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)) {
				t.Errorf("CreateTime %v", p.CreateTime)
			}
			ev := p.Event(`CORP\alice`)
			d, ok := detector.MustNew(detector.Config{Strict: true}).Match(&ev)
			if !ok || d.ClientDrive != "C" || d.SharePath != `\Tools\a.exe` {
				t.Errorf("strict rule on %+v: %v %+v", ev, ok, d)
			}
		})
	}
}

func TestDecodeProcessStartErrors(t *testing.T) {
	full := payload{}.u32(1).u64(created).u32(2).u32(3).str("x")
	noNUL := append(payload{}.u32(1).u64(created).u32(2).u32(3), 'x', 0)
	badSID := append(payload{}.u32(1).u64(0).u64(created).u32(2).u64(0).u32(3).u32(0).u32(0).u32(0), 9, 1, 0, 0, 0, 0, 0, 0)
	for _, tt := range []struct {
		name    string
		version uint8
		b       []byte
		want    string
	}{
		{"empty", 0, nil, "ProcessID at offset 0 needs 4 bytes"},
		{"cut in CreateTime", 0, full[:6], "CreateTime at offset 4"},
		{"no NUL", 0, noNUL, "ImageName at offset 20 has no terminating NUL"},
		{"bad SID", 3, badSID, "MandatoryLabel at offset 48: not a SID"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeProcessStart(tt.version, tt.b)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSIDString(t *testing.T) {
	// S-1-5-21-1004336348-1177238915-682003330-512
	b := []byte{1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0}
	for _, v := range []uint32{1004336348, 1177238915, 682003330, 512} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	s, n, err := SIDString(append(b, 0xff))
	if err != nil || n != len(b) || s != "S-1-5-21-1004336348-1177238915-682003330-512" {
		t.Fatalf("%q %d %v", s, n, err)
	}
	if _, _, err := SIDString(b[:10]); err == nil {
		t.Error("short SID accepted")
	}
}

func TestFiletimeToTime(t *testing.T) {
	if !FiletimeToTime(0).IsZero() {
		t.Error("zero FILETIME is not the zero time")
	}
	if got := FiletimeToTime(filetimeUnixDifference); !got.Equal(time.Unix(0, 0)) {
		t.Errorf("epoch = %v", got)
	}
}

// TestBadMandatoryLabel: a version 3 start whose label is not a valid SID
// still yields its image name (D2); a guess that does not read as a path
// is not taken.
func TestBadMandatoryLabel(t *testing.T) {
	head := payload{}.u32(42).u64(7).u64(created).u32(600).u64(6).u32(2).u32(0).u32(3).u32(0)
	withLabel := func(label []byte, image string) []byte {
		return append(append(payload{}, head...), label...).str(image).u32(0).u32(0).str("").str("")
	}
	tests := []struct {
		name  string
		b     []byte
		image string
		err   string
	}{
		{"revision 9, sized by its count", withLabel([]byte{9, 1, 0, 0, 0, 0, 0, 16, 0, 0x20, 0, 0}, image), image, "not a SID: revision 9"},
		{"empty label", withLabel(nil, image), image, "not a SID: revision 92"},
		{"drive-letter image after an empty label", withLabel(nil, `C:\Windows\a.exe`), `C:\Windows\a.exe`, "not a SID"},
		{"nothing after the label reads as a path", append(append(payload{}, head...), 9, 1, 0, 0, 0, 0, 0, 0), "", "MandatoryLabel at offset 48: not a SID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := DecodeProcessStart(3, tt.b)
			if tt.image == "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.ImageName != tt.image || p.PID != 42 || p.MandatoryLabel != "" || p.LabelError == nil || !strings.Contains(p.LabelError.Error(), tt.err) {
				t.Fatalf("%+v", p)
			}
		})
	}
}

func TestFiletimeRoundTrip(t *testing.T) {
	if got := filetime(FiletimeToTime(created)); got != created {
		t.Fatalf("%d -> %d", created, got)
	}
	if filetime(time.Time{}) != 0 {
		t.Fatal("zero time")
	}
}
