// Package etw is the Windows primary live watcher: a real-time ETW session
// consuming Microsoft-Windows-Kernel-Process ProcessStart (event 1).
//
// Decoding of the event payload (decode.go) is portable and unit-tested on
// hand-built buffers; the session (session_windows.go) calls advapi32
// directly through golang.org/x/sys/windows, without cgo.
package etw

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// Provider identifies Microsoft-Windows-Kernel-Process.
const Provider = "{22FB2CD6-0E7B-422B-A0C7-2FAD1FD0E716}"

// Event ids and keywords of the provider this package uses.
const (
	EventProcessStart      = 1
	KeywordProcess         = 0x10 // WINEVENT_KEYWORD_PROCESS
	maxSupportedVersion    = 3
	filetimeUnixDifference = 116444736000000000 // 100 ns intervals from 1601 to 1970
)

// ProcessStart is the payload of event 1. Fields a version lacks are zero.
type ProcessStart struct {
	Version         uint8
	PID             uint32
	CreateTime      time.Time
	ParentPID       uint32
	SessionID       uint32
	Flags           uint32 // version 1 and later
	MandatoryLabel  string // version 3: integrity level SID, "S-1-16-8192"
	ImageName       string // kernel form: \Device\HarddiskVolume3\..., \Device\Mup\tsclient\...
	PackageFullName string // version 2 and later
	// LabelError is set when a version 3 MandatoryLabel could not be read
	// but the ImageName after it could (the label is then empty).
	LabelError error
}

var errShort = errors.New("payload too short")

// DecodeProcessStart parses the UserData of a ProcessStart event of the
// given version. Versions 0 to 3 are known; a later version is read with
// the version 3 layout, since manifests only ever append fields.
//
//	v0: ProcessID u32, CreateTime FILETIME, ParentProcessID u32, SessionID u32, ImageName
//	v1: v0 with Flags u32 before ImageName
//	v2: v1 + ImageChecksum u32, TimeDateStamp u32, PackageFullName, PackageRelativeAppId
//	v3: ProcessID u32, ProcessSequenceNumber u64, CreateTime, ParentProcessID u32,
//	    ParentProcessSequenceNumber u64, SessionID u32, Flags u32,
//	    ProcessTokenElevationType u32, ProcessTokenIsElevated u32,
//	    MandatoryLabel SID, ImageName, then as v2
func DecodeProcessStart(version uint8, b []byte) (ProcessStart, error) {
	d := decoder{b: b}
	p := ProcessStart{Version: version}
	p.PID = d.u32("ProcessID")
	if version >= 3 {
		d.skip(8, "ProcessSequenceNumber")
	}
	p.CreateTime = FiletimeToTime(d.u64("CreateTime"))
	p.ParentPID = d.u32("ParentProcessID")
	if version >= 3 {
		d.skip(8, "ParentProcessSequenceNumber")
	}
	p.SessionID = d.u32("SessionID")
	if version >= 1 {
		p.Flags = d.u32("Flags")
	}
	if version >= 3 {
		d.skip(8, "ProcessTokenElevationType, ProcessTokenIsElevated")
		at := d.off
		p.MandatoryLabel = d.sid("MandatoryLabel")
		if d.err != nil {
			if name, next, ok := imageAfterBadLabel(d.b, at); ok {
				p.LabelError, d.err = d.err, nil
				d.off = next
				p.ImageName = name
			}
		}
	}
	if p.ImageName == "" {
		p.ImageName = d.utf16z("ImageName")
	}
	if version >= 2 && d.err == nil && d.off < len(d.b) {
		d.skip(8, "ImageChecksum, TimeDateStamp")
		p.PackageFullName = d.utf16z("PackageFullName")
	}
	if d.err != nil && p.ImageName == "" {
		return p, fmt.Errorf("ProcessStart v%d: %w", version, d.err)
	}
	// Trailing fields the rule does not use may be cut; what was read is
	// good.
	return p, nil
}

// Event maps p to a detector.Event. user is the account name (or SID)
// that started the process.
func (p *ProcessStart) Event(user string) detector.Event {
	return detector.Event{
		Time:       p.CreateTime,
		Type:       detector.TypeStart,
		PID:        int64(p.PID),
		ParentPID:  int64(p.ParentPID),
		Executable: p.ImageName,
		User:       user,
		HostOS:     detector.OSWindows,
		Source:     "etw",
		SessionID:  detector.SessionOf(p.SessionID),
	}
}

// imageAfterBadLabel looks for the ImageName after a MandatoryLabel that is
// not a valid SID: one sized by its sub-authority count whatever its
// revision, or an empty one. The candidate must read as a NUL-terminated
// path (starting with a backslash or a drive letter), so that a bad guess
// is not taken for a name. It returns the name and the offset after it.
func imageAfterBadLabel(b []byte, at int) (string, int, bool) {
	var starts []int
	if len(b)-at >= 2 && b[at+1] <= 15 {
		starts = append(starts, at+8+4*int(b[at+1]))
	}
	starts = append(starts, at)
	for _, s := range starts {
		if s > len(b) {
			continue
		}
		d := decoder{b: b, off: s}
		name := d.utf16z("ImageName")
		if d.err == nil && looksLikePath(name) {
			return name, d.off, true
		}
	}
	return "", 0, false
}

func looksLikePath(s string) bool {
	switch {
	case strings.HasPrefix(s, `\`):
		return len(s) > 1
	case len(s) >= 3 && s[1] == ':' && s[2] == '\\':
		c := s[0] | 0x20
		return 'a' <= c && c <= 'z'
	}
	return false
}

// filetime is the inverse of FiletimeToTime.
func filetime(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano()/100 + filetimeUnixDifference)
}

// FiletimeToTime converts a FILETIME (100 ns since 1601, UTC); zero stays
// the zero time.
func FiletimeToTime(ft uint64) time.Time {
	if ft == 0 {
		return time.Time{}
	}
	ns := (int64(ft) - filetimeUnixDifference) * 100
	return time.Unix(0, ns).UTC()
}

type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) need(n int, field string) bool {
	if d.err != nil {
		return false
	}
	if len(d.b)-d.off < n {
		d.err = fmt.Errorf("%w: %s at offset %d needs %d bytes, %d left", errShort, field, d.off, n, len(d.b)-d.off)
		return false
	}
	return true
}

func (d *decoder) u32(field string) uint32 {
	if !d.need(4, field) {
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

func (d *decoder) u64(field string) uint64 {
	if !d.need(8, field) {
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b[d.off:])
	d.off += 8
	return v
}

func (d *decoder) skip(n int, field string) {
	if d.need(n, field) {
		d.off += n
	}
}

// utf16z reads a NUL-terminated UTF-16LE string.
func (d *decoder) utf16z(field string) string {
	if d.err != nil {
		return ""
	}
	var units []uint16
	for i := d.off; ; i += 2 {
		if i+2 > len(d.b) {
			d.err = fmt.Errorf("%w: %s at offset %d has no terminating NUL", errShort, field, d.off)
			return ""
		}
		u := binary.LittleEndian.Uint16(d.b[i:])
		if u == 0 {
			d.off = i + 2
			return string(utf16.Decode(units))
		}
		units = append(units, u)
	}
}

func (d *decoder) sid(field string) string {
	if d.err != nil {
		return ""
	}
	s, n, err := SIDString(d.b[d.off:])
	if err != nil {
		d.err = fmt.Errorf("%s at offset %d: %w", field, d.off, err)
		return ""
	}
	d.off += n
	return s
}

// SIDString renders a binary SID ("S-1-5-21-...") and returns the bytes it
// took. ETW hands SIDs this way in payloads and in the SID extended data
// item.
func SIDString(b []byte) (string, int, error) {
	if len(b) < 8 {
		return "", 0, fmt.Errorf("%w: SID needs 8 bytes, %d left", errShort, len(b))
	}
	rev, count := b[0], int(b[1])
	if rev != 1 || count > 15 {
		return "", 0, fmt.Errorf("not a SID: revision %d, %d sub-authorities", rev, count)
	}
	n := 8 + 4*count
	if len(b) < n {
		return "", 0, fmt.Errorf("%w: SID with %d sub-authorities needs %d bytes, %d left", errShort, count, n, len(b))
	}
	var auth uint64
	for _, c := range b[2:8] {
		auth = auth<<8 | uint64(c)
	}
	var sb strings.Builder
	sb.WriteString("S-1-")
	sb.WriteString(strconv.FormatUint(auth, 10))
	for i := 0; i < count; i++ {
		sb.WriteByte('-')
		sb.WriteString(strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[8+4*i:])), 10))
	}
	return sb.String(), n, nil
}
