package evtxwrite

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
)

// TestSampleUpToDate fails when the committed sample no longer matches
// what TSClientSamples and Write produce (run `go generate
// ./internal/evtxwrite/`).
func TestSampleUpToDate(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, TSClientSamples()); err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(testdir.Testdata(t, "evtx", "tsclient_positive.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), committed) {
		t.Error("testdata/evtx/tsclient_positive.evtx is stale: run go generate ./internal/evtxwrite/")
	}
}

// TestNameHash compares with hashes Windows stored in a real log.
func TestNameHash(t *testing.T) {
	tests := []struct {
		name string
		want uint16
	}{
		{"Event", 0x0cba}, {"xmlns", 0x0fbc}, {"System", 0x546f}, {"Provider", 0x7bf1},
		{"Name", 0x954b}, {"Guid", 0x1529}, {"EventID", 0x61f5},
	}
	for _, tc := range tests {
		if got := nameHash(tc.name); got != tc.want {
			t.Errorf("nameHash(%q) = %#04x, want %#04x", tc.name, got, tc.want)
		}
	}
}

// TestLayout checks the header fields and every checksum of a
// multi-chunk file.
func TestLayout(t *testing.T) {
	var events []Event
	for i := range 300 {
		events = append(events, Event{Provider: "P", Channel: "C", EventID: 1, Computer: "h",
			TimeCreated: time.Unix(1700000000, 0), RecordID: uint64(i + 1),
			Data: []Data{{"Image", strings.Repeat("x", 200)}, {"Other", "y"}}})
	}
	var buf bytes.Buffer
	if err := Write(&buf, events); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	le := binary.LittleEndian
	if (len(b)-fileBlockSize)%chunkSize != 0 {
		t.Fatalf("size %d is not header + whole chunks", len(b))
	}
	chunks := (len(b) - fileBlockSize) / chunkSize
	if chunks < 2 || int(le.Uint16(b[42:])) != chunks || le.Uint64(b[16:]) != uint64(chunks-1) || le.Uint64(b[24:]) != 301 {
		t.Errorf("header: %d chunks, count %d, last %d, next record %d", chunks, le.Uint16(b[42:]), le.Uint64(b[16:]), le.Uint64(b[24:]))
	}
	if le.Uint32(b[124:]) != crc32.ChecksumIEEE(b[:120]) {
		t.Error("file header checksum")
	}
	next := uint64(1)
	for i := range chunks {
		c := b[fileBlockSize+i*chunkSize:][:chunkSize]
		sum := crc32.Update(crc32.ChecksumIEEE(c[:120]), crc32.IEEETable, c[128:512])
		free := le.Uint32(c[48:])
		if string(c[:8]) != "ElfChnk\x00" || le.Uint32(c[124:]) != sum || le.Uint32(c[52:]) != crc32.ChecksumIEEE(c[512:free]) {
			t.Errorf("chunk %d: signature or checksum wrong", i)
		}
		if first := le.Uint64(c[24:]); first != next {
			t.Errorf("chunk %d starts at record %d, want %d", i, first, next)
		}
		next = le.Uint64(c[32:]) + 1
		// The last record's trailing size ends at the free space offset.
		last := le.Uint32(c[44:])
		if size := le.Uint32(c[last+4:]); last+size != free {
			t.Errorf("chunk %d: last record at %d size %d, free space at %d", i, last, size, free)
		}
	}
	if next != 301 {
		t.Errorf("chunks hold records up to %d, want 300", next-1)
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"value too long", Event{RecordID: 7, Data: []Data{{"x", strings.Repeat("a", 70000)}}}, "record 7: string of 70000"},
		{"record larger than a chunk", Event{RecordID: 8, Data: func() (d []Data) {
			for i := range 5 {
				d = append(d, Data{string(rune('a' + i)), strings.Repeat("b", 30000)})
			}
			return d
		}()}, "record 8: event does not fit in a chunk"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Write(&bytes.Buffer{}, []Event{tc.ev})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if err := Write(failWriter{}, TSClientSamples()); err == nil {
		t.Error("write error not returned")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestLibyalAccepts cross-checks the sample with libyal's evtxexport, an
// independent EVTX implementation, when it is installed (Debian package
// libevtx-utils).
func TestLibyalAccepts(t *testing.T) {
	bin, err := exec.LookPath("evtxexport")
	if err != nil {
		testdir.SkipOutsideCI(t, "evtxexport not installed (apt-get install libevtx-utils)")
	}
	out, err := exec.Command(bin, "-f", "xml", testdir.Testdata(t, "evtx", "tsclient_positive.evtx")).CombinedOutput()
	if err != nil {
		t.Fatalf("evtxexport: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{
		`<Data Name="Image">\\tsclient\c\temp\stack\a.exe</Data>`,
		`<Data Name="NewProcessName">\Device\Mup\tsclient\C\Tools\mimikatz.exe</Data>`,
		`<TimeCreated SystemTime="2024-03-14T09:26:53.5897932Z"/>`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("evtxexport output lacks %s", want)
		}
	}
	if n := strings.Count(s, "<Event "); n != len(TSClientSamples()) {
		t.Errorf("evtxexport found %d events, want %d", n, len(TSClientSamples()))
	}
}

// TestUserDataLibyal: a LocalSessionManager event written with UserData
// reads back in libyal's evtxexport as Windows renders it.
func TestUserDataLibyal(t *testing.T) {
	bin, err := exec.LookPath("evtxexport")
	if err != nil {
		testdir.SkipOutsideCI(t, "evtxexport not installed (apt-get install libevtx-utils)")
	}
	var b bytes.Buffer
	err = Write(&b, []Event{{
		Provider: "Microsoft-Windows-TerminalServices-LocalSessionManager", EventID: 21, RecordID: 5,
		Channel: "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational", Computer: "srv1",
		TimeCreated: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
		UserData: &UserData{Element: "EventXML", Namespace: "Event_NS", Values: []Data{
			{"User", `SRV1\bob`}, {"SessionID", "3"}, {"Address", "10.23.23.9"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/lsm.evtx"
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-f", "xml", path).CombinedOutput()
	if err != nil {
		t.Fatalf("evtxexport: %v\n%s", err, out)
	}
	for _, want := range []string{`<UserData>`, `<EventXML xmlns="Event_NS">`, `<User>SRV1\bob</User>`,
		`<SessionID>3</SessionID>`, `<Address>10.23.23.9</Address>`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("evtxexport output lacks %s:\n%s", want, out)
		}
	}
}
