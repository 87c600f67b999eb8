package fanotify

import (
	"encoding/binary"
	"fmt"
)

// Layout of what read(2) on a fanotify group returns (fanotify(7)): a
// 24-byte struct fanotify_event_metadata per event, followed by its
// information records up to event_len. Kept portable so the decoder is
// tested on every platform.
const (
	metadataLen = 24 // sizeof(struct fanotify_event_metadata)
	metadataVer = 3  // FANOTIFY_METADATA_VERSION

	maskOpenExec = 0x1000             // FAN_OPEN_EXEC
	maskOverflow = 0x4000             // FAN_Q_OVERFLOW
	noFD         = int32(-1)          // FAN_NOFD, also FAN_NOPIDFD
	infoPIDFD    = uint8(4)           // FAN_EVENT_INFO_TYPE_PIDFD
	infoDFIDName = uint8(2)           // FAN_EVENT_INFO_TYPE_DFID_NAME
	infoHdrLen   = 4                  // struct fanotify_event_info_header
	fidHdrLen    = infoHdrLen + 8 + 8 // + fsid + file_handle{handle_bytes, handle_type}
)

// record is one decoded event. Handle and Name alias the read buffer.
type record struct {
	Mask  uint64
	FD    int32 // the event's open file, noFD in handle mode
	PID   int32
	PIDFD int32 // noFD when the group does not report pidfds or the kernel could not make one
	// Handle is the directory's file handle as open_by_handle_at takes
	// it: handle_type (4 bytes) then f_handle. Empty outside handle mode.
	Handle []byte
	FSID   [8]byte
	Name   []byte // entry name in the directory (DFID_NAME)
}

// parseRecords appends the events in b to out. A record that does not fit
// is an error naming its offset: the kernel writes these, so it means a
// layout this decoder does not know. The records before it are returned,
// so their descriptors can still be closed.
func parseRecords(b []byte, out []record) ([]record, error) {
	ne := binary.NativeEndian
	off := 0
	for off < len(b) {
		rest := b[off:]
		if len(rest) < metadataLen {
			return out, fmt.Errorf("fanotify: event at offset %d: %d bytes left, want at least %d", off, len(rest), metadataLen)
		}
		evLen := int(ne.Uint32(rest[0:]))
		metaLen := int(ne.Uint16(rest[6:]))
		if rest[4] != metadataVer {
			return out, fmt.Errorf("fanotify: event at offset %d: metadata version %d, want %d", off, rest[4], metadataVer)
		}
		if evLen < metadataLen || evLen > len(rest) || metaLen < metadataLen || metaLen > evLen {
			return out, fmt.Errorf("fanotify: event at offset %d: length %d (metadata %d) with %d bytes left", off, evLen, metaLen, len(rest))
		}
		r := record{
			Mask:  ne.Uint64(rest[8:]),
			FD:    int32(ne.Uint32(rest[16:])),
			PID:   int32(ne.Uint32(rest[20:])),
			PIDFD: noFD,
		}
		for info := rest[metaLen:evLen]; len(info) > 0; {
			if len(info) < infoHdrLen {
				return out, fmt.Errorf("fanotify: event at offset %d: %d stray bytes after its information records", off, len(info))
			}
			typ, n := info[0], int(ne.Uint16(info[2:]))
			if n < infoHdrLen || n > len(info) {
				return out, fmt.Errorf("fanotify: event at offset %d: information record type %d of length %d with %d bytes left", off, typ, n, len(info))
			}
			body := info[:n]
			info = info[n:]
			switch typ {
			case infoPIDFD:
				if n < infoHdrLen+4 {
					return out, fmt.Errorf("fanotify: event at offset %d: pidfd record of length %d", off, n)
				}
				r.PIDFD = int32(ne.Uint32(body[infoHdrLen:]))
			case infoDFIDName:
				if n < fidHdrLen {
					return out, fmt.Errorf("fanotify: event at offset %d: file handle record of length %d", off, n)
				}
				copy(r.FSID[:], body[infoHdrLen:])
				hb := int(ne.Uint32(body[infoHdrLen+8:]))
				if hb > n-fidHdrLen {
					return out, fmt.Errorf("fanotify: event at offset %d: file handle of %d bytes in a record of %d", off, hb, n)
				}
				r.Handle = body[infoHdrLen+12 : fidHdrLen+hb]
				name := body[fidHdrLen+hb:]
				for i, c := range name {
					if c == 0 {
						name = name[:i]
						break
					}
				}
				r.Name = name
			}
			// Other record types (FID, DFID, ...) are not requested;
			// skipping them keeps newer kernels readable.
		}
		out = append(out, r)
		off += evLen
	}
	return out, nil
}
