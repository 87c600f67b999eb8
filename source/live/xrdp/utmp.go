package xrdp

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// The utmp record of glibc on Linux (utmp(5), bits/utmp.h): 384 bytes on
// every architecture, with 32-bit ut_session and ut_tv even on 64-bit ones
// (__WORDSIZE_TIME64_COMPAT32), in the host's byte order.
const (
	utmpSize      = 384
	utmpUserProc  = 7 // USER_PROCESS
	offType       = 0
	offPID        = 4
	offLine       = 8
	lenLine       = 32
	offUser       = 44
	lenUser       = 32
	offHost       = 76
	lenHost       = 256
	offTvSec      = 340
	utmpLinePrefx = "xrdp:"
)

// utmpRecord is what attribution reads from one record.
type utmpRecord struct {
	typ  int16
	pid  int32
	line string // "xrdp:10"
	user string
	host string // xrdp writes the client's address here
	sec  int64  // when the session began, Unix seconds
}

// parseUtmp decodes every whole record of b. A trailing partial record (a
// file read while written) is an error naming its offset, after the whole
// ones.
func parseUtmp(b []byte, name string) ([]utmpRecord, error) {
	var out []utmpRecord
	e := binary.NativeEndian
	for off := 0; off+utmpSize <= len(b); off += utmpSize {
		r := b[off : off+utmpSize]
		out = append(out, utmpRecord{
			typ:  int16(e.Uint16(r[offType:])),
			pid:  int32(e.Uint32(r[offPID:])),
			line: cstring(r[offLine : offLine+lenLine]),
			user: cstring(r[offUser : offUser+lenUser]),
			host: cstring(r[offHost : offHost+lenHost]),
			sec:  int64(int32(e.Uint32(r[offTvSec:]))),
		})
	}
	if rest := len(b) % utmpSize; rest != 0 {
		return out, fmt.Errorf("%s: %d bytes at offset %d are not a whole utmp record (%d bytes)", name, rest, len(b)-rest, utmpSize)
	}
	return out, nil
}

// encodeUtmp writes r as a record, for tests and for documentation of the
// layout the decoder reads.
func encodeUtmp(r utmpRecord) []byte {
	b := make([]byte, utmpSize)
	e := binary.NativeEndian
	e.PutUint16(b[offType:], uint16(r.typ))
	e.PutUint32(b[offPID:], uint32(r.pid))
	copy(b[offLine:offLine+lenLine], r.line)
	copy(b[offUser:offUser+lenUser], r.user)
	copy(b[offHost:offHost+lenHost], r.host)
	e.PutUint32(b[offTvSec:], uint32(r.sec))
	return b
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
